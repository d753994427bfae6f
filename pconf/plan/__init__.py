"""ResolvedConfig -> Plan: every process's node, local rank and coordinates, every group, ports, env.

The layout is data, in ``pconf.plan.layout`` (spec §11): the rank array's axes, and each group kind as the order
that array is flattened in and the length of the runs it is cut into (``GROUP_LAYOUT``); node placement is one
more such cut of the same ranks (``NODE_LAYOUT``). EP groups exist only for MoE or unknown models (EPLB uses the
same ranks).

N, the number of processes, is ``world_size_across_dp``, except with the external_launcher backend, where
vLLM's world_size already counts DP (and world_size_across_dp counts it twice): there N = world_size. The nodes
are ``derived.nodes``: ``nnodes``, or ``data_parallel_size / data_parallel_size_local`` in vLLM's DP-only
multi-node form (``pconf.engine_args``). The facts the plan and the compile-time checks share (processes, nodes,
ports) come from ``pconf.deployment``.

Groups are computed from ranges (no per-rank Python loop for the member lists) and rank rows are computed on
demand, so one rank's slice of a large plan costs O(1) plus its groups' sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat
from typing import Any, NamedTuple

from pconf import deployment
from pconf.cpulist import format_cpu_list
from pconf.deployment import MAX_PORT, MAX_RANKS, Ports
from pconf.errors import Issue, Location, RuleError
from pconf.keypath import KeyPath
from pconf.numa.binding import Binding, NodeList, local_layout, node_list, process_binding, vllm_binds
from pconf.plan.layout import AXES, GROUP_KINDS, GROUP_LAYOUT, NODE_AXES, NODE_LAYOUT, Grid
from pconf.resolve import ResolvedConfig

__all__ = ["GROUP_KINDS", "MAX_PORT", "MAX_RANKS", "Plan", "Ports", "RankInfo", "make_plan"]

class RankInfo(NamedTuple):
    """One process: where it runs and its coordinate on every axis (``ep`` is None without EP groups)."""

    rank: int
    node: int
    local_rank: int
    dp: int
    pp: int
    pcp: int
    tp: int
    dcp: int
    ep: int | None

    def as_dict(self) -> dict[str, int | None]:
        return self._asdict()


@dataclass(frozen=True)
class Plan:
    """What every process of a deployment does. Build it with ``make_plan`` (or ``pconf.plan_files``)."""

    resolved: ResolvedConfig
    graph_hash: str
    world_size: int
    nnodes: int
    per_node: int
    dp: int
    pp: int
    pcp: int
    tp: int
    dcp: int
    has_ep: bool
    ports: Ports
    _rows: list[RankInfo] = field(default_factory=list, repr=False, compare=False)

    # -- ranks and groups: derived from the tables of pconf.plan.layout -----------------------------------------

    @cached_property
    def _layout(self) -> Grid:
        """The rank array (X, DP, PP, PCP, TP) and its group kinds."""
        x = self.world_size // (self.dp * self.pp * self.pcp * self.tp)
        sizes = (x, self.dp, self.pp, self.pcp, self.tp)
        return Grid(tuple(zip(AXES, sizes, strict=True)), GROUP_LAYOUT, {"dcp": self.dcp})

    @cached_property
    def _nodes(self) -> Grid:
        """The same ranks split by node (see ``NODE_LAYOUT``). On one node, and under external_launcher
        (torchrun's blocks of N / nnodes), the nodes are consecutive blocks."""
        p, d = self.resolved.parallel, self.resolved.derived
        if self.nnodes == 1 or p.distributed_executor_backend == "external_launcher":
            sizes = (1, 1, self.nnodes, self.world_size // self.nnodes)
        else:
            dp_local = p.data_parallel_size_local or 1
            sizes = (self.dp // dp_local, dp_local, d.nnodes_within_dp or 1, d.local_world_size or 1)
        return Grid(tuple(zip(NODE_AXES, sizes, strict=True)), NODE_LAYOUT)

    def rank(self, r: int) -> RankInfo:
        """The row of global rank ``r`` (computed directly, without the other rows): its node and local rank, and
        its index in its group of each kind (its coordinate on that kind's axis)."""
        if not 0 <= r < self.world_size:
            raise IndexError(f"rank {r} is outside 0..{self.world_size - 1}")
        place = self._layout.place
        dp, pp, pcp, tp, dcp = (place(kind, r)[1] for kind in ("dp", "pp", "pcp", "tp", "dcp"))
        return RankInfo(r, *self._nodes.place("node", r), dp, pp, pcp, tp, dcp,
                        place("ep", r)[1] if self.has_ep else None)

    @property
    def ranks(self) -> list[RankInfo]:
        """Every row, built once on first use."""
        if not self._rows:  # column by column (the same values as ``rank``, without a Python loop per rank)
            layout, nodes = self._layout, self._nodes
            coordinates = [layout.index_column(kind) for kind in ("dp", "pp", "pcp", "tp", "dcp")]
            ep = layout.index_column("ep") if self.has_ep else repeat(None)
            self._rows.extend(map(RankInfo, range(self.world_size), nodes.group_column("node"),
                                  nodes.index_column("node"), *coordinates, ep))
        return self._rows

    def node_ranks(self, node: int) -> list[int]:
        """The global ranks that run on ``node``, in local-rank order."""
        if not 0 <= node < self.nnodes:
            raise IndexError(f"node {node} is outside 0..{self.nnodes - 1}")
        return self._nodes.group("node", node)

    def groups(self, kind: str) -> list[list[int]]:
        """Every group of a kind (``tp``, ``pp``, ``dp``, ``ep``, ``dcp``, ``pcp``, ``world``) in vLLM's order."""
        if kind not in GROUP_LAYOUT:
            raise KeyError(f"unknown group kind {kind!r}; one of {', '.join(GROUP_LAYOUT)}")
        if kind == "ep" and not self.has_ep:
            return []
        return self._layout.groups(kind)

    def group_count(self, kind: str) -> int:
        """How many groups of ``kind`` there are (0 for EP without EP groups)."""
        if kind not in GROUP_LAYOUT:
            raise KeyError(f"unknown group kind {kind!r}; one of {', '.join(GROUP_LAYOUT)}")
        return 0 if kind == "ep" and not self.has_ep else self._layout.group_count(kind)

    def iter_groups(self, kind: str) -> Iterator[list[int]]:
        """``groups(kind)`` one group at a time: memory for one group (the streaming emitters write them so)."""
        if kind not in GROUP_LAYOUT:
            raise KeyError(f"unknown group kind {kind!r}; one of {', '.join(GROUP_LAYOUT)}")
        return iter(()) if kind == "ep" and not self.has_ep else self._layout.iter_groups(kind)

    def group_of(self, kind: str, r: int) -> list[int]:
        """The members of rank ``r``'s group of ``kind``, computed without building the other groups."""
        if not 0 <= r < self.world_size:
            raise IndexError(f"rank {r} is outside 0..{self.world_size - 1}")
        if kind not in GROUP_LAYOUT:
            raise KeyError(f"unknown group kind {kind!r}")
        if kind == "ep" and not self.has_ep:
            return []
        return self._layout.group_of(kind, r)

    def all_groups(self) -> dict[str, list[list[int]]]:
        """Every kind's groups, in vLLM's creation order (TP, PP, DP, EP, DCP, PCP)."""
        return {kind: self.groups(kind) for kind in GROUP_KINDS}

    # -- per-rank environment -------------------------------------------------------------------------------

    def env(self, r: int) -> dict[str, str]:
        """The environment a launcher gives rank ``r``: torchrun's variables, vLLM's DP variables, the hash, the
        network's (``network_env``) and the NUMA binding's (``numa_env``)."""
        info = self.rank(r)
        p = self.resolved.parallel
        dp_local = info.dp if self.nnodes == 1 else info.dp % max(p.data_parallel_size_local, 1)
        ports = self.ports
        env = {
            "RANK": str(r),
            "LOCAL_RANK": str(info.local_rank),
            "WORLD_SIZE": str(self.world_size),
            "LOCAL_WORLD_SIZE": str(self.per_node),
            "NODE_RANK": str(info.node),
            "MASTER_ADDR": ports.world_addr,
            "MASTER_PORT": "" if ports.world_port is None else str(ports.world_port),
            "VLLM_DP_RANK": str(info.dp),
            "VLLM_DP_RANK_LOCAL": str(dp_local),
            "VLLM_DP_SIZE": str(self.dp),
            "VLLM_DP_MASTER_IP": ports.dp_master_ip,
            "VLLM_DP_MASTER_PORT": "" if ports.dp_init_ports is None else str(p.data_parallel_master_port),
            "PCONF_GRAPH_HASH": self.graph_hash,
        }
        if ports.world_port is None:
            del env["MASTER_PORT"]
        if ports.dp_init_ports is None:  # vLLM picks the DP ports at run time
            del env["VLLM_DP_MASTER_PORT"]
        model = self.resolved.model
        if model is not None and model.pp_partition is not None:  # [model] pp_layer_partition: vLLM's split
            env["VLLM_PP_LAYER_PARTITION"] = ",".join(map(str, model.pp_partition))
        env.update(self.network_env(info.node))
        env.update(self.numa_env(r))
        return env

    def network_env(self, node: int) -> dict[str, str]:
        """The variables ``[cluster.network]`` sets on node ``node``: ``VLLM_HOST_IP`` (the node's address),
        ``GLOO_SOCKET_IFNAME`` and ``NCCL_SOCKET_IFNAME`` (``socket_ifname``), ``NCCL_IB_HCA`` (``ib_hca``); each
        only when given."""
        network = self.resolved.document.cluster.network
        env: dict[str, str] = {}
        if network.node_addresses and node < len(network.node_addresses):
            env["VLLM_HOST_IP"] = network.node_addresses[node]
        if network.socket_ifname:
            env["GLOO_SOCKET_IFNAME"] = env["NCCL_SOCKET_IFNAME"] = network.socket_ifname
        if network.ib_hca:
            env["NCCL_IB_HCA"] = network.ib_hca
        return env

    # -- NUMA binding (vLLM's numa_utils; see pconf.numa.binding) -------------------------------------------

    @property
    def numa(self) -> NodeList:
        """Where the GPU-to-NUMA-node list comes from (``mode``: off, nodes, topology or runtime) and why."""
        cluster = self.resolved.document.cluster
        return node_list(self.resolved.parallel, cluster.topology, cluster.device)

    def binding(self, r: int, process_kind: str = "worker") -> Binding | None:
        """Rank ``r``'s NUMA binding exactly as vLLM builds it: its worker's, or with ``process_kind="EngineCore"``
        the binding of its DP rank's EngineCore. None when numa_bind is off, when vLLM binds no such process
        (workers only under the mp executor; EngineCores unless they are Ray actors or external_launcher runs the
        ranks: ``pconf.numa.binding.vllm_binds``), or when the binding is left to vLLM's auto-detection at run time
        (no topology: ``plan.numa.reason`` says why). BindingError (``pconf.numa.binding``) where vLLM would fail;
        compiling reports those cases first, as ``numa.*`` errors."""
        nodes = self.numa.nodes
        bound = vllm_binds(self.resolved.parallel)
        if process_kind == "worker" and bound.worker is not None:
            process_kind = bound.worker  # under uni the worker lives in its EngineCore process, bound as that
        elif process_kind == "worker" or not bound.engines:
            return None
        if nodes is None:
            return None
        info = self.rank(r)
        p, d = self.resolved.parallel, self.resolved.derived
        local = info.local_rank
        if local_layout(p, d.nnodes_within_dp):  # vLLM's local_rank counts within the engine (its DP rank)
            local = (r - info.dp * self.pp * self.pcp * self.tp) % (d.local_world_size or 1)
        dp_local = info.dp if self.nnodes == 1 else info.dp % max(p.data_parallel_size_local, 1)
        return process_binding(p, self.resolved.document.cluster.topology, nodes, process_kind,
                               nnodes_within_dp=d.nnodes_within_dp, local_rank=local, dp_local=dp_local)

    def numa_env(self, r: int) -> dict[str, str]:
        """The ``PCONF_NUMA_*`` variables of rank ``r`` (none when numa_bind is off).

        ``PCONF_NUMA_BIND``: ``planned``, ``runtime`` (left to vLLM's auto-detection), or ``none`` (vLLM binds no
        worker with this executor: ``plan.numa.reason`` or ``vllm_binds`` says why); then nothing else.
        ``PCONF_NUMA_NODE``: the worker's NUMA node; ``PCONF_NUMA_GPU_INDEX``: the GPU index vLLM binds by;
        ``PCONF_CPUS``: the CPUs it may run on (canonical CPU list; absent when only the host knows them);
        ``PCONF_NUMACTL_ARGS``: vLLM's numactl arguments; ``PCONF_NUMACTL``: the whole ``numactl ...`` prefix.
        """
        if not self.resolved.parallel.numa_bind:
            return {}
        if vllm_binds(self.resolved.parallel).worker is None:
            return {"PCONF_NUMA_BIND": "none"}
        b = self.binding(r)
        if b is None:
            return {"PCONF_NUMA_BIND": "runtime"}
        env = {
            "PCONF_NUMA_BIND": "planned",
            "PCONF_NUMA_NODE": ",".join(map(str, b.nodes)),
            "PCONF_NUMA_GPU_INDEX": str(b.gpu_index),
            "PCONF_CPUS": format_cpu_list(b.allowed_cpus) if b.allowed_cpus is not None else "",
            "PCONF_NUMACTL_ARGS": " ".join(b.numactl_args),
            "PCONF_NUMACTL": b.numactl_command,
        }
        if b.allowed_cpus is None:
            del env["PCONF_CPUS"]
        return env

    def numa_dict(self, ranks: Iterable[int] | None = None) -> dict[str, object]:
        """The binding plan as plain data: the mode and why, each worker's binding, each DP rank's EngineCore."""
        numa = self.numa
        chosen = list(range(self.world_size)) if ranks is None else list(ranks)
        workers, engines = [], []
        seen: set[int] = set()
        for r in chosen:
            b = self.binding(r)
            info = self.rank(r)
            workers.append({"rank": r, **(b.as_dict() if b is not None else {})})
            if info.dp not in seen:
                seen.add(info.dp)
                e = self.binding(r, "EngineCore")
                engines.append({"dp_rank": info.dp, "node": info.node, **(e.as_dict() if e is not None else {})})
        return {"mode": numa.mode, "source": numa.reason, "workers": workers, "engine_cores": engines}

    def rank_dict(self, r: int) -> dict[str, Any]:
        """One rank's slice: its row, the members of each of its groups, its environment (and its NUMA binding
        when numa_bind is on)."""
        doc = {"world_size": self.world_size, "graph_hash": self.graph_hash, "rank": self.rank(r).as_dict(),
               "groups": {kind: self.group_of(kind, r) for kind in GROUP_KINDS}, "env": self.env(r)}
        if self.numa.mode != "off":  # the binding only when numa_bind is on: other plans keep their shape
            doc["numa"] = self.numa_dict([r])
        model = self.resolved.model
        if model is not None:  # with a [model] table: its layers and experts (pconf.model.placement)
            from pconf.model.placement import rank_placement

            info = self.rank(r)
            doc["model"] = rank_placement(self.resolved.parallel, model, info.pp, info.dp, info.pcp, info.tp).as_dict()
        return doc

    def to_dict(self, node: int | None = None) -> dict[str, object]:
        """The plan as plain data: ``{world_size, nnodes, ranks, groups, ports, graph_hash}`` (one node's ranks
        only, when ``node`` is given; groups stay whole)."""
        rows = self.ranks if node is None else [self.rank(r) for r in self.node_ranks(node)]
        doc: dict[str, object] = {
            "world_size": self.world_size,
            "nnodes": self.nnodes,
            "ranks_per_node": self.per_node,
            "graph_hash": self.graph_hash,
            "sizes": {"dp": self.dp, "pp": self.pp, "pcp": self.pcp, "tp": self.tp, "dcp": self.dcp},
            "ports": self.ports.as_dict(),
            "ranks": [row.as_dict() for row in rows],
            "groups": self.all_groups(),
        }
        if self.resolved.parallel.numa_bind:  # only then: plans without binding keep their shape
            doc["numa"] = self.numa_dict(row.rank for row in rows)
        if self.resolved.model is not None:  # with a [model] table: layers per stage, experts per EP rank
            from pconf.model.placement import plan_placement

            doc["model"] = plan_placement(self.resolved.parallel, self.resolved.model)
        return doc


def rank_span(ranks: Iterable[int]) -> str:
    """A list of ranks in words: ``0-3`` for a run of more than two consecutive ranks, else ``0,4,8``; ``none``."""
    ranks = list(ranks)
    if len(ranks) > 2 and ranks == list(range(ranks[0], ranks[-1] + 1)):
        return f"{ranks[0]}-{ranks[-1]}"
    return ",".join(map(str, ranks)) or "none"


def make_plan(resolved: ResolvedConfig, graph_hash: str, locate: Callable[[KeyPath], Location]) -> Plan:
    """Lay out the plan of a resolved configuration.

    Compiling has refused every layout that cannot work (``pconf.rules.deploy``); a configuration resolved some
    other way is checked here by the same functions, and RuleError says what is wrong. ``locate`` maps a key path
    to the Location that set it (``Compiled.rule_location``), for those errors.
    """
    checks = (("plan.too_many_ranks", deployment.rank_issues), ("plan.nodes", deployment.node_issues),
              ("plan.devices", deployment.device_issues),
              ("plan.port_range", lambda r: deployment.port_issues(r)[0]),
              ("plan.port_collision", lambda r: deployment.port_issues(r)[1]))
    issues: list[Issue] = []
    for rule_id, check in checks:
        issues += [found.placed(locate(found.path), rule=rule_id) for found in check(resolved)]
        if issues and rule_id == "plan.too_many_ranks":
            break
    if issues:
        raise RuleError(issues)
    p = resolved.parallel
    return Plan(
        resolved=resolved, graph_hash=graph_hash, world_size=deployment.processes(resolved),
        nnodes=resolved.derived.nodes, per_node=deployment.per_node(resolved), dp=p.data_parallel_size,
        pp=p.pipeline_parallel_size, pcp=p.prefill_context_parallel_size, tp=p.tensor_parallel_size,
        dcp=p.decode_context_parallel_size, has_ep=p.is_moe_model is not False, ports=deployment.ports(resolved),
    )
