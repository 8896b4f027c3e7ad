"""Synthetic export records, each generated on demand from (seed, index).

Nothing is held per profile: a record is a pure function of its index, so a
sandbox of 1,000,000 profiles starts as fast and lives in as little memory as
one of 250. The only state is a sparse map of touched Edited dates.

Every identifier embeds the profile's index (ProfileId, the digits of a phone
number, the number in an email's local part or an alternate id), so a
MatchCriteria lookup decodes its Values into candidate indexes instead of
scanning every profile. The content is synthetic: names from short lists,
`example.*` domains, and the fictional 555-557 area codes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_PROFILES = 10_000_000  # phone numbers carry the index in 7 digits
PROFILE_ID_BASE = 10_000_000
SPREAD_MS = 730 * 86_400_000  # Edited dates fall within the ~2 years before the anchor

CUSTOMER_TYPES = ("Standard", "VIP", "Prospect", "Employee")
EMAIL_TYPES = ("Personal", "Work")
PHONE_TYPES = ("Mobile", "Home", "Work")
ALTERNATE_ID_TYPES = ("LoyaltyNumber", "CRMId")

_FIRST = [
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "dennis",
    "barbara",
    "ken",
    "frances",
    "john",
    "radia",
    "tim",
    "edsger",
    "katherine",
    "donald",
    "hedy",
    "niklaus",
    "sophie",
    "guido",
    "annie",
    "bjarne",
    "carol",
    "james",
    "lynn",
]
_LAST = [
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "ritchie",
    "liskov",
    "thompson",
    "allen",
    "backus",
    "perlman",
    "lee",
    "dijkstra",
    "johnson",
    "knuth",
    "lamarr",
    "wirth",
    "wilson",
    "rossum",
    "easley",
    "stroustrup",
    "shaw",
    "gosling",
    "conway",
]
_PERSONAL_DOMAINS = ("example.com", "example.net", "example.org")
_WORK_DOMAIN = "corp.example"
_LOCALES = ("en-US", "en-US", "en-US", "es-US", "fr-CA", "en-GB")
_CONSENT_STATES = ("OptIn", "OptIn", "OptOut", "Pending")
_FREQUENCIES = ("Daily", "Weekly", "Weekly", "Monthly", "Never")
_TOPICS = ("Offers", "News", "Events", "Surveys")

# Weighted choices as 256-entry tables, so one byte of a hash picks in one lookup.
_CT_TABLE = tuple(
    CUSTOMER_TYPES[0 if b < 150 else 1 if b < 180 else 2 if b < 235 else 3] for b in range(256)
)
_EMAIL_MASK = tuple(0 if b < 26 else 1 if b < 170 else 2 if b < 218 else 3 for b in range(256))
_PHONE_MASK = tuple(  # none, Mobile, Home, Mobile+Home, Work, then any mix
    0
    if b < 51
    else 1
    if b < 153
    else 2
    if b < 192
    else 3
    if b < 230
    else 4
    if b < 243
    else (b % 7) + 1
    for b in range(256)
)
_ALT_MASK = tuple(0 if b < 90 else 1 if b < 166 else 2 if b < 230 else 3 for b in range(256))
ACTIVE_BELOW = 218  # ~85% of profiles are active


# Precomputed text pieces for record_json and their lengths for record_length.
# The record follows the legacy `UserProfilePreference` resource model
# (pmstg.mypreferences.com/Profiles/Help/ResourceModel?modelName=UserProfilePreference),
# in its field order; see docs/sandbox.md "Records" for what is documented and what
# the sandbox decides (EditInfo's fields, Addresses left empty, ...).
_GOLDEN = 0x9E3779B97F4A7C15
_NAMES = tuple((f, last) for f in _FIRST for last in _LAST)
_N_NAMES = len(_NAMES)
_NAME_TEXT = tuple(
    f',"PreservePreferences":false,"CustomerName":{{"FirstName":"{f.title()}",'
    f'"LastName":"{last.title()}"}}'
    for f, last in _NAMES
)
_ACTIVE_TEXT = tuple("true" if b < ACTIVE_BELOW else "false" for b in range(256))
_CONFIRMED_TEXT = ("false", "true")
_N_LOCALES = len(_LOCALES)
_LOCALE_TEXT = tuple(f',"DefaultLocale":"{loc}",' for loc in _LOCALES)
#: EditInfo: the model names the type, not its fields; DECISION: Date and User
EDITED_BY = "segrun-sandbox"
_EDITED_TAIL = f'","User":"{EDITED_BY}"}},"RegistrationConfirmed":'
_BITS = tuple(tuple(bit for bit in range(3) if mask >> bit & 1) for mask in range(8))
_ALT_TEXT = (
    "",
    '{{"AlternateId":"LY-{pid}","AlternateIdType":"LoyaltyNumber"}}',
    '{{"AlternateId":"CRM{pid}","AlternateIdType":"CRMId"}}',
    '{{"AlternateId":"LY-{pid}","AlternateIdType":"LoyaltyNumber"}},'
    '{{"AlternateId":"CRM{pid}","AlternateIdType":"CRMId"}}',
)
_MIDDLES = tuple(
    f'"Consents":[{{"ConsentType":"Email","Status":"{_CONSENT_STATES[t & 3]}"}}],'
    f'"ProfilePreferences":[{{"PreferenceName":"{_TOPICS[(t >> 7) & 3]}",'
    f'"PreferenceValue":"{_FREQUENCIES[(t >> 4) % 5]}"}}],"AlternateIds":['
    for t in range(512)
)
_PID_WIDTH = len(str(PROFILE_ID_BASE))
_DATE_WIDTH = len("2026-01-01T00:00:00.000Z")
_FIXED_LENGTH = (
    len('{"ProfileId":,"IsActive":,"Edited":{"Date":"')
    + len(_EDITED_TAIL)
    + len(',"CustomerType":""')
    + len('],"Addresses":[],"PhoneNumbers":[],"Emails":[]}')
    + _PID_WIDTH
    + _DATE_WIDTH
)
_NAME_LENGTH = tuple(len(t) for t in _NAME_TEXT)
_CT_LENGTH = tuple(len(t) for t in _CT_TABLE)
_ACTIVE_LENGTH = tuple(len(t) for t in _ACTIVE_TEXT)
_CONFIRMED_LENGTH = tuple(len(t) for t in _CONFIRMED_TEXT)
_LOCALE_LENGTH = tuple(len(t) for t in _LOCALE_TEXT)
_EMAIL_FLAGS = ',"IsDefault":{},"IsActive":true}}'
_PERSONAL_LENGTH = (
    len('{"EmailAddress":"..@","EmailAddressType":"Personal"')
    + len(_EMAIL_FLAGS.format("true"))
    + _PID_WIDTH
)
_WORK_LENGTH = (
    len('{"EmailAddress":".@","EmailAddressType":"Work"') + _PID_WIDTH + 1 + len(_WORK_DOMAIN)
)
_EMAIL_LENGTH = tuple(
    tuple(
        tuple(
            (len(f) + len(last) + len(dom) + _PERSONAL_LENGTH if mask & 1 else 0)
            + (
                len(last) + _WORK_LENGTH + len(_EMAIL_FLAGS.format("false" if mask & 1 else "true"))
                if mask & 2
                else 0
            )
            + (1 if mask == 3 else 0)
            for dom in _PERSONAL_DOMAINS
        )
        for mask in range(4)
    )
    for f, last in _NAMES
)
_PHONE_LENGTH = tuple(
    sum(
        len('{"PhoneNumber":"+1 (555) 000-0000","PhoneType":""}') + len(PHONE_TYPES[b])
        for b in _BITS[mask]
    )
    + max(len(_BITS[mask]) - 1, 0)
    for mask in range(8)
)
_ALT_LENGTH = tuple(len(t.format(pid=PROFILE_ID_BASE)) for t in _ALT_TEXT)
_MIDDLE_LENGTH = tuple(len(t) for t in _MIDDLES)

_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: cheap, and every output bit depends on every input bit."""
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _M64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _M64
    return x ^ (x >> 31)


@dataclass(frozen=True)
class Traits:
    """What segment criteria look at, without building the record."""

    customer_type: str
    is_active: bool
    email_mask: int  # bit i set: has an email of EMAIL_TYPES[i]
    phone_mask: int  # bit i set: has a phone of PHONE_TYPES[i]
    alt_mask: int  # bit i set: has an alternate id of ALTERNATE_ID_TYPES[i]
    modified_ms: int  # ms since the epoch, UTC


def profile_id(index: int) -> int:
    """ProfileId is an integer in the legacy UserProfilePreference model."""
    return PROFILE_ID_BASE + index


def format_ms(ms: int) -> str:
    """`YYYY-MM-DDTHH:mm:ss.sssZ` from epoch milliseconds."""
    return _DAYS.text(ms // 86_400_000) + _time_of_day(ms % 86_400_000)


def _time_of_day(ms: int) -> str:
    s, milli = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


class _DayCache:
    """Date texts by day number; records span ~730 days, so this stays small."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}

    def text(self, day: int) -> str:
        found = self._texts.get(day)
        if found is None:
            found = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
            if len(self._texts) < 100_000:
                self._texts[day] = found
        return found


_DAYS = _DayCache()
#: ".mmmZ" by millisecond
_MILLI_TEXT = tuple(f".{milli:03d}Z" for milli in range(1000))
_CLOCK: list[tuple[str, ...]] = []


def _clock() -> tuple[str, ...]:
    """ "HH:MM:SS" by second of the day (built at the first record: 86,400 texts)."""
    if not _CLOCK:
        _CLOCK.append(
            tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))
        )
    return _CLOCK[0]


class Profiles:
    """The synthetic profile population: `count` records from `seed`, Edited dates
    in the two years before `anchor_ms`, with touched dates laid over them."""

    def __init__(self, seed: int, count: int, anchor_ms: int) -> None:
        if not 0 <= count <= MAX_PROFILES:
            raise ValueError(f"profiles must be between 0 and {MAX_PROFILES:,}")
        self.seed = seed
        self.count = count
        self.anchor_ms = anchor_ms
        self._salt = _mix(seed & _M64 ^ 0x5EED5EED5EED5EED)

    # -- cheap facts -------------------------------------------------------------

    def hash(self, index: int) -> int:
        return _mix((index * _GOLDEN + self._salt) & _M64)

    def base_modified_ms(self, h: int) -> int:
        return self.anchor_ms - 1 - (_mix(h) % SPREAD_MS)

    def traits(self, index: int, touched: Mapping[int, int]) -> Traits:
        h = self.hash(index)
        modified = touched.get(index)
        return Traits(
            customer_type=_CT_TABLE[h & 0xFF],
            is_active=(h >> 8) & 0xFF < ACTIVE_BELOW,
            email_mask=_EMAIL_MASK[(h >> 16) & 0xFF],
            phone_mask=_PHONE_MASK[(h >> 24) & 0xFF],
            alt_mask=_ALT_MASK[(h >> 32) & 0xFF],
            modified_ms=self.base_modified_ms(h) if modified is None else modified,
        )

    # -- records -----------------------------------------------------------------

    def record_json(self, index: int, touched: Mapping[int, int]) -> str:
        """The record as compact JSON text (`record_texts` of one)."""
        return self.record_texts((index,), touched)[0]

    def record_texts(self, indexes: Iterable[int], touched: Mapping[int, int]) -> list[str]:
        """Each record as compact JSON text, built directly from precomputed pieces:
        serialising a dict per record costs several times more, and page serving
        is the hot path (with pages in flight, the sandbox's one interpreter
        builds every page: a page at a time, everything here is local and the
        time of day is looked up, not formatted). Every piece is ASCII, so
        nothing needs escaping. `Edited.Date` is the profile's last
        modification: LastDateTime filters on it."""
        salt, anchor, base = self._salt, self.anchor_ms - 1, PROFILE_ID_BASE
        touched_at = touched.get
        names, n_names, email_mask, phone_mask, alt_mask = (
            _NAMES,
            _N_NAMES,
            _EMAIL_MASK,
            _PHONE_MASK,
            _ALT_MASK,
        )
        personal, work, days, clock, milli_text = (
            _PERSONAL_DOMAINS,
            _WORK_DOMAIN,
            _DAYS,
            _clock(),
            _MILLI_TEXT,
        )
        active, confirmed, ct_table, name_text, locale_text, n_locales, middles, tail = (
            _ACTIVE_TEXT,
            _CONFIRMED_TEXT,
            _CT_TABLE,
            _NAME_TEXT,
            _LOCALE_TEXT,
            _N_LOCALES,
            _MIDDLES,
            _EDITED_TAIL,
        )
        golden, m64, spread = _GOLDEN, _M64, SPREAD_MS
        out: list[str] = []
        add = out.append
        for index in indexes:
            x = (index * golden + salt) & m64  # _mix, twice, inline
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & m64
            x = (x ^ (x >> 27)) * 0x94D049BB133111EB & m64
            h = x ^ (x >> 31)
            x = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & m64
            x = (x ^ (x >> 27)) * 0x94D049BB133111EB & m64
            g = x ^ (x >> 31)
            modified = touched_at(index)
            if modified is None:
                modified = anchor - (g % spread)
            pid = base + index
            ni = (g >> 40) % n_names
            first, last = names[ni]
            day, ms = divmod(modified, 86_400_000)
            second, milli = divmod(ms, 1000)
            em = email_mask[(h >> 16) & 0xFF]
            emails = ""
            if em & 1:
                emails = (
                    f'{{"EmailAddress":"{first}.{last}.{pid}@{personal[(g >> 36) % 3]}"'
                    ',"EmailAddressType":"Personal","IsDefault":true,"IsActive":true}'
                )
            if em & 2:
                emails += (
                    f'{"," if em & 1 else ""}{{"EmailAddress":"{first[0]}{last}.{pid}@{work}"'
                    f',"EmailAddressType":"Work","IsDefault":{"false" if em & 1 else "true"}'
                    ',"IsActive":true}'
                )
            pm = phone_mask[(h >> 24) & 0xFF]
            phones = ""
            if pm:
                d = f"{index:07d}"
                d = f"{d[:3]}-{d[3:]}"
                if pm & 1:
                    phones = f'{{"PhoneNumber":"+1 (555) {d}","PhoneType":"Mobile"}}'
                if pm & 2:
                    phones += (
                        f'{"," if pm & 1 else ""}{{"PhoneNumber":"+1 (556) {d}",'
                        '"PhoneType":"Home"}'
                    )
                if pm & 4:
                    phones += (
                        f'{"," if pm & 3 else ""}{{"PhoneNumber":"+1 (557) {d}",'
                        '"PhoneType":"Work"}'
                    )
            am = alt_mask[(h >> 32) & 0xFF]
            alts = ""
            if am & 1:
                alts = f'{{"AlternateId":"LY-{pid}","AlternateIdType":"LoyaltyNumber"}}'
            if am & 2:
                alts += (
                    f'{"," if am & 1 else ""}{{"AlternateId":"CRM{pid}","AlternateIdType":"CRMId"}}'
                )
            add(
                f'{{"ProfileId":{pid},"IsActive":{active[(h >> 8) & 0xFF]},"Edited":{{"Date":"'
                f"{days.text(day)}T{clock[second]}{milli_text[milli]}{tail}"
                f'{confirmed[(h >> 40) & 1]},"CustomerType":"{ct_table[h & 0xFF]}"'
                f"{name_text[ni]}{locale_text[(g >> 56) % n_locales]}{middles[(g >> 4) & 511]}"
                f'{alts}],"Addresses":[],"PhoneNumbers":[{phones}],"Emails":[{emails}]}}'
            )
        return out

    def record_length(self, index: int) -> int:
        """len(record_json(index)) without building it (touches do not change the
        length): ByteCount needs the size of every record of an export, and this is
        several times cheaper. A test holds it equal to the real thing."""
        h = _mix((index * _GOLDEN + self._salt) & _M64)
        g = _mix(h)
        ni = (g >> 40) % _N_NAMES
        em = _EMAIL_MASK[(h >> 16) & 0xFF]
        return (
            _FIXED_LENGTH
            + _NAME_LENGTH[ni]
            + _CT_LENGTH[h & 0xFF]
            + _ACTIVE_LENGTH[(h >> 8) & 0xFF]
            + _CONFIRMED_LENGTH[(h >> 40) & 1]
            + _LOCALE_LENGTH[(g >> 56) % _N_LOCALES]
            + _EMAIL_LENGTH[ni][em][(g >> 36) % 3]
            + _PHONE_LENGTH[_PHONE_MASK[(h >> 24) & 0xFF]]
            + _ALT_LENGTH[_ALT_MASK[(h >> 32) & 0xFF]]
            + _MIDDLE_LENGTH[(g >> 4) & 511]
        )

    def record(self, index: int, touched: Mapping[int, int]) -> dict:
        return json.loads(self.record_json(index, touched))

    # -- identifiers back to indexes -----------------------------------------------

    def index_of(self, criteria: str, value: str) -> int | None:
        """The only index whose identifier of kind `criteria` could equal `value`
        (the caller still checks the record); None when no profile's could."""
        number: int | None = None
        if criteria == "ProfileId":  # an integer in the model: "010000042" is 10000042
            digits = value.strip()
            plain = digits.isascii() and digits.isdigit()
            number = int(digits) - PROFILE_ID_BASE if plain else None
        elif criteria == "EmailAddress":
            m = _EMAIL_NUMBER.search(value)
            number = int(m[1]) - PROFILE_ID_BASE if m else None
        elif criteria == "PhoneNumber":
            digits = phone_digits(value)
            number = int(digits[3:]) if len(digits) == 10 else None
        elif criteria == "AlternateId":
            m = _TRAILING_NUMBER.search(value)
            number = int(m[1]) - PROFILE_ID_BASE if m else None
        if number is None or not 0 <= number < self.count:
            return None
        return number


_EMAIL_NUMBER = re.compile(r"\.(\d+)@")
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def phone_digits(value: str) -> str:
    """How the sandbox compares phone numbers: by digits, a NANP country code 1 dropped."""
    digits = "".join(c for c in value if c.isdigit())
    return digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
