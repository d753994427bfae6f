"""Source positions of the keys of a TOML document.

``tomllib`` returns plain values without positions, but error messages need ``file:line:col`` for a
key path.  :func:`key_positions` re-scans text that ``tomllib`` has already accepted, once, from left
to right, and records where every key was written.  Because the text is known to be valid, the scanner
only follows the structure (keys, headers, nesting) and skips values with ``str.find`` or a
precompiled regex match; it never validates.

Speed: runs of plain lines (``a.b = value`` with a value that ends on its line, ``[a.b]``,
``[[a.b]]``, blank lines, comments), the bulk of a configuration file, are matched with one regex
call and split into lines with one more; only the other statements (quoted keys, inline tables,
multi-line values) are walked piece by piece.
"""

from __future__ import annotations

import contextlib
import re
from typing import Final

__all__ = ["KeyPath", "key_positions"]

KeyPath = tuple[str | int, ...]

# (name, (line, column)) of each segment of a dotted key.
_Segments = list[tuple[str, tuple[int, int]]]

# Every pattern is built from character-class runs and "unrolled loops" (``a*(?:special a*)*``) whose
# alternatives begin with distinct characters, so a failing match backtracks in linear time: no input
# can make one blow up.
_SKIP = r"[ \t\r\n]*(?:#[^\n]*[ \t\r\n]*)*"  # whitespace, newlines and comments
_BARE_DOTTED = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"  # a dotted key of bare segments, no spaces
_BASIC = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_LITERAL = r"'[^'\n]*'"
# Single-line strings, refusing the start of a multi-line one.
_ONE_LINE_STRING = rf""""(?!""){_BASIC[1:]}|'(?!''){_LITERAL[1:]}"""
# Numbers, booleans, inf/nan and dates; the first branch keeps a date-time whose date and time are
# separated by a space in one piece.
_SCALAR = r"\d{4}-\d\d-\d\d[Tt ]\d\d:[\w:.+-]*|[\w:.+-]+"
# The rest of a line whose value surely ends on it and holds no keys: anything but an array, an
# inline table or a multi-line string.  The look-ahead refuses a space too, so that backing off the
# spaces before the value cannot get it past.
_ONE_LINE_VALUE = r"""(?![ \t\[{]|\"\"\"|''')[^\n]*"""
# The rest of a line whose value is an array of scalars and strings closed on that line.
_ONE_LINE_ARRAY = rf"\[[\w \t,:.+-]*(?:(?:{_ONE_LINE_STRING})[\w \t,:.+-]*)*\][^\n]*"

# A run of complete lines that are each blank, a comment, ``a.b = value`` with a value that ends on
# its line, or a header with bare keys: the bulk of a configuration file.
_RUN: Final = re.compile(
    rf"(?:[ \t]*(?:{_BARE_DOTTED}[ \t]*=[ \t]*(?:{_ONE_LINE_VALUE}|{_ONE_LINE_ARRAY})"
    rf"|\[\[?{_BARE_DOTTED}\][^\n]*|#[^\n]*)?\r?\n)*"
)
# (indentation, "[" or "[[" for a header, key or table name) of each line of a run.
_RUN_LINE: Final = re.compile(r"([ \t]*)(\[{0,2})([A-Za-z0-9_.-]*)[^\n]*\n")
# Any other statement, after the blank lines and comments before it; group 1 is a bare key and its
# ``=``, the value follows the match.
_STATEMENT: Final = re.compile(rf"{_SKIP}(?:({_BARE_DOTTED})[ \t]*=[ \t]*)?")
_STATEMENT_VALUE: Final = re.compile(rf"=[ \t]*({_ONE_LINE_VALUE})?")
_SKIP_SPACE: Final = re.compile(_SKIP)
_HEADER_OPEN: Final = re.compile(r"\[(\[)?[ \t]*")
# One segment of a general dotted key (bare, basic-quoted or literal-quoted) and the dot after it.
_KEY_SEGMENT: Final = re.compile(
    r"""(?:([A-Za-z0-9_-]+)|"([^"\\\n]*(?:\\.[^"\\\n]*)*)"|'([^'\n]*)')[ \t]*(\.[ \t]*)?"""
)
_EQUALS: Final = re.compile(r"=[ \t]*")
# One entry of an inline table after the spacing before it: group 1 is a bare key and its ``=``;
# group 2, when the value is a scalar or a one-line string, that value (and the comma after it).
_INLINE_ENTRY: Final = re.compile(
    rf"{_SKIP}(?:({_BARE_DOTTED})[ \t]*=[ \t]*(?:({_SCALAR}|{_ONE_LINE_STRING})[ \t]*,?)?)?"
)
# An array without tables or nested arrays (most arrays) is skipped in one match.  A comment must
# end in a newline here so that its text cannot also be matched by the character class.
_FLAT_ARRAY: Final = re.compile(rf"\[[\w \t\r\n,:.+-]*(?:(?:#[^\n]*\n|{_ONE_LINE_STRING})[\w \t\r\n,:.+-]*)*\]")
_STRING_VALUE: Final = {
    '"': re.compile(_BASIC),
    "'": re.compile(_LITERAL),
    # A closing delimiter may be followed by up to two more quotes, which belong to the content.
    '"""': re.compile(r'"""[^"\\]*(?:(?:\\[\s\S]|""?(?!"))[^"\\]*)*"""(?:""?)?'),
    "'''": re.compile(r"'''[^']*(?:''?(?!')[^']*)*'''(?:''?)?"),
}
_SCALAR_VALUE: Final = re.compile(_SCALAR)
# Escapes in basic-string keys; ``\e`` and ``\xHH`` are TOML 1.1, which newer tomli accepts.
_ESCAPE: Final = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|([\s\S]))")
_SIMPLE_ESCAPES: Final = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    '"': '"',
    "\\": "\\",
}
# Far beyond any configuration file; the cap keeps garbage such as ``[[[[...`` from exhausting the
# interpreter's recursion limit.
_MAX_DEPTH: Final = 100


class _Stop(Exception):
    """The text is not TOML the scanner can follow; the positions found so far are kept."""


def key_positions(text: str, *, latest: bool = False) -> dict[KeyPath, tuple[int, int]]:
    """Map every key path of an already-valid TOML document to the (line, column) of the key, both 1-based.

    Paths nest as ``tomllib`` nests the values: array-of-tables elements and inline tables inside
    arrays add their list index (such an inline table is positioned at its ``{``, an array-of-tables
    element at its header's key).  Scalar array elements get no entry.  Invalid input never raises;
    it may give partial results.  ``latest``: a table made by dotted keys is positioned at its last
    mention rather than its first (to name the key a syntax error is about).
    """
    scanner = _Scanner(text, latest)
    # RecursionError too: ``_MAX_DEPTH`` bounds the nesting, but a caller may already be deep.
    with contextlib.suppress(_Stop, RecursionError):
        scanner.document()
    return scanner.positions


def _unescape_one(match: re.Match[str]) -> str:
    digits = match.group(1) or match.group(2) or match.group(3)
    if digits is not None:
        code = int(digits, 16)
        # Out-of-range code points only occur in invalid input; keep them verbatim rather than raise.
        return chr(code) if code <= 0x10FFFF else match.group()
    return _SIMPLE_ESCAPES.get(match.group(4), match.group())


def _split_bare(key: str, line: int, column: int) -> _Segments:
    """Segments of a dotted key of bare segments without spaces, which starts at (line, column)."""
    segments: _Segments = []
    for name in key.split("."):
        segments.append((name, (line, column)))
        column += len(name) + 1
    return segments


class _Scanner:
    """One left-to-right pass over a document, recording the position of every key as it is met."""

    __slots__ = ("array_counts", "counted_to", "latest", "line", "line_start", "positions", "text")

    def __init__(self, text: str, latest: bool = False) -> None:
        self.text = text
        self.latest = latest
        self.positions: dict[KeyPath, tuple[int, int]] = {}
        # Elements created so far for every array of tables, by the array's path.
        self.array_counts: dict[KeyPath, int] = {}
        # Keys are met in source order, so lines are counted incrementally, O(n) in all: ``line``
        # starts at offset ``line_start``, the last line start at or before ``counted_to``.
        self.line = 1
        self.line_start = 0
        self.counted_to = 0

    def where(self, offset: int) -> tuple[int, int]:
        """(line, column) of ``offset``, which must not precede the last offset asked for."""
        text = self.text
        counted_to = self.counted_to
        newlines = text.count("\n", counted_to, offset)
        if newlines:
            self.line += newlines
            self.line_start = text.rfind("\n", counted_to, offset) + 1
        self.counted_to = offset
        return self.line, offset - self.line_start + 1

    def document(self) -> None:
        text = self.text
        end = len(text)
        run = _RUN.match
        statement = _STATEMENT.match
        table: KeyPath = ()
        pos = 0
        while True:
            run_match = run(text, pos)
            assert run_match is not None  # the pattern may match nothing
            run_end = run_match.end()
            if run_end > pos:
                table = self.run(pos, run_end, table)
                pos = run_end
            match = statement(text, pos)
            assert match is not None  # every part of the pattern is optional
            pos = match.end()
            if pos >= end:
                return
            if match.lastindex:
                pos = self.value(pos, self.define_bare(table, match.group(1), match.start(1)), 0)
            elif text[pos] == "[":
                opening = _HEADER_OPEN.match(text, pos)
                assert opening is not None  # the "[" is there
                segments, pos = self.key(opening.end())
                table = self.header(segments, opening.start(1) >= 0)
            else:
                segments, pos = self.key(pos)
                path = self.define(table, segments)
                equals = _STATEMENT_VALUE.match(text, pos)
                if equals is None:
                    raise _Stop
                pos = equals.end()
                if equals.lastindex is not None:
                    continue  # the value ended on this line, which the match consumed
                pos = self.value(pos, path, 0)
            # The rest of the line is at most a comment (or a header's closing brackets).
            newline = text.find("\n", pos)
            if newline < 0:
                return
            pos = newline + 1

    def run(self, pos: int, end: int, table: KeyPath) -> KeyPath:
        """Record the keys of the ``_RUN`` from ``pos`` to ``end``; return the table it leaves open."""
        positions = self.positions
        line = self.where(pos)[0]
        for indent, brackets, name in _RUN_LINE.findall(self.text, pos, end):
            if name:
                column = len(indent) + 1 if indent else 1
                if brackets:
                    column += len(brackets)
                    if brackets == "[[" or "." in name:
                        table = self.header(_split_bare(name, line, column), brackets == "[[")
                    else:
                        table = (name,)
                        positions[table] = (line, column)
                elif "." in name:
                    self.define(table, _split_bare(name, line, column))
                else:
                    path = (*table, name)
                    positions[path] = (line, column)
            line += 1
        self.line = line
        self.line_start = self.counted_to = end
        return table

    def header(self, segments: _Segments, is_array: bool) -> KeyPath:
        """Record the key of ``[a.b]`` (or ``[[a.b]]``) and return the path of the table it opens."""
        positions = self.positions
        counts = self.array_counts
        path: KeyPath = ()
        last = len(segments) - 1
        for i, (name, position) in enumerate(segments):
            path = (*path, name)
            if i < last:
                # An implicitly created parent keeps the position of its first mention.
                positions.setdefault(path, position)
                count = counts.get(path)
                if count is not None:
                    # A header below an array of tables extends its last element, like tomllib.
                    path = (*path, count - 1)
            elif is_array:
                positions.setdefault(path, position)
                count = counts.get(path, 0)
                counts[path] = count + 1
                path = (*path, count)
                positions[path] = position
            else:
                # The defining header wins over an earlier implicit creation (``[a.b]`` then ``[a]``).
                positions[path] = position
        return path

    def define(self, table: KeyPath, segments: _Segments) -> KeyPath:
        """Record the segments of a key of a key/value pair in ``table``; return the value's path."""
        positions = self.positions
        path = table
        for name, position in segments:
            path = (*path, name)
            # Tables made by dotted keys are shared with later dotted keys (``a.b = 1``, ``a.c = 2``).
            if self.latest:
                positions[path] = position
            else:
                positions.setdefault(path, position)
        return path

    def define_bare(self, table: KeyPath, key: str, offset: int) -> KeyPath:
        """``define`` for a key of bare segments without spaces at ``offset``."""
        if "." in key:
            return self.define(table, _split_bare(key, *self.where(offset)))
        path = (*table, key)
        self.positions[path] = self.where(offset)
        return path

    def key(self, pos: int) -> tuple[_Segments, int]:
        """Read a possibly dotted and quoted key; return its segments and the position after it."""
        text = self.text
        segment = _KEY_SEGMENT.match
        segments: _Segments = []
        while True:
            match = segment(text, pos)
            if match is None:
                raise _Stop
            bare, basic, literal, dot = match.groups()
            if bare is not None:
                name = bare
            elif basic is not None:
                name = _ESCAPE.sub(_unescape_one, basic) if "\\" in basic else basic
            else:
                name = literal
            segments.append((name, self.where(pos)))
            pos = match.end()
            if dot is None:
                return segments, pos

    def value(self, pos: int, path: KeyPath, depth: int) -> int:
        """Skip the value at ``pos``, recording the keys inside it; return the position after it."""
        text = self.text
        first = text[pos : pos + 1]
        if first == "[":
            return self.array(pos, path, depth + 1)
        if first == "{":
            return self.inline_table(pos, path, depth + 1)
        if first in ('"', "'"):
            tripled = first * 3
            match = _STRING_VALUE[tripled if text.startswith(tripled, pos) else first].match(text, pos)
        else:
            match = _SCALAR_VALUE.match(text, pos)
        if match is None:
            raise _Stop
        return match.end()

    def array(self, pos: int, path: KeyPath, depth: int) -> int:
        text = self.text
        flat = _FLAT_ARRAY.match(text, pos)
        if flat is not None:
            return flat.end()
        if depth > _MAX_DEPTH:
            raise _Stop
        skip = _SKIP_SPACE.match
        # Indices count commas rather than values, so no value the scanner splits in two (it does
        # not know every value's grammar) can shift them.
        index = 0
        pos += 1
        while True:
            match = skip(text, pos)
            assert match is not None  # every part of the pattern is optional
            pos = match.end()
            first = text[pos : pos + 1]
            if first == ",":
                index += 1
                pos += 1
            elif first == "]":
                return pos + 1
            elif first == "{":
                element = (*path, index)
                self.positions[element] = self.where(pos)
                pos = self.inline_table(pos, element, depth + 1)
            elif first == "[":
                pos = self.array(pos, (*path, index), depth + 1)
            elif first:
                pos = self.value(pos, path, depth)
            else:
                raise _Stop

    def inline_table(self, pos: int, table: KeyPath, depth: int) -> int:
        if depth > _MAX_DEPTH:
            raise _Stop
        text = self.text
        # Newlines and comments are skipped too: TOML 1.1 (newer tomli) allows them here.
        entry = _INLINE_ENTRY.match
        pos += 1
        while True:
            match = entry(text, pos)
            assert match is not None  # every part of the pattern is optional
            pos = match.end()
            kind = match.lastindex
            if kind is not None:
                path = self.define_bare(table, match.group(1), match.start(1))
                if kind == 1:  # a value the fast path does not skip
                    pos = self.value(pos, path, depth)
                continue
            first = text[pos : pos + 1]
            if first == ",":
                pos += 1
            elif first == "}":
                return pos + 1
            elif first:
                segments, pos = self.key(pos)
                path = self.define(table, segments)
                equals = _EQUALS.match(text, pos)
                if equals is None:
                    raise _Stop
                pos = self.value(equals.end(), path, depth)
            else:
                raise _Stop
