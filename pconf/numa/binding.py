"""vLLM's NUMA binding rules (``vllm/utils/numa_utils.py``, spec §13), turned into numactl arguments.

Pure: these functions read the configuration and a declared (or probed, see ``pconf.numa.sysfs``) topology, never
the host, and import no torch. They follow vLLM 0.23.0 to the letter:

1. GPU index of a worker (§13.2): ``local_rank + dp_local × PP × TP`` when the executor is neither ray nor
   external_launcher, the DP backend is not ray and a replica fits on one node (``nnodes_within_dp == 1``);
   otherwise ``local_rank``. (PCP is not in the multiplier, as in vLLM.)
2. NUMA node (§13.3): ``numa_bind_nodes[gpu_index]``; unset, the list vLLM's auto-detection finds (here: the
   declared or probed ``cluster.topology.gpus``). An index past the end is vLLM's ValueError.
3. Worker arguments (§13.4): CPUs = ``numa_bind_cpus[gpu_index]`` if set, else the node's PCT cores (§13.6) if
   any; with CPUs ``--physcpubind=<cpus> --membind=<node>``, without ``--cpunodebind=<node> --membind=<node>``.
4. EngineCore arguments: the sorted unique nodes of its DP shard (``[dp_local×PP×TP, +PP×TP)`` in the local
   layout, else the whole list; an empty shard gives ``[list[0]]``); ``numa_bind_cpus`` is ignored; PCT cores
   of those nodes when ``numa_bind_cpus`` is unset and PCT applies, else ``--cpunodebind=<nodes>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pconf.cpulist import CpuListError, format_cpu_list, parse_cpu_list
from pconf.schema import ParallelConfig, Topology

ProcessKind = Literal["worker", "EngineCore"]
PROCESS_KINDS: tuple[ProcessKind, ...] = ("worker", "EngineCore")


# -- Priority Core Turbo (spec §13.6) -------------------------------------------------------------------------


class PctSku(NamedTuple):
    """vLLM's PCT table entry: cpu0's expected CPPC highest_perf and the priority-core stride."""

    highest_perf: int
    stride: int


#: vLLM 0.23.0's ``_PCT_CAPABLE_SKUS``, in its order (the first SKU found in ``model name`` wins).
PCT_SKUS: Mapping[str, PctSku] = {
    "6776P": PctSku(46, 16),
    "6774P": PctSku(46, 16),
    "6962P": PctSku(44, 18),
}


def pct_stride(cpu_model: str | None, highest_perf: int | None) -> int | None:
    """The PCT stride when vLLM's gate holds: ``model name`` names a listed SKU and highest_perf matches it."""
    if cpu_model is None or highest_perf is None:
        return None
    sku = next((config for name, config in PCT_SKUS.items() if name in cpu_model), None)
    return sku.stride if sku is not None and sku.highest_perf == highest_perf else None


def pct_cpus(nodes: Iterable[int], node_cpus: Mapping[int, Sequence[int]], stride: int | None) -> tuple[int, ...]:
    """The priority cores of ``nodes`` (each node's CPUs with ``cpu % stride`` in {0, 1}), sorted; empty when PCT
    does not apply (no stride, or no such core), as vLLM's ``_maybe_get_pct_cpu_binding`` returning None."""
    if stride is None:
        return ()
    found = {cpu for node in nodes for cpu in node_cpus.get(node, ()) if cpu % stride in (0, 1)}
    return tuple(sorted(found))


# -- binding --------------------------------------------------------------------------------------------------


class BindingError(ValueError):
    """vLLM would fail to bind this process (an index past the end of a list, an unknown process kind)."""


@dataclass(frozen=True)
class Binding:
    """One process's NUMA binding, as vLLM builds it.

    ``nodes``: the memory nodes (``--membind``); a worker has exactly one, its GPU's node.
    ``cpus``: the ``--physcpubind`` value exactly as vLLM writes it (the user's string, or PCT cores
    comma-joined); None means whole nodes (``--cpunodebind``).
    ``cpu_source``: where the CPU binding came from: ``numa_bind_cpus``, ``pct``, or ``node``.
    ``allowed_cpus``: the CPUs the process may run on, when known (its ``cpus``, or its nodes' CPUs from the
    topology); None when only the host can say (``--cpunodebind`` without a topology).
    """

    process_kind: ProcessKind
    gpu_index: int | None
    nodes: tuple[int, ...]
    cpus: str | None
    cpu_source: Literal["numa_bind_cpus", "pct", "node"]
    allowed_cpus: tuple[int, ...] | None

    @property
    def numactl_args(self) -> tuple[str, ...]:
        """vLLM's numactl arguments: ``--physcpubind=C --membind=N`` or ``--cpunodebind=N --membind=N``."""
        nodes = ",".join(map(str, self.nodes))
        if self.cpus is not None:
            return (f"--physcpubind={self.cpus}", f"--membind={nodes}")
        return (f"--cpunodebind={nodes}", f"--membind={nodes}")

    @property
    def numactl_command(self) -> str:
        """The prefix a shell puts before the command: ``numactl --cpunodebind=1 --membind=1``."""
        return " ".join(("numactl", *self.numactl_args))

    def as_dict(self) -> dict[str, Any]:
        return {
            "process_kind": self.process_kind,
            "gpu_index": self.gpu_index,
            "numa_nodes": list(self.nodes),
            "cpus": self.cpus,
            "cpu_source": self.cpu_source,
            "allowed_cpus": format_cpu_list(self.allowed_cpus) if self.allowed_cpus is not None else None,
            "numactl": self.numactl_command,
        }


class NodeList(NamedTuple):
    """Where the GPU-to-node list comes from, as far as compiling can tell.

    ``mode``: ``off`` (numa_bind is false), ``nodes`` (numa_bind_nodes), ``topology`` (cluster.topology.gpus,
    what vLLM's auto-detection would find), or ``runtime`` (left to vLLM's auto-detection when the process
    starts: no topology, or a GPU whose node is unknown). ``reason`` says why, for people.
    """

    mode: Literal["off", "nodes", "topology", "runtime"]
    nodes: tuple[int, ...] | None
    reason: str


class Bound(NamedTuple):
    """How vLLM binds the processes of a run (``configure_subprocess`` wraps only the processes it spawns itself).

    ``worker``: how a rank's own process is bound: ``"worker"`` (the mp executor spawns it), ``"EngineCore"``
    (the uni executor runs the one worker inside its EngineCore process), or None (Ray actors, or torchrun's
    processes under external_launcher). ``engines``: whether the EngineCore processes are bound (vLLM spawns them
    unless the DP engines are Ray actors or external_launcher runs everything in torchrun's processes).
    ``reason``: what is left unbound, for people (empty when every rank's process is bound).
    """

    worker: ProcessKind | None
    engines: bool
    reason: str


def vllm_binds(p: ParallelConfig) -> Bound:
    """How vLLM 0.23.0 binds a run's processes with numa_bind on, for the resolved executor and DP backends."""
    backend = p.distributed_executor_backend
    if backend == "external_launcher":
        return Bound(None, False, "vLLM binds no process under external_launcher (torchrun starts them all)")
    engines = p.data_parallel_backend != "ray"
    if backend == "mp":
        return Bound("worker", engines, "")
    if backend == "uni" and engines:
        return Bound("EngineCore", True, "")
    workers = "its workers are Ray actors" if backend == "ray" else "the worker runs in a Ray actor" \
        if backend == "uni" else f"the {backend} executor starts its own workers"
    if engines:
        return Bound(None, True, f"vLLM binds only the EngineCore processes under the {backend} executor ({workers})")
    return Bound(None, False, f"vLLM binds no process: {workers} and the DP engines are Ray actors "
                 "(data_parallel_backend = ray)")


def local_layout(p: ParallelConfig, nnodes_within_dp: int | None) -> bool:
    """vLLM's condition for offsetting GPU indices by the local DP rank (spec §13.2)."""
    return (p.distributed_executor_backend not in ("ray", "external_launcher")
            and p.data_parallel_backend != "ray" and nnodes_within_dp == 1)


def gpu_index(p: ParallelConfig, nnodes_within_dp: int | None, local_rank: int, dp_local: int) -> int:
    """The visible-GPU index vLLM binds a worker by (``_get_gpu_index``)."""
    if local_layout(p, nnodes_within_dp):
        return local_rank + dp_local * p.pipeline_parallel_size * p.tensor_parallel_size
    return local_rank


def gpus_used(p: ParallelConfig, *, nnodes_within_dp: int | None, local_world_size: int | None,
              processes: int, nodes: int | None = None) -> int:
    """How many GPU indices the workers of one node use (the highest index + 1); every node uses the same ones.

    In the local layout (``local_layout``) a node runs ``dp_per_node`` engines of ``local_world_size`` workers,
    and worker ``l`` of local engine ``d`` uses index ``l + d × PP × TP``; otherwise a node's workers use their
    local ranks ``0 … processes / nodes - 1``. ``nodes``: the deployment's nodes (``nnodes`` when not given; more
    in vLLM's DP-only multi-node form, where each node runs data_parallel_size_local engines).
    """
    nodes = p.nnodes if nodes is None else nodes
    if local_layout(p, nnodes_within_dp):
        lws = local_world_size or 1
        dp_per_node = p.data_parallel_size if nodes == 1 else max(p.data_parallel_size_local, 1)
        return lws + (dp_per_node - 1) * p.pipeline_parallel_size * p.tensor_parallel_size
    return max(processes // max(nodes, 1), 1)


def auto_detection_problem(topology: Topology, device: str) -> str | None:
    """Why vLLM's auto-detection (spec §13.5) would find no GPU-to-node list on a host with this topology, or
    None when it would (then the list is ``topology.gpus``)."""
    if device not in ("cuda", "rocm"):
        return f"vLLM detects the GPU-to-node mapping on CUDA and ROCm only (cluster.device is {device!r})"
    if topology.nodes and not any(n.id == 1 for n in topology.nodes):
        return (f"vLLM's auto-detection needs at least two NUMA nodes (node1); the topology has "
                f"{len(topology.nodes)}")
    if not topology.gpus:
        return "the topology lists no GPUs"
    return None


def node_list(p: ParallelConfig, topology: Topology | None, device: str) -> NodeList:
    """The GPU-to-node list binding uses (see NodeList); an auto-detection failure is ``runtime`` here and an
    error in ``pconf.rules`` (``numa.auto_detection``)."""
    if not p.numa_bind:
        return NodeList("off", None, "numa_bind is false")
    bound = vllm_binds(p)
    if bound.worker is None and not bound.engines:
        return NodeList("off", None, bound.reason)
    if p.numa_bind_nodes is not None:
        return NodeList("nodes", p.numa_bind_nodes, "parallel.numa_bind_nodes")
    if topology is None:
        return NodeList("runtime", None, "no cluster.topology is declared or probed")
    problem = auto_detection_problem(topology, device)
    if problem:
        return NodeList("runtime", None, problem)
    if -1 in topology.gpus:
        unknown = [str(i) for i, n in enumerate(topology.gpus) if n < 0]
        which = f"GPU {unknown[0]}" if len(unknown) == 1 else f"GPUs {', '.join(unknown)}"
        return NodeList("runtime", None, f"cluster.topology.gpus does not know the NUMA node of {which} (-1)")
    return NodeList("topology", topology.gpus, "cluster.topology.gpus (what vLLM's auto-detection finds)")


def node_cpus(topology: Topology | None) -> dict[int, tuple[int, ...]]:
    """Each declared node's CPUs (empty without a topology)."""
    if topology is None:
        return {}
    out: dict[int, tuple[int, ...]] = {}
    for node in topology.nodes:
        try:
            out[node.id] = parse_cpu_list(node.cpus) if node.cpus else ()
        except CpuListError:  # structure refuses these; a hand-built Topology is not worth a crash here
            out[node.id] = ()
    return out


def worker_binding(p: ParallelConfig, topology: Topology | None, nodes: Sequence[int], *,
                   nnodes_within_dp: int | None, local_rank: int, dp_local: int) -> Binding:
    """A worker's binding (``_get_numactl_worker_args``); BindingError where vLLM raises its ValueError."""
    index = gpu_index(p, nnodes_within_dp, local_rank, dp_local)
    if index >= len(nodes):
        raise BindingError(f"GPU index {index} exceeds numa_bind_nodes size {len(nodes)}. Ensure the binding "
                           "lists cover every visible GPU.")
    node = nodes[index]
    by_node = node_cpus(topology)
    if p.numa_bind_cpus is not None:
        if index >= len(p.numa_bind_cpus):
            raise BindingError(f"GPU index {index} exceeds numa_bind_cpus size {len(p.numa_bind_cpus)}. Ensure "
                               "the binding lists cover every visible GPU.")
        cpus = p.numa_bind_cpus[index]
        return Binding("worker", index, (node,), cpus, "numa_bind_cpus", parse_cpu_list(cpus))
    pct = _pct(topology, (node,), by_node)
    if pct:
        return Binding("worker", index, (node,), ",".join(map(str, pct)), "pct", pct)
    return Binding("worker", index, (node,), None, "node", by_node.get(node) if topology is not None else None)


def engine_binding(p: ParallelConfig, topology: Topology | None, nodes: Sequence[int], *,
                   nnodes_within_dp: int | None, dp_local: int) -> Binding:
    """An EngineCore's binding (``_get_numactl_enginecore_args``): every node of its DP shard."""
    if not nodes:
        raise BindingError("numa_bind_nodes is empty")
    if local_layout(p, nnodes_within_dp):
        size = p.pipeline_parallel_size * p.tensor_parallel_size
        shard: Sequence[int] = range(dp_local * size, min(dp_local * size + size, len(nodes)))
    else:
        shard = range(len(nodes))
    shard_nodes = tuple(sorted({nodes[i] for i in shard})) if shard else (nodes[0],)
    by_node = node_cpus(topology)
    pct = _pct(topology, shard_nodes, by_node) if p.numa_bind_cpus is None else ()
    if pct:
        return Binding("EngineCore", None, shard_nodes, ",".join(map(str, pct)), "pct", pct)
    allowed = tuple(sorted({c for n in shard_nodes for c in by_node.get(n, ())})) if topology is not None else None
    return Binding("EngineCore", None, shard_nodes, None, "node", allowed)


def _pct(topology: Topology | None, nodes: Sequence[int], by_node: Mapping[int, Sequence[int]]) -> tuple[int, ...]:
    if topology is None:
        return ()
    return pct_cpus(nodes, by_node, pct_stride(topology.cpu_model, topology.highest_perf))


def process_binding(p: ParallelConfig, topology: Topology | None, nodes: Sequence[int], process_kind: str, *,
                    nnodes_within_dp: int | None, local_rank: int, dp_local: int) -> Binding:
    """The binding of a ``worker`` or ``EngineCore`` process (vLLM's ``configure_subprocess``)."""
    if process_kind == "worker":
        return worker_binding(p, topology, nodes, nnodes_within_dp=nnodes_within_dp, local_rank=local_rank,
                              dp_local=dp_local)
    if process_kind == "EngineCore":
        return engine_binding(p, topology, nodes, nnodes_within_dp=nnodes_within_dp, dp_local=dp_local)
    raise BindingError(f"unknown process_kind {process_kind!r}; one of {', '.join(PROCESS_KINDS)}")


__all__ = [
    "PCT_SKUS",
    "PROCESS_KINDS",
    "Binding",
    "BindingError",
    "Bound",
    "NodeList",
    "PctSku",
    "ProcessKind",
    "auto_detection_problem",
    "engine_binding",
    "gpu_index",
    "gpus_used",
    "local_layout",
    "node_cpus",
    "node_list",
    "pct_cpus",
    "pct_stride",
    "process_binding",
    "vllm_binds",
    "worker_binding",
]
