"""vLLM's rank layout as data (spec §11.2): the axes of the rank array, and each group kind as a flatten order.

vLLM's ``initialize_model_parallel`` views the global ranks ``0 … N-1`` as an array of shape
``(X, DP, PP, PCP, TP)``, TP varying fastest (X, the "external DP" axis, is N / (DP·PP·PCP·TP): 1 in every plan
pconf makes). Each group kind moves its axis last (a swap with TP; EP swaps DP with PP), flattens the array in
that order and cuts the result into consecutive runs; the runs, in that order (not sorted), are the groups.
``GROUP_LAYOUT`` declares that, one ``Cut`` per kind, and ``Grid`` derives everything else from it: where a rank
sits (its group and its index in the group, which is its coordinate), every group of a kind, and one group
without the others.

Node placement is the same operation on another split of the same ranks (``NODE_AXES``, ``NODE_LAYOUT``).

The member lists are built from ``range`` objects chained and cut in C (no Python loop per rank), and a rank's
place is a few divisions, so one rank's slice of a large plan costs O(1) plus its groups' sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from math import prod
from operator import add, floordiv, mod
from types import MappingProxyType
from typing import NamedTuple


class Cut(NamedTuple):
    """One kind of group: the axes in the order the array is flattened in (slowest first), and the sizes whose
    product is the length of one group (the run the flattened order is cut into)."""

    order: tuple[str, ...]
    run: tuple[str, ...]


#: vLLM's rank array, slowest axis first: rank = (((x·DP + dp)·PP + pp)·PCP + pcp)·TP + tp.
AXES = ("x", "dp", "pp", "pcp", "tp")

#: Every group kind, in vLLM's creation order, then the world. DCP cuts the plain order into runs of DCP, so each
#: TP group splits into TP / DCP groups of DCP.
GROUP_LAYOUT: Mapping[str, Cut] = MappingProxyType({
    "tp": Cut(("x", "dp", "pp", "pcp", "tp"), run=("tp",)),
    "pp": Cut(("x", "dp", "tp", "pcp", "pp"), run=("pp",)),  # PP swapped with TP
    "dp": Cut(("x", "tp", "pp", "pcp", "dp"), run=("dp",)),  # DP swapped with TP
    "ep": Cut(("x", "pp", "dp", "pcp", "tp"), run=("dp", "pcp", "tp")),  # DP swapped with PP
    "dcp": Cut(("x", "dp", "pp", "pcp", "tp"), run=("dcp",)),
    "pcp": Cut(("x", "dp", "pp", "tp", "pcp"), run=("pcp",)),  # PCP swapped with TP
    "world": Cut(AXES, run=AXES),
})

#: The group kinds vLLM creates, in its order (EP only for models not known to be dense: see ``Plan``).
GROUP_KINDS = tuple(kind for kind in GROUP_LAYOUT if kind != "world")

#: The same ranks split for node placement: vLLM's DP ranks fill node groups of L = ``data_parallel_size_local``,
#: and a replica's PP×PCP×TP ranks span W = ``nnodes_within_dp`` nodes of R = ``local_world_size`` each. So
#: rank = ((dp_group·L + dp_local)·W + replica_node)·R + replica_local, and a node is a run of L × R in the order
#: that puts the node's axes first. (One node, and torchrun's blocks under external_launcher, are the sizes
#: (1, 1, nnodes, N / nnodes).)
NODE_AXES = ("dp_group", "dp_local", "replica_node", "replica_local")
NODE_LAYOUT: Mapping[str, Cut] = MappingProxyType({
    "node": Cut(("dp_group", "replica_node", "dp_local", "replica_local"), run=("dp_local", "replica_local")),
})


class _Prepared(NamedTuple):
    """A cut worked out for one grid's sizes."""

    run: int
    #: (size, stride in the rank array, weight) of each axis longer than 1, in flatten order; the weight is the
    #: axis' stride in the flatten order, so a rank's position there is the sum of its coordinates × weights.
    axes: tuple[tuple[int, int, int], ...]
    #: the whole flatten order, and one group's box from its first rank, as (size, stride) blocks.
    order: tuple[tuple[int, int], ...]
    box: tuple[tuple[int, int], ...]


class Grid:
    """Ranks ``0 … N-1`` viewed as an array with named axes (slowest first), and cuts of it.

    ``sizes`` names further sizes a cut's run may use (``dcp``). A cut's run must be whole blocks of its order:
    a product of its last axes, times a divisor of the axis before them.
    """

    def __init__(self, axes: Sequence[tuple[str, int]], cuts: Mapping[str, Cut],
                 sizes: Mapping[str, int] | None = None) -> None:
        self._sizes = {**dict(axes), **(sizes or {})}
        self._strides: dict[str, int] = {}
        step = 1
        for name, size in reversed(axes):
            self._strides[name] = step
            step *= size
        self.size = step
        self._cuts = cuts
        self._prepared: dict[str, _Prepared] = {}

    def _cut(self, kind: str) -> _Prepared:
        found = self._prepared.get(kind)
        if found is None:
            found = self._prepared[kind] = self._prepare(self._cuts[kind])
        return found

    def _prepare(self, cut: Cut) -> _Prepared:
        if sorted(cut.order) != sorted(self._strides):
            raise ValueError(f"the order {cut.order} is not a permutation of the axes {tuple(self._strides)}")
        run = prod(self._sizes[name] for name in cut.run)
        axes: list[tuple[int, int, int]] = []
        weight = 1
        for name in reversed(cut.order):
            axes.append((self._sizes[name], self._strides[name], weight))
            weight *= self._sizes[name]
        axes.reverse()
        # A group is a block of the last axes: every axis whose weight is below the run and, for the first of
        # them, run / weight consecutive coordinates.
        first = next((i for i, (_, _, w) in enumerate(axes) if w < run), len(axes) - 1)
        size, stride, weight = axes[first]
        take = run // weight
        if run % weight or size % take:
            raise ValueError(f"a run of {run} does not cut the order {cut.order} into whole blocks")
        return _Prepared(
            run=run,
            axes=tuple(a for a in axes if a[0] > 1),
            order=_blocks((s, t) for s, t, _ in axes),
            box=_blocks([(take, stride), *((s, t) for s, t, _ in axes[first + 1:])]),
        )

    def place(self, kind: str, r: int) -> tuple[int, int]:
        """(which group of ``kind`` rank ``r`` is in, counted in the flatten order; its index in that group)."""
        cut = self._cut(kind)
        position = sum((r // stride) % size * weight for size, stride, weight in cut.axes)
        return divmod(position, cut.run)

    def group_column(self, kind: str) -> list[int]:
        """``place(kind, r)[0]`` of every rank, in rank order (built in C, as below)."""
        return self._column(self._cut(kind), floordiv)

    def index_column(self, kind: str) -> list[int]:
        """``place(kind, r)[1]`` of every rank, in rank order."""
        return self._column(self._cut(kind), mod)

    def _column(self, cut: _Prepared, part: Callable[[int, int], int]) -> list[int]:
        """Every rank's ``part(position, run)``. A rank's position in the flatten order is the sum of each axis'
        coordinate times its weight, and no axis' share carries into another's (an axis outside the group
        adds whole runs, one inside adds less than a run), so the part is the sum of each axis' part: a column
        that repeats each coordinate's value ``stride`` times, the whole repeated through the ranks."""
        out: list[int] | None = None
        for size, stride, weight in cut.axes:
            values = [part(c * weight, cut.run) for c in range(size)]
            if not any(values):
                continue
            column = list(chain.from_iterable(map(repeat, values, repeat(stride)))) * (self.size // (size * stride))
            out = column if out is None else list(map(add, out, column))
        return out if out is not None else [0] * self.size

    def groups(self, kind: str) -> list[list[int]]:
        """Every group of ``kind``, in the flatten order."""
        cut = self._cut(kind)
        return _runs(_flatten(cut.order), cut.run, self.size)

    def group_count(self, kind: str) -> int:
        """How many groups of ``kind`` there are."""
        return self.size // self._cut(kind).run

    def iter_groups(self, kind: str) -> Iterator[list[int]]:
        """The groups of ``groups(kind)`` one at a time (memory for one group, not for all of them)."""
        cut = self._cut(kind)
        order = iter(_flatten(cut.order))
        return ([r] for r in order) if cut.run == 1 else map(list, zip(*[order] * cut.run, strict=False))

    def group(self, kind: str, g: int) -> list[int]:
        """The members of group ``g`` of ``kind`` (counted in the flatten order), without the other groups."""
        cut = self._cut(kind)
        position = g * cut.run
        first = sum((position // weight) % size * stride for size, stride, weight in cut.axes)
        return list(_flatten(cut.box, first))

    def group_of(self, kind: str, r: int) -> list[int]:
        """The members of rank ``r``'s group of ``kind``."""
        return self.group(kind, self.place(kind, r)[0])


def _blocks(axes: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """(size, stride) axes, slowest first, as the fewest blocks: axes of size 1 dropped, and an axis merged into
    the one after it when their ranks run on (its stride is the span of the next block)."""
    out: list[tuple[int, int]] = []
    for size, stride in reversed([a for a in axes if a[0] > 1]):
        if out and stride == out[-1][0] * out[-1][1]:
            inner_size, inner_stride = out.pop()
            out.append((size * inner_size, inner_stride))
        else:
            out.append((size, stride))
    return tuple(reversed(out))


def _flatten(blocks: Sequence[tuple[int, int]], first: int = 0) -> Iterable[int]:
    """The ranks of ``blocks`` (slowest first) from rank ``first``, in order: each block's ``range`` per start of
    the blocks before it, chained."""
    if not blocks:
        return (first,)
    starts: Sequence[int] = (first,)
    for size, stride in blocks[:-1]:
        starts = list(_ranges(starts, size, stride))
    size, stride = blocks[-1]
    if len(starts) == 1:
        return range(starts[0], starts[0] + size * stride, stride)
    return _ranges(starts, size, stride)


def _ranges(starts: Sequence[int], size: int, stride: int) -> Iterable[int]:
    return chain.from_iterable(map(range, starts, map(add, starts, repeat(size * stride)), repeat(stride)))


def _runs(order: Iterable[int], size: int, total: int) -> list[list[int]]:
    """Cut a flatten order of ``total`` ranks into consecutive runs of ``size``."""
    if size == 1:
        return [[r] for r in order]
    if size == total:
        return [list(order)]
    return list(map(list, zip(*[iter(order)] * size, strict=True)))
