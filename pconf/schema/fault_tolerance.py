"""FaultToleranceConfig: vLLM's fault-tolerance settings (from 0.28), nested in ``[parallel]``."""

import attrs

from pconf.schema._field import knob


@attrs.frozen(kw_only=True)
class FaultToleranceConfig:
    """Fault tolerance (vLLM 0.28 and later). A graph-hash factor as a whole, like vLLM's."""

    engine_recovery_timeout_sec: int = knob(
        120,
        graph=True,
        scope="graph",
        since="0.28",
        doc="Seconds a failed engine core waits for recovery instructions before it raises the original error.",
    )
