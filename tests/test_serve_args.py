"""``vllm serve`` command lines: parsed back with vLLM 0.23.0's own flags, they reproduce the compiled document.

The parser is built from ``tests/data/vllm-0.23.0-serve-parallel-flags.json`` (facts from vLLM's source), so a
flag pconf invents fails to parse. Each parsed command is then read the way vLLM's ``EngineArgs`` reads it
(spec §10.2: DP-local size, DP rank, LB modes, inferred from ``--nnodes``/``--node-rank`` where given), turned
back into a document and compiled: its graph-hash factors must be the original's, and the DP ranks each node
starts must be the ones the plan puts there.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

import pconf
from pconf.compile import Compiled
from pconf.emit.vllm import FLAG_FIELDS, render, serve_commands, setting_flags
from pconf.plan import Plan
from pconf.schema import ParallelConfig

ROOT = Path(__file__).resolve().parent.parent
FLAGS_FILE = ROOT / "tests" / "data" / "vllm-0.23.0-serve-parallel-flags.json"
FLAGS: list[dict[str, Any]] = json.loads(FLAGS_FILE.read_text(encoding="utf-8"))["flags"]

#: What each vLLM flag carries (by its argparse dest), from vLLM's EngineArgs field types.
BOOL_DESTS = frozenset({
    "data_parallel_hybrid_lb", "data_parallel_external_lb", "data_parallel_multi_port_external_lb",
    "enable_expert_parallel", "enable_ep_weight_filter", "enable_dbo", "enable_elastic_ep",
    "disable_nccl_for_dp_synchronization", "enable_eplb", "ray_workers_use_nsight", "disable_custom_all_reduce",
    "numa_bind", "async_scheduling",
})
INT_DESTS = frozenset({
    "pipeline_parallel_size", "master_port", "nnodes", "node_rank", "distributed_timeout_seconds",
    "cpu_distributed_timeout_seconds", "tensor_parallel_size", "decode_context_parallel_size",
    "dcp_kv_cache_interleave_size", "cp_kv_cache_interleave_size", "prefill_context_parallel_size",
    "data_parallel_size", "data_parallel_rank", "data_parallel_start_rank", "data_parallel_size_local",
    "data_parallel_rpc_port", "ubatch_size", "dbo_decode_token_threshold", "dbo_prefill_token_threshold",
    "max_parallel_loading_workers", "api_server_count", "port",
})
STR_DESTS = frozenset({
    "host", "distributed_executor_backend", "master_addr", "dcp_comm_backend", "data_parallel_address",
    "data_parallel_backend", "all2all_backend", "expert_placement_strategy", "worker_cls", "worker_extension_cls",
})
INT_LIST_DESTS = frozenset({"numa_bind_nodes"})
STR_LIST_DESTS = frozenset({"numa_bind_cpus"})
JSON_DESTS = frozenset({"eplb_config"})
STORE_TRUE_DESTS = frozenset({"headless"})
CLASSIFIED = (BOOL_DESTS | INT_DESTS | STR_DESTS | INT_LIST_DESTS | STR_LIST_DESTS | JSON_DESTS
              | STORE_TRUE_DESTS)


class UnknownFlag(Exception):
    """argparse refused a command line (an unknown flag, a bad value)."""


class StrictParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UnknownFlag(message)


def vllm_parser() -> StrictParser:
    """``vllm serve MODEL`` with exactly vLLM 0.23.0's parallel flags (plus ``--headless``), no abbreviations."""
    parser = StrictParser(prog="vllm serve", add_help=False, allow_abbrev=False)
    parser.add_argument("model")
    for entry in FLAGS:
        dest: str = entry["dest"]
        names: list[str] = entry["flags"]
        if dest in BOOL_DESTS:
            parser.add_argument(*names, dest=dest, action=argparse.BooleanOptionalAction, default=None)
        elif dest in STORE_TRUE_DESTS:
            parser.add_argument(*names, dest=dest, action="store_true")
        elif dest in INT_LIST_DESTS:
            parser.add_argument(*names, dest=dest, nargs="+", type=int)
        elif dest in STR_LIST_DESTS:
            parser.add_argument(*names, dest=dest, nargs="+", type=str)
        elif dest in JSON_DESTS:
            parser.add_argument(*names, dest=dest, type=json.loads)
        elif dest in INT_DESTS:
            parser.add_argument(*names, dest=dest, type=int)
        else:
            parser.add_argument(*names, dest=dest, type=str)
    return parser


PARSER = vllm_parser()
KNOWN_FLAGS = frozenset(
    [name for entry in FLAGS for name in entry["flags"]]
    + ["--no-" + entry["flags"][0][2:] for entry in FLAGS if entry["dest"] in BOOL_DESTS]
)


def serve_argv(argv: list[str]) -> list[str]:
    """The ``vllm serve`` part of a command (after an ``env NAME=value ...`` prefix)."""
    if argv[:1] == ["env"]:
        argv = argv[1:]
        while argv and "=" in argv[0]:
            argv = argv[1:]
    return argv


def devices_of(argv: list[str]) -> str | None:
    """The CUDA_VISIBLE_DEVICES an ``env`` prefix sets, if any."""
    return next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("CUDA_VISIBLE_DEVICES=")), None) \
        if argv[:1] == ["env"] else None


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse one ``vllm serve`` argv (after checking its head) with the strict vLLM parser."""
    argv = serve_argv(argv)
    assert argv[:2] == ["vllm", "serve"]
    return PARSER.parse_args(argv[2:])


# -- the configurations ----------------------------------------------------------------------------------------

#: Every example but examples/deploy/: files for a cluster manager name their model and extra vllm serve arguments
#: ([deploy]), which are not the parallel flags checked here; tests/test_deploy.py runs their lines.
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*")
                  if p.suffix in (".toml", ".yaml", ".yml") and p.parent.name != "deploy")

EXTRA: dict[str, dict[str, Any]] = {
    "external-lb-1node-dp4": {
        "parallel": {"data_parallel_size": 4, "tensor_parallel_size": 2, "data_parallel_external_lb": True,
                     "is_moe_model": True, "enable_expert_parallel": True},
        "cluster": {"devices_per_node": 8},
    },
    "hybrid-lb-2nodes": {
        "parallel": {"data_parallel_size": 4, "data_parallel_size_local": 2, "tensor_parallel_size": 2,
                     "data_parallel_hybrid_lb": True, "nnodes": 2, "master_addr": "10.1.0.1",
                     "data_parallel_master_ip": "10.1.0.1", "is_moe_model": True},
        "cluster": {"devices_per_node": 4},
    },
    "tp16-2nodes": {
        "parallel": {"tensor_parallel_size": 16, "nnodes": 2, "master_addr": "10.2.0.1", "master_port": 31000},
        "cluster": {"devices_per_node": 8},
    },
    "dp4-tp2-2nodes": {
        "parallel": {"data_parallel_size": 4, "data_parallel_size_local": 2, "tensor_parallel_size": 2, "nnodes": 2,
                     "master_addr": "10.3.0.1", "data_parallel_master_ip": "10.3.0.1", "data_parallel_rpc_port": 13345},
        "cluster": {"devices_per_node": 4},
    },
    "dp2-tp8-4nodes": {
        "parallel": {"data_parallel_size": 2, "tensor_parallel_size": 8, "nnodes": 4, "master_addr": "10.4.0.1",
                     "data_parallel_master_ip": "10.4.0.1", "is_moe_model": True, "enable_expert_parallel": True},
        "cluster": {"devices_per_node": 4},
    },
    "dp-only-4nodes": {  # vLLM's DP-only multi-node form: nnodes unset, 2 DP ranks on each of 4 nodes
        "parallel": {"data_parallel_size": 8, "data_parallel_size_local": 2, "tensor_parallel_size": 2,
                     "data_parallel_master_ip": "fd00::1", "data_parallel_rpc_port": 13345, "is_moe_model": True,
                     "enable_expert_parallel": True},
        "cluster": {"devices_per_node": 4},
    },
    "dp-only-hybrid": {  # the same form with hybrid LB: every node serves its own DP ranks
        "parallel": {"data_parallel_size": 4, "data_parallel_size_local": 2, "data_parallel_hybrid_lb": True,
                     "is_moe_model": True},
        "cluster": {"devices_per_node": 2, "network": {"node_addresses": ["10.5.0.1", "10.5.0.2"],
                                                      "socket_ifname": "eth1"}},
        "serve": {"port": 9000, "api_server_count": 2},
    },
    "every-setting": {
        "parallel": {
            "tensor_parallel_size": 2, "pipeline_parallel_size": 2, "data_parallel_size": 2,
            "decode_context_parallel_size": 2, "dcp_comm_backend": "a2a", "dcp_kv_cache_interleave_size": 4,
            "cp_kv_cache_interleave_size": 4, "is_moe_model": True, "enable_expert_parallel": True,
            "enable_ep_weight_filter": True, "all2all_backend": "deepep_high_throughput",
            "expert_placement_strategy": "round_robin", "enable_eplb": True,
            "eplb_config": {"window_size": 500, "step_interval": 1000, "num_redundant_experts": 4,
                            "log_balancedness": True, "log_balancedness_interval": 10, "use_async": False,
                            "communicator": "torch_nccl"},
            "enable_dbo": True, "dbo_decode_token_threshold": 16, "dbo_prefill_token_threshold": 256,
            "disable_nccl_for_dp_synchronization": False, "distributed_timeout_seconds": 900,
            "cpu_distributed_timeout_seconds": 1200, "disable_custom_all_reduce": True,
            "worker_extension_cls": "my.ext.Cls", "distributed_executor_backend": "mp", "numa_bind": True,
            "numa_bind_nodes": [0, 0, 0, 0, 1, 1, 1, 1],
            "numa_bind_cpus": ["0-3", "4-7", "8-11", "12-15", "16-19", "20-23", "24-27", "28-31"],
        },
        "cluster": {"devices_per_node": 8},
    },
    "pplx-ubatch-nixl": {
        "parallel": {"data_parallel_size": 2, "tensor_parallel_size": 2, "is_moe_model": True,
                     "enable_expert_parallel": True, "all2all_backend": "deepep_low_latency", "ubatch_size": 3,
                     "enable_eplb": True, "eplb_config": {"num_redundant_experts": 2}},
        "cluster": {"devices_per_node": 4, "nixl_available": True},
    },
    "pplx-alias": {
        "parallel": {"data_parallel_size": 2, "is_moe_model": True, "enable_expert_parallel": True,
                     "all2all_backend": "pplx"},
        "cluster": {"devices_per_node": 2},
    },
}




def compiled_config(name: str) -> Compiled:
    if name in EXTRA:
        return pconf.compile_dict(EXTRA[name])
    return pconf.compile_files([ROOT / name])


def _external_launcher(name: str) -> bool:
    return compiled_config(name).resolved.parallel.distributed_executor_backend == "external_launcher"


#: external_launcher configurations run under torchrun, not ``vllm serve`` (TestTorchrun checks them).
CONFIGS = [name for name in [*EXAMPLES, *EXTRA] if not _external_launcher(name)]
TORCHRUN_CONFIGS = [name for name in EXAMPLES if _external_launcher(name)]


def node_cases() -> list[tuple[str, int]]:
    cases: list[tuple[str, int]] = []
    for name in CONFIGS:
        cases += [(name, node) for node in range(compiled_config(name).plan().nnodes)]
    return cases


NODE_CASES = node_cases()


# -- vLLM's reading of a command line ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """What vLLM's EngineArgs makes of one ``vllm serve`` command (spec §10.2)."""

    dp_ranks: list[int]
    dp_local: int
    start: int
    external: bool
    hybrid: bool
    nnodes: int
    node_rank: int
    dp_address: str
    world_addr: str


def engine_args(ns: argparse.Namespace) -> Launch:
    """EngineArgs.create_engine_config's DP layout logic, step by step (vLLM 0.23.0)."""
    dp, pp, tp = ns.data_parallel_size or 1, ns.pipeline_parallel_size or 1, ns.tensor_parallel_size or 1
    nnodes, node_rank = ns.nnodes or 1, ns.node_rank or 0
    rank: int | None = ns.data_parallel_rank
    dp_local: int | None = ns.data_parallel_size_local
    hybrid = bool(ns.data_parallel_hybrid_lb)
    inferred = 0
    if nnodes > 1:
        local_world = dp * pp * tp // nnodes
        inferred = node_rank * local_world // (pp * tp)
        if dp > 1 and ns.data_parallel_external_lb:
            rank = inferred
        elif dp_local is None:
            dp_local = max(local_world // (pp * tp), 1)
    external = bool(ns.data_parallel_external_lb) or rank is not None
    if external:
        assert rank is not None, "external LB needs --data-parallel-rank or --nnodes/--node-rank"
        assert dp_local in (1, None)
        dp_local, start, hybrid = 1, rank, False
    elif dp_local is not None:
        if ns.data_parallel_start_rank and not ns.headless:
            hybrid = True
        if hybrid and dp_local == 1:
            external, hybrid = True, False
        if dp_local == dp:
            hybrid = False
        start = ns.data_parallel_start_rank or inferred
    else:
        dp_local, start = dp, 0
    assert not (ns.headless and hybrid), "data_parallel_hybrid_lb is not applicable in headless mode"
    master_addr = ns.master_addr or "127.0.0.1"
    dp_address = ns.data_parallel_address or master_addr
    world_addr = master_addr if nnodes > 1 else dp_address  # spec §11.1
    return Launch(list(range(start, start + dp_local)), dp_local, start, external, hybrid, nnodes, node_rank,
                  dp_address, world_addr)


HOST_FACTS = ("device", "devices_per_node", "custom_all_reduce", "nixl_available", "ray_installed",
              "ray_initialized", "ray_placement_group")


def vllm_document(ns: argparse.Namespace, launch: Launch, original: Compiled) -> dict[str, Any]:
    """The document vLLM would build from the command on the original's hosts, for the original's model: every
    flag that names a ParallelConfig field, the EngineArgs layout, is_moe_model from the model, the host facts,
    and no scheduler setting (none is on the command line)."""
    parallel: dict[str, Any] = {}
    for entry in FLAGS:
        value = getattr(ns, entry["dest"])
        field = entry["config_field"]
        if field is not None and "." not in field and value is not None:
            parallel[field] = value
    parallel.update(data_parallel_size_local=launch.dp_local, data_parallel_rank=launch.start,
                    data_parallel_external_lb=launch.external, data_parallel_hybrid_lb=launch.hybrid,
                    data_parallel_master_ip=launch.dp_address)
    if ns.data_parallel_backend is not None:
        parallel["data_parallel_backend"] = ns.data_parallel_backend
    if ns.data_parallel_rpc_port is not None:
        parallel["data_parallel_rpc_port"] = ns.data_parallel_rpc_port
    if original.resolved.parallel.is_moe_model is not None:
        parallel["is_moe_model"] = original.resolved.parallel.is_moe_model
    cluster = {name: getattr(original.resolved.document.cluster, name) for name in HOST_FACTS}
    doc: dict[str, Any] = {"parallel": parallel, "cluster": cluster}
    if ns.async_scheduling is not None:
        doc["scheduler"] = {"async_scheduling": ns.async_scheduling}
    return doc


def factors(compiled: Compiled) -> dict[str, object]:
    return {f.name: f.value for f in compiled.graph_hash.factors}


#: ParallelConfig settings with a flag that are not graph factors and not launch layout: the command must carry
#: the original's resolved value.
FLAGGED_SETTINGS = ("distributed_executor_backend", "data_parallel_backend", "max_parallel_loading_workers",
                    "ray_workers_use_nsight", "disable_custom_all_reduce", "worker_cls", "worker_extension_cls",
                    "numa_bind", "numa_bind_nodes", "numa_bind_cpus")


def commands_of(name: str, node: int) -> tuple[Compiled, Plan, list[list[str]]]:
    compiled = compiled_config(name)
    plan = compiled.plan()
    return compiled, plan, serve_commands(plan, node)


# -- tests ------------------------------------------------------------------------------------------------------


class TestFlagTable:
    def test_every_json_flag_classified(self) -> None:
        """The test's type table covers exactly the flags the vLLM 0.23.0 file lists."""
        assert {entry["dest"] for entry in FLAGS} == CLASSIFIED
        assert len(FLAGS) == len(CLASSIFIED)

    def test_flag_fields_are_vllm_flags(self) -> None:
        """Every ParallelConfig field pconf turns into a flag is a vLLM 0.23.0 serve flag of the same name."""
        long_flags = {entry["flags"][0] for entry in FLAGS}
        missing = ["--" + field.replace("_", "-") for field in FLAG_FIELDS
                   if "--" + field.replace("_", "-") not in long_flags]
        assert missing == []

    def test_defaults_give_no_flags(self) -> None:
        """vLLM's default ParallelConfig needs no setting flags."""
        assert setting_flags(ParallelConfig()) == []

    def test_parser_refuses_unknown_flags(self) -> None:
        """The strict parser refuses a flag vLLM does not have and an abbreviation of one it has."""
        with pytest.raises(UnknownFlag, match="unrecognized arguments: --data-parallel-master-port 1"):
            parse(["vllm", "serve", "m", "--data-parallel-master-port", "1"])
        with pytest.raises(UnknownFlag, match="unrecognized arguments: --tensor-parallel 2"):
            parse(["vllm", "serve", "m", "--tensor-parallel", "2"])


class TestEveryConfigRoundTrips:
    @pytest.mark.parametrize(("name", "node"), NODE_CASES, ids=[f"{n}@{k}" for n, k in NODE_CASES])
    def test_flags_are_vllm_flags(self, name: str, node: int) -> None:
        """Every option pconf emits is a vLLM 0.23.0 serve flag (or its --no- form), and the argv parses."""
        _, _, commands = commands_of(name, node)
        assert commands
        for argv in map(serve_argv, commands):
            assert argv[:3] == ["vllm", "serve", "$MODEL"]
            options = [a for a in argv[3:] if a.startswith("-")]
            assert [o for o in options if o not in KNOWN_FLAGS] == []
            assert parse(argv).model == "$MODEL"

    @pytest.mark.parametrize(("name", "node"), NODE_CASES, ids=[f"{n}@{k}" for n, k in NODE_CASES])
    def test_graph_factors_reproduced(self, name: str, node: int) -> None:
        """vLLM's reading of each command gives exactly the compiled document's graph-hash factors."""
        original, _, commands = commands_of(name, node)
        for argv in commands:
            ns = parse(argv)
            rebuilt = pconf.compile_dict(vllm_document(ns, engine_args(ns), original))
            assert factors(rebuilt) == factors(original)
            assert str(rebuilt.graph_hash) == str(original.graph_hash)
            for field in FLAGGED_SETTINGS:
                assert getattr(rebuilt.resolved.parallel, field) == getattr(original.resolved.parallel, field), field

    @pytest.mark.parametrize(("name", "node"), NODE_CASES, ids=[f"{n}@{k}" for n, k in NODE_CASES])
    def test_layout_reproduced(self, name: str, node: int) -> None:
        """The commands of a node start exactly the DP ranks the plan puts on it: DP-local size, start rank,
        --data-parallel-rank per rank (on its devices) with external LB, headless exactly on non-head nodes
        without hybrid or external LB, and --nnodes/--node-rank/--master-addr on every multi-node command."""
        original, plan, commands = commands_of(name, node)
        p = original.resolved.parallel
        planned = sorted({plan.rank(r).dp for r in plan.node_ranks(node)})
        launches = [engine_args(parse(argv)) for argv in commands]
        assert sorted(d for launch in launches for d in launch.dp_ranks) == planned
        for argv, launch in zip(commands, launches, strict=True):
            ns = parse(argv)
            assert launch.external == p.data_parallel_external_lb
            assert launch.start == planned[0] or launch.external
            assert ns.headless == (node > 0 and not p.data_parallel_hybrid_lb and not p.data_parallel_external_lb)
            if p.data_parallel_external_lb:
                assert ns.data_parallel_rank is not None
                assert launch.dp_local == 1
                mine = [plan.rank(r).local_rank for r in plan.node_ranks(node)
                        if plan.rank(r).dp == ns.data_parallel_rank]
                assert devices_of(argv) == ",".join(map(str, mine))
            else:
                assert ns.data_parallel_rank is None
                assert launch.dp_local == len(planned)
                assert devices_of(argv) is None
            if p.nnodes > 1:
                assert (ns.nnodes, ns.node_rank, ns.master_addr, ns.master_port) == (
                    plan.nnodes, node, p.master_addr, p.master_port)
            else:  # one node, or vLLM's DP-only multi-node form (vLLM's nnodes stays 1)
                assert (ns.nnodes, ns.node_rank, ns.master_addr, ns.master_port) == (None, None, None, None)
            if plan.dp > 1 and (plan.nnodes > 1 or p.data_parallel_external_lb):  # remote engines: ZMQ over RPC
                assert (launch.dp_address, ns.data_parallel_rpc_port) == (p.data_parallel_master_ip,
                                                                         p.data_parallel_rpc_port)
            elif plan.dp > 1:  # one node: vLLM uses local IPC, no address or RPC port
                assert (ns.data_parallel_address, ns.data_parallel_rpc_port) == (None, None)
        if p.data_parallel_external_lb:
            assert [launch.start for launch in launches] == planned


class TestLayoutModes:
    def test_external_lb_one_node(self) -> None:
        """External LB with DP=4 on one node: four commands, one per DP rank, none headless."""
        _, _, commands = commands_of("external-lb-1node-dp4", 0)
        assert [parse(argv).data_parallel_rank for argv in commands] == [0, 1, 2, 3]
        assert [parse(argv).headless for argv in commands] == [False] * 4

    def test_hybrid_lb_two_nodes(self) -> None:
        """Hybrid LB over 2 nodes: node 1 starts at DP rank 2 and is not headless (vLLM infers hybrid from it)."""
        _, _, (argv,) = commands_of("hybrid-lb-2nodes", 1)
        ns = parse(argv)
        assert (ns.data_parallel_size_local, ns.data_parallel_start_rank, ns.headless) == (2, 2, False)
        assert engine_args(ns).hybrid is True

    def test_tp16_two_nodes(self) -> None:
        """TP=16 over 2 nodes: multi-node mp flags on both, headless on node 1, no DP flags."""
        _, _, (head,) = commands_of("tp16-2nodes", 0)
        _, _, (other,) = commands_of("tp16-2nodes", 1)
        assert head[3:] == ["--tensor-parallel-size", "16", "--nnodes", "2", "--node-rank", "0", "--master-addr",
                            "10.2.0.1", "--master-port", "31000"]
        assert other[3:] == [*head[3:7], "--node-rank", "1", *head[9:], "--headless"]

    def test_dp4_tp2_two_nodes(self) -> None:
        """DP=4 TP=2 over 2 nodes: two DP ranks per node, node 1 starts at 2 and is headless."""
        _, _, (argv,) = commands_of("dp4-tp2-2nodes", 1)
        ns = parse(argv)
        assert (ns.data_parallel_size_local, ns.data_parallel_start_rank, ns.headless) == (2, 2, True)
        assert (ns.data_parallel_address, ns.data_parallel_rpc_port) == ("10.3.0.1", 13345)

    def test_node_out_of_range(self) -> None:
        """serve_commands refuses a node outside 0..nnodes-1."""
        plan = compiled_config("tp16-2nodes").plan()
        with pytest.raises(IndexError, match=r"^node 2 is outside 0\.\.1$"):
            serve_commands(plan, 2)


EPLB_2NODE = '{"num_redundant_experts":32,"log_balancedness":true,"log_balancedness_interval":100}'
SETTINGS_2NODE = ("vllm serve $MODEL --data-parallel-size 16 --enable-expert-parallel --all2all-backend "
                  f"deepep_low_latency --enable-eplb --eplb-config '{EPLB_2NODE}'")
DP_2NODE = "--data-parallel-size-local 8 --data-parallel-address 10.0.0.1 --data-parallel-rpc-port 29550"


class TestRenderedExamples:
    def test_cluster(self) -> None:
        """examples/cluster.toml renders as one shell line, the EPLB JSON single-quoted, $MODEL left as is."""
        plan = pconf.plan_files([ROOT / "examples" / "cluster.toml"])
        assert render(serve_commands(plan, 0)) == (
            "vllm serve $MODEL --tensor-parallel-size 4 --data-parallel-size 2 --enable-expert-parallel "
            "--enable-eplb --eplb-config '{\"num_redundant_experts\":16}'\n")

    def test_dp_ep_2node(self) -> None:
        """examples/dp-ep-2node.toml: both nodes name the multi-node layout; node 1 adds its start rank and
        --headless."""
        plan = pconf.plan_files([ROOT / "examples" / "dp-ep-2node.toml"])
        nodes = "--nnodes 2 --node-rank {} --master-addr 10.0.0.1 --master-port 29501"
        assert render(serve_commands(plan, 0)) == f"{SETTINGS_2NODE} {nodes.format(0)} {DP_2NODE}\n"
        assert render(serve_commands(plan, 1)) == (
            f"{SETTINGS_2NODE} {nodes.format(1)} {DP_2NODE} --data-parallel-start-rank 8 --headless\n")

    def test_model_quoting(self) -> None:
        """A model argument with a space is shell-quoted; a $VARIABLE is left for the shell."""
        plan = pconf.plan_files([ROOT / "examples" / "tp8.toml"])
        assert render(serve_commands(plan, 0, "org/my model")) == (
            "vllm serve 'org/my model' --tensor-parallel-size 8\n")
        assert render(serve_commands(plan, 0, "$MY_MODEL")) == "vllm serve $MY_MODEL --tensor-parallel-size 8\n"


class TestAgreementWithPlan:
    def test_async_scheduling_off_reproduced(self) -> None:
        """With async scheduling off in the file, vLLM's reading of the command keeps NCCL for DP sync."""
        original = pconf.compile_dict({"parallel": {"data_parallel_size": 2, "tensor_parallel_size": 2},
                                       "scheduler": {"async_scheduling": False}, "cluster": {"devices_per_node": 4}})
        assert original.resolved.parallel.disable_nccl_for_dp_synchronization is False
        (argv,) = serve_commands(original.plan(), 0)
        ns = parse(argv)
        rebuilt = pconf.compile_dict(vllm_document(ns, engine_args(ns), original))
        assert factors(rebuilt) == factors(original)

    def test_multi_node_dp_agrees_with_plan(self) -> None:
        """vLLM's reading of each node's command has the plan's world rendezvous address and nnodes-derived
        settings."""
        compiled = pconf.compile_files([ROOT / "examples" / "dp-ep-2node.toml"],
                                       overrides=['parallel.master_addr="10.0.0.9"'])
        plan = compiled.plan()
        assert plan.ports.world_addr == "10.0.0.9"
        assert compiled.resolved.parallel.disable_custom_all_reduce is True
        for node in range(plan.nnodes):
            for argv in serve_commands(plan, node):
                ns = parse(argv)
                launch = engine_args(ns)
                assert launch.world_addr == plan.ports.world_addr
                rebuilt = pconf.compile_dict(vllm_document(ns, launch, compiled))
                assert rebuilt.resolved.parallel.disable_custom_all_reduce is True


class TestTorchrun:
    @pytest.mark.parametrize("name", TORCHRUN_CONFIGS)
    def test_external_launcher_runs_under_torchrun(self, name: str) -> None:
        """external_launcher: each node's line is torchrun with the plan's node layout and rendezvous."""
        plan = compiled_config(name).plan()
        for node in range(plan.nnodes):
            (argv,) = serve_commands(plan, node)
            assert argv == ["torchrun", f"--nnodes={plan.nnodes}", f"--node-rank={node}",
                            f"--nproc-per-node={plan.per_node}", f"--master-addr={plan.ports.world_addr}",
                            f"--master-port={plan.ports.world_port}", "$SCRIPT"]

    def test_llm_kwargs(self) -> None:
        """The script's LLM(...) arguments name the settings that differ from vLLM's defaults."""
        from pconf.emit.vllm import llm_kwargs

        plan = pconf.compile_dict({"parallel": {"distributed_executor_backend": "external_launcher",
                                                "tensor_parallel_size": 2, "data_parallel_size": 2},
                                   "cluster": {"devices_per_node": 4}}).plan()
        assert llm_kwargs(plan) == ("LLM($MODEL, distributed_executor_backend='external_launcher', "
                                    "tensor_parallel_size=2, data_parallel_size=2)")
