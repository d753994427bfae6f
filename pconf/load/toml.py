"""Read a TOML file into a Layer (values from tomllib, key positions from our own scanner)."""

from __future__ import annotations

import re
import sys
from typing import Any

from pconf.errors import Issue, Location
from pconf.keypath import KeyPath
from pconf.load._toml_positions import key_positions
from pconf.load.layer import MAX_DEPTH

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def parse_toml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Parse TOML text; return its data and key locations, or the syntax error as an Issue."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        return Issue((), Location(source), "load.too_deep", f"nesting deeper than {MAX_DEPTH} levels",
                     hint="a cluster document is a few tables deep")
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line, col = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
        found = _AT.search(message)
        if found:
            line, col = int(found.group(1)), int(found.group(2))
            message = message[: found.start()]
        message = getattr(exc, "msg", message)
        return Issue((), Location(source, line, col), "load.toml_syntax", f"TOML syntax error: {message}",
                     hint="fix the file's syntax")
    deep = _too_deep(data)
    if deep is not None:
        return Issue(deep, Location(source), "load.too_deep", f"nesting deeper than {MAX_DEPTH} levels",
                     hint="a cluster document is a few tables deep")
    where = {path: Location(source, line, col) for path, (line, col) in key_positions(text).items()}
    return data, where


def _too_deep(data: dict[str, Any]) -> KeyPath | None:
    """The path of a value nested deeper than MAX_DEPTH, if any (checked without recursion)."""
    stack: list[tuple[KeyPath, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[:MAX_DEPTH]
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return None
