"""The checks vLLM makes later on the same fields: ``EngineArgs`` (spec §10.2), ``VllmConfig`` (§10.1) and
``Executor.get_class``; then the warnings (values vLLM accepts but rewrites or ignores)."""

from __future__ import annotations

from pconf.errors import Issue
from pconf.resolve import ResolvedConfig
from pconf.rules.registry import ENGINE, POST_INIT, VALIDATE, VLLM, found, par, rule
from pconf.schema import ParallelConfig, field_info

# -- checks vLLM makes later on the same fields ------------------------------------------------------------------


@rule("engine.node_rank_range", ENGINE)
def _node_rank(r: ResolvedConfig) -> Issue | None:
    """node_rank must be below nnodes."""
    p = r.parallel
    if p.node_rank >= p.nnodes:
        return found(par("node_rank"), f"must be below nnodes ({p.nnodes})",
                     f"use a node rank from 0 to {p.nnodes - 1}", p.node_rank)
    return None


@rule("engine.lb_modes_exclusive", ENGINE)
def _lb_modes(r: ResolvedConfig) -> Issue | None:
    """Hybrid and external DP load balancing cannot both be on."""
    p = r.parallel
    if p.data_parallel_hybrid_lb and p.data_parallel_external_lb:
        return found(par("data_parallel_hybrid_lb"), "cannot be combined with data_parallel_external_lb",
                     "turn one of them off", True)
    return None


@rule("engine.nnodes_dp_backend", ENGINE)
def _nnodes_dp_backend(r: ResolvedConfig) -> Issue | None:
    """nnodes > 1 needs data_parallel_backend = "mp"."""
    p = r.parallel
    if p.nnodes > 1 and p.data_parallel_backend != "mp":
        return found(par("data_parallel_backend"), "nnodes > 1 needs data_parallel_backend = \"mp\"",
                     "use mp, or nnodes = 1 with Ray placing the ranks", p.data_parallel_backend)
    return None


@rule("engine.nnodes_divides_world", ENGINE)
def _nnodes_divides(r: ResolvedConfig) -> Issue | None:
    """data_parallel_size × pipeline_parallel_size × tensor_parallel_size must be divisible by nnodes."""
    p = r.parallel
    world = p.data_parallel_size * p.pipeline_parallel_size * p.tensor_parallel_size
    if p.nnodes > 1 and world % p.nnodes:
        return found(par("nnodes"), f"DP × PP × TP = {world} is not divisible by nnodes",
                     "use an nnodes that divides it", p.nnodes)
    return None


@rule("engine.external_lb_dense", ENGINE)
def _external_dense(r: ResolvedConfig) -> Issue | None:
    """External DP load balancing (DP > 1) is refused for a model known to be dense (is_moe_model = false)."""
    p = r.parallel
    if p.data_parallel_external_lb and p.data_parallel_size > 1 and p.is_moe_model is False:
        return found(par("data_parallel_external_lb"), "dense models do not support external DP load balancing",
                     "run independent instances without data parallelism", True)
    return None


@rule("engine.external_lb_local_size", ENGINE)
def _external_local(r: ResolvedConfig) -> Issue | None:
    """External DP load balancing runs one DP rank per server: data_parallel_size_local must be 1."""
    p = r.parallel
    if p.data_parallel_external_lb and p.data_parallel_size_local != 1:
        return found(par("data_parallel_size_local"), "must be 1 with external DP load balancing",
                     "set data_parallel_size_local = 1 (one server per DP rank), or use hybrid LB",
                     p.data_parallel_size_local)
    return None


@rule("engine.derived_layout", ENGINE)
def _derived_layout(r: ResolvedConfig) -> Issue | None:
    """With nnodes > 1 the DP layout must give every node a DP rank (vLLM's properties divide by zero)."""
    d, p = r.derived, r.parallel
    groups = p.data_parallel_size // p.data_parallel_size_local if p.data_parallel_size_local else 0
    if r.profile.behaviour.nnodes_groups_must_divide and groups and p.nnodes % groups:
        return None  # dp.nnodes_groups says it
    if d.node_rank_within_dp is None:
        return found(par("data_parallel_size_local"),
                     f"with nnodes = {p.nnodes} and data_parallel_size = {p.data_parallel_size} this leaves "
                     "nodes without a DP rank", "set data_parallel_size_local to the DP ranks per node (>= 1, "
                     "with data_parallel_size / data_parallel_size_local <= nnodes)", p.data_parallel_size_local)
    return None


@rule("engine.ubatch_requires_deepep", VLLM)
def _ubatch(r: ResolvedConfig) -> Issue | None:
    """Micro-batching (enable_dbo or ubatch_size > 1) needs a deepep_low_latency or deepep_high_throughput
    all2all backend (from vLLM 0.28 also nixl_ep; in 0.34 on ROCm also allgather_reducescatter)."""
    p = r.parallel
    facts = r.profile.behaviour
    backends = facts.ubatch_a2a + (facts.ubatch_a2a_rocm if r.document.cluster.device == "rocm" else ())
    if r.derived.use_ubatching and p.all2all_backend not in backends:
        key = "enable_dbo" if p.enable_dbo else "ubatch_size"
        names = " or ".join(backends).replace(" or ", ", ", len(backends) - 2)
        return found(par("all2all_backend"), f"{key} needs all2all_backend {names}",
                     "change all2all_backend or turn micro-batching off", p.all2all_backend)
    return None


@rule("scheduler.async_unsupported", VLLM)
def _async(r: ResolvedConfig) -> Issue | None:
    """async_scheduling = true needs an executor backend that supports it."""
    backend = r.parallel.distributed_executor_backend or ""
    if r.document.scheduler.async_scheduling is True and not r.backend_supports_async:
        return found(("scheduler", "async_scheduling"), f"the {backend} executor does not support it",
                     "set it to \"auto\" or false", True)
    return None


# -- warnings ----------------------------------------------------------------------------------------------


@rule("all2all.deprecated", VALIDATE, "warning")
def _a2a_deprecated(r: ResolvedConfig) -> Issue | None:
    """naive and pplx are deprecated (vLLM rewrites them to allgather_reducescatter); flashinfer_all2allv is a
    deprecated spelling of flashinfer_nvlink_two_sided."""
    written = r.document.parallel.all2all_backend
    old = field_info(ParallelConfig, "all2all_backend").deprecated.get(written)
    if old:
        return found(par("all2all_backend"), "deprecated", f"write \"{old.instead}\"", written)
    return None


@rule("loading_workers.ignored", POST_INIT, "warning")
def _loading_workers(r: ResolvedConfig) -> Issue | None:
    """vLLM ignores max_parallel_loading_workers in this version."""
    value = r.parallel.max_parallel_loading_workers
    if value is not None:
        return found(par("max_parallel_loading_workers"), "vLLM ignores it", "remove it", value)
    return None


@rule("engine.fault_tolerance_external_lb", ENGINE, "warning")
def _fault_tolerance_lb(r: ResolvedConfig) -> Issue | None:
    """From vLLM 0.28, EngineArgs refuses fault tolerance without external DP load balancing (one server per DP
    rank); ParallelConfig itself accepts it, so a library building the config directly can still run it."""
    p = r.parallel
    if p.enable_fault_tolerance and not p.data_parallel_external_lb:
        return found(par("enable_fault_tolerance"), "`vllm serve` refuses fault tolerance without external DP load "
                     "balancing", "set data_parallel_external_lb = true (one server per DP rank)", True)
    return None


@rule("engine.hybrid_lb_single_local", ENGINE, "warning")
def _hybrid_single(r: ResolvedConfig) -> Issue | None:
    """With data_parallel_size_local = 1, vLLM switches hybrid DP load balancing to external."""
    p = r.parallel
    if p.data_parallel_hybrid_lb and p.data_parallel_size_local == 1 and not p.data_parallel_external_lb:
        return found(par("data_parallel_hybrid_lb"), "with one local DP rank vLLM uses external LB instead",
                     "set data_parallel_external_lb = true instead", True)
    return None


@rule("dcp.interleave_override", VLLM, "warning")
def _interleave(r: ResolvedConfig) -> Issue | None:
    """With DCP > 1, a dcp_kv_cache_interleave_size > 1 that differs overrides cp_kv_cache_interleave_size."""
    before, after = r.document.parallel, r.parallel
    if before.cp_kv_cache_interleave_size != after.cp_kv_cache_interleave_size:
        return found(par("cp_kv_cache_interleave_size"),
                     f"replaced by dcp_kv_cache_interleave_size ({after.cp_kv_cache_interleave_size})",
                     "write cp_kv_cache_interleave_size only", before.cp_kv_cache_interleave_size)
    return None


@rule("scheduler.custom_executor_async", VLLM, "warning")
def _custom_async(r: ResolvedConfig) -> Issue | None:
    """A custom executor class cannot be imported while compiling; "auto" async scheduling assumes it is
    unsupported (the Executor base class's answer)."""
    backend = r.parallel.distributed_executor_backend or ""
    if r.document.scheduler.async_scheduling == "auto" and "." in backend:
        return found(("scheduler", "async_scheduling"), f"assumed unsupported by {backend}",
                     "set scheduler.async_scheduling explicitly")
    return None
