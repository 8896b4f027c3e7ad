"""From a spec file to diagnostics and, when it is valid, a `Spec`.

YAML text -> tree with positions -> ${VAR} substituted -> defaults merged into
jobs -> cerberus (schema + rules) -> diagnostics at the lines the user wrote.
The same function serves `validate` (unset variables are warnings) and
`plan`/`run` (they are errors). A valid spec is also asked what `run` would
refuse in it (runner/jobspec/readiness.py): those are warnings at the spec's
line, for `validate` and `plan` to show. An endpoint map file kept beside the
specs is recognised and checked as one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import gc
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cerberus import errors as ce

from runner.apifacts import api
from runner.apifacts.timestamps import utc_now
from runner.jobspec import endpoint_map, envsubst, readiness, record_schema
from runner.jobspec.diagnostic_help import explain, read_source
from runner.jobspec.diagnostics import ERROR, WARNING, Diagnostic, sort_key
from runner.jobspec.inputs import InputRefused
from runner.jobspec.loader import MAX_BYTES, LoadProblem, Mark, SpecList, SpecMap, load_file
from runner.jobspec.model import Spec, build_spec
from runner.jobspec.names import job_name, output_path
from runner.jobspec.pasted import pasted_in_text, pasted_secrets
from runner.jobspec.rules import (
    Finding,
    SpecValidator,
    auth_scheme_names,
    value_problem,
    yaml_number,
)
from runner.jobspec.schema import job_schema, spec_schema, trusted_spec_schema
from runner.jobspec.values_file import MISSING, ValuesFileProblem, read_values

#: what a checked file turned out to be
SPEC, SANDBOX_DATA, ENDPOINT_MAP = "spec", "sandbox data file", "endpoint map"


@dataclass
class CheckResult:
    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: Spec | None = None
    kind: str = SPEC
    #: for a valid spec: the endpoint map its run uses and what `run` would refuse
    readiness: readiness.Readiness | None = None
    #: secrets written into the spec itself (runner/jobspec/pasted.py): refused, and
    #: never to be shown back
    pasted: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


#: checks a sandbox data file (`segrun sandbox --data`): the sandbox, a layer above, owns
#: that format, so `validate` hands its check in
DataFileCheck = Callable[[str, SpecMap], list[Diagnostic]]


def check_file(path: str | os.PathLike, **options) -> CheckResult:
    """Every problem of the spec at `path`, each with what to do where known."""
    with _collector_paused():
        result = _check_file(path, **options)
    if result.diagnostics:  # about to be shown: their help may quote the source
        text = read_source(str(path))
        if text is not None:
            result.pasted += pasted_in_text(text)
        if result.kind != ENDPOINT_MAP:  # the advice speaks of specs
            result.diagnostics = explain(result.diagnostics, text)
    return result


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A spec of 100,000 values is some 300,000 objects, all alive until the
    check ends: the cyclic collector would scan them again and again and free
    nothing (a quarter of the check's time). It collects as usual afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _check_file(
    path: str | os.PathLike,
    *,
    environ: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    unset_is_error: bool = False,
    max_bytes: int = MAX_BYTES,
    data_file_check: DataFileCheck | None = None,
    endpoints_option: Path | None = None,
) -> CheckResult:
    name = str(path)
    result = CheckResult(name)
    environ = os.environ if environ is None else environ
    try:
        document = load_file(name, max_bytes)
    except LoadProblem as e:
        text = read_source(name) or ""
        if e.rule not in ("size", "io", "empty") and not _YAML_LINE.search(text):
            result.diagnostics.append(_not_a_spec(name, "no line of it reads as YAML"))
            return result
        # a file whose lines name no key of a spec may be data: where, but not its text
        ours = _reads_as_ours(_KEY_LINE.findall(text))
        result.diagnostics.append(
            Diagnostic(name, e.line, e.column, "", e.message, ERROR, e.rule, "", ours)
        )
        return result
    root = document.root
    if is_sandbox_data(root):  # `run` refuses it by name; `validate` hands in the sandbox's check
        result.kind = SANDBOX_DATA
        if data_file_check is not None:
            result.diagnostics.extend(data_file_check(name, root))
        return result
    if endpoint_map.is_endpoint_map(root):  # `run` refuses it by name, as a spec
        result.kind = ENDPOINT_MAP
        result.diagnostics = _sorted_unique(check_endpoint_map(name, root)[0])
        return result
    if root and not _reads_as_ours([key for key in root if isinstance(key, str)]):
        result.diagnostics.append(_not_a_spec(name, "none of its keys is a spec's"))
        return result

    for found in envsubst.substitute(root, environ):
        if isinstance(found, envsubst.BadReference):
            message, severity, rule = found.message, ERROR, "reference"
        else:
            message = f"environment variable {found.name} is not set"
            severity, rule = (ERROR if unset_is_error else WARNING), "unset-variable"
        result.diagnostics.append(
            Diagnostic(
                name,
                found.mark.line,
                found.mark.column,
                _display(found.path),
                message,
                severity,
                rule,
            )
        )

    result.pasted = pasted_secrets(root)
    merged = _merge_defaults(root)
    validator = SpecValidator(trusted_spec_schema(), now=now or utc_now(), findings=[])
    validator.validate(merged)
    locator = _Locator(merged)
    for error in _most_useful(_leaves(validator._errors)):
        result.diagnostics.append(_diagnostic(name, error, locator))
    for finding in validator.findings:
        result.diagnostics.append(_from_finding(name, finding, locator))
    document = validator.document
    if isinstance(document, dict):
        unusable = {f.path[1] for f in validator.findings if f.rule == "output-path"}
        result.diagnostics.extend(_duplicate_outputs(name, document, locator, unusable))
        result.diagnostics.extend(_credentials(name, document, environ, locator, unset_is_error))
        spec_dir = Path(name).resolve().parent
        values = _read_values_files(
            name, document, spec_dir, locator, result.diagnostics, unset_is_error
        )
        schemas = _read_record_schemas(document, spec_dir, locator, name, result.diagnostics)
        if result.ok:
            result.spec = build_spec(Path(name), document, values, schemas)
            result.readiness = readiness.check(result.spec, endpoints_option)
            result.diagnostics.extend(
                _refusal(name, refused, locator) for refused in result.readiness.refusals
            )
    result.diagnostics = _sorted_unique(result.diagnostics)
    return result


def _refusal(file: str, refused: readiness.Refusal, locator: _Locator) -> Diagnostic:
    """What `run` would refuse, as a warning at the spec's line that causes it."""
    mark, shown = locator.find(refused.at)
    return Diagnostic(
        file,
        mark.line,
        mark.column,
        _display(shown),
        f"`segrun run` refuses this: {refused.message}",
        WARNING,
        refused.rule,
        refused.help,
    )


# -- endpoint map files ---------------------------------------------------------
def check_endpoint_map_file(
    path: str, max_bytes: int = endpoint_map.MAX_MAP_BYTES
) -> tuple[list[Diagnostic], dict | None]:
    """An endpoint map file read and checked: its diagnostics, and the map as
    checked (None when it has errors). What `run` reads a map file with."""
    try:
        root = load_file(path, max_bytes).root
    except LoadProblem as e:
        message = e.message
        if e.rule in ("root", "empty") or "a spec" in message:  # the loader words it for a spec
            message = f"must be a mapping of calls ({', '.join(api.CALLS)}), as `segrun endpoints`"
            message += " prints"
        return [Diagnostic(path, e.line, e.column, "", message, ERROR, e.rule)], None
    return check_endpoint_map(path, root)


def check_endpoint_map(file: str, root: SpecMap) -> tuple[list[Diagnostic], dict | None]:
    """An endpoint map (the form `segrun endpoints` prints) checked with the rules
    of a spec's `endpoints:` block: unknown keys, methods and path placeholders are
    errors; a map a person has not confirmed is a warning, since a run refuses it
    only for production and staging (runner/jobspec/endpoint_map.py)."""
    wrapped = SpecMap({"endpoints": root}, mark=root.mark)
    wrapped.key_marks["endpoints"] = wrapped.value_marks["endpoints"] = root.mark
    schema = {"endpoints": {**spec_schema()["endpoints"], "type": "dict"}}
    validator = SpecValidator(schema, findings=[])
    validator.validate(wrapped)
    locator = _Locator(wrapped)
    found = [_diagnostic(file, e, locator) for e in _most_useful(_leaves(validator._errors))]
    found += [_from_finding(file, f, locator) for f in validator.findings]
    found = [_unwrapped(d) for d in found]
    checked = validator.document.get("endpoints") if isinstance(validator.document, dict) else None
    if any(d.is_error for d in found) or not isinstance(checked, dict):
        return found, None
    document = endpoint_map.MapDocument.of(checked)
    why = endpoint_map.why_unconfirmed(document)
    if why is not None:
        mark, _ = locator.find(("endpoints", *why.at))
        found.append(
            Diagnostic(
                file,
                mark.line,
                mark.column,
                ".".join(why.at),
                f"this endpoint map is not confirmed: it {why.reason}; `segrun run` refuses it "
                "for production and staging",
                WARNING,
                "unconfirmed-endpoints",
                endpoint_map.HOW_TO_CONFIRM,
            )
        )
    missing = [c for c in api.CALLS if not document.calls.get(c, {}).get("path")]
    if missing:
        found.append(
            Diagnostic(
                file,
                root.mark.line,
                root.mark.column,
                "",
                f"no path for {', '.join(missing)}: a run takes the inferred one, and refuses "
                "it for production and staging",
                WARNING,
                "inferred-endpoints",
            )
        )
    return found, checked


def _unwrapped(d: Diagnostic) -> Diagnostic:
    """A map's diagnostic named from the map's top, not the spec's `endpoints:`."""
    path = d.path.removeprefix("endpoints").removeprefix(".")
    message = d.message
    if d.rule == "unknown-key" and "did you mean" not in message:
        message += (
            f" (a map has {', '.join(api.CALLS)}, each with method, path, source; and "
            f"{', '.join(endpoint_map.MAP_KEYS)})"
        )
    return d._replace(path=path, message=message)


# -- files that are no spec ---------------------------------------------------------
#: a line only YAML begins so: a plain key and its colon, a list item, a flow mapping
#: or list, a complex key, a document marker or a directive (a line of a values file,
#: an e-mail address, a phone number, an id or a CSV row, begins otherwise)
_YAML_LINE = re.compile(
    r"^[ \t]*(?:[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|$)|-(?:[ \t]|$)|[\[{]|[?:](?:[ \t]|$)|---|%)",
    re.MULTILINE,
)


#: a line that starts a top-level key
_KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)[ \t]*:(?:[ \t]|$)", re.MULTILINE)


def _reads_as_ours(keys: Iterable[str]) -> bool:
    """Whether some top-level key (or a slip of one) is one of a file segrun reads as YAML:
    a spec, an endpoint map, a sandbox data file."""
    known = [*spec_schema(), *api.CALLS, *endpoint_map.MAP_KEYS, "segment_groups", "users"]
    return any(
        key in known or difflib.get_close_matches(key, known, n=1, cutoff=0.75) for key in keys
    )


def _not_a_spec(name: str, why: str) -> Diagnostic:
    """A file named as a spec that is none (a values file handed to `validate jobs/*`, say):
    one problem for the whole file, and nothing of its text, which may be customers'."""
    return Diagnostic(
        name,
        0,
        0,
        "",
        f"is not a job spec: {why} (version:, client_id:, jobs:, ...); none of its text is "
        "shown, in case it is data (a values file?)",
        ERROR,
        "not-a-spec",
        "",
        False,
    )


def _sorted_unique(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """sorted(set(...), key=sort_key), but hashing and comparing plain tuples:
    with 20,000 diagnostics, this is most of the cost of reporting them.
    (A value inherited from `defaults` is reported once per job: one is kept.)"""
    keyed = {(*sort_key(d), d.rule): d for d in diagnostics}
    return [keyed[key] for key in sorted(keyed)]


def is_sandbox_data(root: SpecMap) -> bool:
    """A sandbox data file (`segrun sandbox --data`) rather than a job spec: the
    examples hold one, and pre-commit hands `validate` every YAML file."""
    return "segment_groups" in root and "jobs" not in root and "version" not in root


# -- defaults -------------------------------------------------------------------
class _MergedMap(SpecMap):
    """A job with `defaults` laid under it; remembers which keys it inherited."""

    __slots__ = ("inherited",)

    def __init__(self, *args, mark: Mark | None = None, **kwargs) -> None:
        super().__init__(*args, mark=mark, **kwargs)
        self.inherited: dict[str, tuple] = {}


def _merge_defaults(root: SpecMap) -> SpecMap:
    defaults = root.get("defaults")
    jobs = root.get("jobs")
    if not isinstance(defaults, SpecMap) or not isinstance(jobs, SpecList):
        return root
    merged_jobs = SpecList(mark=jobs.mark)
    merged_jobs._item_marks = jobs._item_marks
    for job in jobs:
        merged_jobs.append(
            _merge(defaults, job, ("defaults",)) if isinstance(job, SpecMap) else job
        )
    result = SpecMap(mark=root.mark)
    result.update(root)
    result.key_marks, result.value_marks = root.key_marks, root.value_marks
    result["jobs"] = merged_jobs
    return result


def _merge(base: SpecMap, over: SpecMap, base_path: tuple) -> _MergedMap:
    merged = _MergedMap(mark=over.mark)
    for key, value in base.items():
        if key in ("name", "segment_group"):
            continue  # reported on `defaults` itself
        merged[key] = value
        merged.key_marks[key] = base.key_marks[key]
        merged.value_marks[key] = base.value_marks[key]
        merged.inherited[key] = (*base_path, key)
    for key, value in over.items():
        inherited = merged.get(key)
        if (
            isinstance(value, SpecMap)
            and isinstance(inherited, SpecMap)
            and key in merged.inherited
        ):
            value = _merge(inherited, value, merged.inherited[key])
        merged[key] = value
        merged.key_marks[key] = over.key_marks[key]
        merged.value_marks[key] = over.value_marks[key]
        merged.inherited.pop(key, None)
    return merged


# -- positions ------------------------------------------------------------------
class _Locator:
    """Where a cerberus document path was written, and how to name it."""

    def __init__(self, root: SpecMap) -> None:
        self.root = root
        self._lists: dict[tuple, tuple[SpecList, str] | None] = {}

    def place(self, path: tuple, *, want_key: bool = False) -> tuple[int, int, str]:
        """find() as line, column and the path shown; an item of a list costs O(1)
        after the list's first item, however many of its 20,000 items are reported."""
        if path and type(path[-1]) is int and not want_key:
            parent = self._list_at(path[:-1])
            if parent is not None and 0 <= path[-1] < len(parent[0]):
                raw = parent[0]._item_marks[path[-1]]  # libyaml's 0-based mark
                return raw.line + 1, raw.column + 1, f"{parent[1]}[{path[-1]}]"
        mark, shown = self.find(path, want_key=want_key)
        return mark.line, mark.column, _display(shown)

    def _list_at(self, path: tuple) -> tuple[SpecList, str] | None:
        if path not in self._lists:
            node = self.node(path)
            self._lists[path] = (
                (node, _display(self.find(path)[1])) if isinstance(node, SpecList) else None
            )
        return self._lists[path]

    def find(self, path: tuple, *, want_key: bool = False) -> tuple[Mark, tuple]:
        node: object = self.root
        mark = self.root.mark
        shown: list = []
        for step in path:
            if isinstance(node, SpecMap):
                if step not in node:
                    return mark, (*shown, step)  # missing: the mapping that lacks it
                inherited = getattr(node, "inherited", {}).get(step)
                shown = list(inherited) if inherited else [*shown, step]
                mark = (
                    node.key_marks[step]
                    if want_key and step == path[-1]
                    else node.value_marks[step]
                )
                node = node[step]
            elif isinstance(node, SpecList) and isinstance(step, int) and step < len(node):
                shown.append(step)
                mark = node.item_mark(step)
                node = node[step]
            else:
                return mark, (*shown, step)
        return mark, tuple(shown)

    def node(self, path: tuple) -> object:
        node: object = self.root
        for step in path:
            try:
                node = node[step]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def keys_at(self, path: tuple) -> list[str]:
        node: object = self.root
        for step in path:
            try:
                node = node[step]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return []
        return list(node) if isinstance(node, dict) else []


def _display(path: tuple) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


# -- cerberus errors to diagnostics ---------------------------------------------
def _leaves(errors) -> list:
    out = []
    for error in errors:
        if error.is_group_error:
            out.extend(_leaves(error.child_errors))
        else:
            out.append(error)
    return out


def _schema_at(path: tuple) -> dict:
    """The field schemas that apply at a document path (for did-you-mean)."""
    schema: dict = spec_schema()
    for step in path:
        if isinstance(step, int):
            continue
        entry = schema.get(step, {})
        inner = entry.get("schema", {})
        if inner.get("type") == "dict" and "schema" in inner:  # a list of mappings
            inner = inner["schema"]
        schema = inner
    return schema


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "list": "a list",
    "dict": "a mapping",
    "number": "a number",
}


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return yaml_number(value)
    return f"{type(value).__name__} {yaml_number(value)}"


def _message(error, path: tuple) -> tuple[str, str]:
    code = error.code
    c = error.constraint
    value = error.value
    if code == ce.REQUIRED_FIELD.code:
        return "required key is missing", "required"
    if code == ce.UNKNOWN_FIELD.code:
        close = _did_you_mean(path)
        hint = f"; did you mean {close!r}?" if close else ""
        return f"unknown key {path[-1]!r}{hint}", "unknown-key"
    if code == ce.BAD_TYPE.code:
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in ([c] if isinstance(c, str) else c))
        if wanted == "a number" and isinstance(value, float):
            wanted = "a finite number"
        return f"must be {wanted}, not {_describe(value)}", "type"
    if code == ce.NOT_NULLABLE.code:
        return "must not be null", "nullable"
    if code == ce.EMPTY_NOT_ALLOWED.code:
        return "must not be empty", "empty"
    if code == ce.UNALLOWED_VALUE.code:
        choices = ", ".join(str(x) for x in c)
        near = difflib.get_close_matches(str(value), [str(x) for x in c], n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        return f"{value!r} is not one of {choices}{hint}", "allowed"
    if code in (ce.MIN_VALUE.code, ce.MAX_VALUE.code):
        word = "at least" if code == ce.MIN_VALUE.code else "at most"
        return f"must be {word} {c}, not {yaml_number(value)}", error.rule
    if code in (ce.MIN_LENGTH.code, ce.MAX_LENGTH.code):
        word = "at least" if code == ce.MIN_LENGTH.code else "at most"
        unit = "item" if isinstance(value, list) else "character"
        return f"must have {word} {c} {unit}{'s' if c != 1 else ''}", error.rule
    if code == ce.REGEX_MISMATCH.code:
        schema = _schema_at(path[:-1]).get(path[-1], {}) if path else {}
        hint = schema.get("meta", {}).get("regex_hint")
        return (f"must be {hint}" if hint else f"does not match the pattern {c}"), "regex"
    if code in (ce.DEPENDENCIES_FIELD.code, ce.DEPENDENCIES_FIELD_VALUE.code):
        needed = c if isinstance(c, str) else ", ".join(c)
        return f"only applies together with {needed}", "dependencies"
    if code == ce.EXCLUDES_FIELD.code:
        other = c if isinstance(c, str) else ", ".join(c)
        return f"give either {path[-1]} or {other}, not both", "excludes"
    if code == ce.COERCION_FAILED.code:
        return f"cannot read {_describe(value)}", "coerce"
    if error.info and isinstance(error.info[0], str):
        return error.info[0], error.rule or "custom"
    return f"invalid ({error.rule})", error.rule or "custom"


def _diagnostic(file: str, error, locator: _Locator) -> Diagnostic:
    path = tuple(error.document_path)
    message, rule = _message(error, path)
    mark, shown = locator.find(path, want_key=error.code == ce.UNKNOWN_FIELD.code)
    return Diagnostic(file, mark.line, mark.column, _display(shown), message, ERROR, rule)


def _from_finding(file: str, finding: Finding, locator: _Locator) -> Diagnostic:
    line, column, shown = locator.place(finding.path, want_key=finding.rule == "literal-secret")
    return Diagnostic(file, line, column, shown, finding.message, finding.severity, finding.rule)


def _most_useful(errors: list) -> list:
    """A typo (`segement_group`) makes two errors: the unknown key, whose message
    names the key it resembles, and that key's "required key is missing". The
    first explains the second, which only repeats it at a worse place: drop it."""
    meant = set()
    for error in errors:
        if error.code == ce.UNKNOWN_FIELD.code:
            path = tuple(error.document_path)
            close = _did_you_mean(path)
            if close:
                meant.add((*path[:-1], close))
    return [
        e
        for e in errors
        if not (e.code == ce.REQUIRED_FIELD.code and tuple(e.document_path) in meant)
    ]


def _did_you_mean(path: tuple) -> str | None:
    known = list(_schema_at(path[:-1]))
    close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
    return close[0] if close else None


# -- checks across jobs, and of the environment ------------------------------------
def _duplicate_outputs(
    file: str, document: dict, locator: _Locator, unusable: set
) -> list[Diagnostic]:
    """Two jobs writing one export file would silently keep only the second's
    records: an error at each job, naming the other. Jobs in `unusable` have an
    output path that is wrong on its own, and that error says enough."""
    jobs = document.get("jobs")
    if not isinstance(jobs, list):
        return []
    by_path: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        if not isinstance(job, dict) or not job_name(job) or index in unusable:
            continue
        try:
            by_path.setdefault(output_path(job), []).append(index)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue  # a malformed template is reported by its own rule
    out = []
    names = {i: job_name(jobs[i]) for indexes in by_path.values() for i in indexes}
    for path, indexes in by_path.items():
        for index in indexes if len(indexes) > 1 else ():
            # jobs of one name collide already, and that error says so
            others = ", ".join(f"jobs[{i}]" for i in indexes if names[i] != names[index])
            if not others:
                continue
            mark, shown = locator.find(_where_output_is_named(locator, index))
            out.append(
                Diagnostic(
                    file,
                    mark.line,
                    mark.column,
                    _display(shown),
                    f"exports/{path} is also the export of {others}; "
                    "give each job its own output.path",
                    ERROR,
                    "unique-output",
                )
            )
    return out


def _where_output_is_named(locator: _Locator, index: int) -> tuple:
    """The job's own `output.path` if it wrote one, else its name (or the job)."""
    job = locator.node(("jobs", index))
    if isinstance(job, SpecMap):
        output = job.get("output")
        inherited = getattr(job, "inherited", {})
        if (
            "output" not in inherited
            and isinstance(output, SpecMap)
            and "path" in output
            and "path" not in getattr(output, "inherited", {})
        ):
            return ("jobs", index, "output", "path")
        if "name" in job:
            return ("jobs", index, "name")
    return ("jobs", index)


_CREDENTIAL_KEYS = {"oauth2": ("client_id_env", "client_secret_env")}


def _credentials(
    file: str, document: dict, environ: Mapping[str, str], locator: _Locator, is_error: bool
) -> list[Diagnostic]:
    """The variables `auth` names must be set where the spec runs: a warning for
    `validate` (a pre-commit machine has no secrets), an error for plan and run."""
    auth = document.get("auth")
    if not isinstance(auth, dict) or auth.get("scheme") not in auth_scheme_names():
        return []
    out = []
    for key in _CREDENTIAL_KEYS.get(auth["scheme"], ("secret_env",)):
        variable = auth.get(key)
        if not isinstance(variable, str) or not variable.isidentifier() or environ.get(variable):
            continue
        mark, shown = locator.find(("auth", key))
        out.append(
            Diagnostic(
                file,
                mark.line,
                mark.column,
                _display(shown),
                f"environment variable {variable} (named by auth in the spec) is not set",
                ERROR if is_error else WARNING,
                "unset-variable",
            )
        )
    return out


# -- values files ---------------------------------------------------------------
def _read_values_files(
    spec_file: str,
    document: dict,
    spec_dir: Path,
    locator: _Locator,
    diagnostics: list[Diagnostic],
    missing_is_error: bool,
) -> dict[int, list[str]]:
    """Values read from files, by job index. A problem with the file as a whole
    is reported at the spec key to edit; a bad value at its line in the file."""
    found: dict[int, list[str]] = {}
    jobs = document.get("jobs")
    for index, job in enumerate(jobs if isinstance(jobs, list) else []):
        source = job.get("values_file") if isinstance(job, dict) else None
        if not isinstance(source, dict) or not isinstance(source.get("path"), str):
            continue
        if not source["path"] or "values" in job:
            continue  # values and values_file together: that error comes first
        written = source["path"]
        column = source.get("column") if isinstance(source.get("column"), str) else None
        max_bytes = source.get("max_bytes")
        if type(max_bytes) is not int or not 1 <= max_bytes <= _max_values_bytes():
            continue  # reported by the schema
        where = ("jobs", index, "values_file")
        delimiter = source.get("delimiter") if isinstance(source.get("delimiter"), str) else None
        encoding = source.get("encoding") if isinstance(source.get("encoding"), str) else None
        try:
            rows = read_values(
                written, spec_dir, column, max_bytes, delimiter=delimiter, encoding=encoding
            )
            if not rows:
                raise ValuesFileProblem("holds no values")
        except ValuesFileProblem as e:
            shown_file = _shown(spec_dir / written)
            if e.line:
                diagnostics.append(
                    Diagnostic(
                        shown_file,
                        e.line,
                        1,
                        _display(where),
                        e.message,
                        ERROR,
                        "values-file",
                        "",
                        False,
                    )
                )
                continue
            mark, shown = locator.find((*where, e.at) if e.at else where)
            message = f"{written!r} {e.message}"
            if e.at == "column":
                message += f"; its header is {shown_file}:1:1"
            if e.advice:
                message += f"; {e.advice}"
            missing = e.message == MISSING
            severity = ERROR if missing_is_error or not missing else WARNING
            diagnostics.append(
                Diagnostic(
                    spec_file,
                    mark.line,
                    mark.column,
                    _display(shown),
                    message,
                    severity,
                    "values-file",
                )
            )
            continue
        criteria = job.get("match_criteria")
        if criteria in api.match_criteria():
            diagnostics.extend(_check_values(rows, criteria, _shown(spec_dir / written), where))
        found[index] = [value for value, _ in rows]
    return found


def _read_record_schemas(
    document: dict, spec_dir: Path, locator: _Locator, spec_file: str, diagnostics: list
) -> dict[int, dict]:
    """Each job's `expect.record_schema`, read and checked as a JSON Schema now, so a run
    never finds a broken schema after its last page."""
    found: dict[int, dict] = {}
    jobs = document.get("jobs")
    for index, job in enumerate(jobs if isinstance(jobs, list) else []):
        expect = job.get("expect") if isinstance(job, dict) else None
        written = expect.get("record_schema") if isinstance(expect, dict) else None
        if not isinstance(written, str) or not written:
            continue
        where = ("jobs", index, "expect", "record_schema")
        try:
            found[index] = record_schema.load(written, spec_dir)
        except InputRefused as e:
            mark, shown = locator.find(where)
            diagnostics.append(
                Diagnostic(
                    spec_file,
                    mark.line,
                    mark.column,
                    _display(shown),
                    f"{written!r} {e}",
                    ERROR,
                    "record-schema",
                )
            )
    return found


def _max_values_bytes() -> int:
    """The bound specs/jobspec.yaml sets on values_file.max_bytes."""
    return job_schema()["values_file"]["schema"]["max_bytes"]["max"]


def _check_values(rows, criteria: str, shown: str, where: tuple) -> list[Diagnostic]:
    out = []
    path = _display(where)
    seen: dict[str, int] = {}
    for value, line in rows:
        problem = value_problem(criteria, value, quoted=False)
        if problem:
            out.append(Diagnostic(shown, line, 1, path, problem, ERROR, "value-format", "", False))
        elif value in seen:
            out.append(
                Diagnostic(
                    shown,
                    line,
                    1,
                    path,
                    f"duplicate value (also line {seen[value]})",
                    WARNING,
                    "duplicate-value",
                    "",
                    False,
                )
            )
        else:
            seen[value] = line
    return out


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


__all__ = [
    "CheckResult",
    "check_endpoint_map",
    "check_endpoint_map_file",
    "check_file",
    "is_sandbox_data",
]
