"""``--set`` overrides: value parsing (``parse_value``) and the override layer (``overrides_layer``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from pconf.errors import Issue, Location
from pconf.keypath import format_path
from pconf.load.layer import Layer
from pconf.load.overrides import overrides_layer, parse_value


def layer_of(overrides: Sequence[str]) -> Layer:
    layer, issues = overrides_layer(overrides)
    assert issues == []
    return layer


def issues_of(overrides: Sequence[str]) -> list[str]:
    _, issues = overrides_layer(overrides)
    return [issue.render() for issue in issues]


def positions(layer: Layer) -> dict[str, str]:
    return {format_path(path): str(loc) for path, loc in layer.where.items()}


class TestParseValue:
    @pytest.mark.parametrize(("text", "value"), [
        ("8", 8),
        ("-1", -1),
        ("0x10", 16),
        ("1_000", 1000),
    ])
    def test_integers(self, text: str, value: int) -> None:
        """TOML integers parse as ints."""
        parsed = parse_value(text)
        assert type(parsed) is int
        assert parsed == value

    @pytest.mark.parametrize(("text", "value"), [('"8"', "8"), ("'8'", "8"), ('"a b"', "a b"), ('""', "")])
    def test_quoted_strings_stay_strings(self, text: str, value: str) -> None:
        """A quoted number stays a string; quotes are removed."""
        assert parse_value(text) == value

    @pytest.mark.parametrize(("text", "value"), [
        ("mp", "mp"),
        ("external_launcher", "external_launcher"),
        ("10.0.0.1", "10.0.0.1"),
        ("a b", "a b"),
        ("08", "08"),
        ("my.pkg.Executor", "my.pkg.Executor"),
        ("a = 1", "a = 1"),
    ])
    def test_bare_words_are_strings(self, text: str, value: str) -> None:
        """Text that is not TOML falls through to YAML, which reads a bare word as a string."""
        assert parse_value(text) == value

    @pytest.mark.parametrize(("text", "value"), [("1.5", 1.5), ("1e3", 1000.0), ("2.0", 2.0), ("-0.5", -0.5)])
    def test_floats(self, text: str, value: float) -> None:
        """Decimal and exponent numbers parse as floats."""
        parsed = parse_value(text)
        assert type(parsed) is float
        assert parsed == value

    def test_inf_and_nan(self) -> None:
        """TOML's inf and nan are floats."""
        assert parse_value("inf") == math.inf
        assert math.isnan(parse_value("nan"))

    @pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False), ("True", True), ("yes", True)])
    def test_booleans(self, text: str, value: bool) -> None:
        """TOML booleans parse as bools, and so do YAML's spellings."""
        assert parse_value(text) is value

    @pytest.mark.parametrize("text", ["null", "~", "Null"])
    def test_null(self, text: str) -> None:
        """`null` (YAML) is None."""
        assert parse_value(text) is None

    def test_toml_list(self) -> None:
        """`[0, 1]` is a list of ints."""
        assert parse_value("[0, 1]") == [0, 1]

    def test_yaml_flow_list(self) -> None:
        """`[0-3, 4-7]` is not TOML but a YAML flow list of strings."""
        assert parse_value("[0-3, 4-7]") == ["0-3", "4-7"]

    def test_mixed_yaml_flow_list(self) -> None:
        """A YAML flow list may mix bare and quoted strings."""
        assert parse_value('[0-3, "4"]') == ["0-3", "4"]

    def test_toml_inline_table(self) -> None:
        """A TOML inline table is a dict."""
        assert parse_value('{window_size = 5, policy = "default"}') == {"window_size": 5, "policy": "default"}

    def test_yaml_flow_mapping(self) -> None:
        """A YAML flow mapping is a dict too."""
        assert parse_value("{window_size: 5}") == {"window_size": 5}

    def test_nested(self) -> None:
        """Nested tables and lists parse whole."""
        assert parse_value("{a = {b = [1, 2]}}") == {"a": {"b": [1, 2]}}

    @pytest.mark.parametrize("text", [
        "[", "{", '"unterminated', ": x", "@x", "`x`", "%x", "*alias", '"a" = 1',
        '!!python/object/apply:os.system ["true"]', "a\nb", "a\rb",
    ])
    def test_unparseable(self, text: str) -> None:
        """Text that neither TOML nor YAML reads (or that spans lines) is unparsed."""
        assert isinstance(parse_value(text), Issue)

    @pytest.mark.parametrize("text", ["!!int xyz", "2001-13-45"])
    def test_unbuildable_yaml_scalar(self, text: str) -> None:
        """A YAML scalar that cannot be built is unparsed, not an exception."""
        assert isinstance(parse_value(text), Issue)


class TestOverridesLayer:
    def test_values_and_positions(self) -> None:
        """Each override sets its dotted key, located at its own --set text."""
        layer = layer_of(["parallel.tensor_parallel_size=8", "parallel.data_parallel_backend=ray",
                          'cluster.device="cpu"'])
        assert (layer.name, layer.resets) == ("--set", ())
        assert layer.data == {"parallel": {"tensor_parallel_size": 8, "data_parallel_backend": "ray"},
                              "cluster": {"device": "cpu"}}
        assert positions(layer) == {
            "parallel": "--set parallel.tensor_parallel_size=8",
            "parallel.tensor_parallel_size": "--set parallel.tensor_parallel_size=8",
            "parallel.data_parallel_backend": "--set parallel.data_parallel_backend=ray",
            "cluster": '--set cluster.device="cpu"',
            "cluster.device": '--set cluster.device="cpu"',
        }

    def test_quoted_number_stays_a_string(self) -> None:
        """`"8"` is set as the string "8"."""
        assert layer_of(['parallel.tensor_parallel_size="8"']).data == {"parallel": {"tensor_parallel_size": "8"}}

    def test_spaces_around_key_and_value(self) -> None:
        """Whitespace around the key and the value is ignored; the location keeps the text as given."""
        layer = layer_of([" parallel.nnodes = 3 "])
        assert layer.data == {"parallel": {"nnodes": 3}}
        assert positions(layer)["parallel.nnodes"] == "--set  parallel.nnodes = 3 "

    def test_value_may_contain_equals(self) -> None:
        """Only the first `=` separates key and value."""
        assert layer_of(["parallel.master_addr=a=b"]).data == {"parallel": {"master_addr": "a=b"}}

    def test_lists(self) -> None:
        """TOML and YAML flow lists become lists."""
        layer = layer_of(["parallel.numa_bind_nodes=[0, 1]", "parallel.numa_bind_cpus=[0-3, 4-7]"])
        assert layer.data == {"parallel": {"numa_bind_nodes": [0, 1], "numa_bind_cpus": ["0-3", "4-7"]}}

    def test_inline_table_locates_its_keys(self) -> None:
        """An inline table's keys are located at the override that set them."""
        layer = layer_of(["parallel.eplb_config={window_size = 5}", "parallel.eplb_config.step_interval=3"])
        assert layer.data == {"parallel": {"eplb_config": {"window_size": 5, "step_interval": 3}}}
        assert positions(layer) == {
            "parallel": "--set parallel.eplb_config={window_size = 5}",
            "parallel.eplb_config": "--set parallel.eplb_config={window_size = 5}",
            "parallel.eplb_config.window_size": "--set parallel.eplb_config={window_size = 5}",
            "parallel.eplb_config.step_interval": "--set parallel.eplb_config.step_interval=3",
        }

    def test_later_override_wins(self) -> None:
        """A later override of the same key replaces the earlier one and its location."""
        layer = layer_of(["parallel.nnodes=2", "parallel.nnodes=4"])
        assert layer.data == {"parallel": {"nnodes": 4}}
        assert positions(layer)["parallel.nnodes"] == "--set parallel.nnodes=4"

    def test_scalar_replaces_table(self) -> None:
        """A scalar set after a table's keys replaces the table and drops its keys' locations."""
        layer = layer_of(["parallel.x.y=2", "parallel.x=1"])
        assert layer.data == {"parallel": {"x": 1}}
        assert positions(layer) == {"parallel": "--set parallel.x.y=2", "parallel.x": "--set parallel.x=1"}

    def test_table_key_after_scalar_conflicts(self) -> None:
        """Setting a key inside a value an earlier override made a scalar is a conflict."""
        assert issues_of(["parallel.x=1", "parallel.x.y=2"]) == [
            "--set parallel.x.y=2: parallel.x: an earlier --set gave this key a value, so it cannot also be a "
            "table; set the table's keys, not the table [load.set_conflict]"
        ]

    def test_deep_conflict_names_the_scalar(self) -> None:
        """The conflict names the key that holds the scalar, not the one being set."""
        assert issues_of(["a.b=1", "a.b.c.d=2"]) == [
            "--set a.b.c.d=2: a.b: an earlier --set gave this key a value, so it cannot also be a table; "
            "set the table's keys, not the table [load.set_conflict]"
        ]

    def test_conflict_keeps_the_earlier_value(self) -> None:
        """After a conflict the earlier value is still in the layer."""
        layer, issues = overrides_layer(["parallel=1", "parallel.x.y=2"])
        assert layer.data == {"parallel": 1}
        assert [i.key for i in issues] == ["parallel"]


class TestResetOverrides:
    def test_reset(self) -> None:
        """`~key` records a reset located at its --set text."""
        layer = layer_of(["~parallel.enable_expert_parallel"])
        assert (layer.data, layer.where) == ({}, {})
        assert layer.resets == (
            (("parallel", "enable_expert_parallel"), Location.override("~parallel.enable_expert_parallel")),
        )

    def test_reset_after_set_drops_the_value(self) -> None:
        """A reset after a set in the same command line removes that set."""
        layer = layer_of(["parallel.nnodes=2", "~parallel.nnodes"])
        assert layer.data == {"parallel": {}}
        assert positions(layer) == {"parallel": "--set parallel.nnodes=2"}
        assert [format_path(p) for p, _ in layer.resets] == ["parallel.nnodes"]

    def test_set_after_reset_keeps_both(self) -> None:
        """A set after a reset keeps the reset and the new value (the merge applies resets first)."""
        layer = layer_of(["~parallel.nnodes", "parallel.nnodes=2"])
        assert layer.data == {"parallel": {"nnodes": 2}}
        assert positions(layer)["parallel.nnodes"] == "--set parallel.nnodes=2"
        assert [format_path(p) for p, _ in layer.resets] == ["parallel.nnodes"]

    def test_reset_of_a_table_drops_its_keys(self) -> None:
        """Resetting a table removes the keys set inside it earlier."""
        layer = layer_of(["parallel.eplb_config.window_size=5", "~parallel.eplb_config"])
        assert layer.data == {"parallel": {}}
        assert positions(layer) == {"parallel": "--set parallel.eplb_config.window_size=5"}


class TestMalformedOverrides:
    def test_no_equals(self) -> None:
        """A key without `=value` says how to set or reset it."""
        assert issues_of(["parallel.tensor_parallel_size"]) == [
            "--set parallel.tensor_parallel_size: parallel.tensor_parallel_size: missing `=value`; write --set "
            "parallel.tensor_parallel_size=VALUE, or --reset parallel.tensor_parallel_size to reset it to its "
            "default [load.set_syntax]"
        ]

    @pytest.mark.parametrize("text", ["parallel.nnodes=", "parallel.nnodes=   "])
    def test_empty_value(self, text: str) -> None:
        """An empty or blank value is refused with the reset spelling as the alternative."""
        assert issues_of([text]) == [
            f"--set {text}: parallel.nnodes: empty value; write a value, or --reset parallel.nnodes to reset it "
            "to its default [load.set_value]"
        ]

    @pytest.mark.parametrize(("text", "key"), [
        ("bad key=1", "bad key"), ("=1", ""), ("parallel..x=1", "parallel..x"), (".x=1", ".x"),
        ("parallel.é=1", "parallel.é"),
    ])
    def test_bad_key(self, text: str, key: str) -> None:
        """A key that is not dotted is refused with an example."""
        assert issues_of([text]) == [
            f"--set {text}: <document>: `{key}` is not a dotted key; write --set section.key=value, e.g. "
            "parallel.tensor_parallel_size=8 [load.set_key]"
        ]

    @pytest.mark.parametrize(("text", "shown"), [("~bad key", "--reset bad key"), ("~", "--reset")])
    def test_bad_reset_key(self, text: str, shown: str) -> None:
        """A reset of a key that is not dotted: shown as --reset (the spelling zsh leaves alone), with an example."""
        assert issues_of([text]) == [
            f"{shown}: <document>: `{text[1:]}` is not a dotted key; write --reset section.key, e.g. "
            "parallel.tensor_parallel_size [load.set_key]"
        ]

    @pytest.mark.parametrize("text", ["~parallel.nnodes=1", "~parallel.nnodes="])
    def test_reset_with_value(self, text: str) -> None:
        """A reset takes no value, not even an empty one."""
        assert issues_of([text]) == [
            f"--reset {text[1:]}: parallel.nnodes: a reset takes no value; write --reset parallel.nnodes "
            "[load.set_reset]"
        ]

    def test_value_with_newline(self) -> None:
        """A value spanning lines is refused, shown escaped: the issue stays one line."""
        assert issues_of(["parallel.master_addr=a\nb"]) == [
            '--set parallel.master_addr=a\\nb: parallel.master_addr: the value does not parse as TOML or YAML '
            '(got "a\\nb"); quote strings, write lists as [a, b] [load.set_value]'
        ]

    @pytest.mark.parametrize(("raw", "got"), [("[", '"["'), ("{a = ", '"{a = "'), ('"open', '"\\"open"'),
                                              ("@x", '"@x"')])
    def test_unparseable(self, raw: str, got: str) -> None:
        """A value that is neither TOML nor YAML is refused with what was given."""
        assert issues_of([f"parallel.x={raw}"]) == [
            f"--set parallel.x={raw}: parallel.x: the value does not parse as TOML or YAML (got {got}); "
            "quote strings, write lists as [a, b] [load.set_value]"
        ]

    def test_every_problem_is_reported(self) -> None:
        """All malformed overrides are reported, in order, and good ones still apply."""
        layer, issues = overrides_layer(["parallel.nnodes", "parallel.node_rank=1", "x y=1"])
        assert [i.rule for i in issues] == ["load.set_syntax", "load.set_key"]
        assert layer.data == {"parallel": {"node_rank": 1}}

    def test_unbuildable_value(self) -> None:
        """A value YAML cannot build is an unparseable value, not a crash."""
        assert issues_of(["parallel.x=!!int xyz"]) == [
            '--set parallel.x=!!int xyz: parallel.x: the value does not parse as TOML or YAML (got "!!int xyz"); '
            "quote strings, write lists as [a, b] [load.set_value]"
        ]
