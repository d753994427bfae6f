"""NUMA binding (vLLM's numa_utils, spec §13): what fails, or binds badly, when a worker or EngineCore starts.

pconf.numa.binding and pconf.cpulist are imported inside the rules, after the cheap "is NUMA involved at all" test, so
compiling a document without NUMA settings (every `pconf hash` in CI) does not pay for importing them.
"""

from __future__ import annotations

from pconf.errors import Issue, shorten
from pconf.keypath import KeyPath
from pconf.resolve import ResolvedConfig
from pconf.rules.registry import found, par, rule

_NUMA = "vLLM numa_utils (binding at worker and EngineCore start)"


def _gpus_used(r: ResolvedConfig) -> int:
    from pconf.numa.binding import gpus_used

    p, d = r.parallel, r.derived
    processes = r.world_size if p.distributed_executor_backend == "external_launcher" else d.world_size_across_dp
    return gpus_used(p, nnodes_within_dp=d.nnodes_within_dp, local_world_size=d.local_world_size,
                     processes=processes, nodes=d.nodes)


def _binds(r: ResolvedConfig, workers: bool = False) -> bool:
    """Whether vLLM binds any process here (with ``workers``: processes bound as workers, the ones the lists are
    indexed for by GPU): vLLM checks and applies its lists only where it spawns the processes itself (spec §13;
    numa_utils)."""
    if not r.parallel.numa_bind:
        return False
    from pconf.numa.binding import vllm_binds

    bound = vllm_binds(r.parallel)
    return bound.worker == "worker" if workers else bound.worker is not None or bound.engines


def _cpus(cpus: list[int]) -> str:
    """``CPU 3`` or ``CPUs 2-3``: a set of CPUs in words."""
    from pconf.cpulist import format_cpu_list

    return f"CPU{'s' if len(cpus) > 1 else ''} {shorten(format_cpu_list(cpus))}"


def _too_short(key: KeyPath, values: tuple[object, ...], used: int, what: str) -> Issue:
    return found(key, f"covers {len(values)} GPU{'s' if len(values) != 1 else ''}, but the workers of a node "
                 f"use GPU indices 0-{used - 1}", f"list {what} for each of the {used} GPUs (vLLM fails at worker "
                 f"start: GPU index {len(values)} exceeds {key[-1]!s} size {len(values)})", list(values))


@rule("numa.nodes_too_short", _NUMA)
def _numa_nodes_short(r: ResolvedConfig) -> Issue | None:
    """numa_bind_nodes needs an entry for every GPU index a node's workers use (vLLM: "GPU index i exceeds
    numa_bind_nodes size n")."""
    p = r.parallel
    if _binds(r, workers=True) and p.numa_bind_nodes is not None and len(p.numa_bind_nodes) < (used := _gpus_used(r)):
        return _too_short(par("numa_bind_nodes"), p.numa_bind_nodes, used, "a NUMA node")
    return None


@rule("numa.cpus_too_short", _NUMA)
def _numa_cpus_short(r: ResolvedConfig) -> Issue | None:
    """numa_bind_cpus needs an entry for every GPU index a node's workers use (vLLM: "GPU index i exceeds
    numa_bind_cpus size n")."""
    p = r.parallel
    if _binds(r, workers=True) and p.numa_bind_cpus is not None and len(p.numa_bind_cpus) < (used := _gpus_used(r)):
        return _too_short(par("numa_bind_cpus"), p.numa_bind_cpus, used, "a CPU list")
    return None


@rule("numa.topology_gpus_too_short", _NUMA)
def _numa_topology_short(r: ResolvedConfig) -> Issue | None:
    """Without numa_bind_nodes, the topology's GPU list is what vLLM binds by; it needs every GPU index a node's
    workers use."""
    cluster = r.document.cluster
    if not _binds(r, workers=True) or cluster.topology is None:
        return None
    from pconf.numa.binding import node_list

    nl = node_list(r.parallel, cluster.topology, cluster.device)
    if nl.mode == "topology" and nl.nodes is not None and len(nl.nodes) < (used := _gpus_used(r)):
        return _too_short(("cluster", "topology", "gpus"), nl.nodes, used, "the NUMA node")
    return None


@rule("numa.auto_detection", _NUMA)
def _numa_auto(r: ResolvedConfig) -> Issue | None:
    """With numa_bind and no numa_bind_nodes, vLLM detects the GPU-to-node list; on the declared or probed host
    it would find none (fewer than two NUMA nodes, no GPUs, not CUDA/ROCm) and fail: "NUMA binding was
    requested, but vLLM could not detect the GPU-to-NUMA topology automatically"."""
    p, cluster = r.parallel, r.document.cluster
    if not _binds(r) or p.numa_bind_nodes is not None or cluster.topology is None:
        return None
    from pconf.numa.binding import auto_detection_problem

    problem = auto_detection_problem(cluster.topology, cluster.device)
    if problem:
        return found(par("numa_bind"), f"vLLM could not detect the GPU-to-NUMA-node mapping: {problem}",
                     "set parallel.numa_bind_nodes (one node per visible GPU), or turn numa_bind off", True)
    return None


@rule("numa.runtime_detection", _NUMA, "warning")
def _numa_runtime(r: ResolvedConfig) -> Issue | None:
    """With numa_bind, no numa_bind_nodes and no (usable) topology, the binding is decided by vLLM's
    auto-detection when each process starts, not planned here."""
    p, cluster = r.parallel, r.document.cluster
    if not _binds(r) or p.numa_bind_nodes is not None:
        return None
    from pconf.numa.binding import auto_detection_problem, node_list

    nl = node_list(p, cluster.topology, cluster.device)
    if nl.mode == "runtime" and not (cluster.topology is not None and auto_detection_problem(cluster.topology,
                                                                                             cluster.device)):
        return found(par("numa_bind"), f"the binding is left to vLLM's auto-detection at run time: {nl.reason}",
                     "to plan it, declare [cluster.topology], pass --probe-topology, or set parallel.numa_bind_nodes")
    return None


@rule("numa.list_length", _NUMA, "warning")
def _numa_length(r: ResolvedConfig) -> list[Issue]:
    """numa_bind_nodes and numa_bind_cpus describe every visible GPU: one entry per device of a node."""
    p, per_node = r.parallel, r.document.cluster.devices_per_node
    if not _binds(r, workers=True) or (p.numa_bind_nodes is None and p.numa_bind_cpus is None):
        return []
    used = _gpus_used(r)
    issues: list[Issue] = []
    for key, values in (("numa_bind_nodes", p.numa_bind_nodes), ("numa_bind_cpus", p.numa_bind_cpus)):
        if values is not None and len(values) != per_node and len(values) >= used:
            issues.append(found(par(key), f"has {len(values)} entries but a node has {per_node} devices "
                               "(cluster.devices_per_node)", "list one entry per visible GPU", list(values)))
    return issues


@rule("numa.unknown_node", _NUMA)
def _numa_unknown_node(r: ResolvedConfig) -> list[Issue]:
    """numa_bind_nodes may name only nodes the host has (cluster.topology, declared or probed): numactl refuses
    others when the process starts."""
    p, topology = r.parallel, r.document.cluster.topology
    if not _binds(r) or p.numa_bind_nodes is None or topology is None or not topology.nodes:
        return []
    ids = {n.id for n in topology.nodes}
    shown = shorten(", ".join(map(str, sorted(ids))))
    return [found((*par("numa_bind_nodes"), i), f"the host has no NUMA node {node} (its nodes: {shown})",
                  "use a node of cluster.topology.nodes", node)
            for i, node in enumerate(p.numa_bind_nodes) if node not in ids]


@rule("numa.unknown_cpu", _NUMA)
def _numa_unknown_cpu(r: ResolvedConfig) -> list[Issue]:
    """numa_bind_cpus may name only CPUs the host has (cluster.topology, declared or probed)."""
    p, topology = r.parallel, r.document.cluster.topology
    if not _binds(r, workers=True) or p.numa_bind_cpus is None or topology is None or not topology.nodes:
        return []
    from pconf.cpulist import format_cpu_list, parse_cpu_list
    from pconf.numa.binding import node_cpus

    known = {c for cpus in node_cpus(topology).values() for c in cpus}
    shown = shorten(format_cpu_list(known))
    issues: list[Issue] = []
    for i, entry in enumerate(p.numa_bind_cpus):
        missing = sorted(set(parse_cpu_list(entry)) - known)
        if missing:
            issues.append(found((*par("numa_bind_cpus"), i), f"the host has no {_cpus(missing)} "
                               f"(its CPUs: {shown})", "use CPUs of cluster.topology.nodes", entry))
    return issues


@rule("numa.cpus_off_node", _NUMA, "warning")
def _numa_off_node(r: ResolvedConfig) -> list[Issue]:
    """A GPU's CPU list should lie on its NUMA node: vLLM binds memory to the node and the threads to the CPUs,
    so CPUs elsewhere make every allocation remote."""
    p, cluster = r.parallel, r.document.cluster
    if not _binds(r, workers=True) or p.numa_bind_cpus is None or cluster.topology is None:
        return []
    from pconf.cpulist import format_cpu_list, parse_cpu_list
    from pconf.numa.binding import node_cpus, node_list

    nl = node_list(p, cluster.topology, cluster.device)
    by_node = node_cpus(cluster.topology)
    known = {c for cpus in by_node.values() for c in cpus}
    issues: list[Issue] = []
    shown: dict[int, str] = {}  # each node's CPUs in words, made once however many entries name it
    for i, (entry, node) in enumerate(zip(p.numa_bind_cpus, nl.nodes or (), strict=False)):
        off = sorted((set(parse_cpu_list(entry)) & known) - set(by_node.get(node, ())))  # unknown CPUs: an error
        if node in by_node and off:
            if node not in shown:
                shown[node] = shorten(format_cpu_list(by_node[node]))
            issues.append(found((*par("numa_bind_cpus"), i), f"{_cpus(off)} outside GPU {i}'s "
                               f"NUMA node {node}", f"use CPUs of node {node} ({shown[node]})", entry))
    return issues


@rule("numa.not_bound", _NUMA, "warning")
def _numa_not_bound(r: ResolvedConfig) -> Issue | None:
    """numa_bind binds only the processes vLLM spawns itself: its workers under the mp executor, its EngineCore
    processes unless they are Ray actors; under external_launcher nothing. Where it binds less, the lists are
    neither used nor checked for what is left unbound."""
    if not r.parallel.numa_bind:
        return None
    from pconf.numa.binding import vllm_binds

    bound = vllm_binds(r.parallel)
    if not bound.reason:
        return None
    return found(par("numa_bind"), bound.reason, "use the mp executor for bound workers, or bind those "
                 "processes outside vLLM (numactl, taskset)", True)


@rule("numa.topology_duplicate_node", _NUMA)
def _topology_duplicate(r: ResolvedConfig) -> list[Issue]:
    """Each node of cluster.topology.nodes appears once."""
    topology = r.document.cluster.topology
    seen: set[int] = set()
    issues: list[Issue] = []
    for i, node in enumerate(topology.nodes if topology is not None else ()):
        if node.id in seen:
            issues.append(found(("cluster", "topology", "nodes", i, "id"), "node declared twice",
                               "give each node its own id", node.id))
        seen.add(node.id)
    return issues


@rule("numa.topology_cpu_overlap", _NUMA)
def _topology_overlap(r: ResolvedConfig) -> list[Issue]:
    """A CPU belongs to one NUMA node: the nodes' CPU lists do not overlap."""
    topology = r.document.cluster.topology
    if topology is None:
        return []
    from pconf.cpulist import parse_cpu_list

    owner: dict[int, int] = {}
    issues: list[Issue] = []
    for i, node in enumerate(topology.nodes):
        cpus = parse_cpu_list(node.cpus) if node.cpus else ()
        shared = sorted(c for c in cpus if owner.get(c, node.id) != node.id)
        if shared:
            issues.append(found(("cluster", "topology", "nodes", i, "cpus"), f"{_cpus(shared)} also listed on node "
                               f"{owner[shared[0]]}", "list each CPU on one node", node.cpus))
        for c in cpus:
            owner.setdefault(c, node.id)
    return issues


@rule("numa.topology_unknown_node", _NUMA)
def _topology_gpu_node(r: ResolvedConfig) -> list[Issue]:
    """cluster.topology.gpus names declared nodes (or -1 for unknown)."""
    topology = r.document.cluster.topology
    if topology is None or not topology.nodes:
        return []
    ids = {n.id for n in topology.nodes}
    return [found(("cluster", "topology", "gpus", i), f"no node {node} in cluster.topology.nodes",
                  "use a declared node, or -1 when unknown", node)
            for i, node in enumerate(topology.gpus) if node >= 0 and node not in ids]
