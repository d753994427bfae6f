"""Multi-node deployments: one check set for every command, vLLM's DP-only layout, node 0's address, ports,
[cluster.network] and [serve], EngineArgs' launch values, and where vLLM binds NUMA.

(pconf.deployment, pconf.engine_args, pconf.rules.deploy, pconf.netaddr; the rules' own minimal cases are in
tests/test_rules.py, the runs over network namespaces in tests/runtime/test_multinode.py.)
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

import pconf
from pconf.cli import main
from pconf.emit.vllm import llm_kwargs, serve_commands, vllm_text
from pconf.netaddr import address_problem, host_port, is_local_only, tcp_url

ROOT = Path(__file__).resolve().parent.parent


def plan_of(doc: dict[str, Any]) -> pconf.Plan:
    return pconf.compile_dict(doc).plan()


def rules_of(doc: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(pconf.ConfigError) as caught:
        pconf.compile_dict(doc, env=env)
    return [issue.rule for issue in caught.value.issues]


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


# -- one check set ---------------------------------------------------------------------------------------------


class TestOneCheckSet:
    @pytest.mark.parametrize("command", [["validate"], ["compile"], ["hash"], ["explain", "parallel.nnodes"],
                                         ["plan"], ["plan", "--format", "vllm"]])
    @pytest.mark.parametrize(("text", "rule"), [
        ("[parallel]\ntensor_parallel_size = 8\ndata_parallel_size = 2\n", "plan.devices"),
        ("[cluster]\ndevices_per_node = 0\n", "plan.devices"),
        ("[parallel]\ndata_parallel_rpc_port = 70000\n", "schema.bound"),
        ("[parallel]\ntensor_parallel_size = 16\nnnodes = 2\n", "network.loopback"),
        ("[parallel]\ndata_parallel_size = 2\ndata_parallel_rpc_port = 8000\n", "plan.port_collision"),
        ("[parallel]\ndistributed_timeout_seconds = 0\n", "schema.bound"),
    ], ids=["tp8-dp2-one-node", "no-devices", "rpc-port-70000", "loopback", "rpc-is-http", "timeout-0"])
    def test_every_command_refuses(self, tmp_path: Path, command: list[str], text: str, rule: str) -> None:
        """validate, compile, hash, explain and plan refuse the same layouts and ports, exit 2 with the rule id."""
        path = tmp_path / "c.toml"
        path.write_text(text)
        argv = [command[0], str(path), *command[1:]]
        if command[0] == "explain":
            argv = ["explain", str(path), command[1]]
        code, out, err = cli(*argv)
        assert (code, out) == (2, "") if command[0] != "validate" else code == 2
        assert f"[{rule}]" in err
        assert "Traceback" not in err

    def test_library_refuses_too(self) -> None:
        """compile_files and compile_dict raise what plan used to: no Compiled exists for a layout the plan
        refuses."""
        assert rules_of({"parallel": {"tensor_parallel_size": 8, "data_parallel_size": 2}}) == ["plan.devices"]


# -- vLLM's DP-only multi-node form ---------------------------------------------------------------------------

DP_ONLY_PARALLEL: dict[str, Any] = {
    "data_parallel_size": 4, "data_parallel_size_local": 2, "tensor_parallel_size": 2,
    "data_parallel_master_ip": "10.0.1.1", "data_parallel_rpc_port": 13345, "is_moe_model": True,
    "enable_expert_parallel": True,
}
DP_ONLY: dict[str, Any] = {"parallel": DP_ONLY_PARALLEL, "cluster": {"devices_per_node": 4}}


class TestDpOnlyLayout:
    def test_nodes(self) -> None:
        """data_parallel_size_local < data_parallel_size with nnodes unset: DP / L nodes, L DP ranks on each;
        vLLM's own nnodes stays 1."""
        compiled = pconf.compile_dict(DP_ONLY)
        plan = compiled.plan()
        assert (compiled.resolved.parallel.nnodes, compiled.resolved.derived.nodes) == (1, 2)
        assert (plan.nnodes, plan.per_node, plan.world_size) == (2, 4, 8)
        assert [plan.node_ranks(n) for n in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
        assert [sorted({plan.rank(r).dp for r in plan.node_ranks(n)}) for n in range(2)] == [[0, 1], [2, 3]]

    def test_env_per_node(self) -> None:
        """Each rank's environment says its node, its local rank and its DP rank on the node."""
        plan = plan_of(DP_ONLY)
        env = plan.env(6)
        assert (env["NODE_RANK"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"], env["VLLM_DP_RANK"],
                env["VLLM_DP_RANK_LOCAL"]) == ("1", "2", "4", "3", "1")
        assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == ("10.0.1.1", "29501")  # vLLM's one-node rendezvous

    def test_serve_lines(self) -> None:
        """vLLM's documented form: node 0 serves with the DP-local size, address and RPC port; node 1 adds
        --headless --data-parallel-start-rank 2; no --nnodes."""
        plan = plan_of(DP_ONLY)
        flags = ["--tensor-parallel-size", "2", "--data-parallel-size", "4", "--enable-expert-parallel",
                 "--data-parallel-size-local", "2", "--data-parallel-address", "10.0.1.1", "--data-parallel-rpc-port",
                 "13345"]
        assert serve_commands(plan, 0) == [["vllm", "serve", "$MODEL", *flags]]
        assert serve_commands(plan, 1) == [["vllm", "serve", "$MODEL", *flags, "--data-parallel-start-rank", "2",
                                            "--headless"]]

    def test_hash_is_vllms(self) -> None:
        """The graph hash never counts nodes: the DP-only form hashes like the same run on one node."""
        one_node = {"parallel": {k: v for k, v in DP_ONLY_PARALLEL.items() if k != "data_parallel_size_local"},
                    "cluster": {"devices_per_node": 8}}
        assert str(pconf.compile_dict(DP_ONLY).graph_hash) == str(pconf.compile_dict(one_node).graph_hash)

    def test_numa_per_node(self) -> None:
        """Each node's workers use GPU indices 0-3 (L engines of TP=2 per node), and the lists are checked that
        way: four entries suffice."""
        doc = {**DP_ONLY, "parallel": {**DP_ONLY_PARALLEL, "numa_bind": True, "numa_bind_nodes": [0, 0, 1, 1]}}
        plan = plan_of(doc)
        assert [b.gpu_index for r in range(8) if (b := plan.binding(r)) is not None] == [0, 1, 2, 3] * 2
        engines = [plan.binding(r, "EngineCore") for r in (0, 2, 4, 6)]
        assert [b.nodes if b is not None else None for b in engines] == [(0,), (1,), (0,), (1,)]

    def test_not_dividing(self) -> None:
        """L must divide DP: plan.nodes names data_parallel_size_local."""
        doc = {**DP_ONLY, "parallel": {**DP_ONLY_PARALLEL, "data_parallel_size": 3}}
        assert rules_of(doc) == ["plan.nodes"]

    def test_external_lb_is_not_the_form(self) -> None:
        """External load balancing always has one DP rank per server: its nodes are nnodes, servers may share one."""
        plan = plan_of({"parallel": {"data_parallel_size": 4, "data_parallel_size_local": 1,
                                     "data_parallel_external_lb": True, "is_moe_model": True}})
        assert plan.nnodes == 1
        assert [argv[argv.index("--port") + 1] if "--port" in argv else "8000" for argv in serve_commands(plan, 0)] \
            == ["8000", "8001", "8002", "8003"]


# -- EngineArgs' launch values -----------------------------------------------------------------------------------


class TestEngineArgsValues:
    @pytest.mark.parametrize(("parallel", "local"), [
        ({"data_parallel_size": 4}, 4),
        ({"data_parallel_size": 16, "nnodes": 2, "master_addr": "10.0.0.1"}, 8),
        ({"data_parallel_size": 2, "tensor_parallel_size": 8, "nnodes": 4, "master_addr": "10.0.0.1"}, 1),
        ({"data_parallel_size": 2, "data_parallel_external_lb": True, "is_moe_model": True}, 1),
        ({"data_parallel_size": 4, "data_parallel_size_local": 2, "nnodes": 2, "master_addr": "10.0.0.1"}, 2),
    ], ids=["one-node", "nnodes", "replica-spans-nodes", "external-lb", "written"])
    def test_data_parallel_size_local(self, parallel: dict[str, Any], local: int) -> None:
        """Unset, data_parallel_size_local is what EngineArgs computes; written, it is kept."""
        out = pconf.compile_dict({"parallel": parallel, "cluster": {"devices_per_node": 16}}).to_dict()
        assert out["parallel"]["data_parallel_size_local"] == local

    def test_env_mode_keeps_parallel_configs_default(self) -> None:
        """vLLM-environment mode is ParallelConfig's construction: no EngineArgs inference."""
        out = pconf.compile_dict({"parallel": {"data_parallel_size": 4}}, env={}).to_dict()
        assert out["parallel"]["data_parallel_size_local"] == 1
        assert out["derived"]["nodes"] == 1

    def test_explicit_local_kept_on_single_node_lines(self) -> None:
        """An explicit data_parallel_size_local stays on a one-node line; an inferred one is not written."""
        written = plan_of({"parallel": {"data_parallel_size": 2, "data_parallel_size_local": 2}})
        inferred = plan_of({"parallel": {"data_parallel_size": 2}})
        assert serve_commands(written, 0)[0][-2:] == ["--data-parallel-size-local", "2"]
        assert "--data-parallel-size-local" not in serve_commands(inferred, 0)[0]

    def test_hybrid_lb_on_one_node_needs_local(self) -> None:
        """EngineArgs asserts a DP-local size for hybrid load balancing on one node."""
        assert rules_of({"parallel": {"data_parallel_size": 2, "data_parallel_hybrid_lb": True}}) == [
            "engine.hybrid_lb_needs_local"]


# -- addresses ----------------------------------------------------------------------------------------------------


class TestAddresses:
    @pytest.mark.parametrize("address", ["127.0.0.1", "127.3.2.1", "::1", "localhost", "LOCALHOST", "0.0.0.0", "::",
                                         "::ffff:127.0.0.1", "db.localhost"])
    def test_loopback_refused_across_nodes(self, address: str) -> None:
        """A multi-node run's master_addr that reaches only its own host is refused, naming the key."""
        assert rules_of({"parallel": {"tensor_parallel_size": 16, "nnodes": 2, "master_addr": address}}) == [
            "network.loopback"]

    def test_no_silent_default(self) -> None:
        """A multi-node file without addresses gets no 127.0.0.1: both keys in use are named."""
        with pytest.raises(pconf.RuleError) as caught:
            pconf.compile_dict({"parallel": {"data_parallel_size": 16, "data_parallel_size_local": 8, "nnodes": 2}})
        assert [(i.rule, i.key) for i in caught.value.issues] == [
            ("network.loopback", "parallel.data_parallel_master_ip"), ("network.loopback", "parallel.master_addr")]

    def test_node_addresses_give_node_0s(self) -> None:
        """[cluster.network].node_addresses[0] is the default master_addr, which the DP address follows; each node's
        address is its VLLM_HOST_IP."""
        compiled = pconf.compile_dict({"parallel": {"data_parallel_size": 4, "data_parallel_size_local": 2,
                                                    "nnodes": 2},
                                       "cluster": {"network": {"node_addresses": ["10.9.0.1", "10.9.0.2"]}}})
        out = compiled.to_dict()
        assert (out["parallel"]["master_addr"], out["parallel"]["data_parallel_master_ip"]) == ("10.9.0.1", "10.9.0.1")
        assert out["sources"]["parallel.master_addr"] == (
            "derived: node 0's address ([cluster.network].node_addresses[0])")
        plan = compiled.plan()
        assert [plan.env(r)["VLLM_HOST_IP"] for r in (0, 3)] == ["10.9.0.1", "10.9.0.2"]

    def test_written_address_wins(self) -> None:
        """A written master_addr is kept (and checked), node_addresses or not."""
        assert rules_of({"parallel": {"tensor_parallel_size": 16, "nnodes": 2, "master_addr": "127.0.0.1"},
                         "cluster": {"network": {"node_addresses": ["10.9.0.1", "10.9.0.2"]}}}) == ["network.loopback"]

    def test_one_host_said_outright(self) -> None:
        """Loopback for every node in node_addresses: several "nodes" on one host, on purpose."""
        plan = plan_of({"parallel": {"tensor_parallel_size": 2, "nnodes": 2},
                        "cluster": {"network": {"node_addresses": ["127.0.0.1", "127.0.0.1"]}}})
        assert plan.ports.world_addr == "127.0.0.1"

    def test_ipv6(self) -> None:
        """IPv6 goes bare on flags and in the environment, in brackets in URLs and host:port."""
        compiled = pconf.compile_dict({"parallel": {"tensor_parallel_size": 8, "pipeline_parallel_size": 2,
                                                    "nnodes": 2},
                                       "cluster": {"network": {"node_addresses": ["fd00::1", "fd00::2"]}}})
        plan = compiled.plan()
        argv = serve_commands(plan, 1)[0]
        assert argv[argv.index("--master-addr") + 1] == "fd00::1"
        assert plan.env(8)["MASTER_ADDR"] == "fd00::1"
        assert host_port("fd00::1", 29501) == "[fd00::1]:29501"
        assert tcp_url("fd00::1", 29501) == "tcp://[fd00::1]:29501"
        assert tcp_url("10.0.0.1", 1) == "tcp://10.0.0.1:1"

    @pytest.mark.parametrize(("value", "refused"), [
        ("10.0.0.1", False), ("fd00::1", False), ("node-0.cluster.local", False), ("$(LWS_LEADER_ADDRESS)", False),
        ("", True), ("[fd00::1]", True), ("10.0.0.1 ", True), ("a b", True),
    ])
    def test_address_values(self, value: str, refused: bool) -> None:
        """An address is an IP (IPv6 bare) or a host name; empty, spaced or bracketed ones are refused."""
        assert (address_problem(value) is not None) is refused
        if refused:
            assert rules_of({"parallel": {"master_addr": value}}) == ["network.address"]

    @pytest.mark.parametrize("address", ["10.0.0.1", "fd00::1", "host-a", "::ffff:10.0.0.1"])
    def test_not_local(self, address: str) -> None:
        assert not is_local_only(address)

    def test_node_address_count(self) -> None:
        """One address per node."""
        assert rules_of({"parallel": {"tensor_parallel_size": 16, "nnodes": 2},
                         "cluster": {"network": {"node_addresses": ["10.0.0.1"]}}}) == ["network.node_addresses"]


# -- [cluster.network] and [serve] --------------------------------------------------------------------------------

NETWORK = ROOT / "examples" / "network-2node.toml"


class TestNetworkAndServe:
    def test_network_env(self) -> None:
        """socket_ifname -> GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME, ib_hca -> NCCL_IB_HCA, node address ->
        VLLM_HOST_IP: in the rank's environment and as the serve line's env prefix."""
        plan = pconf.plan_files([NETWORK])
        env = plan.env(9)
        assert {k: env[k] for k in ("VLLM_HOST_IP", "GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "NCCL_IB_HCA")} == {
            "VLLM_HOST_IP": "10.10.0.2", "GLOO_SOCKET_IFNAME": "ens1f0", "NCCL_SOCKET_IFNAME": "ens1f0",
            "NCCL_IB_HCA": "mlx5_0,mlx5_1"}
        assert serve_commands(plan, 1)[0][:5] == ["env", "VLLM_HOST_IP=10.10.0.2", "GLOO_SOCKET_IFNAME=ens1f0",
                                                  "NCCL_SOCKET_IFNAME=ens1f0", "NCCL_IB_HCA=mlx5_0,mlx5_1"]

    def test_serve_flags_on_serving_nodes_only(self) -> None:
        """[serve] host and port go on the node that serves, not on a headless one."""
        plan = pconf.plan_files([NETWORK])
        assert serve_commands(plan, 0)[0][-4:] == ["--host", "0.0.0.0", "--port", "8080"]
        assert serve_commands(plan, 1)[0][-1] == "--headless"
        assert plan.ports.api_ports == (8080,)

    def test_api_server_count(self) -> None:
        plan = plan_of({"parallel": {"data_parallel_size": 2}, "serve": {"api_server_count": 2}})
        assert serve_commands(plan, 0)[0][-2:] == ["--api-server-count", "2"]

    @pytest.mark.parametrize(("doc", "keys"), [
        ({"parallel": {"data_parallel_size": 2, "data_parallel_rpc_port": 8000}},
         ("serve.port", "parallel.data_parallel_rpc_port")),
        ({"parallel": {"tensor_parallel_size": 2}, "serve": {"port": 29501}}, ("serve.port", "parallel.master_port")),
        ({"parallel": {"data_parallel_size": 2}, "serve": {"port": 29501}},
         ("serve.port", "parallel.data_parallel_master_port + 1")),
    ], ids=["rpc", "master", "dp-plus-1"])
    def test_collisions_name_both_keys(self, doc: dict[str, Any], keys: tuple[str, str]) -> None:
        with pytest.raises(pconf.RuleError) as caught:
            pconf.compile_dict(doc)
        [issue] = caught.value.issues
        assert (issue.rule, issue.key) == ("plan.port_collision", keys[0])
        assert f"is also used by {keys[1]}" in issue.message

    @pytest.mark.parametrize(("key", "value"), [("socket_ifname", "^docker"), ("socket_ifname", "a" * 16),
                                                ("ib_hca", "mlx5 0"), ("socket_ifname", "")])
    def test_network_values(self, key: str, value: str) -> None:
        assert rules_of({"cluster": {"network": {key: value}}}) == ["network.ifname"]


# -- host facts and what vLLM does with them ------------------------------------------------------------------------


class TestPlatformFacts:
    def test_custom_all_reduce_follows_the_device(self) -> None:
        """Unset, custom all-reduce is the device's: off on cpu (vLLM's base platform), on on cuda."""
        cpu = pconf.compile_dict({"parallel": {"tensor_parallel_size": 2}, "cluster": {"device": "cpu"}}).to_dict()
        cuda = pconf.compile_dict({"parallel": {"tensor_parallel_size": 2}}).to_dict()
        assert (cpu["cluster"]["custom_all_reduce"], cpu["parallel"]["disable_custom_all_reduce"]) == (False, True)
        assert (cuda["cluster"]["custom_all_reduce"], cuda["parallel"]["disable_custom_all_reduce"]) == (True, False)

    def test_async_scheduling_off_on_cpu(self) -> None:
        """The CPU platform turns async scheduling off after VllmConfig set the DP-sync flag from it."""
        out = pconf.compile_dict({"parallel": {"tensor_parallel_size": 2}, "cluster": {"device": "cpu"}}).to_dict()
        assert (out["scheduler"]["async_scheduling"], out["parallel"]["disable_nccl_for_dp_synchronization"]) == (
            False, True)
        assert out["sources"]["scheduler.async_scheduling"].startswith("derived: the cpu platform turns")

    def test_external_launcher_llm_kwargs(self) -> None:
        """A multi-node external_launcher script passes nnodes, not node_rank nor the master address."""
        plan = plan_of({"parallel": {"tensor_parallel_size": 8, "data_parallel_size": 2, "nnodes": 2,
                                     "distributed_executor_backend": "external_launcher", "is_moe_model": True,
                                     "master_addr": "10.0.0.1"}})
        text = llm_kwargs(plan)
        assert "nnodes=2" in text
        assert [word for word in ("node_rank", "master_addr", "master_port") if word in text] == []

    def test_ray_runtime_env_reaches_ray(self) -> None:
        """ray_runtime_env is not a serve flag: the vllm lines say how it reaches vLLM (the Ray job)."""
        text = vllm_text(pconf.plan_files([ROOT / "examples" / "ray.toml"]))
        assert text.splitlines()[1] == (
            "# ray job submit --runtime-env-json '{\"env_vars\":{\"NCCL_DEBUG\":\"WARN\"}}' -- vllm serve ...")


class TestWhereVllmBinds:
    def plan(self, **parallel: Any) -> pconf.Plan:
        topology = {"gpus": [0, 0, 1, 1], "nodes": [{"id": 0, "cpus": "0-3"}, {"id": 1, "cpus": "4-7"}]}
        return plan_of({"parallel": {"numa_bind": True, **parallel},
                        "cluster": {"devices_per_node": 4, "ray_installed": True, "topology": topology}})

    def test_mp_workers(self) -> None:
        plan = self.plan(tensor_parallel_size=4)
        assert [b.nodes for r in range(4) if (b := plan.binding(r)) is not None] == [(0,), (0,), (1,), (1,)]
        assert plan.env(3)["PCONF_NUMA_BIND"] == "planned"

    def test_uni_worker_is_its_engine_core(self) -> None:
        """Under uni the worker runs inside the EngineCore process, bound as that."""
        binding = self.plan().binding(0)
        assert binding is not None
        assert binding.process_kind == "EngineCore"

    def test_ray_workers_unbound(self) -> None:
        """Ray actors are not bound by vLLM; nor are the lists checked for them (one entry is no error)."""
        compiled = pconf.compile_dict({"parallel": {"numa_bind": True, "numa_bind_nodes": [0],
                                                    "tensor_parallel_size": 4, "distributed_executor_backend": "ray"},
                                       "cluster": {"devices_per_node": 4, "ray_installed": True}})
        assert [w.rule for w in compiled.warnings] == ["numa.not_bound"]
        plan = compiled.plan()
        assert plan.binding(1) is None
        assert plan.env(1)["PCONF_NUMA_BIND"] == "none"
        assert plan.binding(0, "EngineCore") is not None

    def test_external_launcher_nothing(self) -> None:
        plan = self.plan(tensor_parallel_size=4, distributed_executor_backend="external_launcher")
        assert plan.numa.mode == "off"
        assert plan.binding(0) is None
        assert plan.binding(0, "EngineCore") is None
