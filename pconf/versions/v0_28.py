"""vLLM 0.28.0: what changed since 0.23 (``vllm-versions.md`` §6 in the shared spec)."""

from pconf.schema.checks import EPLB_ASYNC_COMMUNICATOR
from pconf.versions import v0_23
from pconf.versions.model import VLLM_0_28
from pconf.versions.profile import FieldChange, Profile, ServeFlag

BEHAVIOUR = v0_23.BEHAVIOUR._replace(
    eplb_communicator_order=("nixl", "elastic"),  # NIXL is preferred before pynccl for elastic EP
    eplb_size_axes=("tp", "pcp", "dp"),
    eplb_async_refuses_nccl=True,
    elastic_ep_async_needs_nixl=True,
    custom_all_reduce_off_multinode=False,  # no longer turned off at config time for nnodes > 1
    dcp_with_pcp=True,
    pcp_refuses_dp=True,
    all2all_property=True,
    ubatch_a2a=("deepep_low_latency", "deepep_high_throughput", "nixl_ep"),
)

PROFILE = Profile(
    name="0.28",
    release="0.28.0",
    label="vLLM 0.28.0",
    changes={
        "parallel.data_parallel_rpc_port": FieldChange("vLLM bounds the DP RPC port to 1..65535", ge=1, le=65535),
        "parallel.eplb_config": FieldChange("async EPLB refuses the torch_nccl and pynccl communicators",
                                            check=EPLB_ASYNC_COMMUNICATOR),
    },
    behaviour=BEHAVIOUR,
    model=VLLM_0_28,
    serve_flags={
        **v0_23.PROFILE.serve_flags,
        "enable_fault_tolerance": ServeFlag("--enable-fault-tolerance"),
        "fault_tolerance_config": ServeFlag("--fault-tolerance-config"),
        "assigned_physical_gpu_ids": ServeFlag("--device-ids", comma=True),
    },
    notes={
        "parallel.disable_custom_all_reduce": "no longer forced on for nnodes > 1 when the config is built",
        "parallel.eplb_config.communicator": "unset with elastic EP and NIXL available: nixl (0.23: pynccl); "
        "torch_nccl and pynccl refused with async EPLB",
        "parallel.enable_eplb": "EPLB counts PCP too: TP × PCP × DP > 1",
        "parallel.prefill_context_parallel_size": "PCP > 1 needs DCP of 1, PCP or TP × PCP, and refuses DP > 1",
        "parallel.enable_elastic_ep": "with async EPLB, elastic EP needs NIXL",
        "parallel.enable_dbo": "micro-batching also runs on nixl_ep",
    },
)
