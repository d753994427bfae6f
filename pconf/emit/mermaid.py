"""The plan as a Mermaid flowchart, for Markdown (GitHub draws ```` ```mermaid ```` blocks): a subgraph per node,
top to bottom, its ranks in local-rank order, left to right (invisible ``~~~`` links keep both orders), each
labelled with its coordinates and filled by its group of the colour kind.

Mermaid lays out a small graph well and a large one badly (and GitHub stops drawing past a text size), so the
format is for plans of at most ``MAX_RANKS`` ranks; ``pconf plan`` refuses larger ones and points to SVG.
The groups of every kind are listed as ``%%`` comments under the picture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pconf.emit.picture import NO_GROUP, PALETTE, default_colour_kind, group_index, headline, shown_axes
from pconf.plan import GROUP_KINDS, rank_span

if TYPE_CHECKING:
    from pconf.plan import Plan

#: The most ranks a Mermaid picture draws.
MAX_RANKS = 64


class TooLarge(ValueError):
    """The plan has more ranks than a Mermaid picture draws."""


def plan_mermaid(plan: Plan, colour: str | None = None) -> str:
    """The Mermaid flowchart of a plan, cells filled by their group of ``colour`` (default: the pictures'
    default colour kind). ``TooLarge`` past ``MAX_RANKS`` ranks."""
    if plan.world_size > MAX_RANKS:
        raise TooLarge(f"--format mermaid draws at most {MAX_RANKS} ranks and this plan has {plan.world_size}; "
                       "use --format svg or --format html")
    colour = colour or default_colour_kind(plan)
    groups = plan.groups(colour)
    index = group_index(groups, plan.world_size)
    axes = shown_axes(plan)
    lines = ["flowchart TB", f"  %% pconf plan: {headline(plan)}; {plan.graph_hash}",
             f"  %% cells coloured by their {colour} group"]
    for node in range(plan.nnodes):
        members = plan.node_ranks(node)
        lines += [f'  subgraph node{node}["node {node}"]', "    direction LR"]
        for r in members:
            row = plan.rank(r)
            coords = " · ".join(f"{axis} {getattr(row, axis)}" for axis in axes)
            lines.append(f'    r{r}["<b>rank {r}</b><br/>local {row.local_rank}<br/>{coords}"]')
        if len(members) > 1:  # invisible links keep the ranks in local-rank order, left to right
            lines.append("    " + " ~~~ ".join(f"r{r}" for r in members))
        lines.append("  end")
    if plan.nnodes > 1:  # and the nodes top to bottom, in order
        lines.append("  " + " ~~~ ".join(f"node{n}" for n in range(plan.nnodes)))
    classes: dict[str, list[int]] = {}
    for r in range(plan.world_size):
        classes.setdefault(f"g{index[r] % len(PALETTE)}" if index[r] >= 0 else "none", []).append(r)
    for name, ranks in sorted(classes.items(), key=lambda item: item[1][0]):
        fill = PALETTE[int(name[1:])] if name != "none" else NO_GROUP
        lines.append(f"  classDef {name} fill:{fill},stroke:#555,color:#000")
        lines.append(f"  class {','.join(f'r{r}' for r in ranks)} {name}")
    for kind in GROUP_KINDS:
        found = plan.groups(kind)
        shown = " ".join(f"[{rank_span(g)}]" for g in found) or "none"
        lines.append(f"  %% {kind} groups: {shown}")
    return "\n".join(lines) + "\n"
