"""Cross-field rules: every check vLLM makes on these fields, each with an id, run on a ResolvedConfig.

Sources, in the order vLLM runs them (spec §7.4): ``ParallelConfig.__post_init__`` (elastic EP, the DP
rank, dense models in offline DP, the GPU count, nnodes and the backend), its model validators (V1-V8),
``_verify_args`` (Ray), then the checks vLLM makes later on the same fields: ``EngineArgs`` (spec §10.2),
``VllmConfig`` (§10.1) and ``Executor.get_class``. pconf runs all of them and reports every failure at once.
Per-field checks (types, bounds, choices, NUMA lists) live in ``pconf.structure``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pconf.errors import MISSING, Issue, Location, Severity, shorten
from pconf.keypath import KeyPath
from pconf.resolve import UBATCH_A2A, ResolvedConfig


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule found: the key it is about, the message, the fix, the offending value."""

    path: KeyPath
    message: str
    hint: str
    got: object = MISSING


RuleCheck = Callable[[ResolvedConfig], "Finding | list[Finding] | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One named check; ``source`` says which part of vLLM makes it, ``doc`` what it requires."""

    id: str
    source: str
    doc: str
    severity: Severity
    check: RuleCheck


RULES: list[Rule] = []


def rule(rule_id: str, source: str, severity: Severity = "error") -> Callable[[RuleCheck], RuleCheck]:
    """Register a check under ``rule_id``; its docstring is the rule's documentation."""

    def register(check: RuleCheck) -> RuleCheck:
        RULES.append(Rule(rule_id, source, " ".join((check.__doc__ or "").split()), severity, check))
        return check

    return register


def check_all(resolved: ResolvedConfig, where: Callable[[KeyPath], Location]) -> list[Issue]:
    """Run every rule; return the errors and warnings found, each located by ``where``."""
    issues = []
    for r in RULES:
        found = r.check(resolved)
        for f in [found] if isinstance(found, Finding) else found or ():
            issues.append(Issue(f.path, where(f.path), r.id, f.message, f.hint, f.got, r.severity))
    return issues


def _par(key: str) -> KeyPath:
    return ("parallel", key)


_POST_INIT = "vLLM ParallelConfig.__post_init__"
_VALIDATE = "vLLM ParallelConfig._validate_parallel_config"
_VERIFY = "vLLM ParallelConfig._verify_args"
_ENGINE = "vLLM EngineArgs.create_engine_config"
_VLLM = "vLLM VllmConfig.__post_init__"

# -- ParallelConfig.__post_init__ ---------------------------------------------------------------------------


@rule("elastic_ep.requires_eplb", _POST_INIT)
def _elastic_needs_eplb(r: ResolvedConfig) -> Finding | None:
    """Elastic EP works only with expert-parallel load balancing (enable_eplb)."""
    p = r.parallel
    if p.enable_elastic_ep and not p.enable_eplb:
        return Finding(_par("enable_elastic_ep"), "elastic EP needs enable_eplb = true",
                       "set parallel.enable_eplb = true, or turn elastic EP off", True)
    return None


@rule("elastic_ep.no_pipeline", _POST_INIT)
def _elastic_no_pp(r: ResolvedConfig) -> Finding | None:
    """Elastic EP does not support pipeline parallelism."""
    p = r.parallel
    if p.enable_elastic_ep and p.pipeline_parallel_size > 1:
        return Finding(_par("pipeline_parallel_size"), "elastic EP does not support pipeline parallelism",
                       "use pipeline_parallel_size = 1 or turn elastic EP off", p.pipeline_parallel_size)
    return None


@rule("elastic_ep.no_lb_modes", _POST_INIT)
def _elastic_no_lb(r: ResolvedConfig) -> Finding | None:
    """Elastic EP is not compatible with external or hybrid DP load balancing (vLLM: NotImplementedError)."""
    p = r.parallel
    if p.enable_elastic_ep and (p.data_parallel_external_lb or p.data_parallel_hybrid_lb):
        key = "data_parallel_external_lb" if p.data_parallel_external_lb else "data_parallel_hybrid_lb"
        return Finding(_par(key), "elastic EP cannot be combined with external or hybrid DP load balancing",
                       "turn the load-balancing mode or elastic EP off", True)
    return None


@rule("env.not_an_integer", _POST_INIT)
def _env_numbers(r: ResolvedConfig) -> list[Finding]:
    """vLLM reads its numeric variables (VLLM_DP_SIZE, RANK, VLLM_BATCH_INVARIANT, ...) with int()."""
    return [Finding(("env", name), "not an integer", "vLLM reads it with int(): set a whole number, or unset it",
                    value) for name, value in sorted(r.env_problems.items())]


@rule("env.rank_required", _POST_INIT)
def _rank_env(r: ResolvedConfig) -> Finding | None:
    """With external_launcher and data parallelism, vLLM reads the global rank from RANK (env mode)."""
    if "RANK" in r.missing_env:
        return Finding(_par("distributed_executor_backend"),
                       "external_launcher with data parallelism needs the RANK environment variable",
                       "launch with torchrun (which sets RANK), or compile without --vllm-env", "external_launcher")
    return None


@rule("dp.rank_range", _POST_INIT)
def _dp_rank(r: ResolvedConfig) -> Finding | None:
    """data_parallel_rank must lie in [0, data_parallel_size).

    vLLM checks it when DP > 1 or data_parallel_size_local == 0; in the other case its SPMD branch
    silently replaces the rank from VLLM_DP_RANK. Declarative mode keeps the rank, so it is always checked.
    """
    p = r.parallel
    if (r.dp_branch or not r.env_mode) and not 0 <= p.data_parallel_rank < p.data_parallel_size:
        return Finding(_par("data_parallel_rank"), f"must be below data_parallel_size ({p.data_parallel_size})",
                       f"use a rank from 0 to {p.data_parallel_size - 1}", p.data_parallel_rank)
    return None


@rule("dp.offline_dense", _POST_INIT)
def _offline_dense(r: ResolvedConfig) -> Finding | None:
    """Offline (SPMD) data parallelism from VLLM_DP_SIZE is refused for a model known to be dense."""
    p = r.parallel
    if r.env_mode and not r.dp_branch and p.data_parallel_size > 1 and p.is_moe_model is False:
        return Finding(_par("data_parallel_size"), "offline data parallelism is not supported for dense models",
                       "unset VLLM_DP_SIZE, or run independent instances", p.data_parallel_size)
    return None


@rule("executor.gpu_count", _POST_INIT)
def _gpu_count(r: ResolvedConfig) -> Finding | None:
    """Choosing a backend on one CUDA node needs world_size <= the node's GPUs (cluster.devices_per_node)."""
    doc = r.document
    if (doc.parallel.distributed_executor_backend is None and r.derived.world_size_across_dp > 1
            and doc.cluster.device == "cuda" and doc.parallel.nnodes == 1
            and doc.cluster.devices_per_node < r.world_size):
        return Finding(_par("tensor_parallel_size"),
                       f"world_size {r.world_size} is larger than the {doc.cluster.devices_per_node} GPUs of a node",
                       "use fewer ranks, set parallel.nnodes for multi-node mp, or set "
                       "parallel.distributed_executor_backend = \"ray\"", r.world_size)
    return None


@rule("nnodes.backend", _POST_INIT)
def _nnodes_backend(r: ResolvedConfig) -> Finding | None:
    """nnodes > 1 needs the mp, uni or external_launcher executor backend."""
    p = r.parallel
    if p.nnodes > 1 and p.distributed_executor_backend not in ("mp", "uni", "external_launcher"):
        return Finding(_par("nnodes"),
                       f"nnodes > 1 needs the mp, uni or external_launcher backend, not "
                       f"{p.distributed_executor_backend}", "set distributed_executor_backend = \"mp\"", p.nnodes)
    return None


# -- ParallelConfig model validators -------------------------------------------------------------------------


@rule("dp.local_size", _VALIDATE)
def _dp_local(r: ResolvedConfig) -> Finding | None:
    """data_parallel_size_local must not exceed data_parallel_size."""
    p = r.parallel
    if p.data_parallel_size_local > p.data_parallel_size:
        return Finding(_par("data_parallel_size_local"),
                       f"must be <= data_parallel_size ({p.data_parallel_size})",
                       "lower it, or raise data_parallel_size", p.data_parallel_size_local)
    return None


@rule("dp.external_lb_needs_dp", _VALIDATE)
def _external_lb_dp(r: ResolvedConfig) -> Finding | None:
    """External DP load balancing needs data_parallel_size > 1."""
    p = r.parallel
    if p.data_parallel_external_lb and p.data_parallel_size <= 1:
        return Finding(_par("data_parallel_external_lb"), "needs data_parallel_size > 1",
                       "raise data_parallel_size or turn external LB off", True)
    return None


@rule("numa.requires_bind", _VALIDATE)
def _numa_bind(r: ResolvedConfig) -> Finding | None:
    """numa_bind_nodes and numa_bind_cpus take effect only with numa_bind = true."""
    p = r.parallel
    if not p.numa_bind and (p.numa_bind_nodes is not None or p.numa_bind_cpus is not None):
        key = "numa_bind_nodes" if p.numa_bind_nodes is not None else "numa_bind_cpus"
        return Finding(_par(key), "needs numa_bind = true", "set parallel.numa_bind = true or remove the list")
    return None


# -- NUMA binding (vLLM's numa_utils, spec §13): what fails when a worker or EngineCore starts --------------------
#
# pconf.numa.binding and pconf.cpulist are imported inside the rules, after the cheap "is NUMA involved at all"
# test, so compiling a document without NUMA settings (every `pconf hash` in CI) does not pay for importing them.

_NUMA = "vLLM numa_utils (binding at worker and EngineCore start)"


def _gpus_used(r: ResolvedConfig) -> int:
    from pconf.numa.binding import gpus_used

    p, d = r.parallel, r.derived
    processes = r.world_size if p.distributed_executor_backend == "external_launcher" else d.world_size_across_dp
    return gpus_used(p, nnodes_within_dp=d.nnodes_within_dp, local_world_size=d.local_world_size,
                     processes=processes)


def _cpus(cpus: list[int]) -> str:
    """``CPU 3`` or ``CPUs 2-3``: a set of CPUs in words."""
    from pconf.cpulist import format_cpu_list

    return f"CPU{'s' if len(cpus) > 1 else ''} {shorten(format_cpu_list(cpus))}"


def _too_short(key: KeyPath, values: tuple[object, ...], used: int, what: str) -> Finding:
    return Finding(key, f"covers {len(values)} GPU{'s' if len(values) != 1 else ''}, but the workers of a node "
                   f"use GPU indices 0-{used - 1}", f"list {what} for each of the {used} GPUs (vLLM fails at worker "
                   f"start: GPU index {len(values)} exceeds {key[-1]!s} size {len(values)})", list(values))


@rule("numa.nodes_too_short", _NUMA)
def _numa_nodes_short(r: ResolvedConfig) -> Finding | None:
    """numa_bind_nodes needs an entry for every GPU index a node's workers use (vLLM: "GPU index i exceeds
    numa_bind_nodes size n")."""
    p = r.parallel
    if p.numa_bind and p.numa_bind_nodes is not None and len(p.numa_bind_nodes) < (used := _gpus_used(r)):
        return _too_short(_par("numa_bind_nodes"), p.numa_bind_nodes, used, "a NUMA node")
    return None


@rule("numa.cpus_too_short", _NUMA)
def _numa_cpus_short(r: ResolvedConfig) -> Finding | None:
    """numa_bind_cpus needs an entry for every GPU index a node's workers use (vLLM: "GPU index i exceeds
    numa_bind_cpus size n")."""
    p = r.parallel
    if p.numa_bind and p.numa_bind_cpus is not None and len(p.numa_bind_cpus) < (used := _gpus_used(r)):
        return _too_short(_par("numa_bind_cpus"), p.numa_bind_cpus, used, "a CPU list")
    return None


@rule("numa.topology_gpus_too_short", _NUMA)
def _numa_topology_short(r: ResolvedConfig) -> Finding | None:
    """Without numa_bind_nodes, the topology's GPU list is what vLLM binds by; it needs every GPU index a node's
    workers use."""
    cluster = r.document.cluster
    if not r.parallel.numa_bind or cluster.topology is None:
        return None
    from pconf.numa.binding import node_list

    nl = node_list(r.parallel, cluster.topology, cluster.device)
    if nl.mode == "topology" and nl.nodes is not None and len(nl.nodes) < (used := _gpus_used(r)):
        return _too_short(("cluster", "topology", "gpus"), nl.nodes, used, "the NUMA node")
    return None


@rule("numa.auto_detection", _NUMA)
def _numa_auto(r: ResolvedConfig) -> Finding | None:
    """With numa_bind and no numa_bind_nodes, vLLM detects the GPU-to-node list; on the declared or probed host
    it would find none (fewer than two NUMA nodes, no GPUs, not CUDA/ROCm) and fail: "NUMA binding was
    requested, but vLLM could not detect the GPU-to-NUMA topology automatically"."""
    p, cluster = r.parallel, r.document.cluster
    if not p.numa_bind or p.numa_bind_nodes is not None or cluster.topology is None:
        return None
    from pconf.numa.binding import auto_detection_problem

    problem = auto_detection_problem(cluster.topology, cluster.device)
    if problem:
        return Finding(_par("numa_bind"), f"vLLM could not detect the GPU-to-NUMA-node mapping: {problem}",
                       "set parallel.numa_bind_nodes (one node per visible GPU), or turn numa_bind off", True)
    return None


@rule("numa.runtime_detection", _NUMA, "warning")
def _numa_runtime(r: ResolvedConfig) -> Finding | None:
    """With numa_bind, no numa_bind_nodes and no (usable) topology, the binding is decided by vLLM's
    auto-detection when each process starts, not planned here."""
    p, cluster = r.parallel, r.document.cluster
    if not p.numa_bind or p.numa_bind_nodes is not None:
        return None
    from pconf.numa.binding import auto_detection_problem, node_list

    nl = node_list(p, cluster.topology, cluster.device)
    if nl.mode == "runtime" and not (cluster.topology is not None and auto_detection_problem(cluster.topology,
                                                                                             cluster.device)):
        return Finding(_par("numa_bind"), f"the binding is left to vLLM's auto-detection at run time: {nl.reason}",
                       "to plan it, declare [cluster.topology], pass --probe-topology, or set parallel.numa_bind_nodes")
    return None


@rule("numa.list_length", _NUMA, "warning")
def _numa_length(r: ResolvedConfig) -> list[Finding]:
    """numa_bind_nodes and numa_bind_cpus describe every visible GPU: one entry per device of a node."""
    p, per_node = r.parallel, r.document.cluster.devices_per_node
    if not p.numa_bind or (p.numa_bind_nodes is None and p.numa_bind_cpus is None):
        return []
    used = _gpus_used(r)
    found = []
    for key, values in (("numa_bind_nodes", p.numa_bind_nodes), ("numa_bind_cpus", p.numa_bind_cpus)):
        if values is not None and len(values) != per_node and len(values) >= used:
            found.append(Finding(_par(key), f"has {len(values)} entries but a node has {per_node} devices "
                                 "(cluster.devices_per_node)", "list one entry per visible GPU", list(values)))
    return found


@rule("numa.unknown_node", _NUMA)
def _numa_unknown_node(r: ResolvedConfig) -> list[Finding]:
    """numa_bind_nodes may name only nodes the host has (cluster.topology, declared or probed): numactl refuses
    others when the process starts."""
    p, topology = r.parallel, r.document.cluster.topology
    if not p.numa_bind or p.numa_bind_nodes is None or topology is None or not topology.nodes:
        return []
    ids = {n.id for n in topology.nodes}
    shown = shorten(", ".join(map(str, sorted(ids))))
    return [Finding((*_par("numa_bind_nodes"), i), f"the host has no NUMA node {node} (its nodes: {shown})",
                    "use a node of cluster.topology.nodes", node)
            for i, node in enumerate(p.numa_bind_nodes) if node not in ids]


@rule("numa.unknown_cpu", _NUMA)
def _numa_unknown_cpu(r: ResolvedConfig) -> list[Finding]:
    """numa_bind_cpus may name only CPUs the host has (cluster.topology, declared or probed)."""
    p, topology = r.parallel, r.document.cluster.topology
    if not p.numa_bind or p.numa_bind_cpus is None or topology is None or not topology.nodes:
        return []
    from pconf.cpulist import format_cpu_list, parse_cpu_list
    from pconf.numa.binding import node_cpus

    known = {c for cpus in node_cpus(topology).values() for c in cpus}
    shown = shorten(format_cpu_list(known))
    found = []
    for i, entry in enumerate(p.numa_bind_cpus):
        missing = sorted(set(parse_cpu_list(entry)) - known)
        if missing:
            found.append(Finding((*_par("numa_bind_cpus"), i), f"the host has no {_cpus(missing)} "
                                 f"(its CPUs: {shown})", "use CPUs of cluster.topology.nodes", entry))
    return found


@rule("numa.cpus_off_node", _NUMA, "warning")
def _numa_off_node(r: ResolvedConfig) -> list[Finding]:
    """A GPU's CPU list should lie on its NUMA node: vLLM binds memory to the node and the threads to the CPUs,
    so CPUs elsewhere make every allocation remote."""
    p, cluster = r.parallel, r.document.cluster
    if not p.numa_bind or p.numa_bind_cpus is None or cluster.topology is None:
        return []
    from pconf.cpulist import format_cpu_list, parse_cpu_list
    from pconf.numa.binding import node_cpus, node_list

    nl = node_list(p, cluster.topology, cluster.device)
    by_node = node_cpus(cluster.topology)
    known = {c for cpus in by_node.values() for c in cpus}
    found = []
    shown: dict[int, str] = {}  # each node's CPUs in words, made once however many entries name it
    for i, (entry, node) in enumerate(zip(p.numa_bind_cpus, nl.nodes or (), strict=False)):
        off = sorted((set(parse_cpu_list(entry)) & known) - set(by_node.get(node, ())))  # unknown CPUs: an error
        if node in by_node and off:
            if node not in shown:
                shown[node] = shorten(format_cpu_list(by_node[node]))
            found.append(Finding((*_par("numa_bind_cpus"), i), f"{_cpus(off)} outside GPU {i}'s "
                                 f"NUMA node {node}", f"use CPUs of node {node} ({shown[node]})", entry))
    return found


@rule("numa.topology_duplicate_node", _NUMA)
def _topology_duplicate(r: ResolvedConfig) -> list[Finding]:
    """Each node of cluster.topology.nodes appears once."""
    topology = r.document.cluster.topology
    seen: set[int] = set()
    found = []
    for i, node in enumerate(topology.nodes if topology is not None else ()):
        if node.id in seen:
            found.append(Finding(("cluster", "topology", "nodes", i, "id"), "node declared twice",
                                 "give each node its own id", node.id))
        seen.add(node.id)
    return found


@rule("numa.topology_cpu_overlap", _NUMA)
def _topology_overlap(r: ResolvedConfig) -> list[Finding]:
    """A CPU belongs to one NUMA node: the nodes' CPU lists do not overlap."""
    topology = r.document.cluster.topology
    if topology is None:
        return []
    from pconf.cpulist import parse_cpu_list

    owner: dict[int, int] = {}
    found = []
    for i, node in enumerate(topology.nodes):
        cpus = parse_cpu_list(node.cpus) if node.cpus else ()
        shared = sorted(c for c in cpus if owner.get(c, node.id) != node.id)
        if shared:
            found.append(Finding(("cluster", "topology", "nodes", i, "cpus"), f"{_cpus(shared)} also listed on node "
                                 f"{owner[shared[0]]}", "list each CPU on one node", node.cpus))
        for c in cpus:
            owner.setdefault(c, node.id)
    return found


@rule("numa.topology_unknown_node", _NUMA)
def _topology_gpu_node(r: ResolvedConfig) -> list[Finding]:
    """cluster.topology.gpus names declared nodes (or -1 for unknown)."""
    topology = r.document.cluster.topology
    if topology is None or not topology.nodes:
        return []
    ids = {n.id for n in topology.nodes}
    return [Finding(("cluster", "topology", "gpus", i), f"no node {node} in cluster.topology.nodes",
                    "use a declared node, or -1 when unknown", node)
            for i, node in enumerate(topology.gpus) if node >= 0 and node not in ids]


@rule("eplb.platform", _VALIDATE)
def _eplb_platform(r: ResolvedConfig) -> Finding | None:
    """EPLB runs on CUDA and ROCm devices only."""
    if r.parallel.enable_eplb and r.document.cluster.device not in ("cuda", "rocm"):
        return Finding(_par("enable_eplb"), f"EPLB needs CUDA or ROCm devices, not {r.document.cluster.device}",
                       "turn EPLB off or set cluster.device", True)
    return None


@rule("eplb.requires_ep", _VALIDATE)
def _eplb_ep(r: ResolvedConfig) -> Finding | None:
    """EPLB needs expert parallelism (enable_expert_parallel)."""
    p = r.parallel
    if p.enable_eplb and not p.enable_expert_parallel:
        return Finding(_par("enable_eplb"), "EPLB needs enable_expert_parallel = true",
                       "set parallel.enable_expert_parallel = true", True)
    return None


@rule("eplb.requires_tp_or_dp", _VALIDATE)
def _eplb_size(r: ResolvedConfig) -> Finding | None:
    """EPLB needs tensor_parallel_size × data_parallel_size > 1 (PP and PCP do not count)."""
    p = r.parallel
    if p.enable_eplb and p.tensor_parallel_size * p.data_parallel_size <= 1:
        return Finding(_par("enable_eplb"), "EPLB needs tensor_parallel_size or data_parallel_size above 1",
                       "raise one of them", True)
    return None


@rule("eplb.redundant_without_eplb", _VALIDATE)
def _redundant(r: ResolvedConfig) -> Finding | None:
    """Redundant experts (eplb_config.num_redundant_experts) need enable_eplb."""
    p = r.parallel
    if not p.enable_eplb and p.eplb_config.num_redundant_experts != 0:
        return Finding(("parallel", "eplb_config", "num_redundant_experts"), "needs enable_eplb = true",
                       "enable EPLB, or remove num_redundant_experts", p.eplb_config.num_redundant_experts)
    return None


@rule("dcp.tp_divisible", _VALIDATE)
def _dcp_div(r: ResolvedConfig) -> Finding | None:
    """tensor_parallel_size must be divisible by decode_context_parallel_size."""
    p = r.parallel
    if p.tensor_parallel_size % p.decode_context_parallel_size:
        return Finding(_par("decode_context_parallel_size"),
                       f"tensor_parallel_size ({p.tensor_parallel_size}) is not divisible by it",
                       "use a divisor of tensor_parallel_size", p.decode_context_parallel_size)
    return None


@rule("dcp.a2a_requires_dcp", _VALIDATE)
def _dcp_a2a(r: ResolvedConfig) -> Finding | None:
    """dcp_comm_backend = "a2a" needs decode_context_parallel_size > 1."""
    p = r.parallel
    if p.dcp_comm_backend == "a2a" and p.decode_context_parallel_size <= 1:
        return Finding(_par("dcp_comm_backend"), "a2a needs decode_context_parallel_size > 1",
                       "use \"ag_rs\", or raise decode_context_parallel_size", "a2a")
    return None


# -- ParallelConfig._verify_args -----------------------------------------------------------------------------


@rule("ray.not_installed", _VERIFY)
def _ray_installed(r: ResolvedConfig) -> Finding | None:
    """The ray backend (chosen or auto-selected) needs Ray (cluster.ray_installed)."""
    if r.derived.use_ray and not r.document.cluster.ray_installed:
        return Finding(_par("distributed_executor_backend"), "the ray backend needs Ray installed",
                       "install Ray (pip install 'pconf[ray]') and set cluster.ray_installed = true, or use mp",
                       "ray")
    return None


@rule("ray.nsight_requires_ray", _VERIFY)
def _nsight(r: ResolvedConfig) -> Finding | None:
    """Nsight profiling of workers (ray_workers_use_nsight) needs the ray backend."""
    if r.parallel.ray_workers_use_nsight and not r.derived.use_ray:
        return Finding(_par("ray_workers_use_nsight"), "nsight profiling needs the ray executor backend",
                       "set distributed_executor_backend = \"ray\" or turn it off", True)
    return None


# -- checks vLLM makes later on the same fields ------------------------------------------------------------------


@rule("engine.node_rank_range", _ENGINE)
def _node_rank(r: ResolvedConfig) -> Finding | None:
    """node_rank must be below nnodes."""
    p = r.parallel
    if p.node_rank >= p.nnodes:
        return Finding(_par("node_rank"), f"must be below nnodes ({p.nnodes})",
                       f"use a node rank from 0 to {p.nnodes - 1}", p.node_rank)
    return None


@rule("engine.lb_modes_exclusive", _ENGINE)
def _lb_modes(r: ResolvedConfig) -> Finding | None:
    """Hybrid and external DP load balancing cannot both be on."""
    p = r.parallel
    if p.data_parallel_hybrid_lb and p.data_parallel_external_lb:
        return Finding(_par("data_parallel_hybrid_lb"), "cannot be combined with data_parallel_external_lb",
                       "turn one of them off", True)
    return None


@rule("engine.nnodes_dp_backend", _ENGINE)
def _nnodes_dp_backend(r: ResolvedConfig) -> Finding | None:
    """nnodes > 1 needs data_parallel_backend = "mp"."""
    p = r.parallel
    if p.nnodes > 1 and p.data_parallel_backend != "mp":
        return Finding(_par("data_parallel_backend"), "nnodes > 1 needs data_parallel_backend = \"mp\"",
                       "use mp, or nnodes = 1 with Ray placing the ranks", p.data_parallel_backend)
    return None


@rule("engine.nnodes_divides_world", _ENGINE)
def _nnodes_divides(r: ResolvedConfig) -> Finding | None:
    """data_parallel_size × pipeline_parallel_size × tensor_parallel_size must be divisible by nnodes."""
    p = r.parallel
    world = p.data_parallel_size * p.pipeline_parallel_size * p.tensor_parallel_size
    if p.nnodes > 1 and world % p.nnodes:
        return Finding(_par("nnodes"), f"DP × PP × TP = {world} is not divisible by nnodes",
                       "use an nnodes that divides it", p.nnodes)
    return None


@rule("engine.external_lb_dense", _ENGINE)
def _external_dense(r: ResolvedConfig) -> Finding | None:
    """External DP load balancing (DP > 1) is refused for a model known to be dense (is_moe_model = false)."""
    p = r.parallel
    if p.data_parallel_external_lb and p.data_parallel_size > 1 and p.is_moe_model is False:
        return Finding(_par("data_parallel_external_lb"), "dense models do not support external DP load balancing",
                       "run independent instances without data parallelism", True)
    return None


@rule("engine.external_lb_local_size", _ENGINE)
def _external_local(r: ResolvedConfig) -> Finding | None:
    """External DP load balancing runs one DP rank per server: data_parallel_size_local must be 1."""
    p = r.parallel
    if p.data_parallel_external_lb and p.data_parallel_size_local != 1:
        return Finding(_par("data_parallel_size_local"), "must be 1 with external DP load balancing",
                       "set data_parallel_size_local = 1 (one server per DP rank), or use hybrid LB",
                       p.data_parallel_size_local)
    return None


@rule("engine.derived_layout", _ENGINE)
def _derived_layout(r: ResolvedConfig) -> Finding | None:
    """With nnodes > 1 the DP layout must give every node a DP rank (vLLM's properties divide by zero)."""
    d, p = r.derived, r.parallel
    if d.node_rank_within_dp is None:
        return Finding(_par("data_parallel_size_local"),
                       f"with nnodes = {p.nnodes} and data_parallel_size = {p.data_parallel_size} this leaves "
                       "nodes without a DP rank", "set data_parallel_size_local to the DP ranks per node (>= 1, "
                       "with data_parallel_size / data_parallel_size_local <= nnodes)", p.data_parallel_size_local)
    return None


@rule("engine.ubatch_requires_deepep", _VLLM)
def _ubatch(r: ResolvedConfig) -> Finding | None:
    """Micro-batching (enable_dbo or ubatch_size > 1) needs a deepep_low_latency or deepep_high_throughput
    all2all backend."""
    p = r.parallel
    if r.derived.use_ubatching and p.all2all_backend not in UBATCH_A2A:
        key = "enable_dbo" if p.enable_dbo else "ubatch_size"
        return Finding(_par("all2all_backend"), f"{key} needs all2all_backend deepep_low_latency or "
                       "deepep_high_throughput", "change all2all_backend or turn micro-batching off",
                       p.all2all_backend)
    return None


@rule("scheduler.async_unsupported", _VLLM)
def _async(r: ResolvedConfig) -> Finding | None:
    """async_scheduling = true needs an executor backend that supports it."""
    backend = r.parallel.distributed_executor_backend or ""
    if r.document.scheduler.async_scheduling is True and not r.backend_supports_async:
        return Finding(("scheduler", "async_scheduling"), f"the {backend} executor does not support it",
                       "set it to \"auto\" or false", True)
    return None


# -- warnings ----------------------------------------------------------------------------------------------


@rule("all2all.deprecated", _VALIDATE, "warning")
def _a2a_deprecated(r: ResolvedConfig) -> Finding | None:
    """naive and pplx are deprecated (vLLM rewrites them to allgather_reducescatter); flashinfer_all2allv is a
    deprecated spelling of flashinfer_nvlink_two_sided."""
    written = r.document.parallel.all2all_backend
    instead = {"naive": "allgather_reducescatter", "pplx": "allgather_reducescatter",
               "flashinfer_all2allv": "flashinfer_nvlink_two_sided"}.get(written)
    if instead:
        return Finding(_par("all2all_backend"), "deprecated", f"write \"{instead}\"", written)
    return None


@rule("loading_workers.ignored", _POST_INIT, "warning")
def _loading_workers(r: ResolvedConfig) -> Finding | None:
    """vLLM ignores max_parallel_loading_workers in this version."""
    value = r.parallel.max_parallel_loading_workers
    if value is not None:
        return Finding(_par("max_parallel_loading_workers"), "vLLM ignores it", "remove it", value)
    return None


@rule("engine.hybrid_lb_single_local", _ENGINE, "warning")
def _hybrid_single(r: ResolvedConfig) -> Finding | None:
    """With data_parallel_size_local = 1, vLLM switches hybrid DP load balancing to external."""
    p = r.parallel
    if p.data_parallel_hybrid_lb and p.data_parallel_size_local == 1 and not p.data_parallel_external_lb:
        return Finding(_par("data_parallel_hybrid_lb"), "with one local DP rank vLLM uses external LB instead",
                       "set data_parallel_external_lb = true instead", True)
    return None


@rule("dcp.interleave_override", _VLLM, "warning")
def _interleave(r: ResolvedConfig) -> Finding | None:
    """With DCP > 1, a dcp_kv_cache_interleave_size > 1 that differs overrides cp_kv_cache_interleave_size."""
    before, after = r.document.parallel, r.parallel
    if before.cp_kv_cache_interleave_size != after.cp_kv_cache_interleave_size:
        return Finding(_par("cp_kv_cache_interleave_size"),
                       f"replaced by dcp_kv_cache_interleave_size ({after.cp_kv_cache_interleave_size})",
                       "write cp_kv_cache_interleave_size only", before.cp_kv_cache_interleave_size)
    return None


@rule("scheduler.custom_executor_async", _VLLM, "warning")
def _custom_async(r: ResolvedConfig) -> Finding | None:
    """A custom executor class cannot be imported while compiling; "auto" async scheduling assumes it is
    unsupported (the Executor base class's answer)."""
    backend = r.parallel.distributed_executor_backend or ""
    if r.document.scheduler.async_scheduling == "auto" and "." in backend:
        return Finding(("scheduler", "async_scheduling"), f"assumed unsupported by {backend}",
                       "set scheduler.async_scheduling explicitly")
    return None


def rules_by_id() -> dict[str, Rule]:
    """Every rule, by id (for docs and tests)."""
    return {r.id: r for r in RULES}


def iter_rules() -> Iterator[Rule]:
    return iter(RULES)
