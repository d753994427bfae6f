"""Tests for pconf.load._toml_positions: key positions of TOML documents."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pconf.load._toml_positions import KeyPath, key_positions
from tests.profiles import examples

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def toml_paths(value: Any, prefix: KeyPath = ()) -> set[KeyPath]:
    """Every key path tomllib's result reaches through dicts, and lists of dicts with their indices."""
    paths: set[KeyPath] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            paths.add((*prefix, key))
            paths |= toml_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                paths.add((*prefix, index))
            paths |= toml_paths(item, (*prefix, index))
    return paths


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def key_at(text: str, offset: int) -> str | None:
    """The key written at ``offset`` (bare or quoted, decoded by tomllib), or None."""
    first = text[offset : offset + 1]
    if first == "'":
        return text[offset + 1 : text.index("'", offset + 1)]
    if first == '"':
        end = offset + 1
        while text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        decoded: str = tomllib.loads(f"k = {text[offset : end + 1]}")["k"]
        return decoded
    bare = _BARE.match(text, offset)
    return bare.group() if bare else None


def assert_positions_point_at_keys(text: str, positions: dict[KeyPath, tuple[int, int]]) -> None:
    line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
    for path, (line, column) in positions.items():
        offset = line_starts[line - 1] + column - 1
        if isinstance(path[-1], int):
            # An inline table in an array sits at its "{"; an array-of-tables element at its key.
            if text[offset] == "{":
                continue
            assert key_at(text, offset) == path[-2], (path, line, column)
        else:
            assert key_at(text, offset) == path[-1], (path, line, column)


def check(text: str, expected: dict[KeyPath, tuple[int, int]]) -> None:
    assert key_positions(text) == expected
    assert set(expected) == toml_paths(tomllib.loads(text))
    assert_positions_point_at_keys(text, expected)
    crlf = text.replace("\n", "\r\n")
    assert key_positions(crlf) == expected


# --- hand-written documents ------------------------------------------------------------------------


def test_keys_tables_and_dotted_keys() -> None:
    text = (
        "# comment = not a key\n"
        'title = "x"  # trailing [comment]\n'
        '"a.b" = 1\n'
        "'x y' = 2\n"
        '"caf\\u00e9" = 3\n'
        "a . b\t= 4\n"
        "\n"
        "[t]\n"
        "\tk = 1\n"
        "p.q.r = 2\n"
        "[ t . sub ]\n"
        "s = 3\n"
        '"" = 4\n'
        "[t.'lit'.\"q\\t\"]\n"
        "n-1_2 = 5\n"
    )
    check(
        text,
        {
            ("title",): (2, 1),
            ("a.b",): (3, 1),
            ("x y",): (4, 1),
            ("café",): (5, 1),
            ("a",): (6, 1),
            ("a", "b"): (6, 5),
            ("t",): (8, 2),
            ("t", "k"): (9, 2),
            ("t", "p"): (10, 1),
            ("t", "p", "q"): (10, 3),
            ("t", "p", "q", "r"): (10, 5),
            ("t", "sub"): (11, 7),
            ("t", "sub", "s"): (12, 1),
            ("t", "sub", ""): (13, 1),
            ("t", "lit"): (14, 4),
            ("t", "lit", "q\t"): (14, 10),
            ("t", "lit", "q\t", "n-1_2"): (15, 1),
        },
    )


def test_inline_tables_and_arrays() -> None:
    text = (
        "t = {a = 1, b = {c = 2}}\n"
        "xs = [{a = 1}, {a = 2}]\n"
        "ys = [\n"
        '  1,  # comment with { and [ and "\n'
        "  2,\n"
        "]\n"
        "zs = [[{n = 1}], [], [{n = 2}, {'m' = 3}]]\n"
        'mixed = [1979-05-27 07:32:00Z, {k = "v"}, [1, 2], ]\n'
        "e = {}\n"
        "d = {x.y = 1, z = [ {w = true} ]}\n"
    )
    check(
        text,
        {
            ("t",): (1, 1),
            ("t", "a"): (1, 6),
            ("t", "b"): (1, 13),
            ("t", "b", "c"): (1, 18),
            ("xs",): (2, 1),
            ("xs", 0): (2, 7),
            ("xs", 0, "a"): (2, 8),
            ("xs", 1): (2, 16),
            ("xs", 1, "a"): (2, 17),
            ("ys",): (3, 1),
            ("zs",): (7, 1),
            ("zs", 0, 0): (7, 8),
            ("zs", 0, 0, "n"): (7, 9),
            ("zs", 2, 0): (7, 23),
            ("zs", 2, 0, "n"): (7, 24),
            ("zs", 2, 1): (7, 32),
            ("zs", 2, 1, "m"): (7, 33),
            ("mixed",): (8, 1),
            ("mixed", 1): (8, 32),
            ("mixed", 1, "k"): (8, 33),
            ("e",): (9, 1),
            ("d",): (10, 1),
            ("d", "x"): (10, 6),
            ("d", "x", "y"): (10, 8),
            ("d", "z"): (10, 15),
            ("d", "z", 0): (10, 21),
            ("d", "z", 0, "w"): (10, 22),
        },
    )


def test_arrays_of_tables() -> None:
    text = (
        "[[srv]]\n"
        'name = "a"\n'
        "[[srv]]\n"
        'name = "b"\n'
        "[srv.meta]\n"
        "x = 1\n"
        "[[a]]\n"
        "[[a.b]]\n"
        "[[a]]\n"
        "[[ a . b ]]\n"
        '[[a."b"]]\n'
        "c.d = 1\n"
    )
    check(
        text,
        {
            ("srv",): (1, 3),
            ("srv", 0): (1, 3),
            ("srv", 0, "name"): (2, 1),
            ("srv", 1): (3, 3),
            ("srv", 1, "name"): (4, 1),
            ("srv", 1, "meta"): (5, 6),
            ("srv", 1, "meta", "x"): (6, 1),
            ("a",): (7, 3),
            ("a", 0): (7, 3),
            ("a", 0, "b"): (8, 5),
            ("a", 0, "b", 0): (8, 5),
            ("a", 1): (9, 3),
            ("a", 1, "b"): (10, 8),
            ("a", 1, "b", 0): (10, 8),
            ("a", 1, "b", 1): (11, 5),
            ("a", 1, "b", 1, "c"): (12, 1),
            ("a", 1, "b", 1, "c", "d"): (12, 3),
        },
    )


def test_strings_and_scalars_are_skipped() -> None:
    text = (
        's1 = "a \\" # not a comment [x] = 1"\n'
        "s2 = 'lit # [y] = \"z\"'\n"
        's3 = """\n'
        "k = 1\n"
        "[fake]\n"
        '\\""" still inside # x = 1\n'
        'ends with quotes""""\n'
        "after1 = 1\n"
        "s4 = '''\n"
        "[[fake]]\n"
        "x = 2 '''''\n"
        "after2 = 2\n"
        's5 = """line \\\n'
        '  continued""" # c\n'
        "after3 = 3\n"
        "n = [1_000, +inf, nan, -nan, 0x1F, 0o17, 0b101, -0.5e3, true, 1979-05-27, 07:32:00]\n"
        "dt = 1979-05-27 07:32:00-08:00\n"
        "[implicit.parent.child]\n"
        "x = 1\n"
        "[implicit.other]\n"
        "[implicit]\n"
        "y = 2\n"
        's6 = """"quoted" ""\'\'"""\n'
        "last = 'no newline at the end'"
    )
    check(
        text,
        {
            ("s1",): (1, 1),
            ("s2",): (2, 1),
            ("s3",): (3, 1),
            ("after1",): (8, 1),
            ("s4",): (9, 1),
            ("after2",): (12, 1),
            ("s5",): (13, 1),
            ("after3",): (15, 1),
            ("n",): (16, 1),
            ("dt",): (17, 1),
            # The implicitly created "implicit.parent" keeps its first mention; "implicit" itself is
            # positioned at the header that defines it.
            ("implicit",): (21, 2),
            ("implicit", "parent"): (18, 11),
            ("implicit", "parent", "child"): (18, 18),
            ("implicit", "parent", "child", "x"): (19, 1),
            ("implicit", "other"): (20, 11),
            ("implicit", "y"): (22, 1),
            ("implicit", "s6"): (23, 1),
            ("implicit", "last"): (24, 1),
        },
    )


def test_empty_and_comment_only_documents() -> None:
    check("", {})
    check("# only a comment", {})
    check("\n\n  # indented comment\n\t\n", {})


def test_dotted_keys_share_tables_created_first() -> None:
    text = "[fruit]\napple.color = 'red'\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n"
    check(
        text,
        {
            ("fruit",): (1, 2),
            ("fruit", "apple"): (2, 1),
            ("fruit", "apple", "color"): (2, 7),
            ("fruit", "apple", "taste"): (3, 7),
            ("fruit", "apple", "taste", "sweet"): (3, 13),
            ("fruit", "apple", "texture"): (4, 14),
            ("fruit", "apple", "texture", "smooth"): (5, 1),
        },
    )


# --- generated documents ---------------------------------------------------------------------------


@dataclass
class Key:
    name: str
    style: str  # "bare", "basic", "escaped" (basic with \u escapes) or "literal"

    def render(self) -> str:
        if self.style == "bare" and _BARE.fullmatch(self.name):
            return self.name
        literal_ok = "'" not in self.name and not any((c < " " and c != "\t") or c == "\x7f" for c in self.name)
        if self.style == "literal" and literal_ok:
            return f"'{self.name}'"
        return '"' + _escape(self.name, all_non_ascii=self.style == "escaped") + '"'


def _escape(text: str, *, all_non_ascii: bool = False, keep: str = "") -> str:
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"' and '"' not in keep:
            out.append('\\"')
        elif char in keep:
            out.append(char)
        elif char < " " or char == "\x7f" or (all_non_ascii and char > "~"):
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return "".join(out)


@dataclass
class Table:
    entries: dict[str, Node] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    style: str = "header"  # "header", "dotted" or "inline" when it is a child
    omit_header: bool = False  # leave the table to be created implicitly by its sub-tables
    header_last: bool = False  # write the table's own section after its sub-tables' sections
    dot: str = "."  # how dotted keys through this table are joined
    equals: str = " = "  # how the keys of this table are joined to their values
    indent: str = ""  # before the lines of this table
    comment: str = ""  # after the lines of this table, and on a line of its own before them


@dataclass
class TableArray:
    tables: list[Table]
    style: str  # "aot" ([[x]] headers) or "inline"
    multiline: bool


@dataclass
class Array:
    items: list[str | Table | Array]
    multiline: bool


Node = str | Table | TableArray | Array

_SCALARS = [
    "1",
    "-17",
    "+3",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "3.14",
    "-0.5e3",
    "6.02E+23",
    "inf",
    "+inf",
    "-nan",
    "true",
    "false",
    "1979-05-27T07:32:00Z",
    "1979-05-27 07:32:00-08:00",
    "1979-05-27T00:32:00.999999",
    "1979-05-27",
    "07:32:00",
    '"plain"',
    '"a \\" # not a comment [x] = {y}"',
    "'lit # [z] = \"q\" {'",
    '""',
    "''",
    '"""\nml # = [ { \' "\n"""',
    '"""quote at end""""',
    '"""two quotes at end"""""',
    '"""line \\\n   continued"""',
    "'''\nraw [[x]]\n# c = 1\n'''",
    "'''ends with''''",
    '"""\\""" escaped"""',
    '"\\u00e9\\t"',
]
_ML_TEXT = st.text(alphabet=st.sampled_from([*"ab #=[]{}.,'\"\\\n\t", "é", "\x01"]), max_size=20)


@st.composite
def ml_strings(draw: st.DrawFn) -> str:
    content = draw(_ML_TEXT)
    if draw(st.booleans()):
        body = _escape(content, keep='"\n\t')
        while '"""' in body:
            body = body.replace('"""', '""\\"', 1)
        return f'"""{body}"""'
    body = "".join(c for c in content if c >= " " or c in "\n\t").replace("\\", "")
    while "'''" in body:
        body = body.replace("'''", "''")
    return f"'''{body}'''"


scalars = st.one_of(st.sampled_from(_SCALARS), ml_strings())
keys = st.builds(
    Key,
    name=st.one_of(
        st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6),
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=5),
        st.sampled_from(["a.b", "x y", "#", "=", "[t]", "'", '"', "\\", "é", ""]),
    ),
    style=st.sampled_from(["bare", "basic", "escaped", "literal"]),
)


def arrays(depth: int) -> st.SearchStrategy[Array]:
    items: st.SearchStrategy[str | Table | Array] = scalars
    if depth < 3:
        items = st.one_of(scalars, tables(depth + 1, inline=True), st.deferred(lambda: arrays(depth + 1)))
    return st.builds(Array, items=st.lists(items, max_size=3), multiline=st.booleans())


@st.composite
def tables(draw: st.DrawFn, depth: int, inline: bool = False) -> Table:
    table = Table(
        style="inline" if inline else draw(st.sampled_from(["header", "header", "dotted", "inline"])),
        omit_header=draw(st.booleans()),
        header_last=draw(st.booleans()),
        dot=draw(st.sampled_from([".", ".", " . ", "\t.", ". "])),
        equals=draw(st.sampled_from([" = ", " = ", "=", " =\t", "\t= "])),
        indent=draw(st.sampled_from(["", "", "  ", "\t"])),
        comment=draw(st.sampled_from(["", "", "  # c = [1] 'q' {"])),
    )
    for key in draw(st.lists(keys, max_size=4, unique_by=lambda key: key.name)):
        kinds = ["scalar", "scalar", "array"] + (["table", "table", "aot"] if depth < 3 else [])
        kind = draw(st.sampled_from(kinds))
        node: Node
        if kind == "scalar":
            node = draw(scalars)
        elif kind == "array":
            node = draw(arrays(depth))
        elif kind == "table":
            node = draw(tables(depth + 1))
        else:
            node = TableArray(
                tables=draw(st.lists(tables(depth + 1), min_size=1, max_size=3)),
                style=draw(st.sampled_from(["aot", "aot", "inline"])),
                multiline=draw(st.booleans()),
            )
        table.entries[key.name] = node
        table.keys[key.name] = key
    return table


def render_inline(node: Node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, Table):
        parts = []
        for name, child in node.entries.items():
            key = node.keys[name].render()
            if isinstance(child, Table) and child.style == "dotted" and child.entries:
                parts += [f"{key}{node.dot}{line}" for line in render_dotted(child)]
            else:
                parts.append(f"{key}{node.equals}{render_inline(child)}")
        return "{" + ", ".join(parts) + "}" if parts else "{}"
    items = [render_inline(item) for item in (node.tables if isinstance(node, TableArray) else node.items)]
    if node.multiline and items:
        # Comments, newlines and a trailing comma inside an array.
        return "[\n" + "".join(f"  {item},  # [{{ = '\"\n" for item in items) + "]"
    return "[" + ", ".join(items) + "]"


def render_dotted(table: Table) -> list[str]:
    """``key = value`` lines (without the prefix) that define ``table`` through dotted keys."""
    lines = []
    for name, child in table.entries.items():
        key = table.keys[name].render()
        if isinstance(child, Table) and child.style != "inline" and child.entries:
            lines += [f"{key}{table.dot}{line}" for line in render_dotted(child)]
        else:
            lines.append(f"{key}{table.equals}{render_inline(child)}")
    return lines


def render_body(table: Table, header: list[str]) -> tuple[list[str], list[str]]:
    """The key/value lines of ``table`` and the sections of its sub-tables, below header path ``header``."""
    own: list[str] = []
    sections: list[str] = []
    for name, child in table.entries.items():
        key = table.keys[name].render()
        path = [*header, key]
        if isinstance(child, Table) and child.style == "header":
            child_own, child_sections = render_body(child, path)
            if child.omit_header and not child_own and child_sections:
                sections += child_sections
                continue
            section = [f"{child.indent}[{child.dot.join(path)}]{child.comment}", *child_own]
            sections += child_sections + section if child.header_last else section + child_sections
        elif isinstance(child, TableArray) and child.style == "aot":
            for element in child.tables:
                element_own, element_sections = render_body(element, path)
                header_line = f"{element.indent}[[{element.dot.join(path)}]]{element.comment}"
                sections += [header_line, *element_own, *element_sections]
        elif isinstance(child, Table) and child.style == "dotted" and child.entries:
            own += [f"{key}{table.dot}{line}" for line in render_dotted(child)]
        else:
            own.append(f"{key}{table.equals}{render_inline(child)}")
    if own and table.comment:
        own = [table.comment.strip(), *own]
    return [f"{table.indent}{line}{table.comment}" for line in own], sections


def render(root: Table) -> str:
    own, sections = render_body(root, [])
    return "\n".join([*own, *sections]) + "\n"


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(0))
def test_generated_documents(root: Table) -> None:
    text = render(root)
    positions = key_positions(text)
    assert set(positions) == toml_paths(tomllib.loads(text))
    assert_positions_point_at_keys(text, positions)
    assert key_positions(text.replace("\n", "\r\n")) == positions


# --- invalid input -----------------------------------------------------------------------------------

_TOML_CHARS = st.sampled_from([*"[]{}\"'=.,#\n\r\t abc123\\-_:+", '"""', "'''", "[[", "]]", "a = "])


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.one_of(_TOML_CHARS, st.characters()), max_size=80).map("".join))
def test_garbage_never_raises(text: str) -> None:
    assert isinstance(key_positions(text), dict)


@settings(max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(0), st.data())
def test_damaged_documents_never_raise(root: Table, data: st.DataObject) -> None:
    text = render(root)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + data.draw(st.one_of(st.just(""), _TOML_CHARS)) + text[at + 1 :]
    assert isinstance(key_positions(text), dict)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 20_000,
        "a = " + "{b = " * 20_000,
        "[" * 20_000,
        'a = "' + "\\" * 20_000,
        "a = [" + " ," * 20_000 + " {",
        "a = [" + "# c\n" * 20_000,
        'a = """' + '\\"' * 20_000,
        "a = '''" + "''x" * 20_000,
        "a." * 20_000,
        "x = 1\n" * 20_000 + "[",
    ],
    ids=lambda text: repr(text[:12]),
)
def test_pathological_input_is_fast_and_safe(text: str) -> None:
    assert isinstance(key_positions(text), dict)
