"""`expect:`: whether an export is what the job's owner said it must be, checked after its
last page and before it is placed, committed or its watermark moves (a lifecycle step,
runner/run/lifecycle.py).

A night that exported 0 records, a column nobody filled or a record without its e-mail
address says "succeeded" to nobody: each is a verdict here, with the numbers a person
needs, and never a record's value (the report is read by people the export is not for).
The check is one streamed pass over the export's records, memory flat whatever its size,
and made only when an expectation needs the records' content.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import msgspec

from runner.apifacts.page import HugeNumber
from runner.jobspec.columns import Search
from runner.jobspec.model import Expectations
from runner.jobspec.record_schema import record_validator
from runner.run import projection
from runner.run.projection import SIMPLE_PATH, steps
from runner.run.tabular import decoded

#: the first this many records that miss a required field or the schema are named
NAMED = 5
#: field names collected for a did-you-mean: enough for any real record, bounded
_MAX_NAMES = 10_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECODE_MANY = msgspec.json.Decoder(list)
#: a finished export is read back in pieces of about this many bytes
_BATCH = 1 << 20


@dataclass(frozen=True)
class Verdict:
    """One expectation's outcome, in words with its numbers."""

    expectation: str
    met: bool
    detail: str


@dataclass
class Verdicts:
    severity: str = "error"
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def unmet(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.met]

    @property
    def fails_the_job(self) -> bool:
        return self.severity == "error" and bool(self.unmet)

    def summary(self) -> str:
        """`max_drop: 412 records, 71% fewer than 1,420 on 2026-12-06; min_records: ...`"""
        return "; ".join(f"{v.expectation}: {v.detail}" for v in self.unmet)

    def to_json(self) -> dict:
        return {"severity": self.severity, "verdicts": [asdict(v) for v in self.verdicts]}

    @classmethod
    def from_json(cls, data: object) -> Verdicts | None:
        """The verdicts a checkpoint recorded, or None when it holds none readable."""
        if not isinstance(data, dict) or not isinstance(data.get("verdicts"), list):
            return None
        try:
            found = [
                Verdict(str(v["expectation"]), bool(v["met"]), str(v["detail"]))
                for v in data["verdicts"]
            ]
        except (KeyError, TypeError):
            return None
        return cls(str(data.get("severity", "error")), found)


@dataclass(frozen=True)
class Earlier:
    """A job's last successful export, from the state's history."""

    records: int
    when: str  # the UTC date of its Initiate, as people read it


def needs_records(expect: Expectations, columns: Sequence[tuple[str, str]]) -> bool:
    """Whether checking reads the records at all (counts alone need no pass)."""
    return bool(
        expect.required_fields
        or expect.record_schema_document is not None
        or (columns and expect.empty_columns == "fail")
    )


def check(
    expect: Expectations,
    records: int,
    lines: Iterable[bytes] | None,
    columns: Sequence[tuple[str, str]] = (),
    earlier: Earlier | None = None,
    checked: RecordCheck | None = None,
) -> Verdicts:
    """Every expectation of a job against its export: `records` counted, `lines` the export's
    records as JSONL (read only when `needs_records`), `earlier` its last success;
    `checked`, when it saw every record as the pages came, spares reading them again."""
    out = Verdicts(expect.severity)
    out.verdicts += _counts(expect, records, earlier)
    if needs_records(expect, columns) and records:
        if checked is not None:
            checked.finish()
        if checked is not None and checked.count == records:
            out.verdicts += checked.verdicts()
        elif lines is not None:
            out.verdicts += _content(expect, lines, columns)
    return out


def _counts(expect: Expectations, records: int, earlier: Earlier | None) -> list[Verdict]:
    found = []
    if expect.min_records is not None:
        met = records >= expect.min_records
        found.append(
            Verdict(
                "min_records",
                met,
                f"{records:,} records" + ("" if met else f", fewer than {expect.min_records:,}"),
            )
        )
    if expect.max_records is not None:
        met = records <= expect.max_records
        found.append(
            Verdict(
                "max_records",
                met,
                f"{records:,} records" + ("" if met else f", more than {expect.max_records:,}"),
            )
        )
    if expect.max_drop is not None:
        found.append(_drop(expect.max_drop, records, earlier))
    return found


def _drop(max_drop: float, records: int, earlier: Earlier | None) -> Verdict:
    if earlier is None:
        return Verdict("max_drop", True, "no earlier successful export of this job to compare")
    if earlier.records == 0 or records >= earlier.records:
        return Verdict(
            "max_drop", True, f"{records:,} records, {earlier.records:,} on {earlier.when}"
        )
    drop = (earlier.records - records) / earlier.records
    met = drop <= max_drop + 1e-12
    return Verdict(
        "max_drop",
        met,
        f"{records:,} records, {drop:.0%} fewer than {earlier.records:,} on {earlier.when}"
        + ("" if met else f" (at most {max_drop:.0%} allowed)"),
    )


class RecordCheck:
    """The expectations that read records, fed one record (or JSONL text) at a time: the
    same verdicts whether fed while the pages arrive (`JobExport` does, so a fresh export
    is never read twice) or in one pass over the finished export. (Checking on a thread
    of its own, to overlap the next page's fetching, was measured and bought nothing:
    the sandbox answers at once, and a real server's latency dwarfs the check.)

    What it has read so far is its `tally` (counts, record numbers, field names: never
    a value), kept in the job's checkpoint with the pages it counts, so a resumed job
    goes on from it (`resumed`) rather than reading its records again: a sheet with
    pinned columns no longer holds them."""

    def __init__(self, expect: Expectations, columns: Sequence[tuple[str, str]]) -> None:
        self.required = [(text, _searcher(text)) for text in expect.required_fields]
        self.missing = {text: 0 for text, _ in self.required}
        self.missing_at: dict[str, list[int]] = {text: [] for text, _ in self.required}
        schema = expect.record_schema_document
        self.validator = record_validator(schema) if schema is not None else None
        self.invalid, self.invalid_at = 0, list[str]()
        watch = [(name, _searcher(expression)) for name, expression in columns]
        self.watch = watch if expect.empty_columns == "fail" else []
        self.columns = dict(columns)
        self.filled = {name: False for name, _ in self.watch}
        self.names: dict[str, str] = {}
        self.count = 0
        self._rest = b""  # a line cut between two pieces of text
        #: what is checked, as a digest kept in the tally: a tally of other rules (a
        #: schema file edited between a crash and its resume) is never taken for this one's
        self.rules = _rules_digest(expect, columns)
        # simple paths read by a path the records are read through, `.search` on a dict
        paths = [text for text, _ in self.required] + [expr for _, expr in columns if self.watch]
        self._projected = projection.decoder(schema, paths)

    def feed(self, text: bytes) -> None:
        """JSONL text as the export holds it, in pieces cut anywhere."""
        text = self._rest + bytes(text)
        cut = text.rfind(b"\n") + 1
        self._rest = text[cut:]
        if cut:
            piece = text[:cut]
            records, projected = self._decode(piece)
            self.add_all(records, (lambda: self._whole(piece)) if projected else None)

    def _decode(self, text: bytes) -> tuple[list, bool]:
        """A piece's records decoded in one call (a page of them costs a quarter less than
        one call a record), only their parts the expectations read while that is enough
        (runner/run/projection.py); a piece msgspec refuses is read a line at a time."""
        wanted = not self.watch or all(self.filled.values()) or len(self.names) >= _MAX_NAMES
        if self._projected is not None and wanted:
            try:
                return self._projected.decode(_array(text)), True
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # a shape the projection did not foresee: the records whole
        return self._whole(text), False

    @staticmethod
    def _whole(text: bytes) -> list:
        try:
            return _DECODE_MANY.decode(_array(text))
        except (msgspec.DecodeError, msgspec.ValidationError):
            # blank lines, or a number msgspec refuses
            return [_checkable(record) for record in _records(text.split(b"\n"))]

    def add(self, record: object) -> None:
        self.add_all([record])

    def add_all(self, records: list, whole: Callable[[], list] | None = None) -> None:
        """Records in the export's order, the first of them record `count + 1`; `whole`,
        when they are projections, gives them whole (a record that breaks the schema is
        described as the whole record reads: which error comes first follows its keys)."""
        first = self.count + 1
        self.count += len(records)
        for text, expression in self.required:
            search = expression.search
            missing = [i for i, record in enumerate(records) if search(record) is None]
            if missing:
                self.missing[text] += len(missing)
                named = self.missing_at[text]
                named += [first + i for i in missing[: NAMED - len(named)]]
        validator = self.validator
        if validator is not None:
            is_valid = validator.is_valid
            invalid = [i for i, record in enumerate(records) if not is_valid(record)]
            self.invalid += len(invalid)
            if invalid and len(self.invalid_at) < NAMED:
                described = whole() if whole is not None else records
                for i in invalid[: NAMED - len(self.invalid_at)]:
                    why = _why(validator, described[i])
                    self.invalid_at.append(f"record {first + i}: {why}")
        if not self.watch or all(self.filled.values()):
            return
        for name, expression in self.watch:
            if not self.filled[name]:
                search = expression.search
                self.filled[name] = any(search(record) is not None for record in records)
        if not all(self.filled.values()):
            for record in records:
                if len(self.names) >= _MAX_NAMES:
                    break
                _collect_names(record, self.names)

    def finish(self) -> RecordCheck:
        """The last line, when the text did not end with a line break."""
        if self._rest.strip():
            self.feed(b"\n")
        return self

    def tally(self) -> dict:
        """What it has read so far, as JSON for a checkpoint; taken between pages, where
        the text fed ends with a line break."""
        return {
            "count": self.count,
            "missing": dict(self.missing),
            "missing_at": {text: list(at) for text, at in self.missing_at.items()},
            "invalid": self.invalid,
            "invalid_at": list(self.invalid_at),
            "filled": dict(self.filled),
            "names": dict(self.names),
            "rules": self.rules,
        }

    @classmethod
    def resumed(
        cls,
        expect: Expectations,
        columns: Sequence[tuple[str, str]],
        tally: object,
        records: int,
    ) -> RecordCheck | None:
        """The check as it was after `records` records, from their `tally`; None when
        the tally is not one of these expectations' (none was kept, or `expect:`
        changed since) or counts other records."""
        check = cls(expect, columns)
        if tally is None and records == 0:  # nothing was read yet
            return check
        if not isinstance(tally, dict) or tally_problem(tally) or tally["count"] != records:
            return None
        if (
            tally.get("rules") != check.rules
            or set(tally["missing"]) != set(check.missing)
            or set(tally["missing_at"]) != set(check.missing_at)
            or set(tally["filled"]) != set(check.filled)
            or (check.validator is None and tally["invalid"])
        ):
            return None
        check.count = records
        check.missing = dict(tally["missing"])
        check.missing_at = {text: list(at) for text, at in tally["missing_at"].items()}
        check.invalid, check.invalid_at = tally["invalid"], list(tally["invalid_at"])
        check.filled = dict(tally["filled"])
        check.names = dict(tally["names"])
        return check

    def verdicts(self) -> list[Verdict]:
        self.finish()
        found = [
            Verdict(
                f"required_fields {text}",
                count == 0,
                f"null or missing in {count:,} records ({_records_named(self.missing_at[text])})"
                if count
                else "present in every record",
            )
            for text, count in self.missing.items()
        ]
        if self.validator is not None:
            found.append(
                Verdict(
                    "record_schema",
                    self.invalid == 0,
                    f"{self.invalid:,} records do not match ({'; '.join(self.invalid_at)})"
                    if self.invalid
                    else "every record matches",
                )
            )
        for name, is_filled in self.filled.items():
            if not is_filled:
                found.append(
                    Verdict(
                        f"empty_columns {name}",
                        False,
                        _empty_column(name, self.columns[name], self.names),
                    )
                )
        return found


def tally_problem(tally: dict) -> str | None:
    """Why a checkpoint's `reading` is not a tally `RecordCheck.tally` wrote, or None."""

    def count(value: object) -> bool:
        return type(value) is int and value >= 0

    def of(value: object, check) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and check(v) for k, v in value.items()
        )

    fields = {"count", "missing", "missing_at", "invalid", "invalid_at", "filled", "names"}
    if set(tally) - {"rules"} != fields:  # `rules`: absent from a tally of an older segrun
        return "its fields are not a tally's"
    if not isinstance(tally.get("rules", ""), str):
        return "malformed rules digest"
    if not (count(tally["count"]) and count(tally["invalid"])):
        return "a count is not a non-negative integer"
    if not of(tally["missing"], count) or not of(tally["filled"], lambda v: type(v) is bool):
        return "malformed counts"
    if not of(tally["missing_at"], lambda v: isinstance(v, list) and all(map(count, v))):
        return "malformed record numbers"
    at = tally["invalid_at"]
    if not isinstance(at, list) or not all(isinstance(v, str) for v in at):
        return "malformed schema findings"
    if not of(tally["names"], lambda v: isinstance(v, str)):
        return "malformed field names"
    return None


def _rules_digest(expect: Expectations, columns: Sequence[tuple[str, str]]) -> str:
    """A digest of the rules a `RecordCheck` applies: its paths, its schema's content and
    the columns it watches (never a value: these are the spec's words)."""
    watched = [list(column) for column in columns] if expect.empty_columns == "fail" else []
    rules = [list(expect.required_fields), expect.record_schema_document, watched]
    text = json.dumps(rules, sort_keys=True, default=repr, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _content(
    expect: Expectations, lines: Iterable[bytes], columns: Sequence[tuple[str, str]]
) -> list[Verdict]:
    checking = RecordCheck(expect, columns)
    batch: list[bytes] = []
    size = 0
    for line in lines:
        batch.append(line if line.endswith(b"\n") else line + b"\n")
        size += len(line)
        if size >= _BATCH:
            checking.feed(b"".join(batch))
            batch, size = [], 0
    checking.feed(b"".join(batch))
    return checking.verdicts()


class _Path:
    """A simple path's steps, read as JMESPath reads them."""

    def __init__(self, text: str) -> None:
        self.steps = [(s, None) if isinstance(s, str) else (None, s) for s in steps(text)]
        if all(key is not None for key, _ in self.steps):
            self.search = self._keys  # type: ignore[method-assign]
            self.keys = tuple(key for key, _ in self.steps)

    def _keys(self, value: object) -> object:
        """The same reading when every step is a key, in fewer steps (it runs per record)."""
        for key in self.keys:
            if type(value) is not dict:
                return None
            value = value.get(key)
        return value

    def search(self, value: object) -> object:
        for key, index in self.steps:
            if key is not None:
                value = value.get(key) if type(value) is dict else None
            elif type(value) is list and -len(value) <= index < len(value):  # type: ignore[operator]
                value = value[index]  # type: ignore[index]
            else:
                return None
            if value is None:
                return None
        return value


def _searcher(expression: str):
    """A path of keys and indexes read directly (a record in a few steps); anything else
    through JMESPath."""
    return _Path(expression) if SIMPLE_PATH.fullmatch(expression) else Search(expression)


def _checkable(record: object) -> object:
    """`record` with each integer of more digits than Python converts (a HugeNumber, kept
    as its digits) as the Decimal of them: the validator reads it as the integer it is
    (type, minimum, multipleOf ...), where it refuses a HugeNumber as no JSON value."""
    if type(record) is not dict and type(record) is not list:
        return Decimal(record.text) if type(record) is HugeNumber else record
    pending: list[dict | list] = [record]
    while pending:  # no recursion: a record may be nested as deep as the decoder allows
        part = pending.pop()
        for key, value in part.items() if type(part) is dict else enumerate(part):
            if type(value) is HugeNumber:
                part[key] = Decimal(value.text)
            elif type(value) is dict or type(value) is list:
                pending.append(value)
    return record


def _array(text: bytes) -> bytes:
    """JSONL text ending in a line break as one JSON array, for one decoder call."""
    return b"[" + text[:-1].replace(b"\n", b",") + b"]"


def _records(lines: Iterable[bytes]) -> Iterator[object]:
    return decoded(lines)  # an integer of too many digits for msgspec: kept as its digits


def _why(validator, record: object) -> str:
    """Where a record breaks the schema and which rule, never the value it holds (a
    validator's own message quotes it)."""
    try:
        error = next(iter(validator.iter_errors(record)), None)
    except ValueError:  # its message quotes an integer of more digits than Python prints
        error = None
    if error is None:
        return "does not match"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
    rules = [str(step) for step in error.schema_path if not isinstance(step, int)]
    rule = rules[-1] if rules else "the schema"
    return f"{where.lstrip('.') or 'the record'} fails {rule}"


def _records_named(numbers: list[int]) -> str:
    return "records " + ", ".join(map(str, numbers)) + (" ..." if len(numbers) == NAMED else "")


def _collect_names(value: object, names: dict[str, str], depth: int = 0) -> None:
    """The field names records hold, by their case-folded form, a few levels deep."""
    if depth > 3 or len(names) >= _MAX_NAMES:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(key, str):
                names.setdefault(key.casefold(), key)
            _collect_names(inner, names, depth + 1)
    elif isinstance(value, list) and value:
        _collect_names(value[0], names, depth + 1)


def _empty_column(name: str, expression: str, names: dict[str, str]) -> str:
    """`empty in every record; did you mean ProfileId?` from the fields that did arrive."""
    said = f"column {name!r} ({expression}) is empty in every record"
    guess = _likely_meant(expression, names)
    if guess and guess != expression:
        return f"{said}; did you mean {guess}? (JMESPath is case-sensitive)"
    return said + "; set expect.empty_columns: allow if that is expected"


def _likely_meant(expression: str, names: dict[str, str]) -> str | None:
    def fix(match: re.Match) -> str:
        word = match.group()
        if word in names.values():
            return word
        spelled = names.get(word.casefold())
        if spelled:
            return spelled
        close = difflib.get_close_matches(word, list(names.values()), n=1, cutoff=0.8)
        return close[0] if close else word

    return _IDENTIFIER.sub(fix, expression) if names else None


def earlier_from(history: list[dict]) -> Earlier | None:
    """The last success a state history holds (newest last)."""
    for entry in reversed(history):
        records = entry.get("records")
        if isinstance(records, int) and not isinstance(records, bool) and records >= 0:
            when = str(entry.get("initiated", ""))[:10] or "an earlier run"
            return Earlier(records, when)
    return None
