"""Tables for people: the plan (every rank, or one), its NUMA binding, and a host's topology."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pconf.emit.model import model_lines, rank_model_lines
from pconf.errors import shorten
from pconf.netaddr import host_port
from pconf.plan import GROUP_KINDS, rank_span

if TYPE_CHECKING:
    from pconf.numa.binding import Binding
    from pconf.plan import Plan, RankInfo


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: bool = False,
            indent: str = "") -> list[str]:
    """The header and rows as lines of columns two spaces apart, each as wide as its widest cell; left-aligned
    (trailing spaces dropped) or, with ``right``, right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = []
    for row in [header, *rows]:
        cells = [v.rjust(w) if right else v.ljust(w) for v, w in zip(row, widths, strict=True)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def plan_table(plan: Plan, node: int | None = None) -> str:
    """The plan for people: a header, one aligned row per rank, then each group kind summarised."""
    return "".join(plan_table_chunks(plan, node))


def plan_table_chunks(plan: Plan, node: int | None = None) -> Iterator[str]:
    """``plan_table`` in pieces, rank rows a block at a time: the columns' widths come from the largest value of
    each (the coordinates are never negative), so no row is kept; the NUMA rows take two passes, one for widths."""
    ranks = plan.ranks if node is None else [plan.rank(r) for r in plan.node_ranks(node)]
    sizes = f"DP={plan.dp} PP={plan.pp} PCP={plan.pcp} TP={plan.tp} DCP={plan.dcp}"
    where = f"{plan.nnodes} node{'s' if plan.nnodes > 1 else ''} ({plan.per_node} per node)"
    yield f"{plan.world_size} ranks on {where}; {sizes}; {plan.graph_hash}\n"
    columns = ("rank", "node", "local", "dp", "pp", "pcp", "tp", "dcp", "ep")
    widths = [max(len(name), _widest(ranks, i)) for i, name in enumerate(columns)]
    template = "  ".join(f"%{w}s" for w in widths) + "\n"
    yield template % columns
    yield from _blocks(template % tuple("-" if v is None else v for v in row) for row in ranks)
    lines = ["groups:"]
    for kind in GROUP_KINDS:
        count = plan.group_count(kind)
        if not count:
            lines.append(f"  {kind:<4} none (the model is dense: no expert-parallel group)")
            continue
        first = list(islice(plan.iter_groups(kind), 4))
        shown = " ".join(f"[{rank_span(g)}]" for g in first) + (" ..." if count > 4 else "")
        lines.append(f"  {kind:<4} {count} of {len(first[0])}: {shown}")
    for block in model_lines(plan):
        lines += [block] if isinstance(block, str) else aligned(*block, indent="  ")
    ports = plan.ports
    world = host_port(ports.world_addr, ports.world_port) if ports.world_port is not None else "picked at run time"
    text = f"ports: world rendezvous {world}"
    if plan.dp > 1:
        group = (host_port(ports.dp_master_ip, ports.dp_init_ports[0]) if ports.dp_init_ports
                 else f"{ports.dp_master_ip}, port picked at run time")
        text += f"; DP group {group}; DP RPC {ports.dp_rpc_port}"
    if ports.api_ports:
        text += f"; API server {rank_span(ports.api_ports)}"
    lines.append(text)
    yield "".join(line + "\n" for line in lines)
    yield from _blocks(line + "\n" for line in numa_line_chunks(plan, [row.rank for row in ranks]))


def _widest(rows: Sequence[RankInfo], column: int) -> int:
    """The width of a column of non-negative integers (or all None, shown as ``-``)."""
    if not rows:
        return 0
    if rows[0][column] is None:
        return 1
    return len(str(max(map(itemgetter(column), rows))))


def _blocks(lines: Iterable[str], size: int = 256) -> Iterator[str]:
    it = iter(lines)
    while block := "".join(islice(it, size)):
        yield block


def rank_table(plan: Plan, rank: int) -> str:
    """One rank for people: its coordinates, the members of each of its groups, its NUMA binding."""
    doc = plan.rank_dict(rank)
    coords = " ".join(f"{k}={v}" for k, v in doc["rank"].items() if k != "rank")
    lines = [f"rank {rank} of {plan.world_size}: {coords}"]
    lines += [f"  {kind:<4} {members}" for kind, members in doc["groups"].items()]
    lines += rank_model_lines(plan, rank)
    lines += numa_lines(plan, [rank])
    return "\n".join(lines) + "\n"


def numa_lines(plan: Plan, ranks: list[int]) -> list[str]:
    """The NUMA binding of ``ranks`` for people (nothing when numa_bind is off): each worker's GPU index, node,
    CPUs and numactl prefix, then each DP rank's EngineCore."""
    return list(numa_line_chunks(plan, ranks))


def numa_line_chunks(plan: Plan, ranks: list[int]) -> Iterator[str]:
    """``numa_lines`` one line at a time: a first pass over the bindings for the columns' widths (and the
    EngineCores, one per DP rank), a second one for the rows."""
    numa = plan.numa
    if numa.mode == "off":
        return
    if numa.mode == "runtime":
        yield f"numa: left to vLLM's auto-detection at run time ({numa.reason})"
        return
    yield f"numa: planned from {numa.reason}"
    header = ("rank", "gpu", "numa", "cpus", "numactl")
    widths = [len(h) for h in header]
    engines, seen = [], set()
    for r in ranks:
        b = plan.binding(r)
        if b is None:
            continue
        widths = [max(w, len(cell)) for w, cell in zip(widths, _numa_row(r, b), strict=True)]
        dp = plan.rank(r).dp
        if dp not in seen:
            seen.add(dp)
            engine = plan.binding(r, "EngineCore")
            if engine is not None:
                engines.append(f"  EngineCore of DP rank {dp}: {engine.numactl_command}")

    def line(cells: Sequence[str]) -> str:
        return ("  " + "  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True))).rstrip()

    yield line(header)
    for r in ranks:
        b = plan.binding(r)
        if b is not None:
            yield line(_numa_row(r, b))
    yield from engines


def _numa_row(r: int, b: Binding) -> list[str]:
    cpus = b.cpus if b.cpus is not None else b.as_dict()["allowed_cpus"]
    return [str(r), str(b.gpu_index), ",".join(map(str, b.nodes)), shorten(cpus or "?", 40), b.numactl_command]


def topology_table(doc: dict[str, Any]) -> str:
    """``pconf numa`` for people: nodes, GPUs in CUDA order, NICs, and the Priority Core Turbo facts."""
    nodes = doc["nodes"]
    lines = [f"{len(nodes)} NUMA node{'s' if len(nodes) != 1 else ''} ({doc['source']})"]
    rows = [[str(n["id"]), n["cpus"] or "-", f"{n['memory_mb']} MiB" if n["memory_mb"] is not None else "?",
             " ".join(map(str, n["distances"]))] for n in nodes]
    lines += aligned(("node", "cpus", "memory", "distances"), rows, indent="  ")
    if doc["gpus"]:
        lines.append("GPUs (CUDA order: PCI bus id):")
        rows = [[str(g["index"]), g["pci"], g["vendor_name"], str(g["numa_node"]), str(g["bind_node"]),
                 g["local_cpus"] or "-"] for g in doc["gpus"]]
        lines += aligned(("gpu", "pci", "vendor", "numa_node", "binds_to", "local_cpus"), rows, indent="  ")
    else:
        lines.append("GPUs: none found")
    if doc["nics"]:
        lines.append("NICs:")
        rows = [[n["pci"], ",".join(n["interfaces"]) or "-", str(n["numa_node"]), n["local_cpus"] or "-"]
                for n in doc["nics"]]
        lines += aligned(("pci", "interfaces", "numa_node", "local_cpus"), rows, indent="  ")
    cpu = f"CPU: {doc['cpu_model'] or 'unknown'}"
    if doc["highest_perf"] is not None:
        cpu += f"; cpu0 highest_perf {doc['highest_perf']}"
    lines.append(cpu + (f"; Priority Core Turbo cores {doc['pct_cpus']}" if doc["pct_cpus"] else ""))
    return "\n".join(lines) + "\n"
