"""Record the sysfs files pconf.numa.sysfs reads into a small tree of text files (for tests and CI).

    python tests/data/sysfs/record.py tests/data/sysfs/<name>          # this host
    python tests/data/sysfs/record.py DEST --root /some/other/root

Copies only what ``read_host_topology`` reads: node cpulists, meminfo totals and distances, the online CPUs,
cpu0's CPPC highest_perf, the class/vendor/device/numa_node/local_cpulist of every PCI device, network interface
names below each PCI device (as ``net/<if>/ifindex``), and the processor lines of /proc/cpuinfo. Symbolic links
become plain directories, so the tree is text files only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PCI_FILES = ("class", "vendor", "device", "numa_node", "local_cpulist")
CPUINFO_KEYS = ("processor", "vendor_id", "model name")
MEMINFO_KEYS = ("MemTotal", "MemFree")


def copy(src: Path, dest: Path, keep: tuple[str, ...] | None = None) -> None:
    """Copy one text file (only the lines whose label is in ``keep``, when given); skip unreadable ones."""
    try:
        text = src.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if keep is not None:  # "model name\t: x", "Node 0 MemTotal:  123 kB": keep by the label's last words
        lines = [line for line in text.splitlines()
                 if any(f" {line.partition(':')[0].strip()}".endswith(f" {k}") for k in keep)]
        text = "\n".join(lines) + "\n"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")


def record(root: Path, dest: Path) -> None:
    sysfs, out = root / "sys", dest / "sys"
    copy(sysfs / "devices/system/cpu/online", out / "devices/system/cpu/online")
    perf = "devices/system/cpu/cpu0/acpi_cppc/highest_perf"
    copy(sysfs / perf, out / perf)
    for node in sorted((sysfs / "devices/system/node").glob("node[0-9]*")):
        rel = node.relative_to(sysfs)
        copy(node / "cpulist", out / rel / "cpulist")
        copy(node / "distance", out / rel / "distance")
        copy(node / "meminfo", out / rel / "meminfo", MEMINFO_KEYS)
    for device in sorted((sysfs / "bus/pci/devices").iterdir()):
        rel = Path("bus/pci/devices") / device.name
        for name in PCI_FILES:
            copy(device / name, out / rel / name)
        for net in [*device.glob("net/*"), *device.glob("*/net/*")]:
            copy(net / "ifindex", out / rel / net.relative_to(device) / "ifindex")
    copy(root / "proc/cpuinfo", dest / "proc/cpuinfo", CPUINFO_KEYS)
    copy(root / "proc/meminfo", dest / "proc/meminfo", MEMINFO_KEYS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="the directory to write (it stands for /)")
    parser.add_argument("--root", type=Path, default=Path("/"), help="the root to record (default: /)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[\w./-]+", str(args.dest)):
        print("record.py: use a plain directory name", file=sys.stderr)
        return 2
    record(args.root, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
