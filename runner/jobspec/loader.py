"""Load a job spec's YAML so that every node remembers where it was written.

Specs come from many hands, so this loader is the guard at the door. It builds
Python values straight from libyaml's event stream (fast: the C parser does the
lexing, one Python pass does everything else) and refuses, with the line:
duplicate keys, alias bombs, deep nesting, oversized or non-UTF-8 files,
non-standard tags, a root that is not a mapping, empty files and multi-document
files. Nothing here knows what a job spec means.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Protocol

import yaml
from yaml import events as ev
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from runner.jobspec.inputs import InputRefused, read_regular_file

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
# An alias re-uses a node; past this many nodes beyond the ones written, the
# document is an expansion bomb, whatever its alias count.
MAX_EXPANSION = 100_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {
    STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
# Plain decimal integers; YAML 1.1's 0o, 0x, 0b, 1_000 and 1:30 forms (and a
# leading 0, which is octal there) go through PyYAML's own constructor.
_DECIMAL = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_MERGE = "tag:yaml.org,2002:merge"
#: the longest integer Python converts from text (past it, int() raises a ValueError
#: about sys.set_int_max_str_digits); None when the interpreter has no such limit
_MAX_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)() or 1_000_000


class _YamlMark(Protocol):
    """PyYAML's 0-based mark, the pure-Python one or libyaml's."""

    line: int
    column: int


class Mark:
    """A 1-based line and column."""

    __slots__ = ("line", "column")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column

    @classmethod
    def of(cls, yaml_mark: _YamlMark | None) -> Mark:
        """PyYAML's types let an event have no mark (its parser always gives
        one): that is 0:0, the place of a node whose place is unknown."""
        if yaml_mark is None:
            return cls(0, 0)
        return cls(yaml_mark.line + 1, yaml_mark.column + 1)

    def __repr__(self) -> str:
        return f"{self.line}:{self.column}"


class SpecMap(dict):
    """A mapping that knows where it and each of its keys and values start."""

    __slots__ = ("mark", "key_marks", "value_marks")

    def __init__(self, *args, mark: Mark | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mark = mark or Mark(0, 0)
        self.key_marks: dict = {}
        self.value_marks: dict = {}


class SpecList(list):
    """A sequence that knows where it and each of its items start.

    Item marks are libyaml's own 0-based marks, converted only when asked: a
    100,000-value list should not pay for 100,000 conversions it never uses.
    """

    __slots__ = ("mark", "_item_marks")

    def __init__(self, items=(), mark: Mark | None = None) -> None:
        super().__init__(items)
        self.mark = mark or Mark(0, 0)
        self._item_marks: list = []

    def item_mark(self, index: int) -> Mark:
        return Mark.of(self._item_marks[index])


@dataclass
class LoadProblem(Exception):
    """The file cannot be read as a spec at all."""

    message: str
    line: int = 0
    column: int = 0
    rule: str = "load"

    def __str__(self) -> str:
        return self.message


@dataclass
class Document:
    root: SpecMap
    text: str


def load_file(path: str, max_bytes: int = MAX_BYTES) -> Document:
    try:
        data = read_regular_file(path, max_bytes)
    except InputRefused as e:
        message = str(e)
        if message.startswith("is larger"):
            raise LoadProblem(
                f"the file {message}; segrun refuses specs this large", rule="size"
            ) from None
        raise LoadProblem(f"cannot read the file: it {message}", rule="io") from None
    return load_bytes(data, max_bytes)


def load_bytes(data: bytes, max_bytes: int = MAX_BYTES) -> Document:
    if len(data) > max_bytes:
        raise LoadProblem(
            f"the file is larger than {max_bytes:,} bytes; segrun refuses specs this large",
            rule="size",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise LoadProblem(
            f"the file is not UTF-8 text (byte 0x{data[e.start]:02x} cannot be decoded)",
            line,
            column,
            rule="encoding",
        ) from None
    return load_text(text)


def load_text(text: str) -> Document:
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise LoadProblem("the file contains a NUL character", line, 1, rule="encoding")
    root = _Composer(text).compose()
    return Document(root, text)


class _Composer:
    """Turns the event stream into SpecMap / SpecList / plain values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.anchors: dict[str, tuple[object, int]] = {}
        self.aliases = 0
        self.expanded = 0
        self._implicit = Resolver.yaml_implicit_resolvers
        self._constructor = SafeConstructor()

    def compose(self) -> SpecMap:
        parser = _Loader(self.text)
        try:
            return self._stream(parser)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            msg = " ".join(s for s in (e.context, e.problem) if s) or "invalid YAML"
            if "nesting depth" in msg:  # libyaml's own limit, met while scanning ahead
                raise LoadProblem(
                    f"the document nests deeper than {MAX_DEPTH} levels",
                    mark.line + 1 if mark else 0,
                    mark.column + 1 if mark else 0,
                    rule="depth",
                ) from None
            raise LoadProblem(
                f"invalid YAML: {msg}",
                mark.line + 1 if mark else 0,
                mark.column + 1 if mark else 0,
                rule="syntax",
            ) from None
        except yaml.YAMLError as e:
            raise LoadProblem(f"invalid YAML: {e}", rule="syntax") from None
        finally:
            parser.dispose()

    def _stream(self, parser) -> SpecMap:
        get = parser.get_event
        get()  # StreamStart
        first = get()
        if isinstance(first, ev.StreamEndEvent):
            raise LoadProblem(
                "the file is empty; a spec needs at least version and jobs", rule="empty"
            )
        root_event = get()
        if (
            isinstance(root_event, ev.ScalarEvent)
            and root_event.value == ""
            and root_event.implicit[0]
        ):
            raise LoadProblem(
                "the file is empty; a spec needs at least version and jobs", rule="empty"
            )
        if not isinstance(root_event, ev.MappingStartEvent):
            mark = Mark.of(root_event.start_mark)
            kind = "a list" if isinstance(root_event, ev.SequenceStartEvent) else "a single value"
            raise LoadProblem(
                f"a spec is a mapping of keys (version, client_id, jobs, ...), not {kind}",
                mark.line,
                mark.column,
                rule="root",
            )
        root, _ = self._node(get, root_event, 1)
        assert isinstance(root, SpecMap)  # a MappingStartEvent builds one
        get()  # DocumentEnd
        nxt = get()
        if isinstance(nxt, ev.DocumentStartEvent):
            mark = Mark.of(nxt.start_mark)
            raise LoadProblem(
                "the file holds more than one YAML document; a spec is a single document",
                mark.line,
                mark.column,
                rule="documents",
            )
        return root

    def _problem(self, event, message: str, rule: str) -> LoadProblem:
        mark = Mark.of(event.start_mark)
        return LoadProblem(message, mark.line, mark.column, rule)

    def _check_tag(self, event) -> str | None:
        tag = event.tag
        if tag is None or tag == "!":
            return None
        if tag not in _ALLOWED_TAGS:
            raise self._problem(
                event,
                f"the tag {tag.replace('tag:yaml.org,2002:', '!!')} is not allowed; "
                "specs use plain YAML values only",
                "tag",
            )
        return tag

    def _node(self, get, event, depth: int) -> tuple[object, int]:
        """Build the value that starts with `event`; returns it and its expanded size."""
        cls = type(event)
        if cls is ev.ScalarEvent:
            value = self._scalar(event)
            size = 1
        elif cls is ev.AliasEvent:
            return self._alias(event)
        elif cls is ev.MappingStartEvent or cls is ev.SequenceStartEvent:
            if depth > MAX_DEPTH:
                raise self._problem(
                    event, f"the document nests deeper than {MAX_DEPTH} levels", "depth"
                )
            self._check_tag(event)
            if cls is ev.MappingStartEvent:
                value, size = self._mapping(get, event, depth)
            else:
                value, size = self._sequence(get, event, depth)
        else:  # pragma: no cover - libyaml guarantees the grammar
            raise self._problem(event, "unexpected YAML structure", "syntax")
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, size)
        return value, size

    def _alias(self, event) -> tuple[object, int]:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self._problem(
                event, f"more than {MAX_ALIASES} aliases; segrun refuses alias-heavy files", "alias"
            )
        if event.anchor not in self.anchors:
            raise self._problem(event, f"unknown alias *{event.anchor}", "alias")
        value, size = self.anchors[event.anchor]
        self.expanded += size
        if self.expanded > MAX_EXPANSION:
            raise self._problem(
                event,
                "aliases expand this document beyond "
                f"{MAX_EXPANSION:,} extra values (an expansion bomb?)",
                "alias",
            )
        return value, size

    def _mapping(self, get, start, depth: int) -> tuple[SpecMap, int]:
        result = SpecMap(mark=Mark.of(start.start_mark))
        key_marks, value_marks = result.key_marks, result.value_marks
        size = 1
        while True:
            key_event = get()
            if type(key_event) is ev.MappingEndEvent:
                return result, size
            if type(key_event) is not ev.ScalarEvent:
                raise self._problem(
                    key_event, "a key must be a plain value, not a list or mapping", "key"
                )
            key = self._scalar(key_event)
            if key == "<<" and not key_event.style:
                raise self._problem(
                    key_event, "merge keys (<<) are not supported; use `defaults:` instead", "merge"
                )
            if not isinstance(key, str):
                # Spec keys are names: `1:`, `true:` or `null:` is the text written.
                key = key_event.value
            key_mark = Mark.of(key_event.start_mark)
            value_event = get()
            value, child = self._node(get, value_event, depth + 1)
            size += child
            if key in result:
                first = key_marks[key]
                raise LoadProblem(
                    f"duplicate key {key!r} (first defined on line {first.line})",
                    key_mark.line,
                    key_mark.column,
                    "duplicate-key",
                )
            result[key] = value
            key_marks[key] = key_mark
            value_marks[key] = Mark.of(value_event.start_mark)

    def _sequence(self, get, start, depth: int) -> tuple[SpecList, int]:
        result = SpecList(mark=Mark.of(start.start_mark))
        items, marks = result, result._item_marks
        size = 1
        scalar = ev.ScalarEvent
        while True:
            item_event = get()
            cls = type(item_event)
            if cls is ev.SequenceEndEvent:
                return result, size
            # Hot path: a long `values:` list is nothing but scalars.
            if cls is scalar and item_event.anchor is None:
                items.append(self._scalar(item_event))
                size += 1
            else:
                value, child = self._node(get, item_event, depth + 1)
                items.append(value)
                size += child
            marks.append(item_event.start_mark)

    def _scalar(self, event) -> object:
        value = event.value
        tag = event.tag
        if tag is not None and tag != "!":
            tag = self._check_tag(event)
            if tag == STR:
                return value
        elif event.style or not event.implicit[0]:
            return value  # quoted, literal or folded: always text
        else:
            # Resolver.resolve for a plain scalar, without its call: every value
            # that starts like a number (a ProfileId, a +1 phone) comes here.
            # (Resolver has no wildcard or path resolvers to try after these.)
            for tag, regexp in self._implicit.get(value[:1] if value else "", ()):  # noqa: B007
                if regexp.match(value):
                    break
            else:
                return value
        if tag == STR:
            return value
        if tag == _TIMESTAMP:
            # Kept as the text written, so unquoted and quoted timestamps are
            # read by exactly the same rules later on.
            return value
        if tag == _MERGE:
            return value
        if tag not in _ALLOWED_TAGS:
            return value
        if tag == _INT and len(value) > _MAX_DIGITS:  # int() would refuse it, as a bug
            raise self._problem(
                event,
                f"an integer of {len(value):,} characters is larger than any number a spec "
                "takes; if it is an id, quote it as a string",
                "scalar",
            )
        if tag == _INT and _DECIMAL.match(value):
            return int(value)  # the common case, without building a node
        node = ScalarNode(tag, value, event.start_mark, event.end_mark)
        try:
            return self._constructor.construct_object(node)
        except Exception as e:  # noqa: BLE001 - any scalar PyYAML cannot build is the file's fault
            # PyYAML's ValueErrors say why ("month must be in 1..12"); the others
            # (IndexError, KeyError on an empty `!!int ""`) say nothing useful.
            why = f": {e}" if type(e) is ValueError or "Constructor" in type(e).__name__ else ""
            raise self._problem(
                event, f"cannot read {value!r} as {tag.rsplit(':', 1)[-1]}{why}", "scalar"
            ) from None
