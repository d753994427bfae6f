"""EPLBConfig: expert-parallel load balancing (vLLM's ``EPLBConfig``, same names, defaults and bounds)."""

from typing import Literal

import attrs

from pconf.schema._field import knob

EPLBPolicy = Literal["default"]
EPLBCommunicator = Literal["torch_nccl", "torch_gloo", "nixl", "pynccl"]


@attrs.frozen(kw_only=True)
class EPLBConfig:
    """Expert-parallel load balancing. Every field is a graph-hash factor, whether EPLB is on or not."""

    window_size: int = knob(
        1000, gt=0, graph=True, scope="graph", doc="How many steps of expert-load history are kept."
    )
    step_interval: int = knob(
        3000,
        gt=0,
        graph=True,
        scope="graph",
        doc="Steps between two rearrangements of the experts. When larger than window_size, only the "
        "last window_size steps of load data are used.",
    )
    num_redundant_experts: int | None = knob(
        0,
        ge=0,
        nullable=False,
        graph=True,
        scope="graph",
        doc="Extra physical replicas of experts spread over the EP ranks. Non-zero values need enable_eplb.",
    )
    log_balancedness: bool = knob(
        False,
        graph=True,
        scope="graph",
        doc="Log how evenly expert load is balanced. Costs extra communication, so off by default.",
    )
    log_balancedness_interval: int = knob(
        1, gt=0, graph=True, scope="graph", doc="Steps between two balancedness log lines."
    )
    use_async: bool = knob(True, graph=True, scope="graph", doc="Rearrange experts without blocking the step.")
    policy: EPLBPolicy = knob(
        "default", graph=True, scope="graph", doc="Load-balancing policy."
    )
    communicator: EPLBCommunicator | None = knob(
        None,
        graph=True,
        scope="graph",
        doc="How expert weights move between ranks: torch_nccl (torch.distributed on the device group), "
        "torch_gloo (gloo with CPU staging), nixl (NIXL/RIXL staged send/recv), pynccl (PyNccl send/recv). "
        "Unset: chosen when EPLB is on: pynccl with elastic EP, else nixl when NIXL is available, else "
        "torch_gloo (use_async plays no part). The chosen value is a hash factor.",
    )
    enable_migration_batching: bool = knob(
        False,
        graph=True,
        scope="graph",
        since="0.34",
        doc="With async EPLB, move experts in batches where each rank talks to at most one peer: less network "
        "contention per rank, more sequential steps.",
    )
