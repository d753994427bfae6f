"""NUMA: a host's topology read from sysfs, and vLLM's binding rules turned into numactl arguments.

Two halves, both free of side effects and of torch:

- **Discovery** (``read_host_topology``) reads a sysfs tree under an explicit root (``/`` for this host, a recorded
  tree in tests): the NUMA nodes (``sys/devices/system/node/node*/{cpulist,meminfo,distance}``), the PCI GPUs
  and NICs with their ``numa_node`` (``sys/bus/pci/devices/*/{class,vendor,numa_node,local_cpulist}``, NIC
  interfaces from ``net/`` below the device or ``sys/class/net/*``), and the facts vLLM's Priority Core Turbo
  check reads (``proc/cpuinfo`` ``model name``, ``sys/devices/system/cpu/cpu0/acpi_cppc/highest_perf``). It
  reads nothing outside the root. Compiling never calls it; ``--probe-topology`` does, as an explicit input.

- **Binding** follows vLLM 0.23.0 (``vllm/utils/numa_utils.py``, spec §13) to the letter:

  1. GPU index of a worker (§13.2): ``local_rank + dp_local × PP × TP`` when the executor is neither ray nor
     external_launcher, the DP backend is not ray and a replica fits on one node (``nnodes_within_dp == 1``);
     otherwise ``local_rank``. (PCP is not in the multiplier, as in vLLM.)
  2. NUMA node (§13.3): ``numa_bind_nodes[gpu_index]``; unset, the list vLLM's auto-detection finds (here: the
     declared or probed ``cluster.topology.gpus``). An index past the end is vLLM's ValueError.
  3. Worker arguments (§13.4): CPUs = ``numa_bind_cpus[gpu_index]`` if set, else the node's PCT cores (§13.6) if
     any; with CPUs ``--physcpubind=<cpus> --membind=<node>``, without ``--cpunodebind=<node> --membind=<node>``.
  4. EngineCore arguments: the sorted unique nodes of its DP shard (``[dp_local×PP×TP, +PP×TP)`` in the local
     layout, else the whole list; an empty shard gives ``[list[0]]``); ``numa_bind_cpus`` is ignored; PCT cores
     of those nodes when ``numa_bind_cpus`` is unset and PCT applies, else ``--cpunodebind=<nodes>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pconf.cpulist import CpuListError, format_cpu_list, parse_cpu_list, parse_sysfs_cpu_list
from pconf.schema import ParallelConfig, Topology

ProcessKind = Literal["worker", "EngineCore"]
PROCESS_KINDS: tuple[ProcessKind, ...] = ("worker", "EngineCore")

#: PCI vendor ids whose display/3D controllers are GPUs vLLM can use (NVIDIA, AMD).
GPU_VENDORS = {0x10DE: "nvidia", 0x1002: "amd"}
_PCI_ADDRESS = re.compile(r"[0-9a-fA-F]{4,}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\Z")
_NODE_DIR = re.compile(r"node(\d+)\Z", re.ASCII)


# -- Priority Core Turbo (spec §13.6) -------------------------------------------------------------------------


class PctSku(NamedTuple):
    """vLLM's PCT table entry: cpu0's expected CPPC highest_perf and the priority-core stride."""

    highest_perf: int
    stride: int


#: vLLM 0.23.0's ``_PCT_CAPABLE_SKUS``, in its order (the first SKU found in ``model name`` wins).
PCT_SKUS: Mapping[str, PctSku] = {
    "6776P": PctSku(46, 16),
    "6774P": PctSku(46, 16),
    "6962P": PctSku(44, 18),
}


def pct_stride(cpu_model: str | None, highest_perf: int | None) -> int | None:
    """The PCT stride when vLLM's gate holds: ``model name`` names a listed SKU and highest_perf matches it."""
    if cpu_model is None or highest_perf is None:
        return None
    sku = next((config for name, config in PCT_SKUS.items() if name in cpu_model), None)
    return sku.stride if sku is not None and sku.highest_perf == highest_perf else None


def pct_cpus(nodes: Iterable[int], node_cpus: Mapping[int, Sequence[int]], stride: int | None) -> tuple[int, ...]:
    """The priority cores of ``nodes`` (each node's CPUs with ``cpu % stride`` in {0, 1}), sorted; empty when PCT
    does not apply (no stride, or no such core), as vLLM's ``_maybe_get_pct_cpu_binding`` returning None."""
    if stride is None:
        return ()
    found = {cpu for node in nodes for cpu in node_cpus.get(node, ()) if cpu % stride in (0, 1)}
    return tuple(sorted(found))


# -- binding --------------------------------------------------------------------------------------------------


class BindingError(ValueError):
    """vLLM would fail to bind this process (an index past the end of a list, an unknown process kind)."""


@dataclass(frozen=True)
class Binding:
    """One process's NUMA binding, as vLLM builds it.

    ``nodes``: the memory nodes (``--membind``); a worker has exactly one, its GPU's node.
    ``cpus``: the ``--physcpubind`` value exactly as vLLM writes it (the user's string, or PCT cores
    comma-joined); None means whole nodes (``--cpunodebind``).
    ``cpu_source``: where the CPU binding came from: ``numa_bind_cpus``, ``pct``, or ``node``.
    ``allowed_cpus``: the CPUs the process may run on, when known (its ``cpus``, or its nodes' CPUs from the
    topology); None when only the host can say (``--cpunodebind`` without a topology).
    """

    process_kind: ProcessKind
    gpu_index: int | None
    nodes: tuple[int, ...]
    cpus: str | None
    cpu_source: Literal["numa_bind_cpus", "pct", "node"]
    allowed_cpus: tuple[int, ...] | None

    @property
    def numactl_args(self) -> tuple[str, ...]:
        """vLLM's numactl arguments: ``--physcpubind=C --membind=N`` or ``--cpunodebind=N --membind=N``."""
        nodes = ",".join(map(str, self.nodes))
        if self.cpus is not None:
            return (f"--physcpubind={self.cpus}", f"--membind={nodes}")
        return (f"--cpunodebind={nodes}", f"--membind={nodes}")

    @property
    def numactl_command(self) -> str:
        """The prefix a shell puts before the command: ``numactl --cpunodebind=1 --membind=1``."""
        return " ".join(("numactl", *self.numactl_args))

    def as_dict(self) -> dict[str, Any]:
        return {
            "process_kind": self.process_kind,
            "gpu_index": self.gpu_index,
            "numa_nodes": list(self.nodes),
            "cpus": self.cpus,
            "cpu_source": self.cpu_source,
            "allowed_cpus": format_cpu_list(self.allowed_cpus) if self.allowed_cpus is not None else None,
            "numactl": self.numactl_command,
        }


class NodeList(NamedTuple):
    """Where the GPU-to-node list comes from, as far as compiling can tell.

    ``mode``: ``off`` (numa_bind is false), ``nodes`` (numa_bind_nodes), ``topology`` (cluster.topology.gpus,
    what vLLM's auto-detection would find), or ``runtime`` (left to vLLM's auto-detection when the process
    starts: no topology, or a GPU whose node is unknown). ``reason`` says why, for people.
    """

    mode: Literal["off", "nodes", "topology", "runtime"]
    nodes: tuple[int, ...] | None
    reason: str


def local_layout(p: ParallelConfig, nnodes_within_dp: int | None) -> bool:
    """vLLM's condition for offsetting GPU indices by the local DP rank (spec §13.2)."""
    return (p.distributed_executor_backend not in ("ray", "external_launcher")
            and p.data_parallel_backend != "ray" and nnodes_within_dp == 1)


def gpu_index(p: ParallelConfig, nnodes_within_dp: int | None, local_rank: int, dp_local: int) -> int:
    """The visible-GPU index vLLM binds a worker by (``_get_gpu_index``)."""
    if local_layout(p, nnodes_within_dp):
        return local_rank + dp_local * p.pipeline_parallel_size * p.tensor_parallel_size
    return local_rank


def gpus_used(p: ParallelConfig, *, nnodes_within_dp: int | None, local_world_size: int | None,
              processes: int) -> int:
    """How many GPU indices the workers of one node use (the highest index + 1); every node uses the same ones.

    In the local layout (``local_layout``) a node runs ``dp_per_node`` engines of ``local_world_size`` workers,
    and worker ``l`` of local engine ``d`` uses index ``l + d × PP × TP``; otherwise a node's workers use their
    local ranks ``0 … processes / nnodes - 1``.
    """
    if local_layout(p, nnodes_within_dp):
        lws = local_world_size or 1
        dp_per_node = p.data_parallel_size if p.nnodes == 1 else max(p.data_parallel_size_local, 1)
        return lws + (dp_per_node - 1) * p.pipeline_parallel_size * p.tensor_parallel_size
    return max(processes // max(p.nnodes, 1), 1)


def auto_detection_problem(topology: Topology, device: str) -> str | None:
    """Why vLLM's auto-detection (spec §13.5) would find no GPU-to-node list on a host with this topology, or
    None when it would (then the list is ``topology.gpus``)."""
    if device not in ("cuda", "rocm"):
        return f"vLLM detects the GPU-to-node mapping on CUDA and ROCm only (cluster.device is {device!r})"
    if topology.nodes and not any(n.id == 1 for n in topology.nodes):
        return (f"vLLM's auto-detection needs at least two NUMA nodes (node1); the topology has "
                f"{len(topology.nodes)}")
    if not topology.gpus:
        return "the topology lists no GPUs"
    return None


def node_list(p: ParallelConfig, topology: Topology | None, device: str) -> NodeList:
    """The GPU-to-node list binding uses (see NodeList); an auto-detection failure is ``runtime`` here and an
    error in ``pconf.rules`` (``numa.auto_detection``)."""
    if not p.numa_bind:
        return NodeList("off", None, "numa_bind is false")
    if p.numa_bind_nodes is not None:
        return NodeList("nodes", p.numa_bind_nodes, "parallel.numa_bind_nodes")
    if topology is None:
        return NodeList("runtime", None, "no cluster.topology is declared or probed")
    problem = auto_detection_problem(topology, device)
    if problem:
        return NodeList("runtime", None, problem)
    if -1 in topology.gpus:
        unknown = [str(i) for i, n in enumerate(topology.gpus) if n < 0]
        which = f"GPU {unknown[0]}" if len(unknown) == 1 else f"GPUs {', '.join(unknown)}"
        return NodeList("runtime", None, f"cluster.topology.gpus does not know the NUMA node of {which} (-1)")
    return NodeList("topology", topology.gpus, "cluster.topology.gpus (what vLLM's auto-detection finds)")


def node_cpus(topology: Topology | None) -> dict[int, tuple[int, ...]]:
    """Each declared node's CPUs (empty without a topology)."""
    if topology is None:
        return {}
    out: dict[int, tuple[int, ...]] = {}
    for node in topology.nodes:
        try:
            out[node.id] = parse_cpu_list(node.cpus) if node.cpus else ()
        except CpuListError:  # structure refuses these; a hand-built Topology is not worth a crash here
            out[node.id] = ()
    return out


def worker_binding(p: ParallelConfig, topology: Topology | None, nodes: Sequence[int], *,
                   nnodes_within_dp: int | None, local_rank: int, dp_local: int) -> Binding:
    """A worker's binding (``_get_numactl_worker_args``); BindingError where vLLM raises its ValueError."""
    index = gpu_index(p, nnodes_within_dp, local_rank, dp_local)
    if index >= len(nodes):
        raise BindingError(f"GPU index {index} exceeds numa_bind_nodes size {len(nodes)}. Ensure the binding "
                           "lists cover every visible GPU.")
    node = nodes[index]
    by_node = node_cpus(topology)
    if p.numa_bind_cpus is not None:
        if index >= len(p.numa_bind_cpus):
            raise BindingError(f"GPU index {index} exceeds numa_bind_cpus size {len(p.numa_bind_cpus)}. Ensure "
                               "the binding lists cover every visible GPU.")
        cpus = p.numa_bind_cpus[index]
        return Binding("worker", index, (node,), cpus, "numa_bind_cpus", parse_cpu_list(cpus))
    pct = _pct(topology, (node,), by_node)
    if pct:
        return Binding("worker", index, (node,), ",".join(map(str, pct)), "pct", pct)
    return Binding("worker", index, (node,), None, "node", by_node.get(node) if topology is not None else None)


def engine_binding(p: ParallelConfig, topology: Topology | None, nodes: Sequence[int], *,
                   nnodes_within_dp: int | None, dp_local: int) -> Binding:
    """An EngineCore's binding (``_get_numactl_enginecore_args``): every node of its DP shard."""
    if not nodes:
        raise BindingError("numa_bind_nodes is empty")
    if local_layout(p, nnodes_within_dp):
        size = p.pipeline_parallel_size * p.tensor_parallel_size
        shard: Sequence[int] = range(dp_local * size, min(dp_local * size + size, len(nodes)))
    else:
        shard = range(len(nodes))
    shard_nodes = tuple(sorted({nodes[i] for i in shard})) if shard else (nodes[0],)
    by_node = node_cpus(topology)
    pct = _pct(topology, shard_nodes, by_node) if p.numa_bind_cpus is None else ()
    if pct:
        return Binding("EngineCore", None, shard_nodes, ",".join(map(str, pct)), "pct", pct)
    allowed = tuple(sorted({c for n in shard_nodes for c in by_node.get(n, ())})) if topology is not None else None
    return Binding("EngineCore", None, shard_nodes, None, "node", allowed)


def _pct(topology: Topology | None, nodes: Sequence[int], by_node: Mapping[int, Sequence[int]]) -> tuple[int, ...]:
    if topology is None:
        return ()
    return pct_cpus(nodes, by_node, pct_stride(topology.cpu_model, topology.highest_perf))


def process_binding(p: ParallelConfig, topology: Topology | None, nodes: Sequence[int], process_kind: str, *,
                    nnodes_within_dp: int | None, local_rank: int, dp_local: int) -> Binding:
    """The binding of a ``worker`` or ``EngineCore`` process (vLLM's ``configure_subprocess``)."""
    if process_kind == "worker":
        return worker_binding(p, topology, nodes, nnodes_within_dp=nnodes_within_dp, local_rank=local_rank,
                              dp_local=dp_local)
    if process_kind == "EngineCore":
        return engine_binding(p, topology, nodes, nnodes_within_dp=nnodes_within_dp, dp_local=dp_local)
    raise BindingError(f"unknown process_kind {process_kind!r}; one of {', '.join(PROCESS_KINDS)}")


# -- discovery ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostNode:
    """One NUMA node as sysfs shows it; memory in KiB (None when meminfo is unreadable)."""

    id: int
    cpus: tuple[int, ...]
    memory_kb: int | None
    free_kb: int | None
    distances: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cpus": format_cpu_list(self.cpus),
            "memory_mb": self.memory_kb // 1024 if self.memory_kb is not None else None,
            "free_mb": self.free_kb // 1024 if self.free_kb is not None else None,
            "distances": list(self.distances),
        }


@dataclass(frozen=True)
class PciDevice:
    """A PCI device pconf cares about (GPU or NIC): address, ids, its NUMA node (-1 unknown), local CPUs."""

    pci: str
    vendor: int
    device: int
    pci_class: int
    numa_node: int
    local_cpus: tuple[int, ...]
    interfaces: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "pci": self.pci,
            "vendor": f"0x{self.vendor:04x}",
            "device": f"0x{self.device:04x}",
            "class": f"0x{self.pci_class:06x}",
            "numa_node": self.numa_node,
            "local_cpus": format_cpu_list(self.local_cpus),
        }


@dataclass(frozen=True)
class HostTopology:
    """What ``read_host_topology`` found under ``root``. GPUs are in PCI bus id order (CUDA_DEVICE_ORDER=PCI_BUS_ID),
    which is the index vLLM's binding lists use."""

    root: str
    nodes: tuple[HostNode, ...]
    gpus: tuple[PciDevice, ...]
    nics: tuple[PciDevice, ...]
    cpu_model: str | None
    highest_perf: int | None
    online_cpus: tuple[int, ...] = field(default=())

    @property
    def source(self) -> str:
        """The provenance of a probed topology: ``probe:/sys`` for this host's root."""
        return "probe:" + os.path.join(self.root, "sys")

    def node_of_cpu(self, cpu: int) -> int | None:
        return next((n.id for n in self.nodes if cpu in n.cpus), None)

    def gpu_bind_node(self, gpu: PciDevice) -> int:
        """The node vLLM's detection binds a GPU to: its own node if that node has CPUs, else the node of its
        first local CPU (GB200's memory-only nodes); -1 when unknown."""
        if gpu.numa_node < 0:
            return -1
        own = next((n for n in self.nodes if n.id == gpu.numa_node), None)
        if own is not None and own.cpus:
            return own.id
        if gpu.local_cpus:
            found = self.node_of_cpu(gpu.local_cpus[0])
            return found if found is not None else -1
        return -1 if own is None else own.id

    def topology_data(self) -> dict[str, Any]:
        """The ``[cluster.topology]`` table of this host, as plain data (what ``--probe-topology`` layers in)."""
        data: dict[str, Any] = {
            "nodes": [_node_data(n) for n in self.nodes],
            "gpus": [self.gpu_bind_node(g) for g in self.gpus],
        }
        if self.cpu_model is not None:
            data["cpu_model"] = self.cpu_model
        if self.highest_perf is not None:
            data["highest_perf"] = self.highest_perf
        return data

    def to_dict(self) -> dict[str, Any]:
        """``pconf numa --format json``: nodes, GPUs (index = CUDA order), NICs, and the PCT facts."""
        stride = pct_stride(self.cpu_model, self.highest_perf)
        by_node = {n.id: n.cpus for n in self.nodes}
        pct = pct_cpus(by_node, by_node, stride)
        return {
            "source": self.source,
            "nodes": [n.as_dict() for n in self.nodes],
            "gpus": [{"index": i, **g.as_dict(), "vendor_name": GPU_VENDORS.get(g.vendor, "other"),
                      "bind_node": self.gpu_bind_node(g)} for i, g in enumerate(self.gpus)],
            "nics": [{**n.as_dict(), "interfaces": list(n.interfaces)} for n in self.nics],
            "cpu_model": self.cpu_model,
            "highest_perf": self.highest_perf,
            "pct_cpus": ",".join(map(str, pct)) if pct else None,
        }


def _node_data(node: HostNode) -> dict[str, Any]:
    data: dict[str, Any] = {"id": node.id, "cpus": format_cpu_list(node.cpus)}
    if node.memory_kb is not None:
        data["memory_mb"] = node.memory_kb // 1024
    if node.distances:
        data["distances"] = list(node.distances)
    return data


def read_host_topology(root: str | os.PathLike[str] = "/") -> HostTopology:
    """Read the NUMA nodes, GPUs, NICs and PCT facts of the host whose filesystem root is ``root``.

    Reads only below ``root`` (``sys/...``, ``proc/cpuinfo``). Missing or unreadable files are facts that are
    unknown (None, -1 or empty), never errors: sysfs differs between kernels, containers and VMs. A kernel
    without NUMA (no ``node*`` directories) is one node 0 holding every online CPU.
    """
    base = Path(root)
    sysfs = base / "sys"
    online = _cpus(sysfs / "devices/system/cpu/online") or ()
    nodes = _read_nodes(sysfs / "devices/system/node")
    if not nodes:
        nodes = (HostNode(0, online, _meminfo(base / "proc/meminfo", "MemTotal"),
                          _meminfo(base / "proc/meminfo", "MemFree"), ()),)
    gpus, nics = _read_pci(sysfs)
    return HostTopology(
        root=os.fspath(root),
        nodes=nodes,
        gpus=gpus,
        nics=nics,
        cpu_model=_cpu_model(base / "proc/cpuinfo"),
        highest_perf=_int(_read(sysfs / "devices/system/cpu/cpu0/acpi_cppc/highest_perf")),
        online_cpus=online,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def _cpus(path: Path) -> tuple[int, ...] | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return parse_sysfs_cpu_list(text)
    except CpuListError:
        return None


def _meminfo(path: Path, key: str) -> int | None:
    """A ``kB`` value from a meminfo file (``Node 0 MemTotal:  123 kB`` or ``MemTotal:  123 kB``)."""
    text = _read(path)
    for line in (text or "").splitlines():
        label, _, rest = line.partition(":")
        if label.split()[-1:] == [key]:
            return _int(rest.split()[0] if rest.split() else None)
    return None


def _read_nodes(node_dir: Path) -> tuple[HostNode, ...]:
    try:
        entries = list(node_dir.iterdir())
    except OSError:
        return ()
    nodes = []
    for entry in entries:
        match = _NODE_DIR.match(entry.name)
        if not match:
            continue
        distance = (_read(entry / "distance") or "").split()
        nodes.append(HostNode(
            id=int(match.group(1)),
            cpus=_cpus(entry / "cpulist") or (),
            memory_kb=_meminfo(entry / "meminfo", "MemTotal"),
            free_kb=_meminfo(entry / "meminfo", "MemFree"),
            distances=tuple(int(d) for d in distance if d.lstrip("-").isdigit()),
        ))
    return tuple(sorted(nodes, key=lambda n: n.id))


def _read_pci(sysfs: Path) -> tuple[tuple[PciDevice, ...], tuple[PciDevice, ...]]:
    """GPUs (display/3D controllers of NVIDIA or AMD) and NICs (network controllers, or the PCI parent of an
    interface in ``class/net``), each sorted by PCI address."""
    pci_dir = sysfs / "bus/pci/devices"
    try:
        addresses = sorted(e.name.lower() for e in pci_dir.iterdir() if _PCI_ADDRESS.match(e.name))
    except OSError:
        addresses = []
    net_parents = _net_parents(sysfs / "class/net")
    gpus: list[PciDevice] = []
    nics: list[PciDevice] = []
    for address in addresses:
        here = pci_dir / address
        pci_class, vendor = _int(_read(here / "class"), 16), _int(_read(here / "vendor"), 16)
        if pci_class is None or vendor is None:
            continue
        is_gpu = pci_class >> 16 == 0x03 and vendor in GPU_VENDORS
        interfaces = tuple(sorted(set(_interfaces(here)) | set(net_parents.get(address, ()))))
        is_nic = pci_class >> 16 == 0x02 or address in net_parents
        if not (is_gpu or is_nic):
            continue
        numa = _int(_read(here / "numa_node"))
        device = PciDevice(address, vendor, _int(_read(here / "device"), 16) or 0, pci_class,
                           numa if numa is not None and numa >= 0 else -1, _cpus(here / "local_cpulist") or (),
                           interfaces if is_nic else ())
        (gpus if is_gpu else nics).append(device)
    return tuple(gpus), tuple(nics)


def _interfaces(device_dir: Path) -> list[str]:
    """Network interface names below a PCI device: ``net/<if>`` or, for virtio, ``virtio*/net/<if>``."""
    found: list[str] = []
    for net in (device_dir / "net", *(d / "net" for d in _subdirs(device_dir))):
        found.extend(e.name for e in _subdirs(net))
    return found


def _subdirs(path: Path) -> list[Path]:
    try:
        return [e for e in path.iterdir() if e.is_dir() and not e.is_symlink()]
    except OSError:
        return []


def _net_parents(class_net: Path) -> dict[str, list[str]]:
    """PCI address -> interface names, from the links in ``class/net`` (read as text, never followed)."""
    out: dict[str, list[str]] = {}
    try:
        entries = list(class_net.iterdir())
    except OSError:
        return out
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        parents = [part.lower() for part in target.split("/") if _PCI_ADDRESS.match(part)]
        if parents:
            out.setdefault(parents[-1], []).append(entry.name)
    return out


def _cpu_model(path: Path) -> str | None:
    for line in (_read(path) or "").splitlines():
        label, _, value = line.partition(":")
        if label.strip().lower() == "model name":
            return value.strip()
    return None


__all__ = [
    "GPU_VENDORS",
    "PCT_SKUS",
    "PROCESS_KINDS",
    "Binding",
    "BindingError",
    "HostNode",
    "HostTopology",
    "NodeList",
    "PciDevice",
    "PctSku",
    "auto_detection_problem",
    "engine_binding",
    "gpu_index",
    "gpus_used",
    "local_layout",
    "node_cpus",
    "node_list",
    "pct_cpus",
    "pct_stride",
    "process_binding",
    "read_host_topology",
    "worker_binding",
]
