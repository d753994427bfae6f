"""Loading TOML and YAML cluster files through ``pconf.load.load_layers``: positions, refusals, extends, reset.

Every test runs in its own ``tmp_path`` as the working directory, so file names in messages are short and
exact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from pconf.errors import LoadError, Location
from pconf.keypath import format_path
from pconf.load import Layer, load_layers
from pconf.load.layer import MAX_DEPTH, MAX_FILE_BYTES, MAX_LAYERS, MAX_VALUES


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str | bytes) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def errors(paths: Sequence[str], overrides: Sequence[str] = ()) -> list[str]:
    """The rendered issues of the LoadError that loading ``paths`` must raise."""
    with pytest.raises(LoadError) as info:
        load_layers(paths, overrides)
    return [issue.render() for issue in info.value.issues]


def positions(layer: Layer) -> dict[str, str]:
    return {format_path(path): str(loc) for path, loc in layer.where.items()}


def one(path: str) -> Layer:
    layers = load_layers([path])
    assert len(layers) == 1
    return layers[0]


class TestTomlPositions:
    def test_top_level_keys_and_tables(self) -> None:
        """Keys sit at their first character; a table at its name inside the header."""
        write("a.toml", "a = 1\n[parallel]\n  tensor_parallel_size = 2\n[parallel.eplb_config]\nwindow_size = 3\n")
        layer = one("a.toml")
        assert layer.data == {"a": 1, "parallel": {"tensor_parallel_size": 2, "eplb_config": {"window_size": 3}}}
        assert positions(layer) == {
            "a": "a.toml:1:1",
            "parallel": "a.toml:2:2",
            "parallel.tensor_parallel_size": "a.toml:3:3",
            "parallel.eplb_config": "a.toml:4:11",
            "parallel.eplb_config.window_size": "a.toml:5:1",
        }

    def test_dotted_keys_and_inline_tables(self) -> None:
        """Dotted keys, quoted keys and inline-table keys each get their own column."""
        write("a.toml", 'parallel.tensor_parallel_size = 2\n"cluster" = { device = "cpu", "devices_per_node" = 4 }\n'
                        "[ parallel . eplb_config ]\n  window_size=7 # comment\n")
        assert positions(one("a.toml")) == {
            "parallel": "a.toml:1:1",
            "parallel.tensor_parallel_size": "a.toml:1:10",
            "cluster": "a.toml:2:1",
            "cluster.device": "a.toml:2:15",
            "cluster.devices_per_node": "a.toml:2:31",
            "parallel.eplb_config": "a.toml:3:14",
            "parallel.eplb_config.window_size": "a.toml:4:3",
        }

    def test_arrays_of_tables_and_inline_tables_in_arrays(self) -> None:
        """Array-of-tables elements sit at their header, inline tables in an array at their brace."""
        write("a.toml", "[[x]]\ny = 1\n[[x]]\ny = 2\nz = [1,\n 2]\nw = [ {a = 1}, {b = 2} ]\n")
        layer = one("a.toml")
        assert layer.data == {"x": [{"y": 1}, {"y": 2, "z": [1, 2], "w": [{"a": 1}, {"b": 2}]}]}
        assert positions(layer) == {
            "x": "a.toml:1:3",
            "x[0]": "a.toml:1:3",
            "x[0].y": "a.toml:2:1",
            "x[1]": "a.toml:3:3",
            "x[1].y": "a.toml:4:1",
            "x[1].z": "a.toml:5:1",
            "x[1].w": "a.toml:7:1",
            "x[1].w[0]": "a.toml:7:7",
            "x[1].w[0].a": "a.toml:7:8",
            "x[1].w[1]": "a.toml:7:16",
            "x[1].w[1].b": "a.toml:7:17",
        }

    def test_crlf_line_endings(self) -> None:
        """Windows line endings count as one line break each."""
        write("a.toml", '[parallel]\r\ntensor_parallel_size = 2\r\n\r\n[cluster]\r\n  device = "cpu"\r\n')
        assert positions(one("a.toml")) == {
            "parallel": "a.toml:1:2",
            "parallel.tensor_parallel_size": "a.toml:2:1",
            "cluster": "a.toml:4:2",
            "cluster.device": "a.toml:5:3",
        }

    def test_columns_count_characters(self) -> None:
        """Columns count characters, not bytes, after non-ASCII text."""
        write("a.toml", '"é" = 1\nc = { "ü" = 1, d = 2 }\n')
        assert positions(one("a.toml")) == {
            '"é"': "a.toml:1:1", "c": "a.toml:2:1", 'c."ü"': "a.toml:2:7", "c.d": "a.toml:2:16",
        }

    def test_byte_order_mark_is_skipped(self) -> None:
        """A UTF-8 byte order mark is dropped and does not shift the first column."""
        write("a.toml", "\ufeffa = 1\n")
        layer = one("a.toml")
        assert (layer.data, positions(layer)) == ({"a": 1}, {"a": "a.toml:1:1"})

    def test_layer_name_is_the_path_as_given(self) -> None:
        """The layer is named by the path as written on the command line."""
        write("conf/a.toml", "a = 1\n")
        layer = one("conf/a.toml")
        assert (layer.name, positions(layer), layer.resets) == ("conf/a.toml", {"a": "conf/a.toml:1:1"}, ())


class TestYamlPositions:
    def test_nested_mappings_and_sequences(self) -> None:
        """Mapping keys sit at their first character, sequence items at the item."""
        write("a.yaml", "parallel:\n  tensor_parallel_size: 2\n  numa_bind_nodes:\n    - 0\n    - 1\n"
                        "  eplb_config: {window_size: 3}\nlst: [1, 2]\n")
        layer = one("a.yaml")
        assert layer.data == {"parallel": {"tensor_parallel_size": 2, "numa_bind_nodes": [0, 1],
                                           "eplb_config": {"window_size": 3}}, "lst": [1, 2]}
        assert positions(layer) == {
            "parallel": "a.yaml:1:1",
            "parallel.tensor_parallel_size": "a.yaml:2:3",
            "parallel.numa_bind_nodes": "a.yaml:3:3",
            "parallel.numa_bind_nodes[0]": "a.yaml:4:7",
            "parallel.numa_bind_nodes[1]": "a.yaml:5:7",
            "parallel.eplb_config": "a.yaml:6:3",
            "parallel.eplb_config.window_size": "a.yaml:6:17",
            "lst": "a.yaml:7:1",
            "lst[0]": "a.yaml:7:7",
            "lst[1]": "a.yaml:7:10",
        }

    def test_sequence_of_mappings(self) -> None:
        """Mappings inside a sequence get the index in their key paths."""
        write("a.yml", "x:\n  - a: 1\n    b: 2\n  - c: 3\n")
        layer = one("a.yml")
        assert layer.data == {"x": [{"a": 1, "b": 2}, {"c": 3}]}
        assert positions(layer) == {
            "x": "a.yml:1:1",
            "x[0]": "a.yml:2:5",
            "x[0].a": "a.yml:2:5",
            "x[0].b": "a.yml:3:5",
            "x[1]": "a.yml:4:5",
            "x[1].c": "a.yml:4:5",
        }

    def test_crlf_and_non_ascii(self) -> None:
        """Windows line endings and non-ASCII keys keep lines and character columns right."""
        write("a.yaml", "é: 1\r\nc: {ü: 1, d: 2}\r\n")
        assert positions(one("a.yaml")) == {
            '"é"': "a.yaml:1:1", "c": "a.yaml:2:1", 'c."ü"': "a.yaml:2:5", "c.d": "a.yaml:2:11",
        }

    def test_core_scalars(self) -> None:
        """Core YAML scalars load as their Python values."""
        write("a.yaml", "a: 1\nb: 1.5\nc: true\nd: null\ne: '8'\nf: mp\n")
        assert one("a.yaml").data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "8", "f": "mp"}


class TestTomlSyntaxErrors:
    def test_unclosed_header(self) -> None:
        """An unclosed table header is reported at tomllib's position, naming the table."""
        write("a.toml", "[parallel\n")
        assert errors(["a.toml"]) == [
            "a.toml:1:10: parallel: TOML syntax error: Expected ']' at the end of a table declaration; "
            "fix the file's syntax [load.toml_syntax]"
        ]

    def test_missing_value(self) -> None:
        """A key without a value is an invalid value at the end of the line, naming the key."""
        write("a.toml", "[parallel]\ntensor_parallel_size = \n")
        assert errors(["a.toml"]) == [
            "a.toml:2:24: parallel.tensor_parallel_size: TOML syntax error: Invalid value; fix the file's syntax "
            "[load.toml_syntax]"
        ]

    def test_duplicate_key(self) -> None:
        """A key written twice is a duplicate key on the second one, naming the line of the first, as in YAML."""
        write("a.toml", "a = 1\na = 2\n")
        assert errors(["a.toml"]) == [
            "a.toml:2:1: a: duplicate key `a` (first written at line 1); keep one of them [load.duplicate_key]"
        ]


class TestYamlSyntaxErrors:
    def test_unclosed_flow_sequence(self) -> None:
        """An unclosed flow sequence is reported where the parser gave up, naming the key being read."""
        write("a.yaml", "a: [1\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:2:1: a: YAML syntax error: did not find expected ',' or ']'; fix the file's syntax "
            "[load.yaml_syntax]"
        ]

    def test_mapping_value_in_scalar(self) -> None:
        """A second colon on a line is a syntax error at that colon, naming the key of the line."""
        write("a.yaml", "parallel:\n  a: b: c\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:2:7: parallel.a: YAML syntax error: mapping values are not allowed in this context; "
            "fix the file's syntax [load.yaml_syntax]"
        ]

    def test_multiple_documents(self) -> None:
        """A second YAML document is refused at its separator."""
        write("a.yaml", "a: 1\n---\nb: 2\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:2:1: <document>: YAML syntax error: but found another document; fix the file's syntax "
            "[load.yaml_syntax]"
        ]


class TestYamlRefusals:
    def test_python_tag_is_refused_and_not_run(self) -> None:
        """A python/object tag is refused, and the command in it is never executed."""
        write("a.yaml", 'a: !!python/object/apply:os.system ["touch executed"]\n')
        assert errors(["a.yaml"]) == [
            "a.yaml:1:4: a: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed; "
            "write a plain list [load.yaml_tag]"
        ]
        assert not Path("executed").exists()

    def test_python_name_tag(self) -> None:
        """A scalar python tag is refused at the tagged value."""
        write("a.yaml", "parallel:\n  x: !!python/name:os.system\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:2:6: parallel.x: YAML tag 'tag:yaml.org,2002:python/name:os.system' is not allowed; pconf "
            "reads plain data only: strings, numbers, booleans, null, lists, tables [load.yaml_tag]"
        ]

    def test_local_tag(self) -> None:
        """A local tag is refused."""
        write("a.yaml", "a: !custom 1\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:1:4: a: YAML tag '!custom' is not allowed; pconf reads plain data only: strings, numbers, "
            "booleans, null, lists, tables [load.yaml_tag]"
        ]

    def test_set_tag(self) -> None:
        """A !!set mapping is refused."""
        write("a.yaml", "a: !!set {x, y}\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:1:4: a: YAML tag 'tag:yaml.org,2002:set' is not allowed; write a plain mapping [load.yaml_tag]"
        ]

    def test_duplicate_key(self) -> None:
        """A key written twice in one mapping names both lines."""
        write("a.yaml", "x: 1\nparallel:\n  a: 1\n  a: 2\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:4:3: parallel.a: duplicate key `a` (first written at line 3); keep one of them "
            "[load.duplicate_key]"
        ]

    @pytest.mark.parametrize(("text", "where"), [
        ("parallel:\n  1: 2\n", "a.yaml:2:3: parallel"),
        ("true: 1\n", "a.yaml:1:1: <document>"),
        ("null: 1\n", "a.yaml:1:1: <document>"),
        ("? [1, 2]\n: 3\n", "a.yaml:1:3: <document>"),
    ])
    def test_non_string_keys(self, text: str, where: str) -> None:
        """Integer, boolean, null and sequence keys are refused at the key."""
        write("a.yaml", text)
        assert errors(["a.yaml"]) == [f"{where}: mapping keys must be strings; quote the key [load.yaml_key]"]

    def test_top_level_list(self) -> None:
        """A document that is a list is refused."""
        write("a.yaml", "- 1\n- 2\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:1:1: <document>: the document is a list, not a mapping; a cluster file is a mapping with "
            "parallel, scheduler and cluster sections [load.not_a_table]"
        ]

    def test_top_level_scalar(self) -> None:
        """A document that is a scalar is refused."""
        write("a.yaml", "hello\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:1:1: <document>: the document is a string, not a mapping; a cluster file is a mapping with "
            "parallel, scheduler and cluster sections [load.not_a_table]"
        ]

    def test_merge_key_local_keys_win(self) -> None:
        """`<<: *anchor` merges the anchor's keys; keys written locally win."""
        write("a.yaml", "base: &b\n  x: 1\n  y: 2\nparallel:\n  <<: *b\n  y: 3\n")
        assert one("a.yaml").data == {"base": {"x": 1, "y": 2}, "parallel": {"y": 3, "x": 1}}

    def test_merge_key_list_form(self) -> None:
        """`<<: [*a, *b]` merges several anchors, local keys still winning."""
        write("a.yaml", "a: &a\n  x: 1\nb: &b\n  z: 2\nparallel:\n  y: 3\n  <<: [*a, *b]\n  x: 5\n")
        assert one("a.yaml").data["parallel"] == {"y": 3, "x": 5, "z": 2}

    def test_merged_key_is_located_at_the_anchor(self) -> None:
        """A key taken from the anchor is located where the anchor wrote it."""
        write("a.yaml", "base: &b\n  x: 1\n  y: 2\nparallel:\n  <<: *b\n  y: 3\n")
        assert positions(one("a.yaml"))["parallel.x"] == "a.yaml:2:3"

    def test_merge_key_local_position_wins(self) -> None:
        """A key written locally next to `<<` keeps its own position, before or after the merge key."""
        write("a.yaml", "base: &b\n  x: 1\n  y: 2\nparallel:\n  y: 3\n  <<: *b\n  x: 5\n")
        found = positions(one("a.yaml"))
        assert (found["parallel.y"], found["parallel.x"]) == ("a.yaml:5:3", "a.yaml:7:3")

    def test_merge_of_a_scalar_is_refused(self) -> None:
        """`<<` must refer to a mapping."""
        write("a.yaml", "s: &s 1\nparallel:\n  <<: *s\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:1:4: parallel: `<<` must refer to a mapping; merge a mapping anchor [load.yaml_merge]"
        ]

    def test_alias_bomb_hits_the_value_limit_quickly(self) -> None:
        """A billion-laughs document stops at the value limit within a second or so."""
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
        write("a.yaml", "\n".join(lines) + "\n")
        start = time.perf_counter()
        found = errors(["a.yaml"])
        assert time.perf_counter() - start < 5
        assert MAX_VALUES == 100_000
        assert found == [
            "a.yaml:1:37: a4[7][8][8][8][9]: the document expands to more than 100000 values; YAML aliases can "
            "multiply a document; write the values out [load.too_many_values]"
        ]

    @pytest.mark.parametrize("tail", ["", "# a comment\n" * 200, "b: [" + "-1, " * 1000 + "]\n"])
    def test_nesting_limit(self, tail: str) -> None:
        """Nesting deeper than the limit is refused at the first value too deep: in a short file, a long one with
        few collection characters (composed, then walked) and one with many (checked on the event stream)."""
        write("a.yaml", "a: " + "[" * 40 + "]" * 40 + "\n" + tail)
        assert errors(["a.yaml"]) == [
            f"a.yaml:1:{4 + MAX_DEPTH}: a{'[0]' * MAX_DEPTH}: nesting deeper than {MAX_DEPTH} levels; a cluster "
            "document is a few tables deep [load.too_deep]"
        ]

    @pytest.mark.parametrize(("value", "expected"), [
        ("!!int xyz", "cannot read 'xyz' as int; fix the value (invalid literal for int() with base 10: 'xyz')"),
        ("2001-13-45", "cannot read '2001-13-45' as timestamp; fix the value (month must be in 1..12)"),
    ])
    def test_unbuildable_scalar(self, value: str, expected: str) -> None:
        """A scalar its tag cannot build (a bad !!int, an impossible date) is refused at the value."""
        write("a.yaml", f"parallel:\n  a: {value}\n")
        assert errors(["a.yaml"]) == [f"a.yaml:2:6: parallel.a: {expected} [load.yaml_value]"]


class TestFileContents:
    def test_invalid_utf8(self) -> None:
        """A byte that is not UTF-8 is reported at its line and column."""
        write("a.toml", b'a = 1\nb = "x\xff"\n')
        assert errors(["a.toml"]) == [
            "a.toml:2:7: <document>: the file is not valid UTF-8; save it as UTF-8 [load.encoding]"
        ]

    def test_invalid_utf8_column_counts_characters(self) -> None:
        """After valid non-ASCII text, the bad byte's column counts characters like every other position."""
        write("a.toml", b'a = 1\nb = "\xc3\xa9\xff"\n')
        assert errors(["a.toml"]) == [
            "a.toml:2:7: <document>: the file is not valid UTF-8; save it as UTF-8 [load.encoding]"
        ]

    def test_invalid_utf8_on_first_line(self) -> None:
        """A bad byte on the first line is counted from column 1."""
        write("a.yaml", b"\xc3a: 1\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:1:1: <document>: the file is not valid UTF-8; save it as UTF-8 [load.encoding]"
        ]

    def test_nul_character(self) -> None:
        """A NUL character is refused at its line and column."""
        write("a.toml", 'a = 1\nbb = "\x00"\n')
        assert errors(["a.toml"]) == [
            "a.toml:2:7: <document>: the file contains a NUL character; remove it [load.nul]"
        ]

    def test_nul_on_first_line(self) -> None:
        """A NUL on the first line is located from column 1."""
        write("a.yaml", "ab\x00: 1\n")
        assert errors(["a.yaml"]) == ["a.yaml:1:3: <document>: the file contains a NUL character; remove it [load.nul]"]

    def test_file_over_the_size_limit(self) -> None:
        """A file one byte over the size limit is refused without parsing."""
        write("a.toml", "#" * MAX_FILE_BYTES + "\n")
        assert errors(["a.toml"]) == [
            "a.toml: <document>: the file is larger than 1024 KiB; a cluster file is small [load.file_too_large]"
        ]

    def test_file_at_the_size_limit(self) -> None:
        """A file of exactly the size limit loads."""
        write("a.toml", "a = 1\n#" + "x" * (MAX_FILE_BYTES - 8) + "\n")
        assert Path("a.toml").stat().st_size == MAX_FILE_BYTES
        assert one("a.toml").data == {"a": 1}

    @pytest.mark.parametrize("name", ["a.toml", "a.yaml", "a.yml"])
    def test_empty_file(self, name: str) -> None:
        """An empty file is an empty layer."""
        write(name, "")
        layer = one(name)
        assert (layer.data, layer.where, layer.resets) == ({}, {}, ())

    def test_comment_only_yaml(self) -> None:
        """A YAML file with only comments is an empty layer."""
        write("a.yaml", "# nothing here\n")
        assert one("a.yaml").data == {}

    @pytest.mark.parametrize("text", ["---\n", "null\n", "~\n", "--- # nothing\n...\n"])
    def test_explicit_empty_yaml_document(self, text: str) -> None:
        """A YAML document that is explicitly empty (`---`, `null`) is an empty layer, like an empty file."""
        write("a.yaml", text)
        layer = one("a.yaml")
        assert (layer.data, layer.where) == ({}, {})

    def test_deep_toml_nesting(self) -> None:
        """TOML nested past the limit is refused at its key, naming the first value too deep (as YAML does)."""
        write("a.toml", "a = " + "[" * 40 + "]" * 40 + "\n")
        assert errors(["a.toml"]) == [
            f"a.toml:1:1: a{'[0]' * MAX_DEPTH}: nesting deeper than {MAX_DEPTH} levels; a cluster document is "
            "a few tables deep [load.too_deep]"
        ]

    def test_deep_toml_tables(self) -> None:
        """A table header nested past the limit is refused too."""
        write("a.toml", "[" + ".".join(["t"] * 40) + "]\n")
        assert errors(["a.toml"]) == [
            f"a.toml:1:66: {'.'.join(['t'] * (MAX_DEPTH + 1))}: nesting deeper than {MAX_DEPTH} levels; a cluster "
            "document is a few tables deep [load.too_deep]"
        ]

    def test_toml_nesting_that_would_overflow_the_stack(self) -> None:
        """TOML nested deep enough to exhaust the parser's recursion is a load error, not a crash."""
        write("a.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n")
        try:
            found = errors(["a.toml"])
        except RecursionError:
            raise AssertionError("RecursionError while loading") from None
        assert found == [
            f"a.toml:1:{5 + MAX_DEPTH}: a: nesting deeper than {MAX_DEPTH} levels; a cluster document is a few "
            "tables deep [load.too_deep]"
        ]


class TestFileErrors:
    def test_nul_in_path(self) -> None:
        """A path holding NUL (only the Python API can pass one) is refused, not handed to the OS."""
        assert errors(["a\x00.toml"]) == [
            "a\\u0000.toml: <document>: 'a\\x00.toml' is not a file name: it holds a NUL character; check the path "
            "[load.file]"
        ]

    def test_missing_file(self) -> None:
        """A missing file on the command line is named."""
        assert errors(["nope.toml"]) == ["nope.toml: <document>: no such file: nope.toml; check the path [load.file]"]

    def test_directory(self) -> None:
        """A directory with a cluster-file suffix is refused as a directory."""
        Path("conf.toml").mkdir()
        assert errors(["conf.toml"]) == [
            "conf.toml: <document>: conf.toml is a directory, not a cluster file; name a file [load.file]"
        ]

    def test_unknown_suffix(self) -> None:
        """A file that is neither TOML nor YAML is refused by its suffix; for JSON the hint says how to read it."""
        write("a.json", "{}")
        assert errors(["a.json"]) == [
            "a.json: <document>: a.json: unknown file type '.json'; use .toml, .yaml or .yml (JSON, such as `pconf "
            "compile` prints, is YAML: name it .yaml, or pipe it to -) [load.file]"
        ]

    def test_no_suffix(self) -> None:
        """A path without a suffix (a directory, say) is an unknown file type."""
        Path("conf").mkdir()
        assert errors(["conf"]) == [
            "conf: <document>: conf: unknown file type '(none)'; use .toml, .yaml or .yml [load.file]"
        ]

    def test_every_file_is_reported(self) -> None:
        """Problems in several files are all reported, in command-line order."""
        write("bad.yaml", "a: [1\n")
        assert errors(["nope.toml", "bad.yaml"]) == [
            "nope.toml: <document>: no such file: nope.toml; check the path [load.file]",
            "bad.yaml:2:1: a: YAML syntax error: did not find expected ',' or ']'; fix the file's syntax "
            "[load.yaml_syntax]",
        ]

    def test_files_and_overrides_are_reported_together(self) -> None:
        """A bad file and a bad --set are reported in one LoadError."""
        assert errors(["nope.toml"], ["parallel.x"]) == [
            "nope.toml: <document>: no such file: nope.toml; check the path [load.file]",
            "--set parallel.x: parallel.x: missing `=value`; write --set parallel.x=VALUE, or --reset parallel.x "
            "to reset it to its default [load.set_syntax]",
        ]


class TestLoadLayers:
    def test_files_in_order_then_overrides(self) -> None:
        """Files load left to right and the --set layer comes last."""
        write("a.toml", "a = 1\n")
        write("b.yaml", "b: 2\n")
        layers = load_layers(["a.toml", "b.yaml"], ["c.d=3"])
        assert [(layer.name, layer.data) for layer in layers] == [
            ("a.toml", {"a": 1}), ("b.yaml", {"b": 2}), ("--set", {"c": {"d": 3}})
        ]

    def test_no_overrides_no_set_layer(self) -> None:
        """Without overrides there is no --set layer."""
        write("a.toml", "a = 1\n")
        assert [layer.name for layer in load_layers([Path("a.toml")])] == ["a.toml"]

    def test_reset_only_override_makes_a_layer(self) -> None:
        """A lone `~key` override still adds the --set layer."""
        write("a.toml", "a = 1\n")
        layers = load_layers(["a.toml"], ["~parallel.nnodes"])
        assert [(layer.name, layer.data, layer.resets) for layer in layers][1] == (
            "--set", {}, ((("parallel", "nnodes"), Location.override("~parallel.nnodes")),)
        )


class TestExtends:
    def test_string_form(self) -> None:
        """`extends = "x"` loads that file first."""
        write("base.toml", "[parallel]\ntensor_parallel_size = 4\n")
        write("a.toml", 'extends = "base.toml"\n[parallel]\ntensor_parallel_size = 2\n')
        layers = load_layers(["a.toml"])
        assert [(layer.name, layer.data) for layer in layers] == [
            ("base.toml", {"parallel": {"tensor_parallel_size": 4}}),
            ("a.toml", {"parallel": {"tensor_parallel_size": 2}}),
        ]

    def test_list_form_in_order(self) -> None:
        """`extends = [x, y]` loads x, then y, then the file."""
        write("x.toml", "x = 1\n")
        write("y.toml", "y = 1\n")
        write("a.toml", 'extends = ["x.toml", "y.toml"]\na = 1\n')
        assert [layer.name for layer in load_layers(["a.toml"])] == ["x.toml", "y.toml", "a.toml"]

    def test_extends_and_reset_are_taken_out(self) -> None:
        """`extends` and `reset` leave neither data nor positions behind."""
        write("x.toml", "x = 1\n")
        write("a.toml", 'extends = ["x.toml"]\nreset = ["parallel.nnodes"]\na = 1\n')
        layer = load_layers(["a.toml"])[-1]
        assert (layer.data, positions(layer)) == ({"a": 1}, {"a": "a.toml:3:1"})

    def test_paths_are_relative_to_the_file(self) -> None:
        """Extends paths are resolved against the extending file's directory, and named that way."""
        write("conf/base/common.toml", "c = 1\n")
        write("conf/prod.toml", 'extends = ["base/common.toml"]\np = 1\n')
        layers = load_layers(["conf/prod.toml"])
        assert [(layer.name, positions(layer)) for layer in layers] == [
            ("conf/base/common.toml", {"c": "conf/base/common.toml:1:1"}),
            ("conf/prod.toml", {"p": "conf/prod.toml:2:1"}),
        ]

    def test_parent_directory(self) -> None:
        """`..` in an extends path is normalised in the layer's name."""
        write("base.toml", "b = 1\n")
        write("env/dev.toml", 'extends = "../base.toml"\n')
        assert [layer.name for layer in load_layers(["env/dev.toml"])] == ["base.toml", "env/dev.toml"]

    def test_nested_chains_depth_first(self) -> None:
        """Each extends entry's own chain loads completely before the next entry."""
        write("sub/f.toml", "f = 1\n")
        write("sub/d.toml", 'extends = ["f.toml"]\nd = 1\n')
        write("g.toml", "g = 1\n")
        write("e.toml", 'extends = ["g.toml"]\ne = 1\n')
        write("c.toml", '# top\nextends = ["sub/d.toml", "e.toml"]\nc = 1\n')
        assert [layer.name for layer in load_layers(["c.toml"])] == [
            "sub/f.toml", "sub/d.toml", "g.toml", "e.toml", "c.toml"
        ]

    def test_diamond_is_not_a_cycle(self) -> None:
        """A file reached through two branches loads twice, which is not a cycle."""
        write("base.toml", "x = 1\n")
        write("b1.toml", 'extends = ["base.toml"]\n')
        write("b2.toml", 'extends = ["base.toml"]\n')
        write("top.toml", 'extends = ["b1.toml", "b2.toml"]\n')
        assert [layer.name for layer in load_layers(["top.toml"])] == [
            "base.toml", "b1.toml", "base.toml", "b2.toml", "top.toml"
        ]

    def test_yaml_from_toml(self) -> None:
        """A TOML file may extend a YAML file."""
        write("base.yaml", "parallel:\n  nnodes: 2\n")
        write("a.toml", 'extends = ["base.yaml"]\n')
        layers = load_layers(["a.toml"])
        assert [(layer.name, layer.data, positions(layer)) for layer in layers] == [
            ("base.yaml", {"parallel": {"nnodes": 2}},
             {"parallel": "base.yaml:1:1", "parallel.nnodes": "base.yaml:2:3"}),
            ("a.toml", {}, {}),
        ]

    def test_toml_from_yaml(self) -> None:
        """A YAML file may extend TOML files, in string or list form."""
        write("base.toml", "b = 1\n")
        write("a.yaml", "extends: base.toml\na: 1\n")
        write("c.yaml", "extends: [a.yaml]\n")
        assert [layer.name for layer in load_layers(["c.yaml"])] == ["base.toml", "a.yaml", "c.yaml"]

    def test_cycle(self) -> None:
        """A cycle a -> b -> a names the files in order, at the extends entry that closes it."""
        write("a.toml", 'extends = "b.toml"\n[parallel]\ntensor_parallel_size = 1\n')
        write("b.toml", '# b\nextends = ["a.toml"]\n')
        assert errors(["a.toml"]) == [
            "b.toml:2:1: extends: extends cycle: a.toml -> b.toml -> a.toml; remove one of the extends entries "
            "[load.extends_cycle]"
        ]

    def test_cycle_entry_position_in_yaml(self) -> None:
        """In YAML the cycle is located at the very sequence item that closes it."""
        write("c.yaml", "c: 1\n")
        write("a.yaml", "extends: [b.yaml]\n")
        write("b.yaml", "extends:\n  - c.yaml\n  - a.yaml\n")
        assert errors(["a.yaml"]) == [
            "b.yaml:3:5: extends: extends cycle: a.yaml -> b.yaml -> a.yaml; remove one of the extends entries "
            "[load.extends_cycle]"
        ]

    def test_cycle_below_the_top(self) -> None:
        """A cycle that does not include the top file names only the files in the loop."""
        write("top.toml", 'extends = "x.toml"\n')
        write("x.toml", 'extends = "sub/y.toml"\n')
        write("sub/y.toml", 'extends = "../x.toml"\n')
        assert errors(["top.toml"]) == [
            "sub/y.toml:1:1: extends: extends cycle: x.toml -> sub/y.toml -> x.toml; remove one of the extends "
            "entries [load.extends_cycle]"
        ]

    def test_self_cycle(self) -> None:
        """A file that extends itself is a cycle of one."""
        write("a.toml", 'extends = ["a.toml"]\n')
        assert errors(["a.toml"]) == [
            "a.toml:1:1: extends: extends cycle: a.toml -> a.toml; remove one of the extends entries "
            "[load.extends_cycle]"
        ]

    def test_missing_target(self) -> None:
        """A missing extends target is reported at the extends line of the file that names it."""
        write("m.toml", '# comment\n\nextends = ["nope.toml"]\n')
        assert errors(["m.toml"]) == ["m.toml:3:1: extends[0]: no such file: nope.toml; check the path [load.file]"]

    def test_missing_target_in_yaml(self) -> None:
        """In YAML a missing target is located at its sequence item."""
        write("ok.yaml", "a: 1\n")
        write("m.yaml", "extends:\n  - ok.yaml\n  - sub/nope.yaml\n")
        assert errors(["m.yaml"]) == [
            "m.yaml:3:5: extends[1]: no such file: sub/nope.yaml; check the path [load.file]"
        ]

    def test_broken_target_is_reported_in_its_own_file(self) -> None:
        """A syntax error in an extended file is located in that file."""
        write("base.toml", "a = \n")
        write("a.toml", 'extends = "base.toml"\n')
        assert errors(["a.toml"]) == [
            "base.toml:1:5: a: TOML syntax error: Invalid value; fix the file's syntax [load.toml_syntax]"
        ]

    @pytest.mark.parametrize(("value", "got"), [("[1]", "[1]"), ("3", "3"), ('{a = "b"}', '{"a": "b"}')])
    def test_wrong_type(self, value: str, got: str) -> None:
        """`extends` must be a string or a list of strings."""
        write("a.toml", f"extends = {value}\n")
        assert errors(["a.toml"]) == [
            f"a.toml:1:1: extends: `extends` must be a string or a list of strings (got {got}); "
            'write extends = ["..."] [load.extends_type]'
        ]

    def test_too_many_layers(self) -> None:
        """A chain longer than the layer limit is refused at the extends that goes too far."""
        for i in range(MAX_LAYERS + 1):
            write(f"f{i}.toml", f'extends = ["f{i + 1}.toml"]\n' if i < MAX_LAYERS else "last = 1\n")
        assert errors(["f0.toml"]) == [
            f"f{MAX_LAYERS - 1}.toml:1:1: extends: more than {MAX_LAYERS} layers; flatten the extends chain "
            "[load.too_many_layers]"
        ]

    def test_chain_at_the_layer_limit(self) -> None:
        """A chain of exactly the layer limit loads."""
        for i in range(MAX_LAYERS):
            write(f"f{i}.toml", f'extends = ["f{i + 1}.toml"]\n' if i < MAX_LAYERS - 1 else "last = 1\n")
        assert len(load_layers(["f0.toml"])) == MAX_LAYERS


class TestReset:
    def test_list_form(self) -> None:
        """`reset = [...]` lists dotted keys, each located at the reset key in TOML."""
        write("a.toml", 'a = 1\nreset = ["parallel.enable_expert_parallel", "cluster"]\n')
        layer = one("a.toml")
        assert (layer.data, positions(layer)) == ({"a": 1}, {"a": "a.toml:1:1"})
        assert layer.resets == (
            (("parallel", "enable_expert_parallel"), Location.file("a.toml", 2, 1, "reset")),
            (("cluster",), Location.file("a.toml", 2, 1, "reset")),
        )

    def test_string_form(self) -> None:
        """`reset = "key"` is a list of one."""
        write("a.toml", 'reset = "parallel.nnodes"\n')
        assert one("a.toml").resets == ((("parallel", "nnodes"), Location.file("a.toml", 1, 1, "reset")),)

    def test_yaml_entries_located_per_item(self) -> None:
        """In YAML each reset entry is located at its own item."""
        write("a.yaml", "reset:\n  - parallel.nnodes\n  - parallel.node_rank\n")
        assert one("a.yaml").resets == (
            (("parallel", "nnodes"), Location.file("a.yaml", 2, 5, "reset")),
            (("parallel", "node_rank"), Location.file("a.yaml", 3, 5, "reset")),
        )

    def test_bad_entries(self) -> None:
        """Every entry that is not a dotted key is reported with its index."""
        write("a.toml", 'reset = ["parallel.x", "bad key", "a..b", ""]\n')
        hint = 'write e.g. reset = ["parallel.tensor_parallel_size"] [load.reset_key]'
        assert errors(["a.toml"]) == [
            f"a.toml:1:1: reset[1]: `bad key` is not a dotted key; {hint}",
            f"a.toml:1:1: reset[2]: `a..b` is not a dotted key; {hint}",
            f"a.toml:1:1: reset[3]: `` is not a dotted key; {hint}",
        ]

    def test_bad_entry_in_yaml(self) -> None:
        """In YAML a bad reset entry is located at its item."""
        write("a.yaml", "reset:\n  - parallel.nnodes\n  - parallel nnodes\n")
        assert errors(["a.yaml"]) == [
            "a.yaml:3:5: reset[1]: `parallel nnodes` is not a dotted key; "
            'write e.g. reset = ["parallel.tensor_parallel_size"] [load.reset_key]'
        ]

    @pytest.mark.parametrize(("value", "got"), [("3", "3"), ('["a", 1]', '["a", 1]'), ("true", "true")])
    def test_wrong_type(self, value: str, got: str) -> None:
        """`reset` must be a string or a list of strings."""
        write("a.toml", f"reset = {value}\n")
        assert errors(["a.toml"]) == [
            f"a.toml:1:1: reset: `reset` must be a string or a list of strings (got {got}); "
            'write reset = ["..."] [load.reset_type]'
        ]
