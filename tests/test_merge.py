"""Merging layers: precedence, tables vs scalars and lists, resets, per-key chains, and a reference property."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pconf
from pconf.errors import DEFAULT, MISSING, Location
from pconf.keypath import KeyPath, format_path
from pconf.load import Layer, load_layers
from pconf.merge import Merged, Setting, merge
from tests.helpers import write
from tests.profiles import examples

pytestmark = pytest.mark.usefixtures("in_tmp")


def chain(merged: Merged, key: str) -> list[tuple[str, object]]:
    path = tuple(key.split("."))
    return [(str(s.where), "<reset>" if s.is_reset else s.value) for s in merged.chains[path]]


def explain_chain(compiled: pconf.Compiled, key: str) -> list[tuple[str, object]]:
    return [(str(s.where), "<reset>" if s.is_reset else s.value) for s in compiled.explain(key).chain]


class TestPrecedence:
    def _files(self) -> None:
        write("base1.toml", '[parallel]\nmaster_port = 1\nmaster_addr = "base1"\ndata_parallel_rpc_port = 11\n')
        write("base2.toml", '[parallel]\nmaster_port = 2\nmaster_addr = "base2"\n')
        write("a.toml", 'extends = ["base1.toml", "base2.toml"]\n[parallel]\nmaster_port = 3\n'
                        'worker_extension_cls = "a.Ext"\n')
        write("b.toml", '[parallel]\nmaster_port = 4\nworker_extension_cls = "b.Ext"\n')

    def test_set_beats_everything(self) -> None:
        """--set wins over later files, the file, and its extends files, each logged in order."""
        self._files()
        compiled = pconf.compile_files(["a.toml", "b.toml"], overrides=["parallel.master_port=5"])
        assert compiled.to_dict()["parallel"]["master_port"] == 5
        assert compiled.source(("parallel", "master_port")) == "--set parallel.master_port=5"
        assert explain_chain(compiled, "parallel.master_port") == [
            ("base1.toml:2:1", 1), ("base2.toml:2:1", 2), ("a.toml:3:1", 3), ("b.toml:2:1", 4),
            ("--set parallel.master_port=5", 5),
        ]

    def test_later_file_beats_earlier_file(self) -> None:
        """A later command-line file wins over an earlier one."""
        self._files()
        compiled = pconf.compile_files(["a.toml", "b.toml"])
        assert compiled.to_dict()["parallel"]["worker_extension_cls"] == "b.Ext"
        assert compiled.source(("parallel", "worker_extension_cls")) == "b.toml:3:1"

    def test_file_beats_its_extends(self) -> None:
        """A file wins over the files it extends."""
        self._files()
        compiled = pconf.compile_files(["a.toml"])
        assert compiled.to_dict()["parallel"]["master_port"] == 3
        assert compiled.source(("parallel", "master_port")) == "a.toml:3:1"

    def test_later_extends_beats_earlier(self) -> None:
        """Extends files apply in order, so the later one wins."""
        self._files()
        compiled = pconf.compile_files(["a.toml"])
        assert compiled.to_dict()["parallel"]["master_addr"] == "base2"
        assert compiled.source(("parallel", "master_addr")) == "base2.toml:3:1"

    def test_extends_beats_defaults(self) -> None:
        """A key only an extends file sets comes from it; untouched keys are defaults."""
        self._files()
        compiled = pconf.compile_files(["a.toml"])
        parallel = compiled.to_dict()["parallel"]
        assert (parallel["data_parallel_rpc_port"], parallel["data_parallel_master_port"]) == (11, 29500)
        assert compiled.source(("parallel", "data_parallel_rpc_port")) == "base1.toml:4:1"
        assert compiled.source(("parallel", "data_parallel_master_port")) == "default"

    def test_files_own_extends_come_before_it_not_before_earlier_files(self) -> None:
        """A later file's extends chain applies after the earlier files."""
        write("x.toml", "[parallel]\nmaster_port = 10\n")
        write("base.toml", "[parallel]\nmaster_port = 20\n")
        write("y.toml", 'extends = "base.toml"\n')
        compiled = pconf.compile_files(["x.toml", "y.toml"])
        assert compiled.to_dict()["parallel"]["master_port"] == 20
        assert compiled.source(("parallel", "master_port")) == "base.toml:2:1"


class TestTablesMerge:
    def test_keys_merge_across_layers(self) -> None:
        """Two layers writing different keys of one table both count."""
        write("a.toml", "[parallel.eplb_config]\nwindow_size = 5\n")
        write("b.yaml", "parallel:\n  eplb_config:\n    step_interval: 7\n")
        compiled = pconf.compile_files(["a.toml", "b.yaml"])
        eplb = compiled.to_dict()["parallel"]["eplb_config"]
        assert (eplb["window_size"], eplb["step_interval"]) == (5, 7)
        assert compiled.source(("parallel", "eplb_config", "window_size")) == "a.toml:2:1"
        assert compiled.source(("parallel", "eplb_config", "step_interval")) == "b.yaml:3:5"

    def test_table_entries_are_logged(self) -> None:
        """Each layer that writes a table logs an empty-table setting for it."""
        write("a.toml", "[parallel]\nnnodes = 1\n")
        write("b.toml", "[parallel]\nnode_rank = 0\n")
        merged = merge(load_layers(["a.toml", "b.toml"]))
        assert chain(merged, "parallel") == [("a.toml:1:2", {}), ("b.toml:1:2", {})]

    def test_open_table_merges_key_by_key(self) -> None:
        """A free-form table (ray_runtime_env) also merges key by key."""
        write("a.toml", '[parallel.ray_runtime_env]\npip = ["a"]\n[parallel.ray_runtime_env.env_vars]\nX = "1"\n')
        write("b.toml", '[parallel.ray_runtime_env.env_vars]\nY = "2"\n')
        compiled = pconf.compile_files(["a.toml", "b.toml"])
        assert compiled.to_dict()["parallel"]["ray_runtime_env"] == {"pip": ["a"], "env_vars": {"X": "1", "Y": "2"}}


class TestReplace:
    def test_scalar_replaces_scalar(self) -> None:
        """A later scalar replaces an earlier one."""
        write("a.toml", "[parallel]\ntensor_parallel_size = 4\n")
        write("b.toml", "[parallel]\ntensor_parallel_size = 2\n")
        assert pconf.compile_files(["a.toml", "b.toml"]).to_dict()["parallel"]["tensor_parallel_size"] == 2

    def test_list_replaces_list_whole(self) -> None:
        """A shorter list replaces a longer one whole, never element by element."""
        write("a.toml", "[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 1, 2, 3]\n")
        write("b.toml", "[parallel]\nnuma_bind_nodes = [5]\n")
        compiled = pconf.compile_files(["a.toml", "b.toml"])
        assert compiled.to_dict()["parallel"]["numa_bind_nodes"] == [5]
        assert compiled.source(("parallel", "numa_bind_nodes")) == "b.toml:2:1"

    def test_list_of_tables_is_not_merged(self) -> None:
        """A list of tables replaces the earlier list; its tables are not merged with the old ones."""
        write("a.toml", "[[x]]\na = 1\n[[x]]\nb = 2\n")
        write("b.toml", "[[x]]\nc = 3\n")
        assert merge(load_layers(["a.toml", "b.toml"])).tree == {"x": [{"c": 3}]}

    def test_table_replaced_by_scalar_drops_its_keys(self) -> None:
        """A scalar over a table removes the table's keys and their provenance."""
        write("a.toml", "[x.y]\nz = 1\n")
        write("b.toml", "x = 3\n")
        merged = merge(load_layers(["a.toml", "b.toml"]))
        assert merged.tree == {"x": 3}
        assert {format_path(p) for p in merged.chains} == {"x"}
        assert chain(merged, "x") == [("a.toml:1:2", {}), ("b.toml:1:1", 3)]
        assert str(merged.where(("x", "y", "z"))) == "b.toml:1:1"

    def test_table_rewritten_after_scalar_starts_fresh(self) -> None:
        """A table written over a scalar that replaced a table carries only the new keys."""
        write("a.toml", "[x]\nold = 1\n")
        write("b.toml", "x = 3\n")
        write("c.toml", "[x]\nnew = 2\n")
        merged = merge(load_layers(["a.toml", "b.toml", "c.toml"]))
        assert merged.tree == {"x": {"new": 2}}
        assert {format_path(p) for p in merged.chains} == {"x", "x.new"}

    def test_scalar_replaced_by_table(self) -> None:
        """A table may replace a scalar."""
        write("a.toml", "x = 3\n")
        write("b.toml", "[x]\ny = 1\n")
        merged = merge(load_layers(["a.toml", "b.toml"]))
        assert merged.tree == {"x": {"y": 1}}
        assert chain(merged, "x") == [("a.toml:1:1", 3), ("b.toml:1:2", {})]

    def test_layers_are_not_modified(self) -> None:
        """Merging copies tables, so the layers' data stay as loaded."""
        write("a.toml", "[parallel]\nnnodes = 1\n")
        write("b.toml", "[parallel]\nnode_rank = 0\n")
        layers = load_layers(["a.toml", "b.toml"])
        before = copy.deepcopy([layer.data for layer in layers])
        merged = merge(layers)
        merged.tree["parallel"]["extra"] = 1
        assert [layer.data for layer in layers] == before


class TestResets:
    def test_reset_falls_back_to_default(self) -> None:
        """A reset key takes its default and says where it was reset."""
        write("base.toml", "[parallel]\nenable_expert_parallel = true\nis_moe_model = true\n")
        write("dev.toml", '# dev\nextends = ["base.toml"]\nreset = ["parallel.enable_expert_parallel"]\n')
        compiled = pconf.compile_files(["dev.toml"])
        assert compiled.to_dict()["parallel"]["enable_expert_parallel"] is False
        assert compiled.source(("parallel", "enable_expert_parallel")) == "default (reset at dev.toml:3:1)"
        assert compiled.to_dict()["sources"]["parallel.enable_expert_parallel"] == "default (reset at dev.toml:3:1)"
        assert explain_chain(compiled, "parallel.enable_expert_parallel") == [
            ("base.toml:2:1", True), ("dev.toml:3:1", "<reset>")
        ]

    def test_reset_with_set_override(self) -> None:
        """`--set ~key` resets it too, located at the override."""
        write("a.toml", "[parallel]\ntensor_parallel_size = 2\n")
        compiled = pconf.compile_files(["a.toml"], overrides=["~parallel.tensor_parallel_size"])
        assert compiled.to_dict()["parallel"]["tensor_parallel_size"] == 1
        assert compiled.source(("parallel", "tensor_parallel_size")) == (
            "default (reset at --reset parallel.tensor_parallel_size)"
        )

    def test_later_layer_sets_it_again(self) -> None:
        """After a reset a later layer may set the key again, and wins."""
        write("base.toml", "[parallel]\ntensor_parallel_size = 4\n")
        write("dev.toml", 'extends = "base.toml"\nreset = "parallel.tensor_parallel_size"\n')
        compiled = pconf.compile_files(["dev.toml"], overrides=["parallel.tensor_parallel_size=2"])
        assert compiled.to_dict()["parallel"]["tensor_parallel_size"] == 2
        assert compiled.source(("parallel", "tensor_parallel_size")) == "--set parallel.tensor_parallel_size=2"
        assert explain_chain(compiled, "parallel.tensor_parallel_size") == [
            ("base.toml:2:1", 4), ("dev.toml:2:1", "<reset>"), ("--set parallel.tensor_parallel_size=2", 2)
        ]

    def test_own_values_apply_after_own_reset(self) -> None:
        """A layer's reset happens before its own values, so it can reset and set in one file."""
        write("base.toml", "[parallel.eplb_config]\nwindow_size = 5\nstep_interval = 7\n")
        write("dev.toml", 'extends = "base.toml"\nreset = "parallel.eplb_config"\n[parallel.eplb_config]\n'
                          "window_size = 9\n")
        compiled = pconf.compile_files(["dev.toml"])
        eplb = compiled.to_dict()["parallel"]["eplb_config"]
        assert (eplb["window_size"], eplb["step_interval"]) == (9, 3000)
        assert compiled.source(("parallel", "eplb_config", "window_size")) == "dev.toml:4:1"
        assert compiled.source(("parallel", "eplb_config", "step_interval")) == "default (reset at dev.toml:2:1)"

    def test_reset_of_a_table_resets_every_key_set_in_it(self) -> None:
        """Resetting a table resets each key earlier layers set inside it; untouched keys stay plain defaults."""
        write("base.toml", "[parallel]\ntensor_parallel_size = 4\nnnodes = 1\n")
        write("dev.toml", 'extends = "base.toml"\nreset = ["parallel"]\n')
        compiled = pconf.compile_files(["dev.toml"])
        sources = compiled.to_dict()["sources"]
        assert (sources["parallel.tensor_parallel_size"], sources["parallel.nnodes"]) == (
            "default (reset at dev.toml:2:1)", "default (reset at dev.toml:2:1)"
        )
        assert sources["parallel.node_rank"] == "default"
        assert compiled.to_dict()["parallel"]["tensor_parallel_size"] == 1

    def test_reset_of_an_unset_key(self) -> None:
        """Resetting a key nobody set still records the reset."""
        write("a.toml", 'reset = "parallel.nnodes"\n')
        compiled = pconf.compile_files(["a.toml"])
        assert compiled.source(("parallel", "nnodes")) == "default (reset at a.toml:1:1)"
        assert chain(compiled.merged, "parallel.nnodes") == [("a.toml:1:1", "<reset>")]

    def test_reset_where_is_default(self) -> None:
        """`Merged.where` of a reset key is the default location."""
        write("a.toml", "[x]\ny = 1\n")
        write("r.toml", 'reset = "x.y"\n')
        merged = merge(load_layers(["a.toml", "r.toml"]))
        assert merged.tree == {"x": {}}
        assert merged.where(("x", "y")) == DEFAULT


class TestChains:
    def test_chain_lists_every_setting(self) -> None:
        """Each key's chain lists every layer that set it, last one winning."""
        write("a.toml", "[x]\ny = 1\n")
        write("b.yaml", "x:\n  y: 2\n  z: 3\n")
        merged = merge(load_layers(["a.toml", "b.yaml"], ["x.y=4"]))
        assert merged.tree == {"x": {"y": 4, "z": 3}}
        assert chain(merged, "x.y") == [("a.toml:2:1", 1), ("b.yaml:2:3", 2), ("--set x.y=4", 4)]
        assert chain(merged, "x.z") == [("b.yaml:3:3", 3)]
        assert chain(merged, "x") == [("a.toml:1:2", {}), ("b.yaml:1:1", {}), ("--set x.y=4", {})]

    def test_list_elements_have_chains(self) -> None:
        """List elements are logged under their index, at their own YAML position or at the list's key in TOML."""
        write("a.yaml", "x:\n  - 0\n  - -1\n")
        write("b.toml", "y = [4, 5]\n")
        merged = merge(load_layers(["a.yaml", "b.toml"]))
        assert (chain(merged, "x"), merged.chains[("x", 1)], merged.chains[("y", 1)]) == (
            [("a.yaml:1:1", [0, -1])], (Setting(Location.file("a.yaml", 3, 5), -1),),
            (Setting(Location.file("b.toml", 1, 1), 5),),
        )

    def test_replaced_list_drops_element_chains(self) -> None:
        """A shorter list replacing a longer one leaves no chains for the missing elements."""
        write("a.toml", "x = [1, 2, 3]\n")
        write("b.toml", "x = [9]\n")
        merged = merge(load_layers(["a.toml", "b.toml"]))
        assert sorted(format_path(p) for p in merged.chains) == ["x", "x[0]"]
        assert chain(merged, "x") == [("a.toml:1:1", [1, 2, 3]), ("b.toml:1:1", [9])]

    def test_element_error_located_at_the_element(self) -> None:
        """A schema error about one list element points at that element's YAML position."""
        write("a.yaml", "parallel:\n  numa_bind: true\n  numa_bind_nodes:\n    - 0\n    - -1\n")
        with pytest.raises(pconf.SchemaError) as info:
            pconf.compile_files(["a.yaml"])
        assert str(info.value) == (
            "a.yaml:5:7: parallel.numa_bind_nodes[1]: NUMA nodes must be non-negative (got -1); use the node "
            "numbers numactl --hardware shows [numa.nodes_negative]"
        )

    def test_setting_is_reset(self) -> None:
        """A Setting with the MISSING value is a reset."""
        assert Setting(DEFAULT, MISSING).is_reset
        assert not Setting(DEFAULT, None).is_reset

    def test_where_walks_up_to_the_nearest_set_table(self) -> None:
        """A key no layer set is located at its nearest set ancestor, else the default."""
        write("a.toml", "[x]\ny = 1\n")
        merged = merge(load_layers(["a.toml"]))
        assert (str(merged.where(("x", "q"))), merged.where(("nope",)), merged.where(())) == (
            "a.toml:1:2", DEFAULT, DEFAULT
        )

    def test_inline_value_keys_located_at_the_value(self) -> None:
        """Keys of a table given as one value are located at that value's key when they have no own position."""
        layer = Layer("L", {"x": {"y": {"z": 1}}}, {("x",): Location.file("L", 3, 1)})
        merged = merge([layer])
        assert chain(merged, "x.y.z") == [("L:3:1", 1)]

    def test_layer_without_positions_is_named(self) -> None:
        """A layer without positions (a dict) locates its keys by its name."""
        merged = merge([Layer("<dict>", {"parallel": {"nnodes": 2}}, {})])
        assert chain(merged, "parallel.nnodes") == [("<dict>", 2)]


class TestIdentity:
    def test_empty_layer_changes_nothing(self) -> None:
        """An empty layer before or after leaves the tree and the chains as they were."""
        write("a.toml", "[parallel]\nnnodes = 2\n[cluster]\ndevice = \"cpu\"\n")
        write("empty.toml", "")
        alone = merge(load_layers(["a.toml"]))
        assert merge(load_layers(["empty.toml", "a.toml", "empty.toml"])) == alone

    def test_no_layers(self) -> None:
        """Merging nothing gives an empty tree without chains."""
        assert merge([]) == Merged({}, {})

    def test_empty_file_compiles_to_defaults(self) -> None:
        """An empty file compiles to every default."""
        write("empty.yaml", "")
        sources = pconf.compile_files(["empty.yaml"]).to_dict()["sources"]
        assert {v for k, v in sources.items() if not k.startswith("derived.")} == {
            "default", "derived", "derived: a single worker (world_size_across_dp == 1)",
            "derived: async scheduling is on", "derived: auto: the uni executor supports it",
            "derived: the cuda platform has a custom all-reduce kernel",
        }


# -- property: pconf's merge equals a plain reference merge -------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
LEAVES = st.one_of(st.integers(-3, 3), st.lists(st.integers(0, 3), max_size=3), st.booleans(), st.none())
TREES: st.SearchStrategy[Any] = st.recursive(
    LEAVES, lambda children: st.dictionaries(KEYS, children, max_size=3), max_leaves=8
)
DOCS = st.dictionaries(KEYS, TREES, max_size=3)


RESET = "<reset>"
RESETS = st.lists(st.lists(KEYS, min_size=1, max_size=3).map(tuple), max_size=2)


def reference_merge(docs: list[dict[str, Any]], resets: list[list[KeyPath]] | None = None
                    ) -> tuple[dict[str, Any], dict[KeyPath, list[tuple[str, Any]]]]:
    """Tables merge key by key, everything else replaces; chains log (layer, value or {}) per path.

    A list logs its elements under their indices too; whatever replaces a table or a list drops the chains
    below it. A layer's resets come first: the key leaves the tree and every chain at or below it logs a reset.
    """
    tree: dict[str, Any] = {}
    chains: dict[KeyPath, list[tuple[str, Any]]] = {}

    def reset(path: KeyPath, name: str) -> None:
        node: Any = tree
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
        for p in [p for p in chains if p[: len(path)] == path]:
            chains[p].append((name, RESET))
        chains.setdefault(path, [(name, RESET)])

    def put(dst: dict[str, Any], src: dict[str, Any], path: KeyPath, name: str) -> None:
        for key, value in src.items():
            here = (*path, key)
            old = dst.get(key)
            merging_tables = isinstance(old, dict) and isinstance(value, dict)
            if isinstance(old, dict | list) and not merging_tables:
                for stale in [p for p in chains if len(p) > len(here) and p[: len(here)] == here]:
                    del chains[stale]
            if isinstance(value, dict):
                chains.setdefault(here, []).append((name, {}))
                if not merging_tables:
                    dst[key] = {}
                put(dst[key], value, here, name)
                continue
            chains.setdefault(here, []).append((name, value))
            if isinstance(value, list):
                for i, item in enumerate(value):
                    chains.setdefault((*here, i), []).append((name, item))
            dst[key] = copy.deepcopy(value)

    for i, doc in enumerate(docs):
        for path in (resets or [[]] * len(docs))[i]:
            reset(path, f"L{i}")
        put(tree, doc, (), f"L{i}")
    return tree, chains


class TestMergeProperty:
    @settings(max_examples=examples(150), deadline=None)
    @given(st.lists(DOCS, max_size=4))
    def test_equals_reference_merge(self, docs: list[dict[str, Any]]) -> None:
        """Merging random nested layers gives the reference tree, chains and sources, and leaves the layers intact."""
        layers = [Layer(f"L{i}", doc, {}) for i, doc in enumerate(docs)]
        before = copy.deepcopy(docs)
        merged = merge(layers)
        tree, chains = reference_merge(before)
        assert merged.tree == tree
        assert {p: [(s.where.source, s.value) for s in c] for p, c in merged.chains.items()} == chains
        for path, settings_ in chains.items():
            assert merged.where(path) == Location.file(settings_[-1][0])
        assert docs == before

    @settings(max_examples=examples(150), deadline=None)
    @given(st.lists(st.tuples(DOCS, RESETS), max_size=4))
    def test_resets_equal_reference(self, layers_: list[tuple[dict[str, Any], list[KeyPath]]]) -> None:
        """With random resets, the tree and chains match the reference and reset keys are located at the default."""
        layers = [Layer(f"L{i}", doc, {}, tuple((p, Location.file(f"L{i}")) for p in resets))
                  for i, (doc, resets) in enumerate(layers_)]
        merged = merge(layers)
        tree, chains = reference_merge([copy.deepcopy(d) for d, _ in layers_], [r for _, r in layers_])
        assert merged.tree == tree
        assert {p: [(s.where.source, RESET if s.is_reset else s.value) for s in c]
                for p, c in merged.chains.items()} == chains
        for path, settings_ in chains.items():
            assert merged.where(path) == (DEFAULT if settings_[-1][1] == RESET else Location.file(settings_[-1][0]))
