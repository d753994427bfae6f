"""vLLM 0.23.0 with the literal ``deepep_v2`` (the seed's release): the base every later profile changes.

Its field facts are the ones declared at the fields (``pconf/schema/``); what it does with them is below, each
fact named for what it decides (``vllm-versions.md`` in the shared spec lines the releases up).
"""

from pconf.versions.model import VLLM_0_23
from pconf.versions.profile import Behaviour, Profile, ServeFlag


def _flags(*fields: str) -> dict[str, ServeFlag]:
    return {name: ServeFlag("--" + name.replace("_", "-")) for name in fields}


BEHAVIOUR = Behaviour(
    # EPLB's communicator when none is given: the first of these conditions that holds picks pynccl (elastic EP),
    # nixl (NIXL importable) or torch_xccl (an XPU); otherwise torch_gloo.
    eplb_communicator_order=("elastic", "nixl"),
    # The platforms EPLB runs on.
    eplb_platforms=("cuda", "rocm"),
    # EPLB needs the product of these sizes above 1.
    eplb_size_axes=("tp", "dp"),
    # EPLBConfig refuses torch_nccl and pynccl with async EPLB (NCCL multi-stream conflicts).
    eplb_async_refuses_nccl=False,
    # Elastic EP refuses external DP load balancing too (not only hybrid).
    elastic_ep_refuses_external_lb=True,
    # Elastic EP with async EPLB needs NIXL.
    elastic_ep_async_needs_nixl=False,
    # elastic_ep_max_dp_size exists: resolved (the value with elastic EP, else DP) and at least DP.
    elastic_ep_max_dp_size=False,
    # ParallelConfig turns custom all-reduce off for nnodes > 1, and when VLLM_BATCH_INVARIANT is set.
    custom_all_reduce_off_multinode=True,
    custom_all_reduce_off_batch_invariant=True,
    # With PCP > 1, DCP must be 1, PCP or TP x PCP (else TP must be divisible by DCP whatever PCP is).
    dcp_with_pcp=False,
    # PCP > 1 refuses DP > 1.
    pcp_refuses_dp=False,
    # dcp_comm_backend = "a2a" needs DCP > 1.
    dcp_a2a_needs_dcp=True,
    # numa_bind may be null (decided at worker launch); a NUMA list with it unset turns it on.
    numa_lists_imply_bind=False,
    # num_redundant_experts may be left unset with EPLB on (the model fills it in); unset with EPLB off is 0.
    redundant_experts_unset_with_eplb=False,
    # With micro-batching, both DBO token thresholds are at least the number of micro-batches.
    dbo_thresholds_cover_ubatches=False,
    # nnodes must be a multiple of the DP node groups (DP / DP-local), except with external LB.
    nnodes_groups_must_divide=False,
    # VllmConfig forces disable_nccl_for_dp_synchronization on under fault tolerance.
    nccl_dp_sync_with_fault_tolerance=False,
    # VllmConfig lets dcp_kv_cache_interleave_size (> 1, DCP > 1) override cp_kv_cache_interleave_size.
    dcp_interleave_override=True,
    # derived.use_all2all is vLLM's ParallelConfig property (DP > 1, sequence-parallel MoE, or EP with PCP > 1)
    # rather than the device communicator's rule (EP and DP > 1).
    all2all_property=False,
    # all2all backends under which MoE layers run sequence parallel (with EP, TP > 1 and DP > 1).
    sequence_parallel_a2a=frozenset({"allgather_reducescatter", "deepep_high_throughput", "deepep_low_latency",
                                     "mori_high_throughput", "mori_low_latency", "nixl_ep"}),
    # all2all backends of batched DP MoE (with EP and DP > 1).
    batched_dp_a2a=frozenset({"deepep_low_latency", "nixl_ep"}),
    # all2all backends micro-batching (DBO, ubatch_size > 1) runs on; and on ROCm also these.
    ubatch_a2a=("deepep_low_latency", "deepep_high_throughput"),
    ubatch_a2a_rocm=(),
    # The derived properties the compiled document shows.
    derived_properties=("world_size_across_dp", "local_engines_only", "use_sequence_parallel_moe",
                        "use_batched_dp_moe", "use_all2all", "nnodes_within_dp", "node_rank_within_dp",
                        "local_world_size", "use_ubatching", "num_ubatches", "use_ray",
                        "dp_master_port_picked_at_runtime"),
)

PROFILE = Profile(
    name="0.23",
    release="0.23.0",
    label="vLLM 0.23.0 + deepep_v2 (the seed)",
    changes={},
    behaviour=BEHAVIOUR,
    model=VLLM_0_23,
    # ParallelConfig fields `vllm serve` takes, in the order pconf writes them (EngineArgs' parallel group).
    serve_flags=_flags(
        "tensor_parallel_size", "pipeline_parallel_size", "prefill_context_parallel_size", "data_parallel_size",
        "decode_context_parallel_size", "dcp_comm_backend", "dcp_kv_cache_interleave_size",
        "cp_kv_cache_interleave_size", "data_parallel_backend", "data_parallel_hybrid_lb",
        "data_parallel_external_lb", "enable_expert_parallel", "enable_ep_weight_filter", "all2all_backend",
        "expert_placement_strategy", "enable_eplb", "eplb_config", "enable_elastic_ep", "enable_dbo", "ubatch_size",
        "dbo_decode_token_threshold", "dbo_prefill_token_threshold", "disable_nccl_for_dp_synchronization",
        "distributed_executor_backend", "distributed_timeout_seconds", "cpu_distributed_timeout_seconds",
        "max_parallel_loading_workers", "ray_workers_use_nsight", "disable_custom_all_reduce", "worker_cls",
        "worker_extension_cls", "numa_bind", "numa_bind_nodes", "numa_bind_cpus",
    ),
    notes={
        "parallel.all2all_backend": "deepep_v2 is the seed's addition: vLLM 0.23.0 as released does not know it "
        "(its `vllm serve` refuses the value)",
    },
    unreleased_values={"parallel.all2all_backend": ("deepep_v2",)},
)
