"""The plan as a terminal grid: a line per node (folded every ``FOLD`` local ranks), a cell per rank holding the
rank and its coordinates; with ``ansi`` each cell is coloured by its group of the colour kind (ANSI 256
colours; the command line turns them on for a terminal, off for NO_COLOR, files and pipes).

    8 ranks on 1 node (8 per node); DP=2 PP=1 PCP=1 TP=4 DCP=1
    cells: rank:dp.tp.ep
     local  0        1        …
    node 0  0:0.0.0  1:0.1.1  …
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pconf.emit.picture import default_colour_kind, group_index, headline, kind_summary, shown_axes

if TYPE_CHECKING:
    from pconf.plan import Plan

#: Local ranks per line.
FOLD = 16
#: xterm-256 backgrounds close to the SVG's palette (``picture.PALETTE``), in the same order.
ANSI_BACKGROUNDS = (116, 229, 146, 210, 110, 215, 150, 224, 252, 139, 194, 221)
RESET = "\x1b[0m"


def plan_grid(plan: Plan, node: int | None = None, colour: str | None = None, ansi: bool = False) -> str:
    """The grid of a plan (one node's line with ``node``); cells coloured by their ``colour`` group when
    ``ansi``."""
    axes = shown_axes(plan)
    colour = colour or default_colour_kind(plan)
    rows = plan.ranks
    cells = [f"{row.rank}:{'.'.join(str(getattr(row, a)) for a in axes)}" for row in rows]
    width = max(map(len, cells))
    per_node = max(plan.per_node, 1 + max(row.local_rank for row in rows))
    fold = min(per_node, FOLD)
    groups = plan.groups(colour)
    index = group_index(groups, plan.world_size)
    lines = [headline(plan), f"cells: rank:{'.'.join(axes)}"]
    if ansi:
        lines.append(f"colours: {kind_summary(colour, groups)}")
    width = max(width, len(str(fold - 1)))
    label_w = len(f"node {plan.nnodes - 1}")
    lines.append(("local".rjust(label_w) + "  " + "  ".join(str(i).ljust(width) for i in range(fold))).rstrip())
    for n in range(plan.nnodes) if node is None else (node,):
        members = plan.node_ranks(n)
        by_local = {rows[r].local_rank: r for r in members}
        for start in range(0, per_node, fold):
            label = f"node {n}" if start == 0 else f"+{start}"
            parts = []
            for local in range(start, min(start + fold, per_node)):
                r = by_local.get(local)
                text = (cells[r] if r is not None else "-").ljust(width)
                if ansi and r is not None and index[r] >= 0:
                    back = ANSI_BACKGROUNDS[index[r] % len(ANSI_BACKGROUNDS)]
                    text = f"\x1b[30;48;5;{back}m{text}{RESET}"
                parts.append(text)
            lines.append((label.rjust(label_w) + "  " + "  ".join(parts)).rstrip())
    return "\n".join(lines) + "\n"
