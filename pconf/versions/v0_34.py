"""vLLM 0.34.0: what changed since 0.28 (``vllm-versions.md`` §6 in the shared spec)."""

from pconf.versions import v0_28
from pconf.versions.model import VLLM_0_34
from pconf.versions.profile import FieldChange, Profile, ServeFlag

BEHAVIOUR = v0_28.BEHAVIOUR._replace(
    eplb_communicator_order=("xpu", "nixl", "elastic"),
    eplb_platforms=("cuda", "rocm", "xpu"),
    elastic_ep_refuses_external_lb=False,
    elastic_ep_max_dp_size=True,
    custom_all_reduce_off_batch_invariant=False,
    pcp_refuses_dp=False,
    dcp_a2a_needs_dcp=False,
    numa_lists_imply_bind=True,
    redundant_experts_unset_with_eplb=True,
    dbo_thresholds_cover_ubatches=True,
    nnodes_groups_must_divide=True,
    nccl_dp_sync_with_fault_tolerance=True,
    dcp_interleave_override=False,  # only for a NIXL P/D KV transfer, when the engine core starts
    sequence_parallel_a2a=v0_28.BEHAVIOUR.sequence_parallel_a2a | {"deepep_v2", "flashinfer_nvlink_one_sided",
                                                                    "passthrough", "mori"},
    ubatch_a2a_rocm=("allgather_reducescatter",),
    derived_properties=(*v0_28.BEHAVIOUR.derived_properties, "pcp_shard_decode_requests",
                        "eplb_migration_batching_enabled"),
)

PROFILE = Profile(
    name="0.34",
    release="0.34.0",
    label="vLLM 0.34.0",
    changes={
        **v0_28.PROFILE.changes,
        "parallel.numa_bind": FieldChange(
            "unset (null) lets vLLM decide at worker launch whether to bind (0.28: false, no binding)",
            default=None, nullable=True),
        "parallel.dcp_comm_backend": FieldChange(
            "unset (null) lets the model choose (0.28: ag_rs); null and ag_rs hash differently", default=None,
            nullable=True),
        "parallel.eplb_config.num_redundant_experts": FieldChange(
            "unset lets the model pick the fewest that make experts + redundant divisible by the EP size with EPLB "
            "on (0.28: 0); 0 without EPLB", default=None),
        "parallel.all2all_backend": FieldChange(
            "adds moonep, mori and passthrough",
            choices=("naive", "pplx", "deepep_high_throughput", "deepep_low_latency", "deepep_v2",
                     "mori_high_throughput", "mori_low_latency", "moonep", "mori", "nixl_ep",
                     "allgather_reducescatter", "flashinfer_all2allv", "flashinfer_nvlink_two_sided",
                     "flashinfer_nvlink_one_sided", "passthrough")),
        "cluster.device": FieldChange("adds xpu (EPLB runs on it)", choices=("cuda", "rocm", "cpu", "tpu", "xpu")),
        "parallel.eplb_config.communicator": FieldChange(
            "adds torch_xccl and symm_mem",
            choices=("torch_nccl", "torch_gloo", "torch_xccl", "nixl", "pynccl", "symm_mem")),
    },
    behaviour=BEHAVIOUR,
    model=VLLM_0_34,
    serve_flags={
        **v0_28.PROFILE.serve_flags,
        **{name: ServeFlag("--" + name.replace("_", "-")) for name in (
            "dp_sync_interval", "enable_hc_sp", "enable_batch_sharded_sampling", "enable_shm_tensor_arena",
            "elastic_ep_max_dp_size", "dcp_q_replicate")},
    },
    constant_factors={"_allow_auto_resolve_cp_interleave_size": True},
    notes={
        "parallel.enable_elastic_ep": "external DP load balancing allowed (hybrid still refused); "
        "elastic_ep_max_dp_size at least DP",
        "parallel.disable_custom_all_reduce": "VLLM_BATCH_INVARIANT no longer turns it on",
        "parallel.enable_eplb": "EPLB also runs on XPU (communicator torch_xccl)",
        "parallel.prefill_context_parallel_size": "PCP with DP > 1 allowed again",
        "parallel.dcp_comm_backend": "a2a no longer needs DCP > 1",
        "parallel.numa_bind_nodes": "a NUMA list with numa_bind unset turns binding on; only false refuses it",
        "parallel.enable_dbo": "both DBO thresholds must be at least the number of micro-batches; "
        "allgather_reducescatter micro-batches on ROCm",
        "parallel.nnodes": "nnodes must be a multiple of DP / DP-local (except with external LB)",
        "parallel.disable_nccl_for_dp_synchronization": "forced on under fault tolerance",
        "parallel.cp_kv_cache_interleave_size": "no longer overridden by dcp_kv_cache_interleave_size (0.34 does it "
        "only for a NIXL P/D KV transfer, which pconf does not model)",
        "parallel.all2all_backend": "sequence-parallel MoE also with deepep_v2, flashinfer_nvlink_one_sided, "
        "passthrough and mori",
    },
)
