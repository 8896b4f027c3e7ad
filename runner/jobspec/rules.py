"""The rules cerberus does not have, as rules of a cerberus Validator subclass.

The schema (`specs/jobspec.yaml`) names these rules; each `_validate_<rule>`
method's docstring is the cerberus schema of its constraint. Every rule reports
through `_error`, so the diagnostics code sees one stream of cerberus errors.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
from functools import cache
from typing import NamedTuple
from urllib.parse import urlsplit

from cerberus import TypeDefinition, Validator
from cerberus.errors import ErrorDefinition

from runner.apifacts import api
from runner.apifacts.timestamps import TimestampError, parse_spec_datetime, zone_missing
from runner.jobspec.diagnostics import ERROR, WARNING
from runner.jobspec.names import RESERVED_SUFFIXES, job_name
from runner.system.numbers import MAX_SECONDS, MIN_RATE, spelled

# Kept for callers that name them; segrun's own rules report Findings instead.
SPEC_ERROR = ErrorDefinition(0x50, None)
SPEC_WARNING = ErrorDefinition(0x51, None)


class Finding(NamedTuple):
    """A problem found by one of segrun's own rules, at a document path.

    Kept apart from cerberus' error list on purpose: cerberus re-sorts that
    list on every error it adds, so 20,000 bad values cost 20,000 sorts. A
    finding is appended, once, and `check` sorts them all at the end.
    """

    path: tuple
    rule: str
    message: str
    severity: str = ERROR


LAST_SUCCESS = "last_success"
SECRET_KEYS = ("secret", "password", "token", "client_secret", "access_token")
SECRET_HINT = (
    "never write a secret in a spec; put it in an environment variable "
    "and give the variable's NAME as secret_env"
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
_NUMBER = re.compile(r"^\s*[-+]?\d+(?:\.\d+)?\s*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE_PUNCTUATION = str.maketrans("", "", "+-.() \t")
_PATH_PARAMETERS = {"clientId", "segmentGroupName", "accessToken"}


#: how YAML spells what Python reads as NaN and the infinities (a number too large for
#: a float, 1.0e+999, is read as .inf)
_NOT_FINITE = {
    "nan": ".nan (not a number)",
    "inf": ".inf (infinity, or a number too large for one, like 1.0e+999)",
    "-inf": "-.inf (minus infinity, or a number too large for one, like -1.0e+999)",
}


def yaml_number(value: object) -> str:
    """A number as a spec's diagnostic shows it: NaN and the infinities as YAML spells
    them, an integer of hundreds of digits by its length."""
    if isinstance(value, float) and not math.isfinite(value):
        return _NOT_FINITE[str(value)]
    return spelled(value)


def parse_duration(value: object) -> float:
    """Seconds in a duration. Every duration carries its unit (`500ms`, `5s`, `10m`,
    `2h`): a bare `30` could mean seconds or minutes, and a spec means one thing."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_SECONDS:
            raise ValueError(f"{yaml_number(value)} is not a duration such as 500ms, 5s, 10m or 2h")
        raise ValueError(f"give a unit: {value}s or {value}m?")
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        if isinstance(value, str) and _NUMBER.match(value):
            number = value.strip()
            raise ValueError(f"give a unit: {number}s or {number}m?")
        raise ValueError(f"{value!r} is not a duration such as 500ms, 5s, 10m or 2h")
    return float(m[1]) * _DURATION_UNITS[m[2]]


def _short(text: str) -> str:
    """A value as a message quotes it: a duration of 400 digits by its length."""
    text = text.strip()
    return text if len(text) <= 40 else f"{text[:12]}... ({len(text):,} characters)"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(value: str) -> str | None:
    """Why a base or token URL cannot be used as written, or None."""
    try:
        parts = urlsplit(value)
        port = parts.port  # reads the port: ValueError when it is not one
    except ValueError as e:
        return f"{value!r} is not a usable URL ({e})"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{value!r} is not an http(s) URL"
    if port == 0:
        return f"{value!r}: the port must be 1 to 65535"
    if any(ord(c) <= 32 or c == "\x7f" for c in value):
        return f"{value!r} contains spaces or control characters"
    return None


@cache
def _canonical(kind: str) -> dict[str, str]:
    names = api.match_criteria() if kind == "match_criteria" else auth_scheme_names()
    return {name.lower(): name for name in names}


def auth_scheme_names() -> list[str]:
    """Every PNAUTHINFO3 scheme (the un-keyed ones draw a warning: what they hash
    is unverified, specs/api.yaml), and oauth2."""
    return [*api.auth_schemes(), "oauth2"]


#: values that `value_problem` surely accepts, matched whole (a `$` would let
#: a trailing newline through); a value they miss is asked the slow way
_SURELY_VALID = {
    "EmailAddress": re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+"),
    "PhoneNumber": re.compile(r"[-+.() \t]*(?:[0-9][-+.() \t]*){7,15}"),
    # not blank, and with no `.`, `,` or `e`, so surely not a number a spreadsheet rewrote
    "ProfileId": re.compile(r"(?s)[^.,eE]*[^\s.,eE][^.,eE]*"),
    "AlternateId": re.compile(r"(?s)[^.,eE]*[^\s.,eE][^.,eE]*"),
}


def _surely_valid(criteria: str, values: list) -> bool:
    """True when `value_problem` accepts every one of `values`, found in one
    quick sweep, so a list of 100,000 good values costs no call per value.
    False means only: ask each value."""
    kinds = set(map(type, values))
    if kinds == {str}:
        surely = _SURELY_VALID.get(criteria)
        return all(map(surely.fullmatch if surely else str.strip, values))
    return kinds == {int} and criteria == "ProfileId"


#: a number as a spreadsheet rewrites a long id: `1.00000E+07`, `1E7`, `10000006.0`, and with
#: the decimal comma of a semicolon CSV `1,00000E+07`, `10000006,0`
_SPREADSHEET_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?[eE][+-]?\d+|\d+[.,]0+)")
SPREADSHEET_HINT = (
    "a spreadsheet rewrote a number column: it shows long ids in scientific notation and "
    "drops their last digits, and adds .0 to whole numbers. Format the column as Text before "
    "entering or pasting the ids, or export them from the source system again"
)


def value_problem(criteria: str, value: object, *, quoted: bool = True) -> str | None:
    """Why one Values entry cannot be a value of this MatchCriteria, or None. With
    `quoted` false the message never holds the value (a values file's content is
    customers' data; its line number says which)."""
    shown = f"{value!r} " if quoted else "the value "
    if (
        criteria in ("ProfileId", "AlternateId")
        and isinstance(value, str)
        and _SPREADSHEET_NUMBER.fullmatch(value.strip())
    ):
        kind = "scientific notation" if "e" in value.lower() else "a trailing .0"
        return f"{shown}is a number with {kind}, not an id: {SPREADSHEET_HINT}"
    if criteria == "ProfileId":
        if type(value) is int:
            return None
        if not isinstance(value, str) or not value.strip():
            return "each ProfileId value must be a non-empty string or an integer"
        return None
    if not isinstance(value, str) or not value.strip():
        return f"each {criteria} value must be a non-empty string"
    if criteria == "EmailAddress" and not _EMAIL.match(value):
        return f"{shown}does not look like an e-mail address"
    if criteria == "PhoneNumber":
        digits = value.translate(_PHONE_PUNCTUATION)
        if not digits.isdigit() or not 7 <= len(digits) <= 15:
            return (
                f"{shown}is not a phone number "
                "(7 to 15 digits once + - . ( ) and spaces are removed)"
            )
    return None


def percentage(value: object) -> float | None:
    """`expect.max_drop`: "30%", "30 %" or a number, as a fraction of 1; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            number = float(text)
        except ValueError:
            return None
    elif isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) > 100:
            return None  # and float() of a 400-digit integer would overflow
        number = float(value)
    else:
        return None
    return number / 100 if 0 <= number <= 100 else None  # NaN fails both comparisons


class _NotFiniteType(type):
    def __instancecheck__(cls, value: object) -> bool:
        return isinstance(value, float) and not math.isfinite(value)


class _NotFinite(metaclass=_NotFiniteType):
    """What `isinstance` finds in NaN and the infinities: cerberus' type rules exclude
    types, and this is the type of the floats no spec number may be."""


class SpecValidator(Validator):
    """cerberus, plus the rules of the MyPreferences API and of segrun's format."""

    types_mapping = dict(Validator.types_mapping)
    # YAML's `yes` is a bool, and a bool is an int to Python: not to a spec.
    types_mapping["integer"] = TypeDefinition("integer", (int,), (bool,))
    # YAML spells NaN and the infinities (.nan, .inf; 1.0e+999 overflows to .inf), and
    # NaN passes every min and max: a number is finite.
    types_mapping["number"] = TypeDefinition("number", (int, float), (bool, _NotFinite))

    @property
    def now(self) -> dt.datetime | None:
        """The time "in the future" is measured against; a config value, so
        cerberus hands it down to the child validators of jobs."""
        return self._config.get("now")

    @property
    def findings(self) -> list[Finding]:
        """Shared by this validator and its children (cerberus copies the config
        shallowly), so the root sees what every job's rules found."""
        return self._config.setdefault("findings", [])

    def _spec_error(self, field: str, rule: str, message: str, extra=None) -> None:
        self._find(field, rule, message, extra, ERROR)

    def _spec_warning(self, field: str, rule: str, message: str, extra=None) -> None:
        self._find(field, rule, message, extra, WARNING)

    def _find(self, field: str, rule: str, message: str, extra, severity: str) -> None:
        if extra is None:
            path = (*self.document_path, field)
        elif type(extra) is tuple:
            path = (*self.document_path, field, *extra)
        else:
            path = (*self.document_path, field, extra)
        self.findings.append(Finding(path, rule, message, severity))

    # -- normalisation ---------------------------------------------------------
    def _normalize_coerce_match_criteria(self, value):
        return (
            _canonical("match_criteria").get(value.lower(), value)
            if isinstance(value, str)
            else value
        )

    def _normalize_coerce_auth_scheme(self, value):
        return (
            _canonical("auth_scheme").get(value.lower(), value) if isinstance(value, str) else value
        )

    def _normalize_coerce_lower(self, value):
        return value.lower() if isinstance(value, str) else value

    def _normalize_coerce_upper(self, value):
        return value.upper() if isinstance(value, str) else value

    # -- rules -----------------------------------------------------------------
    def _validate_match_rules(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or not isinstance(value, str):
            return
        doc = self.document
        if value == "AlternateId" and "match_type" not in doc:
            self._spec_error(
                "match_type", "required-when", "required when match_criteria is AlternateId"
            )
        if "values" not in doc and "values_file" not in doc:
            self._spec_error(
                "values", "required-when", f"give values or values_file: match_criteria is {value}"
            )

    def _validate_value_format(self, constraint, field, value):
        """{'type': 'boolean'}"""
        criteria = self.document.get("match_criteria")
        if (
            not constraint
            or not isinstance(value, list)
            or criteria not in _canonical("match_criteria").values()
        ):
            return
        if _surely_valid(criteria, value) and len(set(map(str, value))) == len(value):
            return  # the common, long case: no problem, no duplicate
        seen: dict = {}
        for index, item in enumerate(value):
            problem = value_problem(criteria, item)
            if problem:
                self._spec_error(field, "value-format", problem, index)
                continue
            key = str(item)
            if key in seen:
                self._spec_warning(
                    field,
                    "duplicate-value",
                    f"duplicate value {key!r} (also item {seen[key]})",
                    index,
                )
            else:
                seen[key] = index

    def _validate_last_datetime(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or value is None or value == LAST_SUCCESS:
            return
        try:
            parse_spec_datetime(value, self.now)
        except TimestampError as e:
            self._spec_error(field, "last-datetime", str(e))
            return
        written = zone_missing(value)
        if written is not None:
            moment = written if "T" in written else f"{written}T00:00:00"
            self._spec_warning(
                field,
                "zone-less-datetime",
                f"{written} names no zone, so it is read as UTC: write {moment}Z for UTC "
                f"or {moment}+01:00 for UTC+1 (Central European Time)",
            )

    def _validate_duration(self, constraint, field, value):
        """{'type': 'dict', 'schema': {
        'positive': {'type': 'boolean'}, 'max': {'type': 'string', 'required': True}}}"""
        try:
            seconds = parse_duration(value)
        except ValueError as e:
            self._spec_error(field, "duration", str(e))
            return
        if constraint.get("positive") and seconds <= 0:
            self._spec_error(field, "duration", "must be longer than zero")
        elif seconds > parse_duration(constraint["max"]):
            self._spec_error(
                field, "duration", f"must be at most {constraint['max']}, not {_short(value)}"
            )

    def _validate_min_rate(self, constraint, field, value):
        """{'type': 'boolean'}"""
        # A rate near zero is a wait near infinity: one request a day at the least.
        # (The type rule has refused NaN, which passes every comparison.)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if constraint and number and not value >= MIN_RATE:
            self._spec_error(
                field,
                "min-rate",
                f"must be at least one request a day ({MIN_RATE:.3g}), not {yaml_number(value)}: "
                "a slower rate would wait longer than a day between requests",
            )

    def _validate_base_url(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or not isinstance(value, str):
            return
        problem = url_problem(value)
        if problem:
            self._spec_error(field, "url", problem)
        elif urlsplit(value).scheme != "https" and not is_loopback_host(urlsplit(value).hostname):
            self._spec_error(
                field, "https", "must use https (plain http is allowed only for a loopback host)"
            )

    def _validate_auth_required(self, constraint, field, value):
        """{'type': 'boolean'}"""
        known = self.schema[field].get("allowed", ())
        if constraint and value in known and value != "sandbox" and "auth" not in self.document:
            # At the line to edit: the auth section is missing because of this one.
            self._spec_error(
                field,
                "required-when",
                f"environment {value} needs an auth section (only the sandbox has a demo account)",
            )

    def _validate_auth_fields(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or value not in auth_scheme_names():
            return
        doc = self.document
        info = api.auth_schemes().get(value, {})
        if info and not info["keyed"]:
            self._spec_warning(
                field,
                "unverified-scheme",
                f"{value} is un-keyed and UNVERIFIED: nothing public says what it hashes; "
                "prefer PNAUTHINFO3-HMAC-SHA256",
            )
        oauth_only = ("token_url", "client_id_env", "client_secret_env")
        oauth_only += ("client_cert_file", "client_key_file")
        secret = "client_cert_file" if "client_cert_file" in doc else "client_secret_env"
        needed = (
            ("user_id", "token_url", "client_id_env", secret)
            if value == "oauth2"
            else (("user_id", "secret_env") if info.get("keyed") else ("user_id",))
        )
        for key in needed:
            if key not in doc:
                self._spec_error(key, "required-when", f"required when scheme is {value}")
        if value != "oauth2":
            for key in oauth_only:
                if key in doc:
                    self._spec_error(key, "not-applicable", "only applies when scheme is oauth2")
        elif "secret_env" in doc:
            self._spec_error(
                "secret_env", "not-applicable", "oauth2 takes client_id_env and client_secret_env"
            )

    def _validate_file_path(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if constraint and isinstance(value, str) and ("-----BEGIN" in value or "\n" in value):
            self._spec_error(
                field, "literal-secret", "give the PATH of the PEM file, not its contents"
            )

    def _validate_literal_secret(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if constraint:
            self._spec_error(field, "literal-secret", SECRET_HINT)

    def _validate_no_literal_secrets(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if constraint and isinstance(value, dict):
            for key, nested in value.items():
                if isinstance(nested, dict):
                    self._find_nested_secrets(field, nested, (key,))

    def _find_nested_secrets(self, field, mapping: dict, trail: tuple) -> None:
        for key, nested in mapping.items():
            if key in SECRET_KEYS:
                self._spec_error(field, "literal-secret", SECRET_HINT, (*trail, key))
            elif isinstance(nested, dict):
                self._find_nested_secrets(field, nested, (*trail, key))

    def _placeholders(self, field: str, value: str, rule: str) -> set[str] | None:
        try:
            return set(api.placeholders(value))
        except ValueError as e:
            self._spec_error(field, rule, f"bad placeholder: {e}")
            return None

    def _validate_output_path(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or not isinstance(value, str):
            return
        names = self._placeholders(field, value, "output-path")
        if names is None:
            return
        if names - {"job"}:
            self._spec_error(field, "output-path", "the only placeholder is {job}")
            return
        parts = value.replace("\\", "/").split("/")
        if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value) or ".." in parts:
            self._spec_error(
                field, "output-path", "must be a relative path that stays inside the run directory"
            )
        elif any(ord(c) < 32 or c == "\x7f" for c in value):
            self._spec_error(field, "output-path", "must not contain control characters")
        elif parts[-1].endswith(RESERVED_SUFFIXES):
            self._spec_error(
                field,
                "output-path",
                f"must not end with {' or '.join(RESERVED_SUFFIXES)}: segrun names the files of "
                "exports in progress so, and one would replace the other",
            )
        elif parts[-1] in ("", "."):
            self._spec_error(
                field,
                "output-path",
                f"{value!r} names a folder; name the export file, e.g. {value.rstrip('/.')}"
                f"{'/' if value.rstrip('/.') else ''}{{job}}.jsonl",
            )

    def _validate_columns(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or not isinstance(value, dict):
            return
        from runner.jobspec.columns import column_problem  # jmespath, only when a spec has columns

        if self.document.get("format") == "jsonl":
            self._spec_error(
                field, "columns", "applies to csv and xlsx; jsonl writes records whole"
            )
        if not value:
            self._spec_error(field, "columns", "name at least one column, or leave columns out")
        for name, expression in value.items():
            problem = column_problem(name, expression)
            if problem:
                self._spec_error(field, "columns", problem, (name,))

    def _validate_csv_only(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint:
            return
        fmt = self.document.get("format")
        if fmt == "jsonl":
            self._spec_error(field, "csv-only", "applies to csv; jsonl writes records whole")
        elif fmt == "xlsx" and field == "escape_formulas":
            self._spec_error(
                field,
                "csv-only",
                "applies to csv; an xlsx cell is text, never a formula, whatever it starts with",
            )
        elif fmt == "xlsx":
            self._spec_error(field, "csv-only", "applies to csv; an xlsx file names its encoding")

    def _validate_percentage(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if constraint and percentage(value) is None:
            self._spec_error(
                field,
                "percentage",
                'must be a percentage from 0% to 100%, like "30%", not '
                + (yaml_number(value) if isinstance(value, (int, float)) else repr(value)),
            )
        elif constraint and isinstance(value, float) and 0 < value < 1:  # a fraction meant?
            self._spec_warning(
                field,
                "percentage",
                f"{value} is read as {value}%, not {value:.0%}: "
                f'write "{value:.0%}" if that is meant',
            )

    def _validate_jmespath(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint:
            return
        from runner.jobspec.columns import column_problem  # jmespath, only when a spec has one

        problem = column_problem("field", value)
        if problem:
            self._spec_error(field, "jmespath", problem)

    def _validate_path_template(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or not isinstance(value, str):
            return
        names = self._placeholders(field, value, "path-template")
        if names is None:
            return
        unknown = sorted(names - _PATH_PARAMETERS)
        if unknown:
            self._spec_error(
                field,
                "path-template",
                f"unknown placeholder {{{unknown[0]}}}; "
                f"known: {', '.join(sorted(_PATH_PARAMETERS))}",
            )

    def _validate_unique_job_names(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if not constraint or not isinstance(value, list):
            return
        seen: dict[str, int] = {}
        for index, job in enumerate(value):
            if not isinstance(job, dict):
                continue
            name = job_name(job)
            if not name:
                continue
            if name in seen:
                key = "name" if "name" in job else "segment_group"
                how = "" if key == "name" else " (the slug of its segment_group; give it a name)"
                self._spec_error(
                    field,
                    "unique-name",
                    f"duplicate job name {name!r}{how}; jobs[{seen[name]}] has it too",
                    (index, key),
                )
            else:
                seen[name] = index

    def _validate_not_defaultable(self, constraint, field, value):
        """{'type': 'boolean'}"""
        if constraint:
            self._spec_error(
                field, "not-defaultable", f"{field} cannot have a default; give each job its own"
            )
