"""The shipped examples: every file compiles, TOML/YAML twins agree, and key values are exactly what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pconf.compile import Compiled, compile_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SUFFIXES = (".toml", ".yaml", ".yml")

FILES = sorted(p.relative_to(ROOT).as_posix() for p in EXAMPLES.rglob("*") if p.suffix in SUFFIXES)
TWINS = sorted(
    (toml, other)
    for toml in FILES if toml.endswith(".toml")
    for other in (toml[:-5] + ".yaml", toml[:-5] + ".yml") if other in FILES
)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def target_of(path: str) -> str | None:
    """The deployment target an example is compiled for: examples/deploy/ holds files meant for a cluster manager,
    which supplies the head's address (compiled plainly, their multi-node rendezvous is refused as loopback)."""
    return "lws" if path.startswith("examples/deploy/") else None


def compiled(path: str) -> Compiled:
    """Compile one example, named relative to the repository root (as the README runs them)."""
    return compile_files([path], target=target_of(path))


def without_sources(path: str) -> dict[str, Any]:
    """An example's compiled document without its ``sources`` table."""
    doc = compiled(path).to_dict()
    del doc["sources"]
    return doc


class TestDiscovery:
    def test_examples_found(self) -> None:
        """The recursive search finds the known examples, layered ones included, and their twins."""
        assert {"examples/cluster.toml", "examples/tp8.toml", "examples/tp8.yaml", "examples/layered/prod.toml",
                "examples/layered/base.yaml"} <= set(FILES)
        assert ("examples/layered/dev.toml", "examples/layered/dev.yaml") in TWINS
        assert len(TWINS) >= 6


class TestEveryExampleCompiles:
    @pytest.mark.parametrize("path", FILES)
    def test_compiles(self, path: str) -> None:
        """Each example compiles without warnings and resolves the executor backend."""
        result = compiled(path)
        assert result.warnings == ()
        assert result.to_dict()["parallel"]["distributed_executor_backend"] in ("uni", "mp", "ray", "external_launcher")


class TestTwinsAgree:
    @pytest.mark.parametrize(("toml", "yaml"), TWINS, ids=[t for t, _ in TWINS])
    def test_same_output(self, toml: str, yaml: str) -> None:
        """A TOML example and its YAML twin compile to the same document apart from sources."""
        assert without_sources(toml) == without_sources(yaml)

    @pytest.mark.parametrize(("toml", "yaml"), TWINS, ids=[t for t, _ in TWINS])
    def test_same_keys_written(self, toml: str, yaml: str) -> None:
        """Twins write the same keys: the same sources are defaults, the rest come from each twin's own files."""
        toml_sources = compiled(toml).to_dict()["sources"]
        yaml_sources = compiled(yaml).to_dict()["sources"]
        assert toml_sources.keys() == yaml_sources.keys()
        for key, value in toml_sources.items():
            other = yaml_sources[key]
            if key.startswith("model.") and value == other and "config.json" in value:
                continue  # a fact both twins read from the same model's config.json
            if value.startswith("examples/"):
                assert other.startswith("examples/"), key
                assert other.split(":")[0].endswith((".yaml", ".yml")), key
            else:
                assert value.split(" (reset at ")[0] == other.split(" (reset at ")[0], key


class TestClusterExample:
    def test_parallel_values(self) -> None:
        """examples/cluster.toml resolves to TP 4 × DP 2 with EP, EPLB and 16 redundant experts on mp."""
        p = compiled("examples/cluster.toml").to_dict()["parallel"]
        assert {k: p[k] for k in (
            "tensor_parallel_size", "data_parallel_size", "world_size", "is_moe_model", "enable_expert_parallel",
            "enable_eplb", "distributed_executor_backend", "disable_nccl_for_dp_synchronization",
            "disable_custom_all_reduce", "all2all_backend", "data_parallel_index", "data_parallel_master_port")} == {
            "tensor_parallel_size": 4,
            "data_parallel_size": 2,
            "world_size": 4,
            "is_moe_model": True,
            "enable_expert_parallel": True,
            "enable_eplb": True,
            "distributed_executor_backend": "mp",
            "disable_nccl_for_dp_synchronization": True,
            "disable_custom_all_reduce": False,
            "all2all_backend": "allgather_reducescatter",
            "data_parallel_index": 0,
            "data_parallel_master_port": 29500,
        }
        assert p["eplb_config"] == {
            "window_size": 1000, "step_interval": 3000, "num_redundant_experts": 16, "log_balancedness": False,
            "log_balancedness_interval": 1, "use_async": True, "policy": "default", "communicator": "torch_gloo"}

    def test_derived_values(self) -> None:
        """examples/cluster.toml derives 8 ranks across DP, sequence-parallel MoE and all2all."""
        doc = compiled("examples/cluster.toml").to_dict()
        assert doc["scheduler"] == {"async_scheduling": True}
        assert doc["derived"] == {
            "world_size_across_dp": 8,
            "local_engines_only": False,
            "use_sequence_parallel_moe": True,
            "use_batched_dp_moe": False,
            "use_all2all": True,
            "nnodes_within_dp": 1,
            "node_rank_within_dp": 0,
            "local_world_size": 4,
            "use_ubatching": False,
            "num_ubatches": 0,
            "use_ray": False,
            "dp_master_port_picked_at_runtime": False,
            "nodes": 1,
        }

    def test_sources(self) -> None:
        """examples/cluster.toml's sources name each written key's line and each derivation."""
        sources = compiled("examples/cluster.toml").to_dict()["sources"]
        assert {k: sources[k] for k in (
            "parallel.tensor_parallel_size", "parallel.data_parallel_size", "parallel.enable_eplb",
            "parallel.eplb_config.num_redundant_experts", "parallel.eplb_config.communicator",
            "parallel.distributed_executor_backend", "parallel.disable_nccl_for_dp_synchronization",
            "scheduler.async_scheduling", "cluster.devices_per_node", "parallel.pipeline_parallel_size",
            "parallel.world_size")} == {
            "parallel.tensor_parallel_size": "examples/cluster.toml:7:1",
            "parallel.data_parallel_size": "examples/cluster.toml:8:1",
            "parallel.enable_eplb": "examples/cluster.toml:11:1",
            "parallel.eplb_config.num_redundant_experts": "examples/cluster.toml:14:1",
            "parallel.eplb_config.communicator": "derived: EPLB on, no elastic EP, no NIXL",
            "parallel.distributed_executor_backend": "derived: more than one worker, no Ray placement group",
            "parallel.disable_nccl_for_dp_synchronization": "derived: async scheduling is on",
            "scheduler.async_scheduling": "derived: auto: the mp executor supports it",
            "cluster.devices_per_node": "examples/cluster.toml:23:1",
            "parallel.pipeline_parallel_size": "default",
            "parallel.world_size": "derived",
        }


class TestOtherExamples:
    def test_dp_ep_2node(self) -> None:
        """The 2-node wide-EP example: 16 DP ranks, one per GPU, mp, custom all-reduce off, batched DP MoE."""
        doc = compiled("examples/dp-ep-2node.toml").to_dict()
        p, d = doc["parallel"], doc["derived"]
        assert (p["world_size"], d["world_size_across_dp"], p["distributed_executor_backend"]) == (1, 16, "mp")
        assert (p["disable_custom_all_reduce"], p["eplb_config"]["communicator"]) == (True, "torch_gloo")
        assert (d["nnodes_within_dp"], d["node_rank_within_dp"], d["local_world_size"]) == (1, 0, 1)
        assert (d["use_batched_dp_moe"], d["use_sequence_parallel_moe"], d["use_all2all"]) == (True, False, True)
        assert doc["sources"]["parallel.disable_custom_all_reduce"] == "derived: multi-node (nnodes > 1)"
        assert doc["sources"]["parallel.distributed_executor_backend"] == "derived: CUDA, multi-node (nnodes > 1)"

    def test_dp_ep_2node_node1(self) -> None:
        """Node 1 of the 2-node example (--set parallel.node_rank=1) is node 0 within its DP group."""
        doc = compile_files(["examples/dp-ep-2node.toml"], overrides=["parallel.node_rank=1"]).to_dict()
        assert doc["parallel"]["node_rank"] == 1
        assert (doc["derived"]["nnodes_within_dp"], doc["derived"]["node_rank_within_dp"]) == (1, 0)

    def test_pcp_dcp(self) -> None:
        """The PCP/DCP example uses 8 GPUs, a2a DCP and keeps its interleave size of 16."""
        p = compiled("examples/pcp-dcp.toml").to_dict()["parallel"]
        assert (p["world_size"], p["decode_context_parallel_size"], p["dcp_comm_backend"]) == (8, 2, "a2a")
        assert (p["cp_kv_cache_interleave_size"], p["distributed_executor_backend"]) == (16, "mp")

    def test_tp8(self) -> None:
        """The TP=8 dense example uses all 8 GPUs on mp without all2all."""
        doc = compiled("examples/tp8.toml").to_dict()
        assert (doc["parallel"]["world_size"], doc["parallel"]["is_moe_model"]) == (8, False)
        assert (doc["parallel"]["distributed_executor_backend"], doc["derived"]["use_all2all"]) == ("mp", False)

    def test_layered_prod(self) -> None:
        """prod.toml builds on base.toml: TP 4 from the base, DP 2 and EPLB from the overlay."""
        doc = compiled("examples/layered/prod.toml").to_dict()
        p = doc["parallel"]
        assert (p["tensor_parallel_size"], p["data_parallel_size"], p["enable_expert_parallel"]) == (4, 2, True)
        assert (p["distributed_timeout_seconds"], p["eplb_config"]["num_redundant_experts"]) == (1800, 8)
        assert doc["sources"]["parallel.tensor_parallel_size"] == "examples/layered/base.toml:3:1"
        assert doc["sources"]["parallel.data_parallel_size"] == "examples/layered/prod.toml:6:1"

    def test_layered_dev(self) -> None:
        """dev.toml overrides TP to 2 and resets the base's expert parallelism to its default."""
        doc = compiled("examples/layered/dev.toml").to_dict()
        assert (doc["parallel"]["tensor_parallel_size"], doc["parallel"]["enable_expert_parallel"]) == (2, False)
        assert doc["sources"]["parallel.enable_expert_parallel"] == "default (reset at examples/layered/dev.toml:4:1)"
