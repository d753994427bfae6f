"""vLLM's ParallelConfig checks: ``__post_init__`` (elastic EP, the DP rank, dense models in offline DP, the GPU
count, nnodes and the backend), the model validators and ``_verify_args`` (Ray), in the order vLLM runs them."""

from __future__ import annotations

from pconf.errors import Issue
from pconf.resolve import ResolvedConfig
from pconf.rules.registry import POST_INIT, VALIDATE, VERIFY, found, par, rule

# -- ParallelConfig.__post_init__ ---------------------------------------------------------------------------


@rule("elastic_ep.requires_eplb", POST_INIT)
def _elastic_needs_eplb(r: ResolvedConfig) -> Issue | None:
    """Elastic EP works only with expert-parallel load balancing (enable_eplb)."""
    p = r.parallel
    if p.enable_elastic_ep and not p.enable_eplb:
        return found(par("enable_elastic_ep"), "elastic EP needs enable_eplb = true",
                     "set parallel.enable_eplb = true, or turn elastic EP off", True)
    return None


@rule("elastic_ep.no_pipeline", POST_INIT)
def _elastic_no_pp(r: ResolvedConfig) -> Issue | None:
    """Elastic EP does not support pipeline parallelism."""
    p = r.parallel
    if p.enable_elastic_ep and p.pipeline_parallel_size > 1:
        return found(par("pipeline_parallel_size"), "elastic EP does not support pipeline parallelism",
                     "use pipeline_parallel_size = 1 or turn elastic EP off", p.pipeline_parallel_size)
    return None


@rule("elastic_ep.no_lb_modes", POST_INIT)
def _elastic_no_lb(r: ResolvedConfig) -> Issue | None:
    """Elastic EP is not compatible with hybrid DP load balancing, nor (before 0.34) with external DP load
    balancing (vLLM 0.23 and 0.28: NotImplementedError)."""
    p = r.parallel
    external = p.data_parallel_external_lb and r.profile.behaviour.elastic_ep_refuses_external_lb
    if p.enable_elastic_ep and (external or p.data_parallel_hybrid_lb):
        key = "data_parallel_external_lb" if external else "data_parallel_hybrid_lb"
        modes = "external or hybrid" if r.profile.behaviour.elastic_ep_refuses_external_lb else "hybrid"
        return found(par(key), f"elastic EP cannot be combined with {modes} DP load balancing",
                     "turn the load-balancing mode or elastic EP off", True)
    return None


@rule("elastic_ep.async_needs_nixl", POST_INIT)
def _elastic_nixl(r: ResolvedConfig) -> Issue | None:
    """From vLLM 0.28, elastic EP with async EPLB (eplb_config.use_async, the default) needs NIXL
    (cluster.nixl_available)."""
    p = r.parallel
    if (r.profile.behaviour.elastic_ep_async_needs_nixl and p.enable_elastic_ep and p.eplb_config.use_async
            and not r.document.cluster.nixl_available):
        return found(par("enable_elastic_ep"), "elastic EP with async EPLB needs NIXL",
                     "install NIXL (and set cluster.nixl_available = true), or set eplb_config.use_async = false",
                     True)
    return None


@rule("env.not_an_integer", POST_INIT)
def _env_numbers(r: ResolvedConfig) -> list[Issue]:
    """vLLM reads its numeric variables (VLLM_DP_SIZE, RANK, VLLM_BATCH_INVARIANT, ...) with int()."""
    return [found(("env", name), "not an integer", "vLLM reads it with int(): set a whole number, or unset it",
                  value) for name, value in sorted(r.env_problems.items())]


@rule("env.rank_required", POST_INIT)
def _rank_env(r: ResolvedConfig) -> Issue | None:
    """With external_launcher and data parallelism, vLLM reads the global rank from RANK (env mode)."""
    if "RANK" in r.missing_env:
        return found(par("distributed_executor_backend"),
                     "external_launcher with data parallelism needs the RANK environment variable",
                     "launch with torchrun (which sets RANK), or compile without --vllm-env", "external_launcher")
    return None


@rule("dp.rank_range", POST_INIT)
def _dp_rank(r: ResolvedConfig) -> Issue | None:
    """data_parallel_rank must lie in [0, data_parallel_size).

    vLLM checks it when DP > 1 or data_parallel_size_local == 0; in the other case its SPMD branch
    silently replaces the rank from VLLM_DP_RANK. Declarative mode keeps the rank, so it is always checked.
    """
    p = r.parallel
    if (r.dp_branch or not r.env_mode) and not 0 <= p.data_parallel_rank < p.data_parallel_size:
        return found(par("data_parallel_rank"), f"must be below data_parallel_size ({p.data_parallel_size})",
                     f"use a rank from 0 to {p.data_parallel_size - 1}", p.data_parallel_rank)
    return None


@rule("dp.offline_dense", POST_INIT)
def _offline_dense(r: ResolvedConfig) -> Issue | None:
    """Offline (SPMD) data parallelism from VLLM_DP_SIZE is refused for a model known to be dense."""
    p = r.parallel
    if r.env_mode and not r.dp_branch and p.data_parallel_size > 1 and p.is_moe_model is False:
        return found(par("data_parallel_size"), "offline data parallelism is not supported for dense models",
                     "unset VLLM_DP_SIZE, or run independent instances", p.data_parallel_size)
    return None


@rule("executor.gpu_count", POST_INIT)
def _gpu_count(r: ResolvedConfig) -> Issue | None:
    """Choosing a backend on one CUDA node needs world_size <= the node's GPUs (cluster.devices_per_node)."""
    doc = r.document
    if (doc.parallel.distributed_executor_backend is None and r.derived.world_size_across_dp > 1
            and doc.cluster.device == "cuda" and doc.parallel.nnodes == 1
            and doc.cluster.devices_per_node < r.world_size):
        return found(par("tensor_parallel_size"),
                     f"world_size {r.world_size} is larger than the {doc.cluster.devices_per_node} GPUs of a node",
                     "use fewer ranks, set parallel.nnodes for multi-node mp, or set "
                     "parallel.distributed_executor_backend = \"ray\"", r.world_size)
    return None


@rule("nnodes.backend", POST_INIT)
def _nnodes_backend(r: ResolvedConfig) -> Issue | None:
    """nnodes > 1 needs the mp, uni or external_launcher executor backend."""
    p = r.parallel
    if p.nnodes > 1 and p.distributed_executor_backend not in ("mp", "uni", "external_launcher"):
        return found(par("nnodes"),
                     f"nnodes > 1 needs the mp, uni or external_launcher backend, not "
                     f"{p.distributed_executor_backend}", "set distributed_executor_backend = \"mp\"", p.nnodes)
    return None


@rule("elastic_ep.max_dp_size", POST_INIT)
def _elastic_max_dp(r: ResolvedConfig) -> Issue | None:
    """From vLLM 0.34, elastic_ep_max_dp_size (with elastic EP) is at least data_parallel_size."""
    p = r.parallel
    if (r.profile.behaviour.elastic_ep_max_dp_size and p.elastic_ep_max_dp_size is not None
            and p.elastic_ep_max_dp_size < p.data_parallel_size):
        return found(par("elastic_ep_max_dp_size"), f"must be >= data_parallel_size ({p.data_parallel_size})",
                     "raise it to the largest DP size elastic EP may scale to", p.elastic_ep_max_dp_size)
    return None


@rule("dp.nnodes_groups", POST_INIT)
def _nnodes_groups(r: ResolvedConfig) -> Issue | None:
    """From vLLM 0.34, nnodes is a multiple of the DP node groups (data_parallel_size / data_parallel_size_local),
    except with external DP load balancing (vLLM raises when a replica's node count is asked for)."""
    p = r.parallel
    groups = p.data_parallel_size // p.data_parallel_size_local if p.data_parallel_size_local else 0
    if (r.profile.behaviour.nnodes_groups_must_divide and p.nnodes > 1 and groups
            and not p.data_parallel_external_lb and p.nnodes % groups):
        return found(par("nnodes"), f"must be a multiple of the {groups} DP node groups (data_parallel_size "
                     f"{p.data_parallel_size} / data_parallel_size_local {p.data_parallel_size_local})",
                     "use an nnodes that is a multiple of them, or change data_parallel_size_local", p.nnodes)
    return None


# -- ParallelConfig model validators -------------------------------------------------------------------------


@rule("dp.local_size", VALIDATE)
def _dp_local(r: ResolvedConfig) -> Issue | None:
    """data_parallel_size_local must not exceed data_parallel_size."""
    p = r.parallel
    if p.data_parallel_size_local > p.data_parallel_size:
        return found(par("data_parallel_size_local"),
                     f"must be <= data_parallel_size ({p.data_parallel_size})",
                     "lower it, or raise data_parallel_size", p.data_parallel_size_local)
    return None


@rule("dp.external_lb_needs_dp", VALIDATE)
def _external_lb_dp(r: ResolvedConfig) -> Issue | None:
    """External DP load balancing needs data_parallel_size > 1."""
    p = r.parallel
    if p.data_parallel_external_lb and p.data_parallel_size <= 1:
        return found(par("data_parallel_external_lb"), "needs data_parallel_size > 1",
                     "raise data_parallel_size or turn external LB off", True)
    return None


@rule("numa.requires_bind", VALIDATE)
def _numa_bind(r: ResolvedConfig) -> Issue | None:
    """numa_bind_nodes and numa_bind_cpus take effect only with numa_bind = true (from vLLM 0.34, a list with
    numa_bind unset turns it on: only numa_bind = false refuses one)."""
    p = r.parallel
    if not p.numa_bind and (p.numa_bind_nodes is not None or p.numa_bind_cpus is not None):
        key = "numa_bind_nodes" if p.numa_bind_nodes is not None else "numa_bind_cpus"
        if r.profile.behaviour.numa_lists_imply_bind:
            return found(par(key), "cannot be combined with numa_bind = false",
                         "set parallel.numa_bind = true (or leave it unset), or remove the list")
        return found(par(key), "needs numa_bind = true", "set parallel.numa_bind = true or remove the list")
    return None



@rule("eplb.platform", VALIDATE)
def _eplb_platform(r: ResolvedConfig) -> Issue | None:
    """EPLB runs on CUDA and ROCm devices (from vLLM 0.34 also on XPU)."""
    platforms = r.profile.behaviour.eplb_platforms
    if r.parallel.enable_eplb and r.document.cluster.device not in platforms:
        names = " or ".join({"cuda": "CUDA", "rocm": "ROCm", "xpu": "XPU"}[d] for d in platforms)
        names = names.replace(" or ", ", ", len(platforms) - 2)
        return found(par("enable_eplb"), f"EPLB needs {names} devices, not {r.document.cluster.device}",
                     "turn EPLB off or set cluster.device", True)
    return None


@rule("eplb.requires_ep", VALIDATE)
def _eplb_ep(r: ResolvedConfig) -> Issue | None:
    """EPLB needs expert parallelism (enable_expert_parallel)."""
    p = r.parallel
    if p.enable_eplb and not p.enable_expert_parallel:
        return found(par("enable_eplb"), "EPLB needs enable_expert_parallel = true",
                     "set parallel.enable_expert_parallel = true", True)
    return None


@rule("eplb.requires_tp_or_dp", VALIDATE)
def _eplb_size(r: ResolvedConfig) -> Issue | None:
    """EPLB needs tensor_parallel_size × data_parallel_size > 1 (PP does not count; from vLLM 0.28
    prefill_context_parallel_size counts too)."""
    p = r.parallel
    sizes = {"tp": p.tensor_parallel_size, "pcp": p.prefill_context_parallel_size, "dp": p.data_parallel_size}
    axes = r.profile.behaviour.eplb_size_axes
    product = 1
    for axis in axes:
        product *= sizes[axis]
    if p.enable_eplb and product <= 1:
        names = [f"{_AXIS_NAMES[a]}_parallel_size" for a in axes]
        return found(par("enable_eplb"), f"EPLB needs {', '.join(names[:-1])} or {names[-1]} above 1",
                     "raise one of them", True)
    return None


_AXIS_NAMES = {"tp": "tensor", "pcp": "prefill_context", "dp": "data"}


@rule("eplb.redundant_without_eplb", VALIDATE)
def _redundant(r: ResolvedConfig) -> Issue | None:
    """Redundant experts (eplb_config.num_redundant_experts) need enable_eplb."""
    p = r.parallel
    if not p.enable_eplb and p.eplb_config.num_redundant_experts not in (0, None):
        return found(("parallel", "eplb_config", "num_redundant_experts"), "needs enable_eplb = true",
                     "enable EPLB, or remove num_redundant_experts", p.eplb_config.num_redundant_experts)
    return None


@rule("pcp.no_dp", VALIDATE)
def _pcp_dp(r: ResolvedConfig) -> Issue | None:
    """vLLM 0.28 refuses prefill context parallelism (PCP > 1) together with data parallelism (DP > 1)."""
    p = r.parallel
    if r.profile.behaviour.pcp_refuses_dp and p.prefill_context_parallel_size > 1 and p.data_parallel_size > 1:
        return found(par("prefill_context_parallel_size"), "PCP does not support data parallelism in this release",
                     "use data_parallel_size = 1, or vLLM 0.34 (vllm_version = \"0.34\")",
                     p.prefill_context_parallel_size)
    return None


@rule("dcp.pcp_sizes", VALIDATE)
def _dcp_pcp(r: ResolvedConfig) -> Issue | None:
    """From vLLM 0.28, with PCP > 1 the DCP size is 1, PCP or TP × PCP (disabled, spanning the PCP axis, or
    spanning TP × PCP)."""
    p = r.parallel
    pcp, tp, dcp = p.prefill_context_parallel_size, p.tensor_parallel_size, p.decode_context_parallel_size
    if r.profile.behaviour.dcp_with_pcp and pcp > 1 and dcp not in (1, pcp, tp * pcp):
        sizes = ", ".join(map(str, sorted({1, pcp, tp * pcp})))
        return found(par("decode_context_parallel_size"), f"with PCP = {pcp} and TP = {tp} it must be one of "
                     f"{sizes}", "set it to 1, the PCP size, or TP × PCP", dcp)
    return None


@rule("dcp.tp_divisible", VALIDATE)
def _dcp_div(r: ResolvedConfig) -> Issue | None:
    """tensor_parallel_size must be divisible by decode_context_parallel_size (from vLLM 0.28 only when PCP is 1;
    see dcp.pcp_sizes)."""
    p = r.parallel
    if r.profile.behaviour.dcp_with_pcp and p.prefill_context_parallel_size > 1:
        return None
    if p.tensor_parallel_size % p.decode_context_parallel_size:
        return found(par("decode_context_parallel_size"),
                     f"tensor_parallel_size ({p.tensor_parallel_size}) is not divisible by it",
                     "use a divisor of tensor_parallel_size", p.decode_context_parallel_size)
    return None


@rule("dcp.a2a_requires_dcp", VALIDATE)
def _dcp_a2a(r: ResolvedConfig) -> Issue | None:
    """dcp_comm_backend = "a2a" needs decode_context_parallel_size > 1 (vLLM 0.23 and 0.28)."""
    p = r.parallel
    if r.profile.behaviour.dcp_a2a_needs_dcp and p.dcp_comm_backend == "a2a" and p.decode_context_parallel_size <= 1:
        return found(par("dcp_comm_backend"), "a2a needs decode_context_parallel_size > 1",
                     "use \"ag_rs\", or raise decode_context_parallel_size", "a2a")
    return None


# -- ParallelConfig._verify_args -----------------------------------------------------------------------------


@rule("ray.not_installed", VERIFY)
def _ray_installed(r: ResolvedConfig) -> Issue | None:
    """The ray backend (chosen or auto-selected) needs Ray (cluster.ray_installed)."""
    if r.derived.use_ray and not r.document.cluster.ray_installed:
        return found(par("distributed_executor_backend"), "the ray backend needs Ray installed",
                     "install Ray (pip install 'pconf-vllm[ray]') and set cluster.ray_installed = true, or use mp",
                     "ray")
    return None


@rule("dbo.thresholds", VERIFY)
def _dbo_thresholds(r: ResolvedConfig) -> Issue | None:
    """From vLLM 0.34, with micro-batching on both DBO token thresholds are at least the number of
    micro-batches."""
    p, d = r.parallel, r.derived
    if r.profile.behaviour.dbo_thresholds_cover_ubatches and d.use_ubatching:
        for key in ("dbo_decode_token_threshold", "dbo_prefill_token_threshold"):
            if getattr(p, key) < d.num_ubatches:
                return found(par(key), f"must be at least the number of micro-batches ({d.num_ubatches})",
                             f"use {d.num_ubatches} or more", getattr(p, key))
    return None


@rule("ray.nsight_requires_ray", VERIFY)
def _nsight(r: ResolvedConfig) -> Issue | None:
    """Nsight profiling of workers (ray_workers_use_nsight) needs the ray backend."""
    if r.parallel.ray_workers_use_nsight and not r.derived.use_ray:
        return found(par("ray_workers_use_nsight"), "nsight profiling needs the ray executor backend",
                     "set distributed_executor_backend = \"ray\" or turn it off", True)
    return None
