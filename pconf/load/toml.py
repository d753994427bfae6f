"""Read a TOML file into a Layer (values from tomllib, key positions from our own scanner)."""

from __future__ import annotations

import re
import sys
from typing import Any

from pconf.errors import Issue, Location
from pconf.keypath import KeyPath, format_path
from pconf.load._toml_positions import key_positions
from pconf.load.layer import MAX_DEPTH, locate
from pconf.load.limits import check_values, int_range, too_deep

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
#: tomllib's messages for a key written twice (or a table declared twice).
_DUPLICATE = ("Cannot overwrite a value", "Cannot declare", "Duplicate inline table key")
#: Runs of digits (and TOML's underscores between them), to find an integer longer than int() converts.
_DIGITS = re.compile(r"[0-9_]+")
#: What moves the nesting depth of a TOML value: strings and comments (skipped whole) and brackets.
_NESTING_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]'
)


def parse_toml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, Location]] | Issue:
    """Parse TOML text; return its data and key locations, or the first problem as an Issue.

    Besides syntax errors: nesting, the number of values, 64-bit integers and NUL characters (see
    ``pconf.load.limits``), each located at the key it concerns.
    """
    try:
        data = tomllib.loads(text)
    except RecursionError:  # nested far past MAX_DEPTH: find the bracket that went too deep
        line, col = _too_deep_position(text)
        return _located(too_deep(_key_at(text, line, col)), source, line, col)
    except tomllib.TOMLDecodeError as exc:
        message = getattr(exc, "msg", None) or str(exc)
        line, col = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
        found, at_end = _AT.search(message), _AT_END.search(message)
        if found:
            line, col = int(found.group(1)), int(found.group(2))
            message = message[: found.start()]
        elif at_end:  # the text ended inside a value: the error is where the file ends
            line, col = _position(text, len(text))
            message = message[: at_end.start()] + " (the file ends inside it)"
        return _syntax_error(text, source, line, col, message)
    except ValueError:  # int() refused a decimal integer of thousands of digits
        limit = getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300
        long = next((m for m in _DIGITS.finditer(text) if len(m.group().replace("_", "")) > limit), None)
        line, col = _position(text, long.start()) if long else (0, 0)
        return _located(int_range(_key_at(text, line, col) if line else ()), source, line, col)
    where = {path: Location("file", source, line, col) for path, (line, col) in key_positions(text).items()}
    refused = check_values(data)
    if refused is not None:
        return refused.placed(locate(where, refused.path, Location.file(source)))
    return data, where


def _located(found: Issue, source: str, line: int, col: int) -> Issue:
    return found.placed(Location.file(source, line, col))


def _syntax_error(text: str, source: str, line: int, col: int, message: str) -> Issue:
    """tomllib's error, naming the key it is about; a key written twice is a duplicate key, as in YAML."""
    found = _key_and_offset(text, line, col)
    path: KeyPath = ()
    if found is not None:
        path, offset = found
        first = key_positions(text[:offset]).get(path) if message.startswith(_DUPLICATE) else None
        if first is not None:  # located at the second key itself (tomllib points past its value)
            key_col = offset - text.rfind("\n", 0, offset)
            return Issue(path, Location.file(source, line, key_col), "load.duplicate_key",
                         f"duplicate key `{format_path(path[-1:])}` (first written at line {first[0]})",
                         hint="keep one of them")
    return Issue(path, Location.file(source, line, col), "load.toml_syntax", f"TOML syntax error: {message}",
                 hint="fix the file's syntax")


def _key_at(text: str, line: int, col: int) -> KeyPath:
    found = _key_and_offset(text, line, col)
    return found[0] if found is not None else ()


def _key_and_offset(text: str, line: int, col: int) -> tuple[KeyPath, int] | None:
    """The last key written on ``line`` at or before ``col``, and the offset where it starts; None if none.

    The scanner reads the text up to the end of that line, which need not be valid TOML: it never raises.
    """
    if line < 1:
        return None
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    best: tuple[KeyPath, int] | None = None
    best_col = 0
    for path, (key_line, key_col) in key_positions(text[: len(text) if end < 0 else end + 1], latest=True).items():
        if key_line == line and best_col <= key_col <= col:
            best, best_col = (path, start + key_col - 1), key_col
    return best


def _too_deep_position(text: str) -> tuple[int, int]:
    """(line, column) of the first bracket that nests a value deeper than MAX_DEPTH, or (0, 0)."""
    depth = 0
    for token in _NESTING_TOKEN.finditer(text):
        kind = token.group()
        if kind in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return _position(text, token.start())
        elif kind in ("]", "}"):
            depth = max(depth - 1, 0)
    return 0, 0


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of an offset, the column in characters."""
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
