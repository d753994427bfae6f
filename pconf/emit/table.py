"""Tables for people: the plan (every rank, or one), its NUMA binding, and a host's topology."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pconf.emit.model import model_lines, rank_model_lines
from pconf.errors import shorten
from pconf.netaddr import host_port
from pconf.plan import GROUP_KINDS, rank_span

if TYPE_CHECKING:
    from pconf.plan import Plan


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
    ranks = plan.ranks if node is None else [plan.rank(r) for r in plan.node_ranks(node)]
    sizes = f"DP={plan.dp} PP={plan.pp} PCP={plan.pcp} TP={plan.tp} DCP={plan.dcp}"
    where = f"{plan.nnodes} node{'s' if plan.nnodes > 1 else ''} ({plan.per_node} per node)"
    lines = [f"{plan.world_size} ranks on {where}; {sizes}; {plan.graph_hash}"]
    columns = ("rank", "node", "local", "dp", "pp", "pcp", "tp", "dcp", "ep")
    lines += aligned(columns, [[str(v) if v is not None else "-" for v in row] for row in ranks], right=True)
    lines.append("groups:")
    for kind in GROUP_KINDS:
        groups = plan.groups(kind)
        if not groups:
            lines.append(f"  {kind:<4} none (the model is dense: no expert-parallel group)")
            continue
        shown = " ".join(f"[{rank_span(g)}]" for g in groups[:4]) + (" ..." if len(groups) > 4 else "")
        lines.append(f"  {kind:<4} {len(groups)} of {len(groups[0])}: {shown}")
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
    lines += numa_lines(plan, [row.rank for row in ranks])
    return "\n".join(lines) + "\n"


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
    numa = plan.numa
    if numa.mode == "off":
        return []
    if numa.mode == "runtime":
        return [f"numa: left to vLLM's auto-detection at run time ({numa.reason})"]
    lines = [f"numa: planned from {numa.reason}"]
    rows, engines, seen = [], [], set()
    for r in ranks:
        b = plan.binding(r)
        if b is None:
            continue
        cpus = b.cpus if b.cpus is not None else b.as_dict()["allowed_cpus"]
        rows.append([str(r), str(b.gpu_index), ",".join(map(str, b.nodes)), shorten(cpus or "?", 40),
                     b.numactl_command])
        dp = plan.rank(r).dp
        if dp not in seen:
            seen.add(dp)
            engine = plan.binding(r, "EngineCore")
            if engine is not None:
                engines.append(f"  EngineCore of DP rank {dp}: {engine.numactl_command}")
    lines += aligned(("rank", "gpu", "numa", "cpus", "numactl"), rows, indent="  ")
    return lines + engines


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
