"""``--set dotted.key=value`` and ``--reset dotted.key`` (``--set ~dotted.key``: back to the default) overrides as one
Layer."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pconf.errors import Issue, Location, problem
from pconf.keypath import KeyPath, parse_dotted
from pconf.load.layer import MAX_DEPTH, MAX_OVERRIDES, Layer
from pconf.load.limits import check_values, int_range, too_deep

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: What the YAML reading of a value can say that means "this is not a value": reported as load.set_value.
_NOT_A_VALUE = frozenset({"load.yaml_syntax", "load.yaml_value", "load.yaml_key", "load.yaml_merge", "load.yaml_node",
                          "load.duplicate_key"})


def parse_value(text: str, path: KeyPath = ()) -> Any:
    """Parse the override value of key ``path`` as a TOML value, else as a YAML scalar or flow collection.

    TOML first, so ``8`` is an int, ``"8"`` a string, ``[0, 1]`` a list and ``1e3`` a float; a bare word
    such as ``mp`` is not TOML and falls through to YAML, which reads it as a string (``null`` as null).
    A refused value is an unplaced Issue (rule ``load.set_value`` when neither parses); values are checked like a
    file's (nesting from the document's top, 64-bit integers, NUL, YAML tags).
    """
    unparsed = problem(path, "load.set_value", "the value does not parse as TOML or YAML",
                       "quote strings, write lists as [a, b]", text)
    if "\n" in text or "\r" in text:
        return unparsed
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        pass
    except RecursionError:
        return too_deep(path)
    except ValueError:  # an integer of thousands of digits
        return int_range(path)
    else:
        if list(parsed) != ["v"]:
            return unparsed
        return check_values(parsed["v"], path) or parsed["v"]
    from pconf.load.yaml import parse_yaml_value

    found = parse_yaml_value(text, path)
    if isinstance(found, Issue) and found.rule in _NOT_A_VALUE:
        return unparsed
    return found


def overrides_layer(overrides: Iterable[str]) -> tuple[Layer, list[Issue]]:
    """Build the layer of ``--set`` overrides (applied last, in order); issues for ones that do not parse."""
    data: dict[str, Any] = {}
    where: dict[KeyPath, Location] = {}
    resets: list[tuple[KeyPath, Location]] = []
    issues: list[Issue] = []
    overrides = list(overrides)
    if len(overrides) > MAX_OVERRIDES:
        issues.append(Issue((), Location.argument("<command line>"), "load.too_many_overrides",
                            f"{len(overrides)} --set overrides, more than {MAX_OVERRIDES}",
                            hint="write the values in a file and pass it after the others"))
        return Layer("--set", data, where, (), Location.override("")), issues
    for text in overrides:
        loc = Location.override(text)
        key, eq, raw = text.partition("=")
        reset = key.startswith("~")
        path = parse_dotted(key[1:] if reset else key)
        if path is None:
            if reset:
                issues.append(Issue((), loc, "load.set_key", f"`{key[1:]}` is not a dotted key",
                                    hint="write --reset section.key, e.g. parallel.tensor_parallel_size"))
            else:
                issues.append(Issue((), loc, "load.set_key", f"`{key}` is not a dotted key",
                                    hint="write --set section.key=value, e.g. parallel.tensor_parallel_size=8"))
            continue
        if len(path) > MAX_DEPTH:
            issues.append(too_deep(path[: MAX_DEPTH + 1]).placed(loc))
            continue
        if reset:
            if eq:
                issues.append(Issue(path, loc, "load.set_reset", "a reset takes no value",
                                    hint=f"write --reset {key[1:]}"))
                continue
            resets.append((path, loc))
            _drop(data, where, path)
            continue
        if not eq:
            issues.append(Issue(path, loc, "load.set_syntax", "missing `=value`",
                                hint=f"write --set {key}=VALUE, or --reset {key} to reset it to its default"))
            continue
        if raw.strip() == "":
            issues.append(Issue(path, loc, "load.set_value", "empty value",
                                hint=f"write a value, or --reset {key} to reset it to its default"))
            continue
        value = parse_value(raw.strip(), path)
        if isinstance(value, Issue):
            found = value.placed(loc)
            issues.append(replace(found, got=raw) if found.rule == "load.set_value" else found)
            continue
        _put(data, where, path, value, loc, issues)
    return Layer("--set", data, where, tuple(resets), Location.override("")), issues


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
