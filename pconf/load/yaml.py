"""Read a YAML file into a Layer: safe composition only, positions from the node marks.

Only plain data is accepted: mappings with string keys, sequences and the core scalar tags. Tags that
would construct Python objects are refused (nothing is ever executed), duplicate keys are an error, and
alias expansion is bounded so a "billion laughs" file cannot exhaust memory.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pconf.errors import Issue, Location
from pconf.keypath import KeyPath
from pconf.load.layer import MAX_DEPTH, MAX_VALUES

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MERGE = f"{_CORE}merge"
_STR = f"{_CORE}str"


class _Refused(Exception):
    def __init__(self, node: Node, path: KeyPath, rule: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.node, self.path, self.rule, self.message, self.hint = node, path, rule, message, hint


class _Walker:
    """Turn a composed node tree into builtins, recording where each key was written."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.where: dict[KeyPath, Location] = {}
        self.values = 0
        self.constructor = SafeConstructor()

    def loc(self, node: Node) -> Location:
        return Location(self.source, node.start_mark.line + 1, node.start_mark.column + 1)

    def value(self, node: Node, path: KeyPath) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Refused(node, path, "load.too_many_values",
                           f"the document expands to more than {MAX_VALUES} values",
                           "YAML aliases can multiply a document; write the values out")
        if len(path) > MAX_DEPTH:
            raise _Refused(node, path, "load.too_deep", f"nesting deeper than {MAX_DEPTH} levels",
                           "a cluster document is a few tables deep")
        if isinstance(node, ScalarNode):
            tag = node.tag
            if tag == _STR:  # the common case, without the constructor's bookkeeping
                return node.value
            if tag not in _SCALAR_TAGS:
                raise _Refused(node, path, "load.yaml_tag", f"YAML tag {tag!r} is not allowed",
                               "pconf reads plain data only: strings, numbers, booleans, null, lists, tables")
            try:
                return self.constructor.yaml_constructors[tag](self.constructor, node)
            except (ValueError, yaml.YAMLError) as exc:  # e.g. `!!int xyz`, a date like 2001-13-45
                raise _Refused(node, path, "load.yaml_value", f"cannot read {node.value!r} as {tag.rsplit(':', 1)[-1]}",
                               f"fix the value ({exc})") from None
        if isinstance(node, SequenceNode):
            if node.tag != f"{_CORE}seq":
                raise _Refused(node, path, "load.yaml_tag", f"YAML tag {node.tag!r} is not allowed",
                               "write a plain list")
            out = []
            for i, item in enumerate(node.value):
                self.where.setdefault((*path, i), self.loc(item))
                out.append(self.value(item, (*path, i)))
            return out
        if isinstance(node, MappingNode):
            if node.tag != f"{_CORE}map":
                raise _Refused(node, path, "load.yaml_tag", f"YAML tag {node.tag!r} is not allowed",
                               "write a plain mapping")
            return self.mapping(node, path)
        raise _Refused(node, path, "load.yaml_node", "unsupported YAML node", "write plain data")

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, Node] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(value_node.value if isinstance(value_node, SequenceNode) else [value_node])
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != f"{_CORE}str":
                raise _Refused(key_node, path, "load.yaml_key", "mapping keys must be strings",
                               "quote the key")
            key = key_node.value
            if key in first:
                line = first[key].start_mark.line + 1
                raise _Refused(key_node, (*path, key), "load.duplicate_key",
                               f"duplicate key `{key}` (first written at line {line})",
                               "keep one of them")
            first[key] = key_node
            here = (*path, key)
            self.where[here] = self.loc(key_node)
            out[key] = self.value(value_node, here)
        # YAML merge keys (`<<: *base`): keys written in this mapping win over merged ones, positions too.
        local = {key: self.where[key] for key in [(*path, k) for k in out]}
        for source in merged:
            if not isinstance(source, MappingNode):
                raise _Refused(source, path, "load.yaml_merge", "`<<` must refer to a mapping",
                               "merge a mapping anchor")
            for key, value in self.mapping(source, path).items():
                out.setdefault(key, value)
        self.where.update(local)
        return out


def parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Parse YAML text safely; return its top-level mapping and key locations, or an Issue."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        return Issue((), Location(source, line, col), "load.yaml_syntax", f"YAML syntax error: {problem}",
                     hint="fix the file's syntax")
    except yaml.YAMLError as exc:
        return Issue((), Location(source), "load.yaml_syntax", f"YAML error: {exc}", hint="fix the file")
    finally:
        loader.dispose()
    if node is None:
        return {}, {}
    walker = _Walker(source)
    try:
        data = walker.value(node, ())
    except _Refused as exc:
        return Issue(exc.path, walker.loc(exc.node), exc.rule, exc.message, hint=exc.hint)
    if data is None:  # an explicitly empty document (`---` alone, or `null`), like an empty file
        return {}, {}
    if not isinstance(data, dict):
        kind = {"list": "a list", "str": "a string", "bool": "a boolean"}.get(type(data).__name__, "a number")
        return Issue((), walker.loc(node), "load.not_a_table", f"the document is {kind}, not a mapping",
                     hint="a cluster file is a mapping with parallel, scheduler and cluster sections")
    return data, walker.where
