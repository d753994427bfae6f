"""ClusterFacts: the host facts resolution depends on, always explicit inputs (never probed while compiling)."""

from typing import Literal

import attrs

from pconf.schema._field import knob

Device = Literal["cuda", "rocm", "cpu", "tpu"]


@attrs.frozen(kw_only=True)
class ClusterFacts:
    """What the machines look like: device kind and count, kernel, NIXL and Ray availability."""

    device: Device = knob(
        "cuda",
        choices=("cuda", "rocm", "cpu", "tpu"),
        graph=False,
        scope="host",
        doc="Device platform of every node.",
    )
    devices_per_node: int = knob(
        8,
        ge=0,
        graph=False,
        scope="host",
        doc="Accelerators per node (with device = cpu: rank processes per node).",
    )
    custom_all_reduce: bool = knob(
        True,
        graph=False,
        scope="host",
        doc="The platform supports vLLM's custom all-reduce kernel; false forces disable_custom_all_reduce.",
    )
    nixl_available: bool = knob(
        False,
        graph=False,
        scope="host",
        doc="NIXL is importable; makes nixl the default EPLB communicator (which changes the graph hash).",
    )
    ray_installed: bool = knob(False, graph=False, scope="host", doc="Ray is importable on the nodes.")
    ray_initialized: bool = knob(
        False, graph=False, scope="host", doc="The launching process has already initialised Ray."
    )
    ray_placement_group: bool = knob(
        False,
        graph=False,
        scope="host",
        doc="The launching process runs inside a Ray placement group (with Ray initialised, the executor "
        "backend defaults to ray).",
    )
