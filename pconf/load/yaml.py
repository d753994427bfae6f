"""Read a YAML file into a Layer: safe composition only, positions from the node marks.

Only plain data is accepted: mappings with string keys, sequences and the core scalar tags. Tags that
would construct Python objects are refused (nothing is ever executed), duplicate keys are an error, and
alias and merge expansion is bounded so a "billion laughs" file cannot exhaust memory. Nesting is checked on
the event stream before a long text is composed (libyaml's composer recurses in C and would crash), and values
obey the limits of ``pconf.load.limits`` (64-bit integers, no NUL).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    MappingStartEvent,
    ScalarEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pconf.errors import Issue, Location, problem, shorten
from pconf.keypath import KeyPath
from pconf.load.layer import MAX_DEPTH, MAX_VALUES
from pconf.load.limits import int_range, nul, out_of_range, too_deep, too_many_values

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_CORE}merge"
_STR = f"{_CORE}str"
_INT = f"{_CORE}int"
#: libyaml's composer recurses in C without a limit: nesting in the tens of thousands overflows the C stack
#: and kills the process. Nesting this deep is safe to compose (the walker then refuses what passes MAX_DEPTH);
#: a text that could nest deeper has its nesting checked on the event stream first.
_SAFE_COMPOSE_DEPTH = 1000
#: Every collection needs a character of its own from these: a block sequence a `-`, a block mapping a `:` (or
#: `?`) per entry, a flow collection its bracket. So a text nests at most one level deeper than it has them.
_COLLECTION_CHARS = "-:?[{"


class _Mark(NamedTuple):
    """A 0-based position, as PyYAML's marks give it."""

    line: int
    column: int


#: What YAML (PyYAML and libyaml) counts as a line break; pconf counts lines by ``\n`` only, as TOML, editors' line
#: numbers and grep do, so a NEL (U+0085) or U+2028 inside a string does not shift every position after it.
_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class _Positions:
    """1-based (line, column) of a YAML mark, lines counted by ``\n`` only."""

    def __init__(self, text: str) -> None:
        self.same = not any(c in text for c in "\r\x85\u2028\u2029")  # then YAML's lines are pconf's
        if not self.same:
            self.yaml_starts = [0, *(m.end() for m in _YAML_BREAKS.finditer(text))]
            self.starts = [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]

    def __call__(self, line: int, column: int) -> tuple[int, int]:
        if self.same:
            return line + 1, column + 1
        offset = self.yaml_starts[min(line, len(self.yaml_starts) - 1)] + column
        at = bisect.bisect_right(self.starts, offset) - 1
        return at + 1, offset - self.starts[at] + 1


class _Refused(Exception):
    def __init__(self, node: Node, found: Issue) -> None:
        super().__init__(found.message)
        self.node, self.problem = node, found


def _refused(node: Node, path: KeyPath, rule: str, message: str, hint: str) -> _Refused:
    return _Refused(node, problem(path, rule, message, hint))


class _Walker:
    """Turn a composed node tree into builtins, recording where each key was written."""

    def __init__(self, source: str, positions: _Positions | None = None) -> None:
        self.source = source
        self.position = positions or _Positions("")
        self.where: dict[KeyPath, Location] = {}
        self.values = 0
        self.constructor = SafeConstructor()
        self.open: set[int] = set()  # the mappings being built, so a `<<` cannot merge one into itself

    def loc(self, node: Node) -> Location:
        return Location("file", self.source, *self.position(node.start_mark.line, node.start_mark.column))

    def count(self, node: Node, path: KeyPath) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(node, too_many_values(path, aliases=True))

    def value(self, node: Node, path: KeyPath) -> Any:
        self.count(node, path)
        if len(path) > MAX_DEPTH:
            raise _Refused(node, too_deep(path))
        if isinstance(node, ScalarNode):
            tag = node.tag
            if tag == _STR:  # the common case, without the constructor's bookkeeping
                if "\x00" in node.value:
                    raise _Refused(node, nul(path, in_key=False))
                return node.value
            if tag not in _SCALAR_TAGS:
                raise _refused(node, path, "load.yaml_tag", f"YAML tag {tag!r} is not allowed",
                               "pconf reads plain data only: strings, numbers, booleans, null, lists, tables")
            try:
                value = self.constructor.yaml_constructors[tag](self.constructor, node)
            except (ValueError, yaml.YAMLError) as exc:  # e.g. `!!int xyz`, a date like 2001-13-45
                if tag == _INT and sum(c.isdigit() for c in node.value) > 19:  # more digits than int() converts
                    raise _Refused(node, int_range(path)) from None
                raise _refused(node, path, "load.yaml_value",
                               f"cannot read {shorten(node.value)!r} as {tag.rsplit(':', 1)[-1]}",
                               f"fix the value ({shorten(str(exc))})") from None
            if out_of_range(value):
                raise _Refused(node, int_range(path, value))
            return value
        if isinstance(node, SequenceNode):
            if node.tag != f"{_CORE}seq":
                raise _refused(node, path, "load.yaml_tag", f"YAML tag {node.tag!r} is not allowed",
                               "write a plain list")
            out = []
            for i, item in enumerate(node.value):
                self.where.setdefault((*path, i), self.loc(item))
                out.append(self.value(item, (*path, i)))
            return out
        if isinstance(node, MappingNode):
            if node.tag != f"{_CORE}map":
                raise _refused(node, path, "load.yaml_tag", f"YAML tag {node.tag!r} is not allowed",
                               "write a plain mapping")
            return self.mapping(node, path)
        raise _refused(node, path, "load.yaml_node", "unsupported YAML node", "write plain data")

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        self.open.add(id(node))
        try:
            return self._mapping(node, path)
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != f"{_CORE}str":
                raise _refused(key_node, path, "load.yaml_key", "mapping keys must be strings", "quote the key")
            key = key_node.value
            if "\x00" in key:
                raise _Refused(key_node, nul((*path, key), in_key=True))
            if key in first:
                line = self.position(first[key].start_mark.line, first[key].start_mark.column)[0]
                raise _refused(key_node, (*path, key), "load.duplicate_key",
                               f"duplicate key `{key}` (first written at line {line})", "keep one of them")
            first[key] = key_node
            here = (*path, key)
            self.where[here] = self.loc(key_node)
            out[key] = self.value(value_node, here)
        # YAML merge keys (`<<: *base`): keys written in this mapping win over merged ones, positions too.
        local = {key: self.where[key] for key in [(*path, k) for k in out]}
        for source in merged:
            if not isinstance(source, MappingNode):
                raise _refused(source, path, "load.yaml_merge", "`<<` must refer to a mapping",
                               "merge a mapping anchor")
            if id(source) in self.open:
                raise _refused(source, path, "load.yaml_merge", "`<<` merges a mapping into itself",
                               "merge a mapping defined outside this one")
            self.count(source, path)  # every merge counts: merges of merges multiply like aliases
            for key, value in self.mapping(source, path).items():
                out.setdefault(key, value)
        self.where.update(local)
        return out


def parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Parse YAML text safely; return its top-level mapping and key locations, or an Issue."""
    composed = _compose(text)
    if isinstance(composed, tuple):
        found, mark = composed
        return found.placed(Location.file(source, *_Positions(text)(mark.line, mark.column)) if mark
                            else Location.file(source))
    if composed is None:
        return {}, {}
    walker = _Walker(source, _Positions(text))
    try:
        data = walker.value(composed, ())
    except _Refused as exc:
        return exc.problem.placed(walker.loc(exc.node))
    if data is None:  # an explicitly empty document (`---` alone, or `null`), like an empty file
        return {}, {}
    if not isinstance(data, dict):
        kind = {"list": "a list", "str": "a string", "bool": "a boolean"}.get(type(data).__name__, "a number")
        return Issue((), walker.loc(composed), "load.not_a_table", f"the document is {kind}, not a mapping",
                     hint="a cluster file is a mapping with parallel, scheduler and cluster sections")
    return data, walker.where


def parse_yaml_value(text: str, prefix: KeyPath) -> Any:
    """Read one value (a ``--set`` value) with the same safe walk as a file; an unplaced Issue if it is refused.

    ``prefix`` is the key the value is set at: nesting counts from the document's top.
    """
    composed = _compose(text, prefix)
    if isinstance(composed, tuple):
        return composed[0]
    if composed is None:
        return None
    try:
        return _Walker("--set").value(composed, prefix)
    except _Refused as exc:
        return exc.problem


def _compose(text: str, prefix: KeyPath = ()) -> Node | tuple[Issue, Any] | None:
    """The document's node tree (None for an empty document), or a syntax or nesting problem and its mark.

    ``prefix``: where the text's value sits (a ``--set`` key), for nesting and the problem's path.
    """
    if len(text) > _SAFE_COMPOSE_DEPTH and sum(map(text.count, _COLLECTION_CHARS)) >= _SAFE_COMPOSE_DEPTH:
        deep = _too_deep_node(text, prefix)
        if deep is not None:
            return deep
    loader = _Loader(text)
    try:
        node: Node | None = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark: Any = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        path = _path_at(text, mark.line, mark.column) if mark else ()
        return problem(path, "load.yaml_syntax", f"YAML syntax error: {what}", "fix the file's syntax"), mark
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character)
        at = exc.position
        if _Loader is not yaml.SafeLoader:  # libyaml counts bytes
            at = len(text.encode("utf-8")[:at].decode("utf-8", errors="ignore"))
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        mark = _Mark(text.count("\n", 0, at), at - text.rfind("\n", 0, at) - 1)
        return problem(_path_at(text, mark.line, mark.column), "load.yaml_syntax",
                       f"YAML syntax error: {exc.reason} ({char})", "fix the file's syntax"), mark
    except yaml.YAMLError as exc:
        return problem((), "load.yaml_syntax", f"YAML error: {exc}", "fix the file"), None
    finally:
        loader.dispose()
    return node


class _EventPaths:
    """Follow the event stream, knowing the key path of every node without composing anything.

    Each open collection is a frame ``[is_mapping, key or index, expecting_key]``; a node's path is the keys
    and indices of the frames.
    """

    def __init__(self, prefix: KeyPath = ()) -> None:
        self.prefix = prefix
        self.frames: list[list[Any]] = []

    def node(self, event: Any) -> tuple[KeyPath, bool]:
        """Take a node's start event; return its path and whether it is a mapping key."""
        frames = self.frames
        is_key = bool(frames) and frames[-1][0] and frames[-1][2]
        if is_key:  # a mapping key: the name of the value that follows
            frames[-1][1] = event.value if isinstance(event, ScalarEvent) else "?"
        path = (*self.prefix, *(frame[1] for frame in frames))
        if isinstance(event, CollectionStartEvent):
            frames.append([isinstance(event, MappingStartEvent), 0, True])
        else:
            self.done()
        return path, is_key

    def end(self) -> None:
        self.frames.pop()
        self.done()

    def done(self) -> None:
        """A node of the innermost collection is complete: a mapping now expects a key or a value, a list its
        next item."""
        if self.frames:
            frame = self.frames[-1]
            if frame[0]:
                frame[2] = not frame[2]
            else:
                frame[1] += 1

    def open_path(self) -> KeyPath:
        """The path being read now: the innermost open collection's, and the key whose value is due."""
        frames = self.frames
        path = tuple(frame[1] for frame in frames[:-1])
        if frames and frames[-1][0] and not frames[-1][2]:
            path = (*path, frames[-1][1])
        return path


def _events(text: str) -> Iterator[Any]:
    """The events of the first document; a syntax error propagates."""
    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            yield event
            if isinstance(event, DocumentEndEvent):
                return
    finally:
        loader.dispose()


def _too_deep_node(text: str, prefix: KeyPath = ()) -> tuple[Issue, Any] | None:
    """The first node nested deeper than MAX_DEPTH, found on the event stream (nothing is composed), or None.

    A syntax error ends the check: composing reports it. libyaml 0.2.6 and later (PyYAML 6.0.4's wheels) refuse
    nesting past 1000 levels in the scanner, which reads up to 1024 characters ahead of the parser, so in a run
    of ``[[[[...`` that error comes before the parser's 33rd level: the check then reads the text up to the
    error, where the scanner stops at the end instead, and finds the same node older libyaml versions do.
    """
    paths = _EventPaths(prefix)
    try:
        for event in _events(text):
            if isinstance(event, CollectionEndEvent):
                paths.end()
            elif isinstance(event, ScalarEvent | AliasEvent | CollectionStartEvent):
                path, is_key = paths.node(event)
                # reported at the value, as the walker does (a collection used as a key nests too)
                if len(path) > MAX_DEPTH and (not is_key or isinstance(event, CollectionStartEvent)):
                    return too_deep(path[: MAX_DEPTH + 1]), event.start_mark
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None and "nesting depth" in (exc.problem or ""):
            cut = _offset(text, mark.line, mark.column)
            if 0 < cut < len(text):
                return _too_deep_node(text[:cut], prefix)
    except yaml.YAMLError:
        pass
    return None


def _offset(text: str, line: int, column: int) -> int:
    """The character offset of a 0-based (line, column) mark."""
    start = 0
    for _ in range(line):
        start = text.find("\n", start) + 1
    return start + column


def _path_at(text: str, line: int, column: int) -> KeyPath:
    """The key a syntax error at (0-based) ``line``, ``column`` is about: the last node started on that line
    before it, else the key being read when the parser stopped; ``()`` if neither is known."""
    paths = _EventPaths()
    found: KeyPath | None = None
    try:
        for event in _events(text):
            if isinstance(event, CollectionEndEvent):
                paths.end()
            elif isinstance(event, ScalarEvent | AliasEvent | CollectionStartEvent):
                mark: Any = event.start_mark
                if (mark.line, mark.column) > (line, column):  # past it: the composer, not the parser, refused
                    break
                path, _ = paths.node(event)
                if mark.line == line:
                    found = path
    except yaml.YAMLError:
        pass
    return found if found is not None else paths.open_path()
