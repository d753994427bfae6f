"""ClusterFacts: the host facts resolution depends on, always explicit inputs (never probed while compiling)."""

from typing import Literal

import attrs

from pconf.schema._field import knob
from pconf.schema.checks import GPU_NODES, NODE_CPUS
from pconf.schema.network import NetworkFacts

#: The platforms of the seed's release; later releases add theirs in their profile (0.34: xpu).
Device = Literal["cuda", "rocm", "cpu", "tpu"]


@attrs.frozen(kw_only=True)
class NumaNode:
    """One NUMA node of a host: its number, its CPUs and (for information) its memory and distances."""

    id: int = knob(
        ge=0,
        graph=False,
        scope="host",
        doc="The node's number as the kernel numbers it (node<id> in /sys/devices/system/node, the numbers "
        "`numactl --hardware` shows). Required; each id appears once.",
    )
    cpus: str = knob(
        graph=False,
        scope="host",
        check=NODE_CPUS,
        doc="The node's CPUs as a numactl CPU list, e.g. \"0-31,64-95\" (the kernel's node<id>/cpulist). "
        "\"\" declares a node without CPUs (a memory-only node, e.g. GB200 HBM). Required.",
    )
    memory_mb: int | None = knob(
        None,
        ge=0,
        graph=False,
        scope="host",
        doc="Memory of the node in MiB (MemTotal of node<id>/meminfo). Informational: binding does not use it.",
    )
    distances: tuple[int, ...] | None = knob(
        None,
        graph=False,
        scope="host",
        doc="ACPI SLIT distances from this node to every node, in node order (node<id>/distance; 10 means "
        "local). Informational: binding does not use it.",
    )


@attrs.frozen(kw_only=True)
class Topology:
    """A host's NUMA layout, declared in [cluster.topology] or probed (`--probe-topology`) from sysfs."""

    nodes: tuple[NumaNode, ...] = knob(
        (),
        graph=False,
        scope="host",
        doc="Every NUMA node of one host, e.g. [{ id = 0, cpus = \"0-31,64-95\" }, { id = 1, cpus = "
        "\"32-63,96-127\" }]. Every node of a deployment is assumed to look the same.",
    )
    gpus: tuple[int, ...] = knob(
        (),
        graph=False,
        scope="host",
        check=GPU_NODES,
        doc="The NUMA node of each visible GPU, in CUDA's order (PCI bus id), e.g. [0, 0, 0, 0, 1, 1, 1, 1]; -1 "
        "where the node is unknown. With numa_bind = true and no numa_bind_nodes, this is the list vLLM's "
        "auto-detection would find (a GPU on a node without CPUs counts on the node of its first local CPU).",
    )
    cpu_model: str | None = knob(
        None,
        graph=False,
        scope="host",
        doc="The CPU's `model name` from /proc/cpuinfo. vLLM binds to Priority Core Turbo cores on the Xeon "
        "6776P, 6774P and 6962P when highest_perf also matches; unset: no PCT cores.",
    )
    highest_perf: int | None = knob(
        None,
        ge=0,
        graph=False,
        scope="host",
        doc="cpu0's ACPI CPPC highest_perf (/sys/devices/system/cpu/cpu0/acpi_cppc/highest_perf), the second "
        "half of vLLM's Priority Core Turbo check; unset: no PCT cores.",
    )


@attrs.frozen(kw_only=True)
class ClusterFacts:
    """What the machines look like: device kind and count, kernel, NIXL and Ray availability."""

    device: Device = knob(
        "cuda",
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
    custom_all_reduce: bool | None = knob(
        None,
        graph=False,
        scope="host",
        doc="The platform supports vLLM's custom all-reduce kernel; false forces disable_custom_all_reduce. "
        "Unset: the device's answer, as vLLM's platforms give it: true on cuda and rocm, false on cpu and tpu.",
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
    topology: Topology | None = knob(
        None,
        graph=False,
        scope="host",
        doc="The NUMA layout of each host ([cluster.topology]: nodes, gpus, cpu_model, highest_perf), which "
        "NUMA binding plans read; unset: unknown, and with numa_bind the GPU-to-node mapping is left to "
        "vLLM's auto-detection at run time. `pconf plan --probe-topology` fills it from this host's sysfs.",
    )
    network: NetworkFacts = knob(
        factory=NetworkFacts,
        graph=False,
        scope="host",
        doc="How the nodes reach each other ([cluster.network]: node_addresses, socket_ifname, ib_hca); each "
        "fact becomes launcher environment (VLLM_HOST_IP, GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME, "
        "NCCL_IB_HCA) in `pconf plan --format env`, `pconf exec`, `pconf launch` and the `vllm serve` lines.",
    )
