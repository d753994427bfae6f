"""SchedulerConfig: what resolution needs from vLLM's scheduler settings."""

from typing import Literal

import attrs

from pconf.schema._field import knob


@attrs.frozen(kw_only=True)
class SchedulerConfig:
    """Scheduling facts that change the parallel configuration."""

    async_scheduling: bool | Literal["auto"] = knob(
        "auto",
        graph=False,
        scope="graph",
        doc="Overlap scheduling with execution. auto: on, unless the executor backend does not support it "
        "(vLLM's rule). The result sets disable_nccl_for_dp_synchronization when that is unset.",
    )
