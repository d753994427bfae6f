"""The plan's rank layout against a frozen copy of the hand-unrolled layout it replaced.

``FrozenLayout`` below is ``pconf/plan.py``'s layout code as of commit 6fcba95 (``Plan.rank``, ``node_ranks``,
``_node_candidates``, ``_simple_nodes``, ``_dp_of``, ``_place``, ``groups``, ``group_of``, ``_chain_ranges``,
``_runs``), copied verbatim apart from taking the plan's fields instead of being its methods. It is the
reference, not code to maintain: do not "fix" it. Every shape ``layout_shapes`` enumerates (all valid, one
node or several, dense or MoE, mp or external_launcher) must give the same rows, groups of every kind,
``group_of`` for every rank and kind, ``node_ranks`` for every node, and the same errors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from itertools import chain, repeat
from typing import Any

import pytest

import pconf
from pconf.plan import GROUP_KINDS, Plan, RankInfo
from pconf.plan.layout import AXES, GROUP_LAYOUT, Cut, Grid

# -- the frozen reference (pconf/plan.py at 6fcba95) -----------------------------------------------------------


class FrozenLayout:
    """FROZEN REFERENCE: the layout methods of the old ``Plan``, verbatim. Do not edit."""

    def __init__(self, plan: Plan) -> None:
        self.resolved = plan.resolved
        self.world_size, self.nnodes, self.per_node = plan.world_size, plan.nnodes, plan.per_node
        self.dp, self.pp, self.pcp, self.tp, self.dcp = plan.dp, plan.pp, plan.pcp, plan.tp, plan.dcp
        self.has_ep = plan.has_ep

    def rank(self, r: int) -> RankInfo:
        """The row of global rank ``r`` (computed directly, without the other rows)."""
        if not 0 <= r < self.world_size:
            raise IndexError(f"rank {r} is outside 0..{self.world_size - 1}")
        tp, rest = r % self.tp, r // self.tp
        pcp, rest = rest % self.pcp, rest // self.pcp
        pp, dp = rest % self.pp, rest // self.pp
        node, local = self._place(r, dp)
        ep = (dp * self.pcp + pcp) * self.tp + tp if self.has_ep else None
        return RankInfo(r, node, local, dp, pp, pcp, tp, tp % self.dcp, ep)

    def node_ranks(self, node: int) -> list[int]:
        """The global ranks that run on ``node``, in local-rank order."""
        if not 0 <= node < self.nnodes:
            raise IndexError(f"node {node} is outside 0..{self.nnodes - 1}")
        found = [r for r in self._node_candidates(node) if self._place(r, self._dp_of(r))[0] == node]
        return sorted(found, key=lambda r: self._place(r, self._dp_of(r))[1])

    def _node_candidates(self, node: int) -> Iterator[int]:
        if self._simple_nodes():
            return iter(range(node * self.per_node, (node + 1) * self.per_node))
        return iter(range(self.world_size))

    def _simple_nodes(self) -> bool:
        p = self.resolved.parallel
        return self.nnodes == 1 or p.distributed_executor_backend == "external_launcher" or (
            self.resolved.derived.nnodes_within_dp == 1 and p.data_parallel_size_local * self.nnodes == self.dp)

    def _dp_of(self, r: int) -> int:
        return r // (self.pp * self.pcp * self.tp)

    def _place(self, r: int, dp: int) -> tuple[int, int]:
        if self.nnodes == 1:
            return 0, r
        p, d = self.resolved.parallel, self.resolved.derived
        if p.distributed_executor_backend == "external_launcher":
            return r // self.per_node, r % self.per_node
        within = d.nnodes_within_dp or 1
        lws = d.local_world_size or 1
        dp_local = p.data_parallel_size_local or 1
        replica_rank = r - dp * (self.pp * self.pcp * self.tp)
        node = (dp // dp_local) * within + replica_rank // lws
        return node, (dp % dp_local) * lws + replica_rank % lws

    def groups(self, kind: str) -> list[list[int]]:
        n, dp, pp, pcp, tp = self.world_size, self.dp, self.pp, self.pcp, self.tp
        if kind == "world":
            return [list(range(n))]
        if kind in ("tp", "dcp"):
            return _runs(range(n), tp if kind == "tp" else self.dcp)
        if kind == "pcp":  # (DP, PP, TP, PCP): for each (dp, pp, tp), stride TP
            if pcp == 1:  # the swap moves nothing: plain order
                return _runs(range(n), 1)
            starts = [b + t for b in range(0, n, pcp * tp) for t in range(tp)]
            return _runs(_chain_ranges(starts, pcp * tp, tp), pcp)
        if kind == "pp":  # (DP, TP, PCP, PP): for each (dp, tp, pcp), stride PCP×TP
            if pp == 1 and pcp == 1:  # the swap moves nothing: plain order
                return _runs(range(n), 1)
            block = pp * pcp * tp
            starts = [b + t + c * tp for b in range(0, n, block) for t in range(tp) for c in range(pcp)]
            return _runs(_chain_ranges(starts, block, pcp * tp), pp)
        if kind == "dp":  # (TP, PP, PCP, DP): for each (tp, pp, pcp), stride PP×PCP×TP
            stride = pp * pcp * tp
            starts = [t + q * pcp * tp + c * tp for t in range(tp) for q in range(pp) for c in range(pcp)]
            return _runs(_chain_ranges(starts, n, stride, absolute=True), dp)
        if kind == "ep":  # (PP, DP, PCP, TP): for each pp, the PCP×TP run of every dp
            if not self.has_ep:
                return []
            run, stride = pcp * tp, pp * pcp * tp
            starts = [d * stride + q * run for q in range(pp) for d in range(dp)]
            return _runs(_chain_ranges(starts, run, 1), dp * run)
        raise KeyError(f"unknown group kind {kind!r}; one of {', '.join((*GROUP_KINDS, 'world'))}")

    def group_of(self, kind: str, r: int) -> list[int]:
        info = self.rank(r)
        n, pp, pcp, tp = self.world_size, self.pp, self.pcp, self.tp
        if kind == "world":
            return list(range(n))
        if kind == "tp":
            return list(range(r - info.tp, r - info.tp + tp))
        if kind == "dcp":
            start = r - r % self.dcp
            return list(range(start, start + self.dcp))
        if kind == "pcp":
            start = r - info.pcp * tp
            return list(range(start, start + pcp * tp, tp))
        if kind == "pp":
            start = r - info.pp * pcp * tp
            return list(range(start, start + pp * pcp * tp, pcp * tp))
        if kind == "dp":
            stride = pp * pcp * tp
            return list(range(r % stride, n, stride))
        if kind == "ep":
            if not self.has_ep:
                return []
            run, stride = pcp * tp, pp * pcp * tp
            first = info.pp * run
            return [m for d in range(self.dp) for m in range(d * stride + first, d * stride + first + run)]
        raise KeyError(f"unknown group kind {kind!r}")


def _chain_ranges(starts: list[int], length: int, step: int, absolute: bool = False) -> Iterator[int]:
    stops = [length] * len(starts) if absolute else [s + length for s in starts]
    return chain.from_iterable(map(range, starts, stops, repeat(step)))


def _runs(order: Iterable[int], size: int) -> list[list[int]]:
    if size == 1:
        return [[r] for r in order]
    return list(map(list, zip(*[iter(order)] * size, strict=False)))


# -- the shapes ------------------------------------------------------------------------------------------------


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def placements(dp: int, pp: int, pcp: int, tp: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every way to place a DP×PP×PCP×TP run on nodes that compiling accepts: one node; whole replicas per node
    (``fit``: several nodes, ``data_parallel_size_local`` DP ranks each); replicas spanning nodes (``span``);
    torchrun's blocks (``external``). Multi-node layouts keep EngineArgs' rule that nnodes divides DP×PP×TP."""
    replica = pp * pcp * tp
    yield "one", {}
    for dp_local in divisors(dp)[:-1]:
        nnodes = dp // dp_local
        if dp * pp * tp % nnodes == 0:
            yield f"fit{nnodes}", {"nnodes": nnodes, "data_parallel_size_local": dp_local}
    for within in divisors(replica)[1:]:
        nnodes = dp * within
        if dp * pp * tp % nnodes == 0:
            yield f"span{nnodes}", {"nnodes": nnodes, "data_parallel_size_local": 1}
    for nnodes in divisors(dp * replica):
        if dp * pp * tp % nnodes == 0:
            yield f"ext{nnodes}", {"nnodes": nnodes, "data_parallel_size_local": dp,
                                   "distributed_executor_backend": "external_launcher"}


def layout_shapes() -> Iterator[tuple[str, dict[str, Any]]]:
    """DP∈{1,2,3,4} × PP∈{1,2,3} × PCP∈{1,2} × TP∈{1,2,4}, every DCP dividing TP, MoE (unknown) or dense, every
    placement: (test id, ``[parallel]`` table)."""
    for dp in (1, 2, 3, 4):
        for pp in (1, 2, 3):
            for pcp in (1, 2):
                for tp in (1, 2, 4):
                    for dcp in divisors(tp):
                        for moe in (None, False):
                            for where, extra in placements(dp, pp, pcp, tp):
                                table: dict[str, Any] = {
                                    "data_parallel_size": dp, "pipeline_parallel_size": pp,
                                    "prefill_context_parallel_size": pcp, "tensor_parallel_size": tp,
                                    "decode_context_parallel_size": dcp, **extra}
                                if moe is not None:
                                    table["is_moe_model"] = moe
                                name = f"dp{dp}-pp{pp}-pcp{pcp}-tp{tp}-dcp{dcp}-{'dense' if moe is False else 'moe'}"
                                yield f"{name}-{where}", table


SHAPES = list(layout_shapes())


def plan_of(table: dict[str, Any]) -> Plan:
    return pconf.compile_dict({"parallel": table, "cluster": {"devices_per_node": 256}}).plan()


def test_enough_shapes() -> None:
    """The sweep covers many shapes of each placement (the brief asked for at least 72)."""
    assert len(SHAPES) >= 72
    kinds = {name.rsplit("-", 1)[1].rstrip("0123456789") for name, _ in SHAPES}
    assert kinds == {"one", "fit", "span", "ext"}


def assert_same_layout(plan: Plan) -> None:
    ref = FrozenLayout(plan)
    n = plan.world_size
    assert [plan.rank(r) for r in range(n)] == [ref.rank(r) for r in range(n)]
    assert plan.ranks == [ref.rank(r) for r in range(n)]
    for kind in (*GROUP_KINDS, "world"):
        assert plan.groups(kind) == ref.groups(kind), kind
        assert [plan.group_of(kind, r) for r in range(n)] == [ref.group_of(kind, r) for r in range(n)], kind
    assert plan.all_groups() == {kind: ref.groups(kind) for kind in GROUP_KINDS}
    assert [plan.node_ranks(node) for node in range(plan.nnodes)] == [
        ref.node_ranks(node) for node in range(plan.nnodes)]
    for call in (lambda p: p.rank(n), lambda p: p.rank(-1), lambda p: p.node_ranks(plan.nnodes),
                 lambda p: p.node_ranks(-1), lambda p: p.groups("xp"), lambda p: p.group_of("xp", 0),
                 lambda p: p.group_of("tp", n), lambda p: p.group_of("xp", n)):
        assert raised(call, plan) == raised(call, ref)


def raised(call: Any, target: object) -> tuple[type[BaseException], tuple[object, ...]]:
    try:
        call(target)
    except (IndexError, KeyError) as exc:
        return type(exc), exc.args
    raise AssertionError("no error")


_SAMPLED = pytest.mark.ci_only("dev compares every fifth shape (each placement kind among them); ci all of them")


@pytest.mark.parametrize("table", [pytest.param(t, id=name, marks=() if i % 5 == 0 else _SAMPLED)
                                   for i, (name, t) in enumerate(SHAPES)])
def test_same_layout_as_before(table: dict[str, Any]) -> None:
    """Rows, every group kind, group_of for every rank, node_ranks for every node and the errors are those of
    the frozen reference."""
    assert_same_layout(plan_of(table))


def test_large_plan_rows_and_nodes() -> None:
    """A 4,096-rank plan over 64 nodes (DP=256, PP=2, TP=8, 4 DP ranks a node) lays out as before."""
    plan = plan_of({"data_parallel_size": 256, "data_parallel_size_local": 4, "pipeline_parallel_size": 2,
                    "tensor_parallel_size": 8, "nnodes": 64})
    ref = FrozenLayout(plan)
    assert plan.world_size == 4096
    assert plan.all_groups() == {kind: ref.groups(kind) for kind in GROUP_KINDS}
    for r in range(0, 4096, 97):
        assert plan.rank(r) == ref.rank(r)
        for kind in GROUP_KINDS:
            assert plan.group_of(kind, r) == ref.group_of(kind, r), (kind, r)
    assert [plan.node_ranks(node) for node in range(64)] == [ref.node_ranks(node) for node in range(64)]


def test_hand_built_sizes() -> None:
    """Plans whose sizes are set by hand (as a caller holding a Plan may do with ``dataclasses.replace``) lay
    out as before: the layout depends on the sizes alone."""
    base = plan_of({"data_parallel_size": 2, "tensor_parallel_size": 2})
    for dp, pp, pcp, tp, dcp in ((3, 2, 2, 4, 2), (1, 3, 1, 6, 3), (5, 1, 3, 1, 1), (2, 4, 2, 2, 1)):
        plan = dataclasses.replace(base, world_size=dp * pp * pcp * tp, per_node=dp * pp * pcp * tp, dp=dp, pp=pp,
                                   pcp=pcp, tp=tp, dcp=dcp, _rows=[])
        assert_same_layout(plan)


# -- the table itself --------------------------------------------------------------------------------------------


def test_table_is_the_spec() -> None:
    """Each kind's order is the plain order with the spec's swap (spec §11.2), its run the spec's length."""

    def swapped(a: str, b: str) -> tuple[str, ...]:
        order = list(AXES)
        i, j = order.index(a), order.index(b)
        order[i], order[j] = order[j], order[i]
        return tuple(order)

    assert AXES == ("x", "dp", "pp", "pcp", "tp")
    assert dict(GROUP_LAYOUT) == {
        "tp": Cut(AXES, ("tp",)),
        "pp": Cut(swapped("pp", "tp"), ("pp",)),
        "dp": Cut(swapped("dp", "tp"), ("dp",)),
        "ep": Cut(swapped("dp", "pp"), ("dp", "pcp", "tp")),
        "dcp": Cut(AXES, ("dcp",)),
        "pcp": Cut(swapped("pcp", "tp"), ("pcp",)),
        "world": Cut(AXES, AXES),
    }
    assert GROUP_KINDS == ("tp", "pp", "dp", "ep", "dcp", "pcp")


def test_external_dp_axis() -> None:
    """Spec §11.3's example with an external DP axis X = 2 (DP=2, PP=1, TP=4, 16 ranks, DCP=2): pconf never
    plans one (N is DP·PP·PCP·TP), but the table lays it out as vLLM does."""
    base = plan_of({"data_parallel_size": 2, "tensor_parallel_size": 4, "decode_context_parallel_size": 2})
    plan = dataclasses.replace(base, world_size=16, per_node=16, _rows=[])
    assert plan.groups("tp") == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert plan.groups("dcp") == [[r, r + 1] for r in range(0, 16, 2)]
    assert plan.groups("dp") == [[0, 4], [1, 5], [2, 6], [3, 7], [8, 12], [9, 13], [10, 14], [11, 15]]
    assert plan.groups("ep") == [list(range(8)), list(range(8, 16))]
    assert plan.groups("world") == [list(range(16))]
    for kind in (*GROUP_KINDS, "world"):
        owner = {r: g for g in plan.groups(kind) for r in g}
        assert [plan.group_of(kind, r) for r in range(16)] == [owner[r] for r in range(16)], kind
    assert plan.ranks == [plan.rank(r) for r in range(16)]
    assert plan.rank(13) == RankInfo(rank=13, node=0, local_rank=13, dp=1, pp=0, pcp=0, tp=1, dcp=1, ep=5)


def test_grid_refuses_runs_that_are_not_blocks() -> None:
    """A run that does not cut the order into whole blocks (DCP not dividing TP) is a ValueError, not a wrong
    layout."""
    grid = Grid((("a", 2), ("b", 4)), {"k": Cut(("a", "b"), ("c",)), "bad": Cut(("b",), ("a",))}, {"c": 3})
    with pytest.raises(ValueError, match="does not cut"):
        grid.groups("k")
    with pytest.raises(ValueError, match="not a permutation"):
        grid.group("bad", 0)
