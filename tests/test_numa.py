"""NUMA: topology discovery from recorded sysfs trees, the declared topology, and vLLM's binding rules.

The trees under ``tests/data/sysfs/`` (see its README) stand for ``/``: ``host-1node`` was recorded from the
machine these tests were written on; the others are built to the shape of real servers. Binding cases follow
vLLM's ``tests/utils_/test_numa_utils.py`` (spec §14), input for input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pconf
from pconf.compile import compile_dict, compile_files, topology_layer
from pconf.errors import LoadError, RuleError, SchemaError
from pconf.numa.binding import (
    Binding,
    BindingError,
    engine_binding,
    gpus_used,
    pct_cpus,
    pct_stride,
    process_binding,
    worker_binding,
)
from pconf.numa.sysfs import HostTopology, read_host_topology
from pconf.plan import Plan
from pconf.schema import NumaNode, ParallelConfig, Topology
from tests.helpers import call
from tests.profiles import examples

TREES = Path(__file__).resolve().parent / "data" / "sysfs"
TREE_NAMES = sorted(p.name for p in TREES.iterdir() if p.is_dir())
N0, N1 = "0-31,64-95", "32-63,96-127"


def tree(name: str) -> HostTopology:
    return read_host_topology(TREES / name)


def par(**kwargs: Any) -> ParallelConfig:
    """A ParallelConfig with numa_bind on and the given fields (lists as tuples, as structuring makes them)."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return attrs.evolve(ParallelConfig(numa_bind=True), **fields)


def topo(*cpus: str, gpus: tuple[int, ...] = (), pct: bool = False) -> Topology:
    """A declared topology with nodes 0, 1, ... holding the given CPU lists; ``pct``: on a Xeon 6776P whose
    cpu0 reports highest_perf 46, where vLLM's Priority Core Turbo gate holds."""
    return Topology(nodes=tuple(NumaNode(id=i, cpus=c) for i, c in enumerate(cpus)), gpus=gpus,
                    cpu_model="Intel(R) Xeon(R) 6776P" if pct else None, highest_perf=46 if pct else None)


def bound(plan: Plan, rank: int, process_kind: str = "worker") -> Binding:
    """The binding of a rank whose binding is planned."""
    binding = plan.binding(rank, process_kind)
    assert binding is not None
    return binding


# -- discovery ---------------------------------------------------------------------------------------------------


class TestReadHostTopology:
    def test_every_tree_reads(self) -> None:
        """Every recorded tree gives nodes with CPUs, sorted by id, and GPUs and NICs sorted by PCI address."""
        assert TREE_NAMES == ["gpu-numa-unknown", "hbm-nodes", "host-1node", "pct-6776p", "two-socket-8gpu"]
        for name in TREE_NAMES:
            host = tree(name)
            assert host.nodes, name
            assert [n.id for n in host.nodes] == sorted(n.id for n in host.nodes)
            assert [g.pci for g in host.gpus] == sorted(g.pci for g in host.gpus)
            assert [n.pci for n in host.nics] == sorted(n.pci for n in host.nics)
            assert any(n.cpus for n in host.nodes)

    def test_host_1node(self) -> None:
        """The recorded one-node VM: node 0 with CPUs 0-1, no GPU, its virtio NIC eth0 with numa_node -1."""
        host = tree("host-1node")
        assert [(n.id, n.cpus, n.distances) for n in host.nodes] == [(0, (0, 1), (10,))]
        assert host.nodes[0].memory_kb is not None
        assert host.gpus == ()
        assert [(n.pci, n.interfaces, n.numa_node) for n in host.nics] == [("0000:00:03.0", ("eth0",), -1)]
        assert (host.cpu_model, host.highest_perf) == ("AMD EPYC", None)
        assert host.source == "probe:" + str(TREES / "host-1node" / "sys")

    def test_two_socket_8gpu(self) -> None:
        """Eight H100s, four per socket, in PCI order; the BMC's VGA and the NVSwitches are not GPUs."""
        host = tree("two-socket-8gpu")
        assert [(n.id, n.distances, n.memory_kb) for n in host.nodes] == [
            (0, (10, 21), 1056594308), (1, (21, 10), 1056887440)]
        assert host.nodes[0].cpus == (*range(32), *range(64, 96))
        assert [g.pci for g in host.gpus] == ["0000:18:00.0", "0000:2a:00.0", "0000:3a:00.0", "0000:5d:00.0",
                                              "0000:9a:00.0", "0000:ab:00.0", "0000:ba:00.0", "0000:db:00.0"]
        assert [g.numa_node for g in host.gpus] == [0, 0, 0, 0, 1, 1, 1, 1]
        assert {(g.vendor, g.pci_class) for g in host.gpus} == {(0x10DE, 0x030200)}
        assert [(n.pci, n.interfaces, n.numa_node) for n in host.nics] == [
            ("0000:04:00.0", ("eno1",), 0), ("0000:1a:00.0", ("ibp26s0",), 0), ("0000:3c:00.0", ("ibp60s0",), 0),
            ("0000:9c:00.0", ("ibp156s0",), 1), ("0000:bc:00.0", ("ibp188s0",), 1)]
        assert host.topology_data() == {
            "nodes": [{"id": 0, "cpus": N0, "memory_mb": 1031830, "distances": [10, 21]},
                      {"id": 1, "cpus": N1, "memory_mb": 1032116, "distances": [21, 10]}],
            "gpus": [0, 0, 0, 0, 1, 1, 1, 1],
            "cpu_model": "Intel(R) Xeon(R) Platinum 8480+",
        }

    def test_gpu_numa_unknown(self) -> None:
        """A GPU whose numa_node is -1 stays unknown (-1); an AMD accelerator (class 0x0380) is a GPU too."""
        host = tree("gpu-numa-unknown")
        assert [(g.pci, g.numa_node, g.vendor) for g in host.gpus] == [
            ("0000:00:05.0", 0, 0x10DE), ("0000:00:06.0", -1, 0x10DE), ("0000:00:07.0", 1, 0x1002)]
        assert host.topology_data()["gpus"] == [0, -1, 1]

    def test_hbm_nodes(self) -> None:
        """A GPU on a node without CPUs is bound to the node of its first local CPU, as vLLM's detection does."""
        host = tree("hbm-nodes")
        assert [(n.id, bool(n.cpus)) for n in host.nodes] == [(0, True), (1, True), (2, False), (3, False)]
        assert [g.numa_node for g in host.gpus] == [2, 3]
        assert host.topology_data()["gpus"] == [0, 1]
        assert host.topology_data()["nodes"][2] == {"id": 2, "cpus": "", "memory_mb": 192000,
                                                    "distances": [80, 80, 10, 80]}

    def test_pct_tree(self) -> None:
        """The Xeon 6776P tree carries the two facts of vLLM's PCT gate."""
        host = tree("pct-6776p")
        assert (host.cpu_model, host.highest_perf) == ("Intel(R) Xeon(R) 6776P", 46)
        assert host.to_dict()["pct_cpus"] == ",".join(
            str(c) for c in range(256) if c % 16 in (0, 1))

    def test_missing_root(self, tmp_path: Path) -> None:
        """An empty root (a mistyped --sysfs-root) is not a host with no CPUs: a LoadError naming where it looked."""
        with pytest.raises(LoadError) as caught:
            read_host_topology(tmp_path)
        [issue] = caught.value.issues
        assert (issue.rule, str(issue.where)) == ("numa.sysfs_empty", f"{tmp_path}/sys/devices/system/node")

    def test_no_numa_kernel(self, tmp_path: Path) -> None:
        """Without node directories (a kernel without NUMA) all online CPUs form node 0."""
        (tmp_path / "sys/devices/system/cpu").mkdir(parents=True)
        (tmp_path / "sys/devices/system/cpu/online").write_text("0-7\n")
        assert [(n.id, n.cpus) for n in read_host_topology(tmp_path).nodes] == [(0, tuple(range(8)))]

    def test_class_net_links(self, tmp_path: Path) -> None:
        """An interface in class/net is matched to its PCI device by its link, read but never followed."""
        device = tmp_path / "sys/bus/pci/devices/0000:81:00.0"
        device.mkdir(parents=True)
        for name, value in (("class", "0x0c0330"), ("vendor", "0x15b3"), ("numa_node", "1")):
            (device / name).write_text(value + "\n")
        (tmp_path / "sys/class/net").mkdir(parents=True)
        os.symlink("../../devices/pci0000:80/0000:80:01.0/0000:81:00.0/net/ib0", tmp_path / "sys/class/net/ib0")
        os.symlink("../../devices/virtual/net/lo", tmp_path / "sys/class/net/lo")
        (tmp_path / "sys/devices/system/cpu").mkdir(parents=True)
        (tmp_path / "sys/devices/system/cpu/online").write_text("0-3\n")
        host = read_host_topology(tmp_path)
        assert [(n.pci, n.interfaces, n.numa_node) for n in host.nics] == [("0000:81:00.0", ("ib0",), 1)]

    def test_reads_only_below_root(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Discovery opens no file outside the root it is given."""
        opened: list[str] = []
        real_open = os.open

        def spy(path: Any, *args: Any, **kwargs: Any) -> int:
            opened.append(os.fspath(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", spy)
        root = (TREES / "two-socket-8gpu").resolve()
        read_host_topology(root)
        assert opened
        assert all(p.startswith(str(root) + os.sep) for p in opened)


# -- the declared topology ---------------------------------------------------------------------------------------


class TestDeclaredTopology:
    def test_probe_data_compiles_as_declared(self) -> None:
        """What a probe finds, written as [cluster.topology], compiles to the same topology."""
        for name in TREE_NAMES:
            data = tree(name).topology_data()
            compiled = compile_dict({"cluster": {"topology": data}})
            assert compiled.to_dict()["cluster"]["topology"] == {"cpu_model": None, "highest_perf": None, **data,
                                                                 "nodes": [{"memory_mb": None, "distances": None,
                                                                            **n} for n in data["nodes"]]}

    def test_toml_and_yaml_say_the_same(self, tmp_path: Path) -> None:
        """An array of inline tables in TOML and a list of maps in YAML give the same topology."""
        (tmp_path / "a.toml").write_text(f'[cluster.topology]\nnodes = [{{ id = 0, cpus = "{N0}" }}, '
                                         f'{{ id = 1, cpus = "{N1}" }}]\ngpus = [0, 0, 1, 1]\n')
        (tmp_path / "a.yaml").write_text(f'cluster:\n  topology:\n    nodes:\n      - {{id: 0, cpus: "{N0}"}}\n'
                                         f'      - {{id: 1, cpus: "{N1}"}}\n    gpus: [0, 0, 1, 1]\n')
        a, b = compile_files([tmp_path / "a.toml"]), compile_files([tmp_path / "a.yaml"])
        assert a.resolved.document.cluster.topology == b.resolved.document.cluster.topology
        assert a.resolved.document.cluster.topology == topo(N0, N1, gpus=(0, 0, 1, 1))

    def test_not_a_hash_factor(self) -> None:
        """The topology is a host fact: it never changes the graph hash."""
        assert str(compile_dict({}).graph_hash) == str(
            compile_dict({"cluster": {"topology": tree("two-socket-8gpu").topology_data()}}).graph_hash)

    @pytest.mark.parametrize(("topology", "rendered"), [
        pytest.param({"nodes": [{"id": 0}]}, "<dict>: cluster.topology.nodes[0].cpus: `cpus` is required; add "
                     "cpus = ... to this table [schema.required]", id="missing-cpus"),
        pytest.param({"nodes": [{"id": 0, "cpus": "0-3", "cpu": 1}]}, "<dict>: cluster.topology.nodes[0].cpu: "
                     "unknown key `cpu` in [cluster.topology.nodes[0]]; did you mean `cpus`? [schema.unknown_key]",
                     id="unknown-key"),
        pytest.param({"nodes": [{"id": 0, "cpus": "3-0"}]}, "<dict>: cluster.topology.nodes[0].cpus: CPU ranges must "
                     "be ascending, but '3-0' is not (got \"3-0\"); write e.g. \"0-31,64-95\", or \"\" for a node "
                     "without CPUs [numa.cpus_syntax]", id="bad-cpus"),
        pytest.param({"nodes": [{"id": -1, "cpus": "0"}]}, "<dict>: cluster.topology.nodes[0].id: must be >= 0 (got "
                     "-1); use 0 or more [schema.bound]", id="negative-id"),
        pytest.param({"nodes": [{"id": 0, "cpus": "0"}, 3]}, "<dict>: cluster.topology.nodes[1]: must be a table "
                     "(got 3); write { key = value, ... } [schema.type]", id="not-a-table"),
        pytest.param({"nodes": {"id": 0}}, "<dict>: cluster.topology.nodes: must be a list of tables (got "
                     "{\"id\": 0}); write [{ key = value, ... }, ...] [schema.type]", id="not-a-list"),
        pytest.param({"gpus": [0, -2]}, "<dict>: cluster.topology.gpus[1]: must be a NUMA node number, or -1 for "
                     "unknown (got -2); use the node numbers numactl --hardware shows [numa.gpu_node]",
                     id="gpu-node"),
        pytest.param({"highest_perf": "46"}, "<dict>: cluster.topology.highest_perf: must be an integer (got "
                     "\"46\"); write 46 without quotes [schema.type]", id="perf-type"),
        pytest.param({"sockets": 2}, "<dict>: cluster.topology.sockets: unknown key `sockets` in "
                     "[cluster.topology]; remove it (`pconf compile` prints every key there is) [schema.unknown_key]",
                     id="unknown-topology-key"),
    ])
    def test_schema_errors(self, topology: dict[str, Any], rendered: str) -> None:
        """Each mistake in a declared topology is one located SchemaError issue."""
        with pytest.raises(SchemaError) as caught:
            compile_dict({"cluster": {"topology": topology}})
        assert [i.render() for i in caught.value.issues] == [rendered]

    def test_every_element_error_reported(self) -> None:
        """Problems in several nodes are all reported, each at its own index."""
        with pytest.raises(SchemaError) as caught:
            compile_dict({"cluster": {"topology": {"nodes": [{"id": -1, "cpus": "x"}, {"cpus": "0"}]}}})
        assert [i.key for i in caught.value.issues] == [
            "cluster.topology.nodes[0].cpus", "cluster.topology.nodes[0].id", "cluster.topology.nodes[1].id"]

    def test_memory_only_node(self) -> None:
        """cpus = "" declares a node without CPUs."""
        compiled = compile_dict({"cluster": {"topology": {"nodes": [{"id": 0, "cpus": "0-3"}, {"id": 2, "cpus": ""}]}}})
        assert compiled.resolved.document.cluster.topology == Topology(
            nodes=(NumaNode(id=0, cpus="0-3"), NumaNode(id=2, cpus="")))


class TestProbeLayer:
    def test_provenance(self) -> None:
        """A probed topology replaces cluster.topology and every key of it is sourced from probe:<root>/sys."""
        root = TREES / "two-socket-8gpu"
        compiled = pconf.compile_dict({"parallel": {"numa_bind": True}})  # the dict API never probes
        assert compiled.resolved.document.cluster.topology is None
        layer = topology_layer(root)
        assert layer.name == f"probe:{root}/sys"
        assert layer.resets == ((("cluster", "topology"), pconf.Location.probe(f"{root}/sys")),)

    def test_compile_files_probe(self, tmp_path: Path) -> None:
        """compile_files(probe_topology=ROOT) takes the host's topology and says where it came from."""
        (tmp_path / "c.toml").write_text("[parallel]\nnuma_bind = true\n[cluster.topology]\ngpus = [5]\n")
        root = TREES / "two-socket-8gpu"
        compiled = compile_files([tmp_path / "c.toml"], probe_topology=root)
        sources = compiled.to_dict()["sources"]
        topology = compiled.resolved.document.cluster.topology
        assert topology is not None
        assert topology.gpus == (0, 0, 0, 0, 1, 1, 1, 1)  # the declared [5] is replaced, not merged
        assert sources["cluster.topology.gpus"] == f"probe:{root}/sys"
        assert sources["cluster.topology.nodes"] == f"probe:{root}/sys"
        assert compiled.warnings == ()

    def test_set_overrides_probe(self, tmp_path: Path) -> None:
        """--set applies after the probe, so it can still correct a probed fact."""
        (tmp_path / "c.toml").write_text("[parallel]\nnuma_bind = true\ntensor_parallel_size = 2\n")
        compiled = compile_files([tmp_path / "c.toml"], ["cluster.topology.gpus=[1, 1, 1, 1, 0, 0, 0, 0]"],
                                 probe_topology=TREES / "two-socket-8gpu")
        assert compiled.source(("cluster", "topology", "gpus")) == (
            "--set cluster.topology.gpus=[1, 1, 1, 1, 0, 0, 0, 0]")
        assert compiled.plan().binding(0) == Binding("worker", 0, (1,), None, "node",
                                                     (*range(32, 64), *range(96, 128)))

    def test_probe_errors_point_at_the_probe(self, tmp_path: Path) -> None:
        """A rule about the probed topology names probe:<root>/sys as the place the value came from."""
        (tmp_path / "c.toml").write_text("[parallel]\nnuma_bind = true\ntensor_parallel_size = 16\n")
        root = TREES / "two-socket-8gpu"
        with pytest.raises(RuleError) as caught:
            compile_files([tmp_path / "c.toml"], ["cluster.devices_per_node=16"], probe_topology=root)
        assert [i.render() for i in caught.value.issues] == [
            f"probe:{root}/sys: cluster.topology.gpus: covers 8 GPUs, but the workers of a node use GPU indices 0-15 "
            "(got [0, 0, 0, 0, 1, 1, 1, 1]); list the NUMA node for each of the 16 GPUs (vLLM fails at worker "
            "start: GPU index 8 exceeds gpus size 8) [numa.topology_gpus_too_short]"]

    def test_nothing_probed_unless_asked(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Compiling and planning never read sysfs unless a probe is asked for."""
        import pconf.numa.sysfs

        def refuse(*_: object) -> HostTopology:
            raise AssertionError("probed without being asked")

        monkeypatch.setattr(pconf.numa.sysfs, "read_host_topology", refuse)
        (tmp_path / "c.toml").write_text("[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0]\n"
                                         "[cluster]\ndevices_per_node = 1\n")
        assert compile_files([tmp_path / "c.toml"]).plan().binding(0) is not None


# -- vLLM's binding rules (spec §13, the cases of vLLM's test_numa_utils.py, §14) --------------------------------


class TestVllmWorkerArgs:
    def test_nodes_local_rank(self) -> None:
        """nodes [0,1], local_rank 1 -> --cpunodebind=1 --membind=1."""
        b = worker_binding(par(numa_bind_nodes=[0, 1]), None, (0, 1), nnodes_within_dp=1, local_rank=1, dp_local=0)
        assert b.numactl_args == ("--cpunodebind=1", "--membind=1")
        assert (b.gpu_index, b.cpu_source, b.allowed_cpus) == (1, "node", None)

    def test_cpus(self) -> None:
        """nodes [0,1] with cpus ["0-3","4-7"], local_rank 1 -> --physcpubind=4-7 --membind=1."""
        p = par(numa_bind_nodes=[0, 1], numa_bind_cpus=["0-3", "4-7"])
        b = worker_binding(p, None, (0, 1), nnodes_within_dp=1, local_rank=1, dp_local=0)
        assert b.numactl_args == ("--physcpubind=4-7", "--membind=1")
        assert b.allowed_cpus == (4, 5, 6, 7)

    def test_cpus_kept_verbatim(self) -> None:
        """vLLM passes the user's CPU list to numactl as written."""
        p = par(numa_bind_nodes=[0], numa_bind_cpus=["03,00-01"])
        b = worker_binding(p, None, (0,), nnodes_within_dp=1, local_rank=0, dp_local=0)
        assert (b.cpus, b.allowed_cpus) == ("03,00-01", (0, 1, 3))

    def test_dp_offset(self) -> None:
        """nodes [0,0,1,1], TP 2, dp_rank_local 1, local_rank 1 -> GPU 3 -> --cpunodebind=1 --membind=1."""
        p = par(numa_bind_nodes=[0, 0, 1, 1], tensor_parallel_size=2)
        b = worker_binding(p, None, (0, 0, 1, 1), nnodes_within_dp=1, local_rank=1, dp_local=1)
        assert (b.gpu_index, b.numactl_command) == (3, "numactl --cpunodebind=1 --membind=1")

    @pytest.mark.parametrize("backend", ["ray", "external_launcher"])
    def test_no_dp_offset_outside_local_layout(self, backend: str) -> None:
        """With ray or external_launcher (or a replica across nodes) the GPU index is the local rank."""
        p = par(numa_bind_nodes=[0, 0, 1, 1], tensor_parallel_size=2, distributed_executor_backend=backend)
        b = worker_binding(p, None, (0, 0, 1, 1), nnodes_within_dp=1, local_rank=1, dp_local=1)
        assert b.gpu_index == 1
        b = worker_binding(par(numa_bind_nodes=[0, 1]), None, (0, 1), nnodes_within_dp=2, local_rank=1, dp_local=1)
        assert b.gpu_index == 1

    def test_pct(self) -> None:
        """PCT on, nodes [0,1], no cpus, local_rank 1 -> the node's priority cores, comma-joined."""
        b = worker_binding(par(numa_bind_nodes=[0, 1]), topo("32-63", N0, pct=True), (0, 1), nnodes_within_dp=1,
                           local_rank=1, dp_local=0)
        assert b.numactl_args == ("--physcpubind=0,1,16,17,64,65,80,81", "--membind=1")
        assert b.cpu_source == "pct"

    def test_user_cpus_override_pct(self) -> None:
        """A numa_bind_cpus entry wins over PCT cores."""
        p = par(numa_bind_nodes=[0, 1], numa_bind_cpus=["0-3", "4-7"])
        b = worker_binding(p, topo(N0, N1, pct=True), (0, 1), nnodes_within_dp=1, local_rank=1, dp_local=0)
        assert b.numactl_args == ("--physcpubind=4-7", "--membind=1")

    def test_node_cpus_from_topology(self) -> None:
        """Without PCT, a known topology tells which CPUs --cpunodebind allows."""
        b = worker_binding(par(numa_bind_nodes=[0, 1]), topo(N0, N1), (0, 1), nnodes_within_dp=1, local_rank=1,
                           dp_local=0)
        assert b.numactl_args == ("--cpunodebind=1", "--membind=1")
        assert b.allowed_cpus == (*range(32, 64), *range(96, 128))

    @pytest.mark.parametrize(("key", "lists"), [
        ("numa_bind_nodes", {"numa_bind_nodes": [0, 1]}),
        ("numa_bind_cpus", {"numa_bind_nodes": [0, 1, 1], "numa_bind_cpus": ["0", "1"]}),
    ])
    def test_index_past_the_list(self, key: str, lists: dict[str, list[Any]]) -> None:
        """A GPU index past a list's end is vLLM's ValueError, word for word."""
        p = par(**lists)
        with pytest.raises(BindingError, match=rf"^GPU index 2 exceeds {key} size 2\. Ensure the binding lists "
                           "cover every visible GPU\\.$"):
            worker_binding(p, None, p.numa_bind_nodes or (), nnodes_within_dp=1, local_rank=2, dp_local=0)

    def test_bogus_process_kind(self) -> None:
        """An unknown process kind is refused, naming process_kind."""
        with pytest.raises(BindingError, match="process_kind"):
            process_binding(par(), None, (0,), "bogus", nnodes_within_dp=1, local_rank=0, dp_local=0)


class TestVllmEngineCoreArgs:
    def test_baseline(self) -> None:
        """nodes [0,1], TP 1, EngineCore of local DP rank 0 -> --cpunodebind=0 --membind=0."""
        b = engine_binding(par(numa_bind_nodes=[0, 1]), None, (0, 1), nnodes_within_dp=1, dp_local=0)
        assert b.numactl_args == ("--cpunodebind=0", "--membind=0")
        assert (b.process_kind, b.gpu_index) == ("EngineCore", None)

    def test_shard_spans_nodes(self) -> None:
        """nodes [0,0,1,1], TP 4 -> --cpunodebind=0,1 --membind=0,1."""
        b = engine_binding(par(numa_bind_nodes=[0, 0, 1, 1], tensor_parallel_size=4), None, (0, 0, 1, 1),
                           nnodes_within_dp=1, dp_local=0)
        assert b.numactl_command == "numactl --cpunodebind=0,1 --membind=0,1"

    def test_pct_union(self) -> None:
        """PCT on, node0 0-31,128-159, node1 64-95,192-223, nodes [0,0,1,1], TP 4 -> the union of both nodes'
        priority cores."""
        t = topo("0-31,128-159", "64-95,192-223", pct=True)
        b = engine_binding(par(numa_bind_nodes=[0, 0, 1, 1], tensor_parallel_size=4), t, (0, 0, 1, 1),
                           nnodes_within_dp=1, dp_local=0)
        assert b.numactl_args == ("--physcpubind=0,1,16,17,64,65,80,81,128,129,144,145,192,193,208,209",
                                  "--membind=0,1")

    def test_pct_dp_shard(self) -> None:
        """TP 2 and dp_rank_local 1 -> only node 1's priority cores."""
        t = topo("0-31,128-159", "64-95,192-223", pct=True)
        b = engine_binding(par(numa_bind_nodes=[0, 0, 1, 1], tensor_parallel_size=2), t, (0, 0, 1, 1),
                           nnodes_within_dp=1, dp_local=1)
        assert b.numactl_args == ("--physcpubind=64,65,80,81,192,193,208,209", "--membind=1")

    def test_pct_external_launcher(self) -> None:
        """external_launcher, TP 8, nodes [0x4, 1x4] -> every node of the list: the full 16-CPU union."""
        t = topo("0-31,128-159", "64-95,192-223", pct=True)
        p = par(numa_bind_nodes=[0] * 4 + [1] * 4, tensor_parallel_size=8,
                distributed_executor_backend="external_launcher")
        b = engine_binding(p, t, p.numa_bind_nodes or (), nnodes_within_dp=1, dp_local=0)
        assert b.numactl_args == ("--physcpubind=0,1,16,17,64,65,80,81,128,129,144,145,192,193,208,209",
                                  "--membind=0,1")

    def test_replica_across_nodes(self) -> None:
        """nnodes_within_dp 2, TP 8, nodes [0x4, 1x4] -> --cpunodebind=0,1 --membind=0,1."""
        p = par(numa_bind_nodes=[0] * 4 + [1] * 4, tensor_parallel_size=8)
        b = engine_binding(p, None, p.numa_bind_nodes or (), nnodes_within_dp=2, dp_local=0)
        assert b.numactl_args == ("--cpunodebind=0,1", "--membind=0,1")

    def test_ignores_user_cpus(self) -> None:
        """numa_bind_cpus never narrows an EngineCore (and switches its PCT binding off)."""
        p = par(numa_bind_nodes=[0, 0, 1, 1], numa_bind_cpus=["0-3", "4-7", "8-11", "12-15"], tensor_parallel_size=4)
        for t in (None, topo(N0, N1, pct=True)):
            b = engine_binding(p, t, (0, 0, 1, 1), nnodes_within_dp=1, dp_local=0)
            assert b.numactl_args == ("--cpunodebind=0,1", "--membind=0,1")

    def test_empty_shard(self) -> None:
        """A shard past the end of the list falls back to the list's first node."""
        b = engine_binding(par(numa_bind_nodes=[1, 0]), None, (1, 0), nnodes_within_dp=1, dp_local=5)
        assert b.nodes == (1,)


class TestPct:
    @pytest.mark.parametrize(("model", "perf", "stride"), [
        ("Intel(R) Xeon(R) 6776P", 46, 16),
        ("Intel(R) Xeon(R) 6774P", 46, 16),
        ("Intel(R) Xeon(R) 6962P", 44, 18),
        ("Intel(R) Xeon(R) 6962P", 46, None),
        ("Intel(R) Xeon(R) Platinum 8480+", 46, None),
        ("Intel(R) Xeon(R) 6776P", 42, None),
        ("Intel(R) Xeon(R) 6776P", None, None),
        (None, 46, None),
    ])
    def test_gate(self, model: str | None, perf: int | None, stride: int | None) -> None:
        """PCT applies only for a listed SKU whose cpu0 highest_perf matches the table."""
        assert pct_stride(model, perf) == stride

    @pytest.mark.parametrize(("cpulist", "stride", "cpus"), [
        ("0-31,64-95", 16, (0, 1, 16, 17, 64, 65, 80, 81)),
        ("0-31,64-95", 18, (0, 1, 18, 19, 72, 73, 90, 91)),
        ("2-15,18-31", 16, ()),
        (None, 16, ()),
    ])
    def test_priority_cores(self, cpulist: str | None, stride: int, cpus: tuple[int, ...]) -> None:
        """Priority cores are the node's CPUs with cpu % stride in {0, 1}; none (or an unknown node) is no PCT."""
        by_node = {} if cpulist is None else {0: tuple(c for p in cpulist.split(",")
                                                        for c in range(int(p.split("-")[0]), int(p.split("-")[1]) + 1))}
        assert pct_cpus([0], by_node, stride) == cpus

    def test_recorded_tree(self, tmp_path: Path) -> None:
        """A plan on the recorded 6776P host binds each worker to its node's priority cores."""
        (tmp_path / "c.toml").write_text("[parallel]\nnuma_bind = true\ntensor_parallel_size = 8\n")
        plan = compile_files([tmp_path / "c.toml"], probe_topology=TREES / "pct-6776p").plan()
        node0 = ",".join(str(c) for c in (*range(64), *range(128, 192)) if c % 16 in (0, 1))
        node1 = ",".join(str(c) for c in (*range(64, 128), *range(192, 256)) if c % 16 in (0, 1))
        assert [bound(plan, r).numactl_command for r in (0, 7)] == [
            f"numactl --physcpubind={node0} --membind=0", f"numactl --physcpubind={node1} --membind=1"]
        engine = plan.binding(0, "EngineCore")
        assert engine is not None
        assert engine.numactl_args[1] == "--membind=0,1"


# -- plans: auto, nodes and cpus modes ---------------------------------------------------------------------------


def plan_of(parallel: dict[str, Any], cluster: dict[str, Any] | None = None) -> Plan:
    return compile_dict({"parallel": {"numa_bind": True, **parallel}, "cluster": cluster or {}}).plan()


EIGHT_GPU = {"devices_per_node": 8, "topology": {"nodes": [{"id": 0, "cpus": N0}, {"id": 1, "cpus": N1}],
                                                 "gpus": [0, 0, 0, 0, 1, 1, 1, 1]}}


class TestPlanBinding:
    def test_auto_from_topology(self) -> None:
        """numa_bind with a topology and no lists: each GPU's node from the topology, whole-node CPU binding."""
        plan = plan_of({"tensor_parallel_size": 4, "data_parallel_size": 2}, EIGHT_GPU)
        assert plan.numa.mode == "topology"
        assert [bound(plan, r).numactl_command for r in range(8)] == (
            ["numactl --cpunodebind=0 --membind=0"] * 4 + ["numactl --cpunodebind=1 --membind=1"] * 4)
        assert [bound(plan, r, "EngineCore").nodes for r in (0, 4)] == [(0,), (1,)]
        assert plan.env(5)["PCONF_CPUS"] == N1

    def test_nodes_mode(self) -> None:
        """numa_bind_nodes decides the node of each GPU, whatever the topology says."""
        plan = plan_of({"tensor_parallel_size": 2, "numa_bind_nodes": [1, 0]}, {**EIGHT_GPU, "devices_per_node": 2})
        assert plan.numa.mode == "nodes"
        assert [bound(plan, r).nodes for r in range(2)] == [(1,), (0,)]

    def test_cpus_mode(self) -> None:
        """numa_bind_cpus pins each worker to its GPU's CPU list; the EngineCore binds to its nodes."""
        plan = plan_of({"tensor_parallel_size": 4, "numa_bind_nodes": [0, 0, 1, 1],
                        "numa_bind_cpus": ["0-7", "8-15", "32-39", "40-47"]}, {**EIGHT_GPU, "devices_per_node": 4})
        env = plan.env(2)
        assert {k: v for k, v in env.items() if k.startswith("PCONF_") and k != "PCONF_GRAPH_HASH"} == {
            "PCONF_NUMA_BIND": "planned", "PCONF_NUMA_NODE": "1", "PCONF_NUMA_GPU_INDEX": "2", "PCONF_CPUS": "32-39",
            "PCONF_NUMACTL_ARGS": "--physcpubind=32-39 --membind=1",
            "PCONF_NUMACTL": "numactl --physcpubind=32-39 --membind=1"}
        assert plan.binding(0, "EngineCore") == Binding("EngineCore", None, (0, 1), None, "node",
                                                        tuple(range(128)))

    def test_dp_offset_in_plan(self) -> None:
        """Single-node DP: DP rank 1's workers use GPUs 2 and 3 (vLLM's dp_local × PP × TP offset)."""
        plan = plan_of({"tensor_parallel_size": 2, "data_parallel_size": 2, "numa_bind_nodes": [0, 0, 1, 1]},
                       {"devices_per_node": 4})
        assert [(bound(plan, r).gpu_index, bound(plan, r).nodes) for r in range(4)] == [
            (0, (0,)), (1, (0,)), (2, (1,)), (3, (1,))]
        assert [bound(plan, r, "EngineCore").nodes for r in (0, 2)] == [(0,), (1,)]

    def test_multi_node_dp(self) -> None:
        """Two nodes with two DP ranks each: every node's workers use GPU indices 0-3 again."""
        plan = plan_of({"tensor_parallel_size": 2, "data_parallel_size": 4, "data_parallel_size_local": 2,
                        "nnodes": 2, "numa_bind_nodes": [0, 0, 1, 1], "master_addr": "10.0.0.1"},
                       {"devices_per_node": 4})
        assert [bound(plan, r).gpu_index for r in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]

    def test_runtime_mode(self) -> None:
        """No lists and no topology: no binding is planned; env and to_dict say it is decided at run time."""
        compiled = compile_dict({"parallel": {"numa_bind": True}})
        assert [w.rule for w in compiled.warnings] == ["numa.runtime_detection"]
        plan = compiled.plan()
        assert plan.binding(0) is None
        assert plan.env(0)["PCONF_NUMA_BIND"] == "runtime"
        assert "PCONF_NUMACTL" not in plan.env(0)
        numa = plan.to_dict()["numa"]
        assert isinstance(numa, dict)
        assert (numa["mode"], numa["source"]) == ("runtime", "no cluster.topology is declared or probed")

    def test_unknown_gpu_node(self) -> None:
        """A topology GPU of unknown node (-1) leaves the whole list to run time, as vLLM's detection is."""
        cluster = {"devices_per_node": 2, "topology": {"nodes": [{"id": 0, "cpus": "0-3"}, {"id": 1, "cpus": "4-7"}],
                                                       "gpus": [0, -1]}}
        plan = plan_of({}, cluster)
        assert (plan.numa.mode, plan.binding(0)) == ("runtime", None)

    def test_off(self) -> None:
        """numa_bind off: no binding, no PCONF_NUMA_* variables, no numa key in the plan."""
        plan = compile_dict({"parallel": {"tensor_parallel_size": 2}}).plan()
        assert plan.binding(0) is None
        assert not any(k.startswith("PCONF_NUMA") for k in plan.env(0))
        assert "numa" not in plan.to_dict()

    def test_to_dict(self) -> None:
        """to_dict adds a numa key (workers and EngineCores), its other keys unchanged."""
        plan = plan_of({"tensor_parallel_size": 2, "numa_bind_nodes": [0, 1]}, {"devices_per_node": 2})
        doc = plan.to_dict()
        assert list(doc)[-1] == "numa"
        assert doc["numa"] == {
            "mode": "nodes", "source": "parallel.numa_bind_nodes",
            "workers": [
                {"rank": 0, "process_kind": "worker", "gpu_index": 0, "numa_nodes": [0], "cpus": None,
                 "cpu_source": "node", "allowed_cpus": None, "numactl": "numactl --cpunodebind=0 --membind=0"},
                {"rank": 1, "process_kind": "worker", "gpu_index": 1, "numa_nodes": [1], "cpus": None,
                 "cpu_source": "node", "allowed_cpus": None, "numactl": "numactl --cpunodebind=1 --membind=1"}],
            "engine_cores": [
                {"dp_rank": 0, "node": 0, "process_kind": "EngineCore", "gpu_index": None, "numa_nodes": [0, 1],
                 "cpus": None, "cpu_source": "node", "allowed_cpus": None,
                 "numactl": "numactl --cpunodebind=0,1 --membind=0,1"}],
        }


LAYOUTS = st.fixed_dictionaries({
    "tensor_parallel_size": st.sampled_from([1, 2, 4]),
    "pipeline_parallel_size": st.sampled_from([1, 2]),
    "prefill_context_parallel_size": st.sampled_from([1, 2]),
    "data_parallel_size": st.sampled_from([1, 2, 4]),
    "data_parallel_size_local": st.sampled_from([1, 2]),
    "nnodes": st.sampled_from([1, 2]),
    "distributed_executor_backend": st.sampled_from(["mp", "external_launcher"]),
})


class TestGpusUsed:
    @settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
    @given(LAYOUTS)
    def test_matches_the_plan(self, layout: dict[str, Any]) -> None:
        """The count the numa.*_too_short rules check is the plan's highest GPU index + 1, on every node (where
        vLLM binds workers by GPU index: the mp executor)."""
        assume(layout.get("distributed_executor_backend") != "external_launcher")
        doc = {"parallel": {**layout, "numa_bind": True, "numa_bind_nodes": [0] * 64, "is_moe_model": True,
                            "distributed_executor_backend": "mp", "master_addr": "10.0.0.1"},
               "cluster": {"devices_per_node": 64}}
        try:
            plan = compile_dict(doc).plan()
        except pconf.ConfigError:
            assume(False)
            raise
        r = plan.resolved
        used = gpus_used(r.parallel, nnodes_within_dp=r.derived.nnodes_within_dp,
                         local_world_size=r.derived.local_world_size, processes=plan.world_size, nodes=plan.nnodes)
        for node in range(plan.nnodes):
            indices = [bound(plan, rank).gpu_index for rank in plan.node_ranks(node)]
            assert max(i for i in indices if i is not None) + 1 == used
            assert None not in indices


# -- pconf numa and pconf plan on the command line ---------------------------------------------------------------


class TestNumaCli:
    @pytest.mark.parametrize("name", TREE_NAMES)
    def test_json_contract(self, capsys: pytest.CaptureFixture[str], name: str) -> None:
        """--format json gives nodes with id and cpus, and GPUs with index, pci and numa_node in PCI order."""
        code, out, err = call(capsys, "numa", "--sysfs-root", str(TREES / name), "--format", "json")
        assert (code, err) == (0, "")
        doc = json.loads(out)
        host = tree(name)
        assert [(n["id"], n["cpus"]) for n in doc["nodes"]] == [
            (n.id, ",".join(_runs(n.cpus))) for n in host.nodes]
        assert [(g["index"], g["pci"], g["numa_node"]) for g in doc["gpus"]] == [
            (i, g.pci, g.numa_node) for i, g in enumerate(host.gpus)]

    def test_json_two_socket(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The 8-GPU server in JSON: the first GPU and NIC in full."""
        _, out, _ = call(capsys, "numa", "--sysfs-root", str(TREES / "two-socket-8gpu"), "--format", "json")
        doc = json.loads(out)
        assert doc["nodes"][0] == {"id": 0, "cpus": N0, "memory_mb": 1031830, "free_mb": 977768, "distances": [10, 21]}
        assert doc["gpus"][0] == {"index": 0, "pci": "0000:18:00.0", "vendor": "0x10de", "device": "0x2330",
                                  "class": "0x030200", "numa_node": 0, "local_cpus": N0, "vendor_name": "nvidia",
                                  "bind_node": 0}
        assert doc["nics"][1] == {"pci": "0000:1a:00.0", "vendor": "0x15b3", "device": "0x1021", "class": "0x020700",
                                  "numa_node": 0, "local_cpus": N0, "interfaces": ["ibp26s0"]}

    def test_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The table lists nodes, GPUs (with the node vLLM binds to) and NICs."""
        root = TREES / "gpu-numa-unknown"
        code, out, _ = call(capsys, "numa", "--sysfs-root", str(root))
        assert code == 0
        assert out == (
            f"2 NUMA nodes (probe:{root}/sys)\n"
            "  node  cpus   memory     distances\n"
            "  0     0-15   64000 MiB  10 20\n"
            "  1     16-31  64000 MiB  20 10\n"
            "GPUs (CUDA order: PCI bus id):\n"
            "  gpu  pci           vendor  numa_node  binds_to  local_cpus\n"
            "  0    0000:00:05.0  nvidia  0          0         0-15\n"
            "  1    0000:00:06.0  nvidia  -1         -1        0-31\n"
            "  2    0000:00:07.0  amd     1          1         16-31\n"
            "NICs:\n"
            "  pci           interfaces  numa_node  local_cpus\n"
            "  0000:00:03.0  -           -1         0-31\n"
            "CPU: AMD EPYC 9654 96-Core Processor\n")

    def test_toml_pastes_into_a_cluster_file(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """--format toml prints a [cluster.topology] table that compiles to what a probe gives."""
        root = TREES / "two-socket-8gpu"
        _, out, _ = call(capsys, "numa", "--sysfs-root", str(root), "--format", "toml")
        assert out.startswith(f"# probe:{root}/sys\n")
        (tmp_path / "c.toml").write_text(out)
        declared = compile_files([tmp_path / "c.toml"]).resolved.document.cluster.topology
        probed = compile_files([tmp_path / "c.toml"], probe_topology=root).resolved.document.cluster.topology
        assert declared == probed

    def test_this_host(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --sysfs-root, pconf numa reads this host and finds at least one node with CPUs."""
        code, out, _ = call(capsys, "numa", "--format", "json")
        doc = json.loads(out)
        assert code == 0
        assert doc["source"] == "probe:/sys"
        assert any(n["cpus"] for n in doc["nodes"])


def _runs(cpus: tuple[int, ...]) -> list[str]:
    from pconf.cpulist import format_cpu_list

    return [format_cpu_list(cpus)] if cpus else [""]


class TestPlanCli:
    def test_env_with_probe(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """pconf plan --format env --rank R --sysfs-root DIR includes the binding variables."""
        path = tmp_path / "c.toml"
        path.write_text("[parallel]\nnuma_bind = true\ntensor_parallel_size = 8\n")
        code, out, err = call(capsys, "plan", str(path), "--sysfs-root", str(TREES / "two-socket-8gpu"), "--rank", "5",
                              "--format", "env")
        assert (code, err) == (0, "")
        assert out.endswith("PCONF_NUMA_BIND=planned\nPCONF_NUMA_NODE=1\nPCONF_NUMA_GPU_INDEX=5\n"
                            f"PCONF_CPUS={N1}\nPCONF_NUMACTL_ARGS='--cpunodebind=1 --membind=1'\n"
                            "PCONF_NUMACTL='numactl --cpunodebind=1 --membind=1'\n")

    def test_table_with_binding(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """The plan table ends with each worker's binding and the EngineCore's."""
        path = tmp_path / "c.toml"
        path.write_text('[parallel]\ntensor_parallel_size = 2\nnuma_bind = true\nnuma_bind_nodes = [0, 1]\n'
                        'numa_bind_cpus = ["0-3", "4-7"]\n[cluster]\ndevices_per_node = 2\n')
        code, out, _ = call(capsys, "plan", str(path))
        assert code == 0
        assert out.endswith("numa: planned from parallel.numa_bind_nodes\n"
                            "  rank  gpu  numa  cpus  numactl\n"
                            "  0     0    0     0-3   numactl --physcpubind=0-3 --membind=0\n"
                            "  1     1    1     4-7   numactl --physcpubind=4-7 --membind=1\n"
                            "  EngineCore of DP rank 0: numactl --cpunodebind=0,1 --membind=0,1\n")

    def test_rank_json(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """--rank R --format json adds the rank's binding under numa."""
        path = tmp_path / "c.toml"
        path.write_text("[parallel]\nnuma_bind = true\nnuma_bind_nodes = [1]\n[cluster]\ndevices_per_node = 1\n")
        _, out, _ = call(capsys, "plan", str(path), "--rank", "0", "--format", "json")
        doc = json.loads(out)
        assert doc["numa"]["workers"][0]["numactl"] == "numactl --cpunodebind=1 --membind=1"
        assert doc["env"]["PCONF_NUMACTL"] == "numactl --cpunodebind=1 --membind=1"

    def test_runtime_table(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """Without a topology the plan says the binding is left to vLLM at run time (and warns once)."""
        path = tmp_path / "c.toml"
        path.write_text("[parallel]\nnuma_bind = true\n")
        code, out, err = call(capsys, "plan", str(path))
        assert code == 0
        assert out.endswith("numa: left to vLLM's auto-detection at run time (no cluster.topology is declared or "
                            "probed)\n")
        assert err.count("[numa.runtime_detection]") == 1

    def test_probe_single_node_host_fails_like_vllm(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """On the recorded one-node host, numa_bind without numa_bind_nodes is vLLM's detection failure: exit 2."""
        path = tmp_path / "c.toml"
        path.write_text("[parallel]\nnuma_bind = true\n")
        code, _, err = call(capsys, "plan", str(path), "--sysfs-root", str(TREES / "host-1node"))
        assert code == 2
        assert "[numa.auto_detection]" in err

    def test_compile_probe_sources(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """pconf compile --sysfs-root DIR prints the probed topology, sourced from probe:DIR/sys."""
        path = tmp_path / "c.toml"
        path.write_text("[cluster]\ndevice = \"cuda\"\n")
        root = TREES / "hbm-nodes"
        code, out, _ = call(capsys, "compile", str(path), "--sysfs-root", str(root))
        doc = json.loads(out)
        assert code == 0
        assert doc["cluster"]["topology"]["gpus"] == [0, 1]
        assert doc["sources"]["cluster.topology.nodes"] == f"probe:{root}/sys"


class TestExecDryRun:
    def test_probes_this_host_when_vllm_would_detect(self, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """Without numa_bind_nodes and a topology, pconf exec reads this host's topology, as vLLM detects it."""
        import pconf.numa.sysfs

        monkeypatch.setattr(pconf.numa.sysfs, "read_host_topology", lambda *_: tree("two-socket-8gpu"))
        path = tmp_path / "c.toml"
        path.write_text("[parallel]\nnuma_bind = true\ntensor_parallel_size = 8\n")
        code, out, err = call(capsys, "exec", str(path), "--rank", "6", "--bind", "numactl", "--dry-run", "--",
                              "python", "serve.py")
        assert code == 0
        assert "pconf exec: no cluster.topology; reading this host's (probe:/sys), as vLLM detects it at start\n" in err
        assert "PCONF_NUMA_NODE=1" in out.splitlines()
        assert out.splitlines()[-1] == "numactl --cpunodebind=1 --membind=1 python serve.py"

    def test_bind_none_does_not_probe(self, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """--bind none needs no binding, so nothing is probed."""
        import pconf.numa.sysfs

        def refuse(*_: object) -> HostTopology:
            raise AssertionError("probed without being asked")

        monkeypatch.setattr(pconf.numa.sysfs, "read_host_topology", refuse)
        path = tmp_path / "c.toml"
        path.write_text("[parallel]\nnuma_bind = true\n")
        code, out, _ = call(capsys, "exec", str(path), "--rank", "0", "--bind", "none", "--dry-run", "--", "true")
        assert code == 0
        assert out.splitlines()[-1] == "true"

