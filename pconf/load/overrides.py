"""``--set dotted.key=value`` and ``--set ~dotted.key`` (reset to default) overrides as one Layer."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from pconf.errors import Issue, Location
from pconf.keypath import KeyPath, parse_dotted
from pconf.load.layer import Layer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_UNPARSED = object()


def parse_value(text: str) -> Any:
    """Parse an override value as a TOML value, else as a YAML scalar or flow collection.

    TOML first, so ``8`` is an int, ``"8"`` a string, ``[0, 1]`` a list and ``1e3`` a float; a bare word
    such as ``mp`` is not TOML and falls through to YAML, which reads it as a string (``null`` as null).
    Returns ``_UNPARSED`` when neither parses.
    """
    if "\n" in text or "\r" in text:
        return _UNPARSED
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        pass
    else:
        if list(parsed) == ["v"]:
            return parsed["v"]
        return _UNPARSED
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, ValueError):  # ValueError: a scalar the safe constructor cannot build
        return _UNPARSED


def overrides_layer(overrides: Iterable[str]) -> tuple[Layer, list[Issue]]:
    """Build the layer of ``--set`` overrides (applied last, in order); issues for ones that do not parse."""
    data: dict[str, Any] = {}
    where: dict[KeyPath, Location] = {}
    resets: list[tuple[KeyPath, Location]] = []
    issues: list[Issue] = []
    for text in overrides:
        loc = Location("--set", detail=text)
        key, eq, raw = text.partition("=")
        reset = key.startswith("~")
        path = parse_dotted(key[1:] if reset else key)
        if path is None:
            issues.append(Issue((), loc, "load.set_key", f"`{key}` is not a dotted key",
                                hint="write --set section.key=value, e.g. parallel.tensor_parallel_size=8"))
            continue
        if reset:
            if eq:
                issues.append(Issue(path, loc, "load.set_reset", "a reset (~key) takes no value",
                                    hint=f"write --set ~{key[1:]}"))
                continue
            resets.append((path, loc))
            _drop(data, where, path)
            continue
        if not eq:
            issues.append(Issue(path, loc, "load.set_syntax", "missing `=value`",
                                hint=f"write --set {key}=VALUE, or --set ~{key} to reset it to its default"))
            continue
        if raw.strip() == "":
            issues.append(Issue(path, loc, "load.set_value", "empty value",
                                hint=f"write a value, or --set ~{key} to reset it to its default"))
            continue
        value = parse_value(raw.strip())
        if value is _UNPARSED:
            issues.append(Issue(path, loc, "load.set_value", "the value does not parse as TOML or YAML",
                                got=raw, hint="quote strings, write lists as [a, b]"))
            continue
        _put(data, where, path, value, loc, issues)
    return Layer("--set", data, where, tuple(resets)), issues


def _put(data: dict[str, Any], where: dict[KeyPath, Location], path: KeyPath, value: Any, loc: Location,
         issues: list[Issue]) -> None:
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.setdefault(str(part), {})
        if not isinstance(child, dict):
            issues.append(Issue(path[: i + 1], loc, "load.set_conflict",
                                "an earlier --set gave this key a value, so it cannot also be a table",
                                hint="set the table's keys, not the table"))
            return
        where.setdefault(path[: i + 1], loc)
        node = child
    node[str(path[-1])] = value
    for old in [p for p in where if p[: len(path)] == path]:
        del where[old]
    where[path] = loc
    _locate_children(where, path, value, loc)


def _locate_children(where: dict[KeyPath, Location], path: KeyPath, value: Any, loc: Location) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            here = (*path, k)
            where[here] = loc
            _locate_children(where, here, v, loc)


def _drop(data: dict[str, Any], where: dict[KeyPath, Location], path: KeyPath) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(str(path[-1]), None)
    for old in [p for p in where if p[: len(path)] == path]:
        del where[old]
