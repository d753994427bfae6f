"""A host's NUMA topology, read from sysfs: the only code in pconf that reads the host's topology.

``read_host_topology`` reads a sysfs tree under an explicit root (``/`` for this host, a recorded tree in tests):
the NUMA nodes (``sys/devices/system/node/node*/{cpulist,meminfo,distance}``), the PCI GPUs and NICs with their
``numa_node`` (``sys/bus/pci/devices/*/{class,vendor,numa_node,local_cpulist}``, NIC interfaces from ``net/``
below the device or ``sys/class/net/*``), and the facts vLLM's Priority Core Turbo check reads (``proc/cpuinfo``
``model name``, ``sys/devices/system/cpu/cpu0/acpi_cppc/highest_perf``). It reads nothing outside the root and
has no other side effect. Compiling never calls it; ``--probe-topology`` does, as an explicit input, and the
result enters the configuration as ``cluster.topology`` (``HostTopology.topology_data``), which is what
``pconf.numa.binding`` reads.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pconf.cpulist import CpuListError, format_cpu_list, parse_sysfs_cpu_list
from pconf.errors import Issue, LoadError, Location
from pconf.numa.binding import pct_cpus, pct_stride

#: PCI vendor ids whose display/3D controllers are GPUs vLLM can use (NVIDIA, AMD).
GPU_VENDORS = {0x10DE: "nvidia", 0x1002: "amd"}
_PCI_ADDRESS = re.compile(r"[0-9a-fA-F]{4,}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\Z")
_NODE_DIR = re.compile(r"node(\d+)\Z", re.ASCII)


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

    Reads only below ``root`` (``sys/...``, ``proc/cpuinfo``), only regular files, at most MAX_FILE_BYTES of each,
    never through a link that leads out of the root: anything else is a LoadError naming the file (a FIFO there
    would otherwise block the read forever). Missing or unreadable files are facts that are unknown (None, -1 or
    empty), never errors: sysfs differs between kernels, containers and VMs. A kernel without NUMA (no ``node*``
    directories) is one node 0 holding every online CPU; a root with neither NUMA nodes nor online CPUs is not a
    host's filesystem (a LoadError naming its node directory).
    """
    base = Path(root)
    sysfs = base / "sys"
    read = _Reader(base)
    online = _cpus(read, sysfs / "devices/system/cpu/online") or ()
    nodes = _read_nodes(read, sysfs / "devices/system/node")
    if not nodes and not online:
        where = sysfs / "devices/system/node"
        raise LoadError([Issue((), Location.file(os.fspath(where)), "numa.sysfs_empty",
                               "no NUMA nodes here, and no online CPUs: not a host's sysfs",
                               f"give the root of a filesystem holding sys/ and proc/ (--sysfs-root {root!s} has "
                               "neither)")])
    if not nodes:
        nodes = (HostNode(0, online, _meminfo(read, base / "proc/meminfo", "MemTotal"),
                          _meminfo(read, base / "proc/meminfo", "MemFree"), ()),)
    gpus, nics = _read_pci(read, sysfs)
    return HostTopology(
        root=os.fspath(root),
        nodes=nodes,
        gpus=gpus,
        nics=nics,
        cpu_model=_cpu_model(read, base / "proc/cpuinfo"),
        highest_perf=_int(read(sysfs / "devices/system/cpu/cpu0/acpi_cppc/highest_perf")),
        online_cpus=online,
    )


#: The most bytes pconf reads of one file of a host's tree (/proc/cpuinfo of a 1,024-CPU host is about 1.5 MB).
MAX_FILE_BYTES = 8 << 20


class _Reader:
    """Reads files below one root: regular files only, bounded, never through a link that leaves the root."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)

    def __call__(self, path: Path) -> str | None:
        """The text of ``path``; None when it is missing or unreadable (an unknown fact)."""
        real = os.path.realpath(path)
        if os.path.commonpath([self.root, real]) != self.root:
            if not os.path.exists(real):
                return None
            raise self._refused(path, f"leads out of the root, to {real}")
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise self._refused(path, f"is {_kind(mode)}, not a regular file")
            chunks, size = [], 0
            while chunk := os.read(fd, min(1 << 16, MAX_FILE_BYTES + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise self._refused(path, f"is larger than {MAX_FILE_BYTES >> 20} MiB")
        except OSError:
            return None
        finally:
            os.close(fd)
        return b"".join(chunks).decode("utf-8", errors="replace")

    @staticmethod
    def _refused(path: Path, what: str) -> LoadError:
        return LoadError([Issue((), Location.file(os.fspath(path)), "numa.sysfs_file", what,
                                "a host's sysfs and proc hold regular files: point --sysfs-root at one")])


def _kind(mode: int) -> str:
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a directory" if stat.S_ISDIR(mode) else "not a file")


def _int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def _cpus(read: _Reader, path: Path) -> tuple[int, ...] | None:
    text = read(path)
    if text is None:
        return None
    try:
        return parse_sysfs_cpu_list(text)
    except CpuListError:
        return None


def _meminfo(read: _Reader, path: Path, key: str) -> int | None:
    """A ``kB`` value from a meminfo file (``Node 0 MemTotal:  123 kB`` or ``MemTotal:  123 kB``)."""
    text = read(path)
    for line in (text or "").splitlines():
        label, _, rest = line.partition(":")
        if label.split()[-1:] == [key]:
            return _int(rest.split()[0] if rest.split() else None)
    return None


def _read_nodes(read: _Reader, node_dir: Path) -> tuple[HostNode, ...]:
    try:
        entries = list(node_dir.iterdir())
    except OSError:
        return ()
    nodes = []
    for entry in entries:
        match = _NODE_DIR.match(entry.name)
        if not match:
            continue
        distance = (read(entry / "distance") or "").split()
        nodes.append(HostNode(
            id=int(match.group(1)),
            cpus=_cpus(read, entry / "cpulist") or (),
            memory_kb=_meminfo(read, entry / "meminfo", "MemTotal"),
            free_kb=_meminfo(read, entry / "meminfo", "MemFree"),
            distances=tuple(int(d) for d in distance if d.lstrip("-").isdigit()),
        ))
    return tuple(sorted(nodes, key=lambda n: n.id))


def _read_pci(read: _Reader, sysfs: Path) -> tuple[tuple[PciDevice, ...], tuple[PciDevice, ...]]:
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
        pci_class, vendor = _int(read(here / "class"), 16), _int(read(here / "vendor"), 16)
        if pci_class is None or vendor is None:
            continue
        is_gpu = pci_class >> 16 == 0x03 and vendor in GPU_VENDORS
        interfaces = tuple(sorted(set(_interfaces(here)) | set(net_parents.get(address, ()))))
        is_nic = pci_class >> 16 == 0x02 or address in net_parents
        if not (is_gpu or is_nic):
            continue
        numa = _int(read(here / "numa_node"))
        device = PciDevice(address, vendor, _int(read(here / "device"), 16) or 0, pci_class,
                           numa if numa is not None and numa >= 0 else -1, _cpus(read, here / "local_cpulist") or (),
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


def _cpu_model(read: _Reader, path: Path) -> str | None:
    for line in (read(path) or "").splitlines():
        label, _, value = line.partition(":")
        if label.strip().lower() == "model name":
            return value.strip()
    return None


__all__ = [
    "GPU_VENDORS",
    "HostNode",
    "HostTopology",
    "PciDevice",
    "read_host_topology",
]
