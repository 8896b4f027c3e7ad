"""From a spec file to diagnostics and, when it is valid, a `Spec`.

YAML text -> tree with positions -> ${VAR} substituted -> defaults merged into
jobs -> cerberus (schema + rules) -> diagnostics at the lines the user wrote.
The same function serves `validate` (unset variables are warnings) and
`plan`/`run` (they are errors).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cerberus import errors as ce

from runner.diagnostic_help import explain, read_source
from runner.diagnostics import ERROR, WARNING, Diagnostic, sort_key
from runner.spec import envsubst
from runner.spec.loader import MAX_BYTES, LoadProblem, Mark, SpecList, SpecMap, load_file
from runner.spec.model import Spec, build_spec
from runner.spec.rules import SPEC_ERROR, SPEC_WARNING, SpecValidator, value_problem
from runner.spec.schema import spec_schema
from runner.spec.values_file import ValuesFileProblem, read_values
from runner.timestamps import utc_now


@dataclass
class CheckResult:
    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: Spec | None = None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def check_file(path: str | os.PathLike, **options) -> CheckResult:
    """Every problem of the spec at `path`, each with what to do where known."""
    result = _check_file(path, **options)
    if result.diagnostics:
        result.diagnostics = explain(result.diagnostics, read_source(str(path)))
    return result


def _check_file(
    path: str | os.PathLike,
    *,
    environ: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    unset_is_error: bool = False,
    max_bytes: int = MAX_BYTES,
) -> CheckResult:
    name = str(path)
    result = CheckResult(name)
    environ = os.environ if environ is None else environ
    try:
        document = load_file(name, max_bytes)
    except LoadProblem as e:
        result.diagnostics.append(Diagnostic(name, e.line, e.column, "", e.message, ERROR, e.rule))
        return result
    root = document.root
    if is_sandbox_data(root):
        result.diagnostics.extend(_check_sandbox_data(name, root))
        return result

    for unset in envsubst.substitute(root, environ):
        result.diagnostics.append(
            Diagnostic(
                name,
                unset.mark.line,
                unset.mark.column,
                _display(unset.path),
                f"environment variable {unset.name} is not set",
                ERROR if unset_is_error else WARNING,
                "unset-variable",
            )
        )

    merged = _merge_defaults(root)
    validator = SpecValidator(spec_schema(), now=now or utc_now())
    validator.validate(merged)
    locator = _Locator(merged)
    for error in _leaves(validator._errors):
        result.diagnostics.append(_diagnostic(name, error, locator))

    if result.ok:
        spec_dir = Path(name).resolve().parent
        values = _read_values_files(name, validator.document, spec_dir, locator, result.diagnostics)
        if result.ok:
            result.spec = build_spec(Path(name), validator.document, values)
    result.diagnostics = sorted(set(result.diagnostics), key=sort_key)
    return result


def is_sandbox_data(root: SpecMap) -> bool:
    """A sandbox data file (`segrun sandbox --data`) rather than a job spec: the
    examples hold one, and pre-commit hands `validate` every YAML file."""
    return "segment_groups" in root and "jobs" not in root and "version" not in root


def _check_sandbox_data(name: str, root: SpecMap) -> list[Diagnostic]:
    from runner.sandbox.datafile import SandboxDataError, parse_data

    try:
        parse_data(root, name)
    except SandboxDataError as e:
        message = str(e).removeprefix(f"{name}: ")
        mark = root.mark
        return [Diagnostic(name, mark.line, mark.column, "", message, ERROR, "sandbox-data")]
    return []


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
    return f"{type(value).__name__} {value!r}"


def _message(error, path: tuple) -> tuple[str, str]:
    code = error.code
    c = error.constraint
    value = error.value
    if code == ce.REQUIRED_FIELD.code:
        return "required key is missing", "required"
    if code == ce.UNKNOWN_FIELD.code:
        known = list(_schema_at(path[:-1]))
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key {path[-1]!r}{hint}", "unknown-key"
    if code == ce.BAD_TYPE.code:
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in ([c] if isinstance(c, str) else c))
        return f"must be {wanted}, not {_describe(value)}", "type"
    if code == ce.NOT_NULLABLE.code:
        return "must not be null", "nullable"
    if code == ce.EMPTY_NOT_ALLOWED.code:
        return "must not be empty", "empty"
    if code == ce.UNALLOWED_VALUE.code:
        choices = ", ".join(str(x) for x in c)
        close = difflib.get_close_matches(str(value), [str(x) for x in c], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{value!r} is not one of {choices}{hint}", "allowed"
    if code in (ce.MIN_VALUE.code, ce.MAX_VALUE.code):
        word = "at least" if code == ce.MIN_VALUE.code else "at most"
        return f"must be {word} {c}, not {value!r}", error.rule
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
    if code in (SPEC_ERROR.code, SPEC_WARNING.code):
        return error.info[1], error.info[0]
    if error.info and isinstance(error.info[0], str):
        return error.info[0], error.rule or "custom"
    return f"invalid ({error.rule})", error.rule or "custom"


def _diagnostic(file: str, error, locator: _Locator) -> Diagnostic:
    path = tuple(error.document_path)
    severity = WARNING if error.code == SPEC_WARNING.code else ERROR
    message, rule = _message(error, path)
    if error.code in (SPEC_ERROR.code, SPEC_WARNING.code) and error.info[2] is not None:
        extra = error.info[2]
        path = (*path, *(extra if isinstance(extra, tuple) else (extra,)))
    want_key = error.code == ce.UNKNOWN_FIELD.code or rule == "literal-secret"
    mark, shown = locator.find(path, want_key=want_key)
    return Diagnostic(file, mark.line, mark.column, _display(shown), message, severity, rule)


# -- values files ---------------------------------------------------------------
def _read_values_files(
    spec_file: str, document: dict, spec_dir: Path, locator: _Locator, diagnostics: list[Diagnostic]
) -> dict[int, list[str]]:
    """Values read from files, by job index; problems become diagnostics at the
    file's own lines (or at the spec's `values_file` when the file is unusable)."""
    found: dict[int, list[str]] = {}
    for index, job in enumerate(document.get("jobs") or []):
        source = job.get("values_file")
        if not source:
            continue
        path = spec_dir / source["path"]
        shown = str(Path(os.path.relpath(path)) if not Path(source["path"]).is_absolute() else path)
        try:
            rows = read_values(path, source.get("column"))
            if not rows:
                raise ValuesFileProblem("holds no values")
        except ValuesFileProblem as e:
            if e.line:  # a problem inside the file: point into it
                diagnostics.append(
                    Diagnostic(
                        shown,
                        e.line,
                        1,
                        f"jobs[{index}].values_file",
                        e.message,
                        ERROR,
                        "values-file",
                    )
                )
            else:  # the file as a whole: point at the spec line that names it
                mark, where = locator.find(("jobs", index, "values_file", "path"))
                diagnostics.append(
                    Diagnostic(
                        spec_file,
                        mark.line,
                        mark.column,
                        _display(where),
                        f"{source['path']!r} {e.message}",
                        ERROR,
                        "values-file",
                    )
                )
            continue
        criteria = job["match_criteria"]
        seen: dict[str, int] = {}
        for value, line in rows:
            problem = value_problem(criteria, value)
            where = f"jobs[{index}].values_file"
            if problem:
                diagnostics.append(
                    Diagnostic(shown, line, 1, where, problem, ERROR, "value-format")
                )
            elif value in seen:
                diagnostics.append(
                    Diagnostic(
                        shown,
                        line,
                        1,
                        where,
                        f"duplicate value {value!r} (also line {seen[value]})",
                        WARNING,
                        "duplicate-value",
                    )
                )
            else:
                seen[value] = line
        found[index] = [value for value, _ in rows]
    return found


__all__ = ["CheckResult", "check_file", "is_sandbox_data"]
