"""What every picture of a plan shares: the group kinds drawn and their styles, the colour of each group, each
rank's label, and the geometry of the SVG (cells, node blocks, the exact run rectangles of a group).

The grid is nodes × local ranks: a node's ranks fill a line of cells in local-rank order, folded into several
lines when a node runs many ranks; node blocks stack in one column, or in several when that keeps the picture
near landscape. Three scales keep 8 ranks readable and 4,096 usable: ``full`` cells carry the rank and its
coordinates, ``small`` cells the rank number, ``tiny`` cells nothing (the tooltip says it all).

A group's outline is exact: one rectangle per run of consecutive member cells on a line of the grid, so the
cells inside a group's rectangles are precisely its members. Each kind sits at its own inset from the cell
edge (the larger kinds outside, the smaller inside), so the outlines of several kinds never coincide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from pconf.plan import GROUP_KINDS, RankInfo, rank_span

if TYPE_CHECKING:
    from pconf.plan import Plan

#: Outer to inner: the order of the outline insets (EP groups hold DP's and TP's members, DCP groups sit in TP's).
INSET_ORDER = ("ep", "dp", "pp", "pcp", "tp", "dcp")
#: The coordinates of a rank, in the plan's order.
AXES = ("dp", "pp", "pcp", "tp", "dcp", "ep")


class KindStyle(NamedTuple):
    """How a group kind's outlines look: a stroke colour and a dash pattern in stroke widths (empty: solid)."""

    colour: str
    dash: tuple[float, ...]


KIND_STYLES: dict[str, KindStyle] = {
    "tp": KindStyle("#d62728", ()),
    "pp": KindStyle("#1f77b4", (4, 2)),
    "dp": KindStyle("#2ca02c", (1.5, 1.5)),
    "ep": KindStyle("#9467bd", (6, 2, 1.5, 2)),
    "dcp": KindStyle("#e6730b", (2.5, 1.5)),
    "pcp": KindStyle("#8c564b", (5, 1.5, 1.5, 1.5, 1.5, 1.5)),
}

#: Cell fills, one per group of the colour kind (cycled): light enough for black text (ColorBrewer Set3).
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9",
           "#bc80bd", "#ccebc5", "#ffed6f")
#: The fill of a rank in no group of the colour kind (EP of a dense model).
NO_GROUP = "#f2f2f2"


def parse_kinds(text: str) -> tuple[str, ...]:
    """``"tp,ep"`` as kinds in the order given (duplicates dropped), ``"none"`` as no kind; ValueError naming an
    unknown kind."""
    if text.strip().lower() == "none":
        return ()
    kinds: list[str] = []
    for part in text.split(","):
        kind = part.strip().lower()
        if kind not in GROUP_KINDS:
            what = f"unknown group kind {part.strip()!r}" if kind else "an empty group kind"
            raise ValueError(f"{what} (one of {', '.join(GROUP_KINDS)}, or none)")
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def default_colour_kind(plan: Plan) -> str:
    """The kind whose groups colour the cells when none is chosen: the first kind (in vLLM's order) with more
    than one group of more than one rank, else the first with a group of more than one rank, else TP."""
    sizes = {kind: _group_shape(plan, kind) for kind in GROUP_KINDS}
    for kind in GROUP_KINDS:
        count, size = sizes[kind]
        if count > 1 and size > 1:
            return kind
    return next((kind for kind in GROUP_KINDS if sizes[kind][1] > 1), "tp")


def _group_shape(plan: Plan, kind: str) -> tuple[int, int]:
    """(number of groups, ranks per group) of a kind, from the plan's sizes (no group is built)."""
    n = plan.world_size
    size = {"tp": plan.tp, "dcp": plan.dcp, "pcp": plan.pcp, "pp": plan.pp, "dp": plan.dp,
            "ep": plan.dp * plan.pcp * plan.tp if plan.has_ep else 0}[kind]
    return (n // size, size) if size else (0, 0)


def group_index(groups: Sequence[Sequence[int]], world_size: int) -> list[int]:
    """Rank -> the index of its group in ``groups`` (-1 for a rank in none)."""
    index = [-1] * world_size
    for i, members in enumerate(groups):
        for r in members:
            index[r] = i
    return index


def kind_summary(kind: str, groups: Sequence[Sequence[int]]) -> str:
    """``tp: 2 groups of 4`` (``ep: none (dense model)`` without groups)."""
    if not groups:
        return f"{kind}: none (dense model)"
    sizes = sorted({len(g) for g in groups})
    size = str(sizes[0]) if len(sizes) == 1 else "/".join(map(str, sizes))
    return f"{kind}: {len(groups)} group{'s' if len(groups) != 1 else ''} of {size}"


def headline(plan: Plan) -> str:
    """``8 ranks on 1 node (8 per node); DP=2 PP=1 PCP=1 TP=4 DCP=1``."""
    where = f"{plan.nnodes} node{'s' if plan.nnodes > 1 else ''} ({plan.per_node} per node)"
    return (f"{plan.world_size} rank{'s' if plan.world_size != 1 else ''} on {where}; "
            f"DP={plan.dp} PP={plan.pp} PCP={plan.pcp} TP={plan.tp} DCP={plan.dcp}")


def shown_axes(plan: Plan) -> tuple[str, ...]:
    """The coordinates a cell label shows: those whose axis has more than one value (TP when none has)."""
    ep = plan.dp * plan.pcp * plan.tp if plan.has_ep else 1
    sizes = {"dp": plan.dp, "pp": plan.pp, "pcp": plan.pcp, "tp": plan.tp, "dcp": plan.dcp, "ep": ep}
    return tuple(axis for axis in AXES if sizes[axis] > 1) or ("tp",)


def coordinates(row: RankInfo) -> str:
    """``node 0, local rank 5; dp 0, pp 0, pcp 0, tp 1, dcp 0, ep 5`` (``ep -`` without EP groups)."""
    values = ", ".join(f"{axis} {'-' if getattr(row, axis) is None else getattr(row, axis)}" for axis in AXES)
    return f"node {row.node}, local rank {row.local_rank}; {values}"


def members_text(members: Sequence[int], limit: int = 12) -> str:
    """A group's members for people: ``0-3``, ``0,4,8``, or the first ``limit`` and a count."""
    if len(members) <= limit:
        return rank_span(members)
    span = rank_span(members)
    if "," not in span:
        return span
    return ",".join(map(str, members[:limit])) + f",… ({len(members)} ranks)"


# -- geometry -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Sizes (SVG user units) of one scale of the picture, and what its cells say."""

    name: str
    max_ranks: int
    cell_w: float
    cell_h: float
    gap: float
    fold: int  # cells per line; a node with more ranks takes several lines
    label_w: float  # the node label's column
    pad: float  # between a node's frame and its cells
    font: float
    stroke: float
    inset_step: float
    text: Literal["full", "rank", "none"]

    def inset(self, kind: str) -> float:
        """How far inside a cell's edge (negative: outside, in the gap) a kind's outline runs."""
        return -self.gap / 2 + self.stroke / 2 + INSET_ORDER.index(kind) * self.inset_step

    def dash(self, kind: str) -> str:
        return " ".join(num(d * self.stroke) for d in KIND_STYLES[kind].dash)


SCALES = (
    Scale("full", 128, 120, 64, 12, 16, 64, 6, 10, 2, 2.5, "full"),
    Scale("small", 1024, 36, 22, 6, 32, 56, 4, 10, 1.2, 1.0, "rank"),
    Scale("tiny", 1 << 62, 12, 12, 4, 64, 32, 3, 8, 0.7, 0.6, "none"),
)
MARGIN = 16.0
NODE_GAP = 10.0
LEGEND_LINE = 18.0
LEGEND_CHAR_W = 7.3  # a character of the legend's 12px monospace font
LEGEND_SAMPLE_W = 36.0  # the kind's sample stroke before its text
LEGEND_MIN_W = 720.0
#: The width / height the node blocks are arranged towards.
ASPECT = 1.6


class Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float


def scale_for(world_size: int) -> Scale:
    return next(s for s in SCALES if world_size <= s.max_ranks)


@dataclass(frozen=True)
class Layout:
    """Where everything of a picture sits. Build it with ``layout``."""

    scale: Scale
    per_node: int
    fold: int
    lines: int  # lines of cells per node
    node_cols: int
    nnodes: int
    top: float  # the y of the first node block
    width: float
    height: float
    legend_cols: int
    legend_item_w: float

    @property
    def block_w(self) -> float:
        s = self.scale
        return s.label_w + 2 * s.pad + self.fold * (s.cell_w + s.gap) - s.gap

    @property
    def block_h(self) -> float:
        s = self.scale
        return 2 * s.pad + self.lines * (s.cell_h + s.gap) - s.gap

    def node_box(self, node: int) -> Box:
        """The frame of a node's block."""
        col, row = node % self.node_cols, node // self.node_cols
        return Box(MARGIN + col * (self.block_w + NODE_GAP), self.top + row * (self.block_h + NODE_GAP),
                   self.block_w, self.block_h)

    def place(self, node: int, local: int) -> tuple[int, int, int]:
        """(node, line, column) of a cell: the grid position the outlines' runs are cut by."""
        return node, local // self.fold, local % self.fold

    def cell(self, node: int, local: int) -> Box:
        """The rectangle of the cell of a node's local rank."""
        s = self.scale
        frame = self.node_box(node)
        line, col = local // self.fold, local % self.fold
        return Box(frame.x + s.label_w + s.pad + col * (s.cell_w + s.gap), frame.y + s.pad + line * (s.cell_h + s.gap),
                   s.cell_w, s.cell_h)

    def outline(self, kind: str, rows: Iterable[RankInfo]) -> list[Box]:
        """The rectangles that outline a group exactly: one per run of consecutive member cells on a line."""
        by_line: dict[tuple[int, int], list[int]] = {}
        for row in rows:
            node, line, col = self.place(row.node, row.local_rank)
            by_line.setdefault((node, line), []).append(col)
        d = self.scale.inset(kind)
        boxes = []
        for (node, line), cols in sorted(by_line.items()):
            for start, stop in runs(sorted(cols)):
                first = self.cell(node, line * self.fold + start)
                last = self.cell(node, line * self.fold + stop)
                boxes.append(Box(first.x + d, first.y + d, last.x + last.w - first.x - 2 * d, first.h - 2 * d))
        return boxes


def runs(values: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted distinct integers as (first, last) of each run of consecutive values."""
    out: list[tuple[int, int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def layout(plan: Plan, legend: Sequence[str]) -> Layout:
    """The layout of a plan's picture with the kind entries ``legend`` (under two header lines)."""
    s = scale_for(plan.world_size)
    per_node = max(plan.per_node, 1 + max((row.local_rank for row in plan.ranks), default=0))
    fold = min(per_node, s.fold)
    lines = -(-per_node // fold)
    probe = Layout(s, per_node, fold, lines, 1, plan.nnodes, 0, 0, 0, 1, 0)
    node_cols = _node_columns(plan.nnodes, probe.block_w, probe.block_h)
    rows = -(-plan.nnodes // node_cols)
    grid_w = node_cols * (probe.block_w + NODE_GAP) - NODE_GAP
    grid_h = rows * (probe.block_h + NODE_GAP) - NODE_GAP
    width = max(grid_w + 2 * MARGIN, LEGEND_MIN_W)
    item_w = LEGEND_SAMPLE_W + LEGEND_CHAR_W * max(map(len, legend), default=0) + 2 * MARGIN
    legend_cols = max(1, min(3, int((width - 2 * MARGIN + MARGIN) // item_w)))
    legend_h = LEGEND_LINE * (2 + -(-len(legend) // legend_cols)) + LEGEND_LINE / 2
    top = MARGIN + legend_h
    return Layout(s, per_node, fold, lines, node_cols, plan.nnodes, top, width, top + grid_h + MARGIN, legend_cols,
                  item_w)


def _node_columns(nnodes: int, block_w: float, block_h: float) -> int:
    """How many columns of node blocks bring the grid closest to ``ASPECT`` (one column for a few nodes)."""
    if nnodes <= 4:
        return 1

    def distance(cols: int) -> float:
        rows = -(-nnodes // cols)
        return abs(math.log((cols * (block_w + NODE_GAP)) / (rows * (block_h + NODE_GAP)) / ASPECT))

    return min(range(1, nnodes + 1), key=distance)


def num(value: float) -> str:
    """A coordinate for SVG: at most two decimals, no trailing zeros, no exponent."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
