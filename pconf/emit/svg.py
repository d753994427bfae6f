"""The plan as an SVG picture: nodes as blocks of GPU cells, one element per rank, one outline per group.

Every rank is a ``<g class="rank">`` carrying ``data-rank``, ``data-node``, ``data-local-rank`` and its
coordinates (``data-dp`` … ``data-ep``; ``data-ep=""`` without EP groups), with a ``<title>`` tooltip and its
cell, filled by its group of the colour kind. Every group of a drawn kind is a ``<path>`` carrying
``data-group`` (the kind), ``data-index`` (its place in the plan's list) and ``data-ranks`` (its members, in
the plan's order), drawn as one rectangle per run of member cells on a line (``pconf.emit.picture``), inside
a ``<g class="kind" data-kind=…>`` that gives the kind's stroke. Groups of one rank are kept but not stroked.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from pconf.emit.picture import (
    AXES,
    KIND_STYLES,
    LEGEND_LINE,
    LEGEND_SAMPLE_W,
    MARGIN,
    NO_GROUP,
    PALETTE,
    Box,
    Layout,
    coordinates,
    default_colour_kind,
    group_index,
    headline,
    kind_summary,
    layout,
    num,
    shown_axes,
)
from pconf.plan import GROUP_KINDS, RankInfo

if TYPE_CHECKING:
    from pconf.plan import Plan

FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"


def plan_svg(plan: Plan, kinds: Sequence[str] | None = None, colour: str | None = None) -> str:
    """The SVG picture of a plan: outlines for the groups of ``kinds`` (default: every kind), cells filled by
    their group of ``colour`` (default: ``picture.default_colour_kind``)."""
    kinds = tuple(GROUP_KINDS if kinds is None else kinds)
    colour = colour or default_colour_kind(plan)
    groups = {kind: plan.groups(kind) for kind in dict.fromkeys((*kinds, colour))}
    legend = [_legend_text(kind, groups[kind]) for kind in kinds]
    box = layout(plan, legend)
    rows = plan.ranks
    fills = group_index(groups[colour], plan.world_size)
    title = f"pconf plan: {headline(plan)}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(box.width)}" height="{num(box.height)}" '
        f'viewBox="0 0 {num(box.width)} {num(box.height)}" font-family="{FONT}" font-size="{num(box.scale.font)}" '
        f'class="pconf-plan" data-world-size="{plan.world_size}" data-nnodes="{plan.nnodes}" '
        f'data-colour="{colour}" data-scale="{box.scale.name}" role="img">',
        f"<title>{escape(title)}</title>",
        f"<desc>graph hash {escape(plan.graph_hash)}; cells coloured by their {colour} group; "
        f"outlines: {', '.join(kinds) or 'none'}</desc>",
        f'<rect class="background" width="{num(box.width)}" height="{num(box.height)}" fill="#ffffff"/>',
    ]
    out += _legend(plan, box, kinds, colour, legend)
    out += _nodes(box, plan.nnodes)
    out.append('<g class="ranks">')
    axes = shown_axes(plan)
    for row in rows:
        index = fills[row.rank]
        fill = PALETTE[index % len(PALETTE)] if index >= 0 else NO_GROUP
        out.append(_rank(row, box, fill, axes))
    out.append("</g>")
    out.append('<g class="groups" fill="none" pointer-events="none">')
    for kind in kinds:
        out += _outlines(kind, groups[kind], rows, box)
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend_text(kind: str, groups: list[list[int]]) -> str:
    single = bool(groups) and max(map(len, groups)) == 1
    return kind_summary(kind, groups) + (" (not outlined)" if single else "")


def _legend(plan: Plan, box: Layout, kinds: Sequence[str], colour: str, legend: Sequence[str]) -> list[str]:
    x, y = MARGIN, MARGIN + 12
    out = [
        '<g class="legend" font-size="12">',
        f'<text x="{num(x)}" y="{num(y)}" font-weight="bold">{escape(headline(plan))}</text>',
        f'<text x="{num(x)}" y="{num(y + LEGEND_LINE)}" class="colour-note">cells coloured by their '
        f'{colour} group · {escape(plan.graph_hash)}</text>',
    ]
    for i, kind in enumerate(kinds):
        col, line = i % box.legend_cols, i // box.legend_cols
        ix, iy = x + col * box.legend_item_w, y + LEGEND_LINE * (2 + line)
        style = KIND_STYLES[kind]
        dash = f' stroke-dasharray="{box.scale.dash(kind)}"' if style.dash else ""
        out.append(f'<g class="legend-item" data-kind="{kind}"><rect x="{num(ix)}" y="{num(iy - 10)}" width="28" '
                   f'height="12" rx="2" fill="none" stroke="{style.colour}" stroke-width="2"{dash}/>'
                   f'<text x="{num(ix + LEGEND_SAMPLE_W)}" y="{num(iy)}">{escape(legend[i])}</text></g>')
    out.append("</g>")
    return out


def _nodes(box: Layout, nnodes: int) -> list[str]:
    s = box.scale
    out = ['<g class="nodes">']
    for node in range(nnodes):
        frame = box.node_box(node)
        label = f"node {node}" if s.text != "none" else f"n{node}"
        ly = frame.y + s.pad + s.cell_h / 2 + s.font / 3
        out.append(f'<g class="node" data-node="{node}"><rect x="{num(frame.x)}" y="{num(frame.y)}" '
                   f'width="{num(frame.w)}" height="{num(frame.h)}" rx="{num(s.pad)}" fill="#f7f7f7" '
                   f'stroke="#c8c8c8"/><text x="{num(frame.x + s.pad)}" y="{num(ly)}" fill="#444">{label}</text></g>')
    out.append("</g>")
    return out


def _rank(row: RankInfo, box: Layout, fill: str, axes: Sequence[str]) -> str:
    cell = box.cell(row.node, row.local_rank)
    data = " ".join(f'data-{axis}="{_value(getattr(row, axis))}"' for axis in AXES)
    head = (f'<g class="rank" data-rank="{row.rank}" data-node="{row.node}" data-local-rank="{row.local_rank}" '
            f'{data}><title>rank {row.rank}: {coordinates(row)}</title>'
            f'<rect x="{num(cell.x)}" y="{num(cell.y)}" width="{num(cell.w)}" height="{num(cell.h)}" '
            f'rx="{num(min(cell.w, cell.h) / 8)}" fill="{fill}" stroke="#666" stroke-width="0.5"/>')
    return head + _label(row, cell, box, axes) + "</g>"


def _label(row: RankInfo, cell: Box, box: Layout, axes: Sequence[str]) -> str:
    """The text in a cell: nothing (tiny), the rank (small), or the rank and its coordinates (full)."""
    text = box.scale.text
    cx = num(cell.x + cell.w / 2)
    if text == "none":
        return ""
    if text == "rank":
        return (f'<text x="{cx}" y="{num(cell.y + cell.h / 2 + box.scale.font / 3)}" text-anchor="middle">'
                f"{row.rank}</text>")
    parts = [f"{axis} {_value(getattr(row, axis))}" for axis in axes]
    lines = [" ".join(parts[i:i + 3]) for i in range(0, len(parts), 3)]
    out = [f'<text x="{cx}" y="{num(cell.y + 24)}" text-anchor="middle" font-size="13" '
           f'font-weight="bold">{row.rank}</text>']
    out += [f'<text x="{cx}" y="{num(cell.y + 39 + 12 * i)}" text-anchor="middle">{line}</text>'
            for i, line in enumerate(lines)]
    return "".join(out)


def _outlines(kind: str, groups: list[list[int]], rows: list[RankInfo], box: Layout) -> list[str]:
    style = KIND_STYLES[kind]
    single = bool(groups) and max(map(len, groups)) == 1
    dash = f' stroke-dasharray="{box.scale.dash(kind)}"' if style.dash else ""
    hidden = ' stroke-opacity="0" data-single="1"' if single else ""
    out = [f'<g class="kind" data-kind="{kind}" stroke="{style.colour}" stroke-width="{num(box.scale.stroke)}"'
           f'{dash}{hidden}>']
    for i, members in enumerate(groups):
        path = "".join(f"M{num(b.x)} {num(b.y)}h{num(b.w)}v{num(b.h)}h{num(-b.w)}z"
                       for b in box.outline(kind, (rows[r] for r in members)))
        out.append(f'<path data-group="{kind}" data-index="{i}" data-ranks="{" ".join(map(str, members))}" '
                   f'd="{path}"/>')
    out.append("</g>")
    return out


def _value(value: int | None) -> str:
    return "" if value is None else str(value)
