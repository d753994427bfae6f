"""The per-rank plan: vLLM's process-group layout (spec §11), node placement (§8, §10.2), ports (§11.1, §12.1),
the launcher environment, ``Plan.to_dict`` and plan-stage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np  # noqa: TID251 - the test's independent reference layout (pconf itself never imports numpy)
import numpy.typing as npt  # noqa: TID251
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pconf
from pconf.compile import Compiled
from pconf.emit.env import env_lines
from pconf.plan import GROUP_KINDS, Plan, Ports, RankInfo
from tests.helpers import write
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = str(ROOT / "examples" / "cluster.toml")
DP_EP_2NODE = str(ROOT / "examples" / "dp-ep-2node.toml")


#: Node 0's address for the multi-node documents of these tests (a run over several nodes may not meet at
#: 127.0.0.1: network.loopback).
REACHABLE = {"master_addr": "10.0.0.1", "data_parallel_master_ip": "10.0.0.1"}


def reachable(parallel: dict[str, Any]) -> dict[str, Any]:
    """``parallel`` with node 0's address where it leaves the addresses unset, for a multi-node run."""
    return {**REACHABLE, **parallel} if parallel.get("nnodes", 1) > 1 else parallel


def plan_of(parallel: dict[str, Any], devices_per_node: int = 256) -> Plan:
    """The plan of a document given as its ``[parallel]`` table (and a node size)."""
    return pconf.compile_dict({"parallel": reachable(parallel),
                               "cluster": {"devices_per_node": devices_per_node}}).plan()


def sizes(dp: int, pp: int, pcp: int, tp: int, dcp: int, moe: bool | None = None) -> dict[str, Any]:
    """A ``[parallel]`` table with the four sizes and DCP (and ``is_moe_model`` when given)."""
    table: dict[str, Any] = {"data_parallel_size": dp, "pipeline_parallel_size": pp,
                             "prefill_context_parallel_size": pcp, "tensor_parallel_size": tp,
                             "decode_context_parallel_size": dcp}
    if moe is not None:
        table["is_moe_model"] = moe
    return table


def runs(array: npt.NDArray[np.int64], length: int) -> list[list[int]]:
    """Cut a (transposed) rank array, flattened in C order, into consecutive runs of ``length``."""
    out: list[list[int]] = array.reshape(-1, length).tolist()
    return out


def reference_groups(dp: int, pp: int, pcp: int, tp: int, dcp: int, moe: bool) -> dict[str, list[list[int]]]:
    """vLLM's ``initialize_model_parallel`` with numpy, as spec §11.2 states it: ranks 0..N-1 viewed as
    (X, DP, PP, PCP, TP) with X = 1, each kind's axis swapped with TP (``transpose(a, 4)``, a swap, not a
    move; EP swaps DP with PP), flattened and cut into runs."""
    ranks = np.arange(dp * pp * pcp * tp, dtype=np.int64).reshape(-1, dp, pp, pcp, tp)
    return {
        "tp": runs(ranks, tp),
        "pp": runs(ranks.swapaxes(2, 4), pp),
        "dp": runs(ranks.swapaxes(1, 4), dp),
        "ep": runs(ranks.swapaxes(1, 2), dp * pcp * tp) if moe else [],
        "dcp": runs(ranks, dcp),
        "pcp": runs(ranks.swapaxes(3, 4), pcp),
    }


SINGLETONS_0_7 = [[r] for r in range(8)]


class TestWorkedExamples:
    """Spec §11.3, group for group and in vLLM's order (not sorted)."""

    def test_dp2_pp2_tp2_dcp1(self) -> None:
        """DP=2 PP=2 TP=2 with DCP=1 gives the spec's lists for every kind."""
        plan = plan_of(sizes(2, 2, 1, 2, 1))
        assert plan.all_groups() == {
            "tp": [[0, 1], [2, 3], [4, 5], [6, 7]],
            "pp": [[0, 2], [1, 3], [4, 6], [5, 7]],
            "dp": [[0, 4], [2, 6], [1, 5], [3, 7]],
            "ep": [[0, 1, 4, 5], [2, 3, 6, 7]],
            "dcp": SINGLETONS_0_7,
            "pcp": SINGLETONS_0_7,
        }
        assert plan.groups("world") == [list(range(8))]

    def test_dp2_pp2_tp2_dcp2(self) -> None:
        """The same shape with DCP=2 changes only the DCP groups, which equal the TP groups."""
        plan = plan_of(sizes(2, 2, 1, 2, 2))
        assert plan.all_groups() == {
            "tp": [[0, 1], [2, 3], [4, 5], [6, 7]],
            "pp": [[0, 2], [1, 3], [4, 6], [5, 7]],
            "dp": [[0, 4], [2, 6], [1, 5], [3, 7]],
            "ep": [[0, 1, 4, 5], [2, 3, 6, 7]],
            "dcp": [[0, 1], [2, 3], [4, 5], [6, 7]],
            "pcp": SINGLETONS_0_7,
        }

    def test_dp2_pp2_pcp2_tp2_dcp2(self) -> None:
        """DP=2 PP=2 PCP=2 TP=2 DCP=2 (16 ranks) gives the spec's lists for every kind."""
        plan = plan_of(sizes(2, 2, 2, 2, 2))
        tp = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [10, 11], [12, 13], [14, 15]]
        assert plan.all_groups() == {
            "tp": tp,
            "pp": [[0, 4], [2, 6], [1, 5], [3, 7], [8, 12], [10, 14], [9, 13], [11, 15]],
            "dp": [[0, 8], [2, 10], [4, 12], [6, 14], [1, 9], [3, 11], [5, 13], [7, 15]],
            "ep": [[0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]],
            "dcp": tp,
            "pcp": [[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9, 11], [12, 14], [13, 15]],
        }

    def test_dp1_pp1_pcp2_tp4_dcp2(self) -> None:
        """DP=1 PP=1 PCP=2 TP=4 DCP=2: PP and DP are singletons in the order 0 4 1 5 2 6 3 7."""
        plan = plan_of(sizes(1, 1, 2, 4, 2, moe=True))
        interleaved = [[0], [4], [1], [5], [2], [6], [3], [7]]
        assert plan.all_groups() == {
            "tp": [[0, 1, 2, 3], [4, 5, 6, 7]],
            "pp": interleaved,
            "dp": interleaved,
            "ep": [[0, 1, 2, 3, 4, 5, 6, 7]],
            "dcp": [[0, 1], [2, 3], [4, 5], [6, 7]],
            "pcp": [[0, 4], [1, 5], [2, 6], [3, 7]],
        }

    def test_examples_match_numpy_reference(self) -> None:
        """The numpy reference itself reproduces the spec's lists (so the property test checks against §11.3)."""
        ref = reference_groups(2, 2, 2, 2, 2, moe=True)
        assert ref["dp"] == [[0, 8], [2, 10], [4, 12], [6, 14], [1, 9], [3, 11], [5, 13], [7, 15]]
        assert ref["pp"] == [[0, 4], [2, 6], [1, 5], [3, 7], [8, 12], [10, 14], [9, 13], [11, 15]]
        assert reference_groups(1, 1, 2, 4, 2, moe=True)["pp"] == [[0], [4], [1], [5], [2], [6], [3], [7]]


class TestDenseModel:
    def test_no_ep_groups(self) -> None:
        """A dense model (is_moe_model = false) has no EP groups and no EP coordinate; other kinds are unchanged."""
        plan = plan_of(sizes(2, 2, 1, 2, 1, moe=False))
        assert plan.groups("ep") == []
        assert plan.group_of("ep", 5) == []
        assert plan.rank(5) == RankInfo(rank=5, node=0, local_rank=5, dp=1, pp=0, pcp=0, tp=1, dcp=0, ep=None)
        assert plan.groups("dp") == [[0, 4], [2, 6], [1, 5], [3, 7]]

    def test_unknown_model_has_ep(self) -> None:
        """An unset is_moe_model (unknown model) keeps the EP groups, as vLLM does without a model config."""
        plan = plan_of(sizes(2, 2, 1, 2, 1))
        assert plan.has_ep is True
        assert plan.rank(5).ep == 3


class TestGroupErrors:
    def test_unknown_kind(self) -> None:
        """An unknown group kind is a KeyError naming the kinds there are."""
        plan = plan_of(sizes(1, 1, 1, 2, 1))
        with pytest.raises(KeyError) as info:
            plan.groups("xp")
        assert info.value.args == ("unknown group kind 'xp'; one of tp, pp, dp, ep, dcp, pcp, world",)
        with pytest.raises(KeyError) as info:
            plan.group_of("xp", 0)
        assert info.value.args == ("unknown group kind 'xp'",)

    def test_rank_out_of_range(self) -> None:
        """A rank outside 0..N-1 is an IndexError with the range; so is a node outside 0..nnodes-1."""
        plan = plan_of(sizes(1, 1, 1, 2, 1))
        with pytest.raises(IndexError, match=r"^rank 2 is outside 0\.\.1$"):
            plan.rank(2)
        with pytest.raises(IndexError, match=r"^rank -1 is outside 0\.\.1$"):
            plan.group_of("tp", -1)
        with pytest.raises(IndexError, match=r"^node 1 is outside 0\.\.0$"):
            plan.node_ranks(1)


@st.composite
def shapes(draw: st.DrawFn) -> tuple[int, int, int, int, int, bool | None]:
    """DP, PP, PCP, TP in 1..4, a DCP dividing TP, and a MoE (true/unset) or dense model."""
    dp, pp, pcp, tp = (draw(st.integers(1, 4)) for _ in range(4))
    dcp = draw(st.sampled_from([d for d in range(1, tp + 1) if tp % d == 0]))
    moe = draw(st.sampled_from([None, True, False]))
    return dp, pp, pcp, tp, dcp, moe


class TestGroupsProperty:
    @settings(max_examples=examples(150), deadline=None)
    @given(shapes())
    def test_matches_reference_and_invariants(self, shape: tuple[int, int, int, int, int, bool | None]) -> None:
        """Every kind equals the numpy reference; groups partition the ranks; rows agree with the groups."""
        dp, pp, pcp, tp, dcp, moe = shape
        plan = plan_of(sizes(dp, pp, pcp, tp, dcp, moe))
        n = dp * pp * pcp * tp
        has_ep = moe is not False
        assert plan.world_size == n
        ref = reference_groups(dp, pp, pcp, tp, dcp, has_ep)
        assert plan.all_groups() == ref
        expected_size = {"tp": tp, "pp": pp, "dp": dp, "ep": dp * pcp * tp, "dcp": dcp, "pcp": pcp}
        for kind in GROUP_KINDS:
            groups = plan.groups(kind)
            if kind == "ep" and not has_ep:
                assert groups == []
                continue
            assert sorted(r for g in groups for r in g) == list(range(n)), kind
            assert {len(g) for g in groups} == {expected_size[kind]}, kind
            assert len(groups) == n // expected_size[kind], kind
            owner = {r: g for g in groups for r in g}
            for r in range(n):
                assert plan.group_of(kind, r) == owner[r], (kind, r)
        rows = [plan.rank(r) for r in range(n)]
        assert plan.ranks == rows
        coordinates = set()
        for row in rows:
            r = row.rank
            # Each coordinate is the rank's position in its group of that kind.
            assert plan.group_of("tp", r).index(r) == row.tp
            assert plan.group_of("pp", r).index(r) == row.pp
            assert plan.group_of("pcp", r).index(r) == row.pcp
            assert plan.group_of("dp", r).index(r) == row.dp
            assert plan.group_of("dcp", r).index(r) == row.dcp
            if has_ep:
                assert plan.group_of("ep", r).index(r) == row.ep
            else:
                assert row.ep is None
            # Coordinates <-> rank: TP fastest, then PCP, PP, DP.
            assert ((row.dp * pp + row.pp) * pcp + row.pcp) * tp + row.tp == r
            assert (row.dp < dp, row.pp < pp, row.pcp < pcp, row.tp < tp) == (True, True, True, True)
            coordinates.add((row.dp, row.pp, row.pcp, row.tp))
            assert (row.node, row.local_rank) == (0, r)
        assert len(coordinates) == n


def node_map(plan: Plan) -> list[list[tuple[int, int]]]:
    """For each node, its (global rank, local rank) pairs in node_ranks order."""
    return [[(r, plan.rank(r).local_rank) for r in plan.node_ranks(n)] for n in range(plan.nnodes)]


class TestSingleNode:
    def test_all_on_node_zero(self) -> None:
        """On one node every rank runs on node 0 with local rank = global rank."""
        plan = pconf.plan_files([CLUSTER])
        assert (plan.nnodes, plan.per_node, plan.world_size) == (1, 8, 8)
        assert [(row.node, row.local_rank) for row in plan.ranks] == [(0, r) for r in range(8)]
        assert plan.node_ranks(0) == list(range(8))


class TestDpAcrossNodes:
    def test_dp_ep_2node(self) -> None:
        """examples/dp-ep-2node.toml: node 0 holds ranks 0..7 and node 1 ranks 8..15, local 0..7 each."""
        plan = pconf.plan_files([DP_EP_2NODE])
        assert (plan.nnodes, plan.per_node, plan.world_size) == (2, 8, 16)
        assert plan.node_ranks(0) == list(range(8))
        assert plan.node_ranks(1) == list(range(8, 16))
        assert plan.rank(8) == RankInfo(rank=8, node=1, local_rank=0, dp=8, pp=0, pcp=0, tp=0, dcp=0, ep=8)
        assert plan.rank(15) == RankInfo(rank=15, node=1, local_rank=7, dp=15, pp=0, pcp=0, tp=0, dcp=0, ep=15)
        assert node_map(plan)[1] == [(r, r - 8) for r in range(8, 16)]

    def test_several_dp_ranks_of_tp2_per_node(self) -> None:
        """DP=4 TP=2 over 2 nodes with 2 DP ranks each: a node's DP ranks take consecutive local blocks."""
        plan = plan_of({"data_parallel_size": 4, "data_parallel_size_local": 2, "tensor_parallel_size": 2,
                        "nnodes": 2}, devices_per_node=4)
        assert node_map(plan) == [[(0, 0), (1, 1), (2, 2), (3, 3)], [(4, 0), (5, 1), (6, 2), (7, 3)]]
        assert plan.rank(6) == RankInfo(rank=6, node=1, local_rank=2, dp=3, pp=0, pcp=0, tp=0, dcp=0, ep=6)


class TestReplicaSpansNodes:
    def test_tp16_on_two_nodes(self) -> None:
        """TP=16 over 2 nodes of 8 devices: rank 9 is node 1, local rank 1."""
        plan = plan_of({"tensor_parallel_size": 16, "nnodes": 2}, devices_per_node=8)
        assert (plan.nnodes, plan.per_node) == (2, 8)
        assert plan.rank(9) == RankInfo(rank=9, node=1, local_rank=1, dp=0, pp=0, pcp=0, tp=9, dcp=0, ep=9)
        assert plan.node_ranks(0) == list(range(8))
        assert plan.node_ranks(1) == list(range(8, 16))

    def test_dp_and_multi_node_together(self) -> None:
        """DP=2 TP=8 on 4 nodes of 4 devices, data_parallel_size_local = 1: spec §8 gives nnodes_within_dp =
        4 // (2 // 1) = 2 and local_world_size = 8 // 2 = 4, so each replica spans two nodes (DP rank 0 on
        nodes 0-1, DP rank 1 on nodes 2-3) and local rank = position within the replica modulo 4."""
        compiled = pconf.compile_dict({"parallel": {"data_parallel_size": 2, "tensor_parallel_size": 8, "nnodes": 4,
                                                    "data_parallel_size_local": 1, **REACHABLE},
                                       "cluster": {"devices_per_node": 4}})
        assert (compiled.resolved.derived.nnodes_within_dp, compiled.resolved.derived.local_world_size) == (2, 4)
        plan = compiled.plan()
        assert (plan.world_size, plan.per_node) == (16, 4)
        assert [plan.node_ranks(n) for n in range(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11],
                                                          [12, 13, 14, 15]]
        assert [(row.node, row.local_rank, row.dp) for row in plan.ranks] == [
            (r // 4, r % 4, r // 8) for r in range(16)]
        assert plan.rank(13) == RankInfo(rank=13, node=3, local_rank=1, dp=1, pp=0, pcp=0, tp=5, dcp=0, ep=13)


class TestExternalLauncher:
    def test_torchrun_blocks(self) -> None:
        """external_launcher: N = world_size (which already counts DP, not world_size_across_dp = 32), placed in
        torchrun's blocks of N / nnodes."""
        compiled = pconf.compile_dict({"parallel": {
            "tensor_parallel_size": 2, "data_parallel_size": 4, "data_parallel_size_local": 2, "nnodes": 2,
            "distributed_executor_backend": "external_launcher", "is_moe_model": True, **REACHABLE}})
        assert (compiled.resolved.world_size, compiled.resolved.derived.world_size_across_dp) == (8, 32)
        plan = compiled.plan()
        assert (plan.world_size, plan.nnodes, plan.per_node) == (8, 2, 4)
        assert node_map(plan) == [[(0, 0), (1, 1), (2, 2), (3, 3)], [(4, 0), (5, 1), (6, 2), (7, 3)]]
        assert [row.dp for row in plan.ranks] == [0, 0, 1, 1, 2, 2, 3, 3]
        assert plan.groups("dp") == [[0, 2, 4, 6], [1, 3, 5, 7]]
        assert plan.groups("ep") == [list(range(8))]

    def test_single_node(self) -> None:
        """external_launcher on one node: the N = world_size ranks all run on node 0."""
        plan = plan_of({"tensor_parallel_size": 2, "data_parallel_size": 2,
                        "distributed_executor_backend": "external_launcher"})
        assert (plan.world_size, plan.per_node) == (4, 4)
        assert plan.node_ranks(0) == [0, 1, 2, 3]


def vllm_inferred_dp_rank(dp: int, pp: int, tp: int, nnodes: int, node: int) -> int:
    """EngineArgs' DP rank of a node (spec §10.2): node_rank × (DP·PP·TP / nnodes) // (PP·TP)."""
    return node * (dp * pp * tp // nnodes) // (pp * tp)


@st.composite
def layouts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid multi-node (or single-node) layout: mp with replicas on one node or spanning nodes, or
    external_launcher."""
    pp, pcp, tp = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 4))
    replica = pp * pcp * tp
    table: dict[str, Any] = {"pipeline_parallel_size": pp, "prefill_context_parallel_size": pcp,
                             "tensor_parallel_size": tp}
    if draw(st.booleans()):
        dp = draw(st.integers(1, 4))
        n = dp * replica
        nnodes = draw(st.sampled_from([k for k in range(1, n + 1) if n % k == 0 and (dp * pp * tp) % k == 0]))
        table.update(data_parallel_size=dp, data_parallel_size_local=dp, nnodes=nnodes,
                     distributed_executor_backend="external_launcher")
        return table
    within = draw(st.sampled_from([w for w in (1, 2, 3, 4) if replica % w == 0]))
    # A replica spanning nodes leaves each node part of one replica: vLLM's DP-local size is then 1.
    dp_local, groups = (1 if within > 1 else draw(st.integers(1, 3))), draw(st.integers(1, 3))
    dp, nnodes = dp_local * groups, groups * within
    assume(dp * pp * tp % nnodes == 0)  # EngineArgs' rule (PCP is not in it): refused at compile time otherwise
    table.update(data_parallel_size=dp, data_parallel_size_local=dp_local, nnodes=nnodes)
    return table


class TestNodePlacementProperty:
    @settings(max_examples=examples(150), deadline=None)
    @given(layouts())
    def test_node_boundaries(self, table: dict[str, Any]) -> None:
        """Every node holds exactly per_node ranks with local ranks 0..per_node-1, node_ranks agrees with the
        rows, and (mp, one DP rank per node group or whole replicas per node) each node's DP ranks start
        where vLLM's EngineArgs infers them."""
        compiled = pconf.compile_dict({"parallel": reachable(table), "cluster": {"devices_per_node": 256}})
        plan = compiled.plan()
        assert plan.per_node * plan.nnodes == plan.world_size
        seen: list[int] = []
        for node in range(plan.nnodes):
            members = plan.node_ranks(node)
            assert len(members) == plan.per_node
            assert [plan.rank(r).local_rank for r in members] == list(range(plan.per_node))
            assert {plan.rank(r).node for r in members} == {node}
            seen += members
        assert sorted(seen) == list(range(plan.world_size))
        assert sorted((row.node, row.local_rank) for row in plan.ranks) == [
            (n, lr) for n in range(plan.nnodes) for lr in range(plan.per_node)]
        external = table.get("distributed_executor_backend") == "external_launcher"
        if external:
            assert [(row.node, row.local_rank) for row in plan.ranks] == [
                divmod(r, plan.per_node) for r in range(plan.world_size)]
            return
        within = compiled.resolved.derived.nnodes_within_dp
        if plan.nnodes > 1 and (within == 1 or table["data_parallel_size_local"] == 1):
            for node in range(plan.nnodes):
                first_dp = min(plan.rank(r).dp for r in plan.node_ranks(node))
                assert first_dp == vllm_inferred_dp_rank(plan.dp, plan.pp, plan.tp, plan.nnodes, node)


class TestVllmNodeInference:
    def test_dp_local_with_spanning_replicas(self) -> None:
        """DP=4 TP=4 on 4 nodes with data_parallel_size_local = 2 is refused at plan time (plan.nodes), or each
        node's first DP rank is the one vLLM infers for it."""
        table = {"data_parallel_size": 4, "data_parallel_size_local": 2, "tensor_parallel_size": 4, "nnodes": 4}
        refused: pconf.RuleError | None = None
        try:
            plan = plan_of(table, devices_per_node=8)
        except pconf.RuleError as exc:
            refused = exc
        if refused is not None:
            assert [i.rule for i in refused.issues] == ["plan.nodes"]
            return
        firsts = [min(plan.rank(r).dp for r in plan.node_ranks(n)) for n in range(4)]
        assert firsts == [vllm_inferred_dp_rank(4, 1, 4, 4, n) for n in range(4)]


def issues_of(path: str, *overrides: str) -> list[str]:
    """The rendered issues that planning ``path`` raises."""
    with pytest.raises(pconf.ConfigError) as info:
        pconf.plan_files([path], overrides=overrides)
    return [issue.render() for issue in info.value.issues]


#: The first lines of a multi-node file's [parallel] table here: node 0's address (two lines).
HEAD = 'master_addr = "10.0.0.1"\ndata_parallel_master_ip = "10.0.0.1"\n'


@pytest.mark.usefixtures("in_tmp")
class TestPlanErrors:
    def test_ranks_not_dividing_nodes_is_a_compile_error(self) -> None:
        """Ranks that do not divide into nodes are refused at compile time by EngineArgs' DP×PP×TP rule."""
        path = write("a.toml", f"[parallel]\n{HEAD}tensor_parallel_size = 3\nnnodes = 2\n")
        with pytest.raises(pconf.RuleError) as info:
            pconf.compile_files([path])
        assert [i.render() for i in info.value.issues] == [
            "a.toml:5:1: parallel.nnodes: DP × PP × TP = 3 is not divisible by nnodes (got 2); use an nnodes "
            "that divides it [engine.nnodes_divides_world]"]

    def test_ranks_not_dividing_nodes_at_plan_stage(self) -> None:
        """A configuration resolved without the compile rules is still refused by the plan, with the same
        check (pconf.deployment): it names nnodes and the process count."""
        from pconf.load import load_layers
        from pconf.merge import merge
        from pconf.resolve import resolve
        from pconf.structure import structure

        path = write("a.toml", f"[parallel]\n{HEAD}tensor_parallel_size = 3\nnnodes = 2\n")
        merged = merge(load_layers([path]))
        compiled = Compiled(resolve(structure(merged), None), merged, ())
        with pytest.raises(pconf.RuleError) as info:
            compiled.plan()
        assert [i.render() for i in info.value.issues] == [
            "a.toml:5:1: parallel.nnodes: 3 processes do not divide evenly into 2 nodes (got 2); use an nnodes "
            "that divides the number of processes [plan.nodes]"]

    def test_dp_local_not_filling_nodes(self) -> None:
        """DP=3 with 2 DP ranks per node on 2 nodes leaves the nodes uneven: plan.nodes at the DP-local line."""
        path = write("h.toml", f"[parallel]\n{HEAD}tensor_parallel_size = 2\ndata_parallel_size = 3\n"
                               "data_parallel_size_local = 2\nnnodes = 2\n")
        assert issues_of(path) == [
            "h.toml:6:1: parallel.data_parallel_size_local: 3 DP ranks of 2 workers, 2 per node, do not fill 2 "
            "nodes evenly (got 2); set data_parallel_size_local to the DP ranks each node runs (data_parallel_size "
            "/ nnodes when each replica fits on a node), or leave it unset [plan.nodes]"]

    def test_dp_groups_fewer_than_nodes(self) -> None:
        """DP=2 TP=3 on 3 nodes: EngineArgs' DP-local size (1, inferred) fills only 2 nodes; plan.nodes at the
        key resolution derived."""
        path = write("i.toml", f"[parallel]\n{HEAD}tensor_parallel_size = 3\ndata_parallel_size = 2\n"
                               "nnodes = 3\n")
        assert issues_of(path) == [
            "i.toml:1:2: parallel.data_parallel_size_local: 2 DP ranks of 3 workers, 1 per node, do not fill 3 "
            "nodes evenly (got 1); set data_parallel_size_local to the DP ranks each node runs (data_parallel_size "
            "/ nnodes when each replica fits on a node), or leave it unset [plan.nodes]"]

    def test_more_ranks_than_devices(self) -> None:
        """8 ranks per node on 4-device nodes: plan.devices at cluster.devices_per_node."""
        path = write("j.toml", f"[parallel]\n{HEAD}tensor_parallel_size = 16\nnnodes = 2\n\n[cluster]\n"
                               "devices_per_node = 4\n")
        assert issues_of(path) == [
            "j.toml:8:1: cluster.devices_per_node: each node runs 8 ranks but has 4 devices (got 4); raise nnodes, "
            "lower the parallel sizes, or correct devices_per_node [plan.devices]"]

    def test_dp_times_tp_over_one_node(self) -> None:
        """DP=2 × TP=8 on one 8-device node passes the executor check (world_size 8) but needs 16 devices: every
        command that compiles refuses it, not only the plan."""
        path = write("m.toml", "[parallel]\ntensor_parallel_size = 8\ndata_parallel_size = 2\n")
        expected = [
            "default: cluster.devices_per_node: each node runs 16 ranks but has 8 devices (got 8); raise nnodes, "
            "lower the parallel sizes, or correct devices_per_node [plan.devices]"]
        assert issues_of(path) == expected
        with pytest.raises(pconf.RuleError) as info:
            pconf.compile_files([path])
        assert [i.render() for i in info.value.issues] == expected

    def test_no_devices(self) -> None:
        """devices_per_node = 0: no rank has a place (vLLM's GPU-count check says so too on CUDA)."""
        with pytest.raises(pconf.RuleError) as info:
            pconf.compile_dict({"cluster": {"devices_per_node": 0}})
        assert [i.rule for i in info.value.issues] == ["plan.devices"]

    def test_port_out_of_range(self) -> None:
        """data_parallel_master_port = 65535 with DP > 1 makes the second DP port 65536: plan.port_range."""
        path = write("d.toml", "[parallel]\ntensor_parallel_size = 2\ndata_parallel_size = 2\n"
                               "data_parallel_master_port = 65535\n")
        assert issues_of(path) == [
            "d.toml:4:1: parallel.data_parallel_master_port: port 65536 (parallel.data_parallel_master_port + 1, "
            "which the run takes too) is outside 1..65535 (got 65535); choose a lower port (the ports after it are "
            "taken too) [plan.port_range]"]

    def test_ports_are_ports(self) -> None:
        """A port key outside 1..65535 is refused by itself, used or not (schema.bound)."""
        path = write("k.toml", "[parallel]\nmaster_port = 0\ndata_parallel_rpc_port = 70000\n")
        assert issues_of(path) == [
            "k.toml:2:1: parallel.master_port: must be >= 1 (got 0); use 1 or more [schema.bound]",
            "k.toml:3:1: parallel.data_parallel_rpc_port: must be <= 65535 (got 70000); use 65535 or less "
            "[schema.bound]"]

    def test_multi_node_dp_master_port_collision(self) -> None:
        """Multi-node DP with master_port equal to data_parallel_master_port: plan.port_collision."""
        path = write("e.toml", f"[parallel]\n{HEAD}data_parallel_size = 4\ndata_parallel_size_local = 2\n"
                               "nnodes = 2\nmaster_port = 29500\ndata_parallel_master_port = 29500\n")
        assert issues_of(path) == [
            "e.toml:8:1: parallel.data_parallel_master_port: port 29500 is also used by parallel.master_port "
            "(got 29500); give every port of the run its own number [plan.port_collision]"]

    def test_rpc_port_collides_with_dp_port(self) -> None:
        """The DP RPC port equal to the DP master port: plan.port_collision at the RPC port's line."""
        path = write("f.toml", "[parallel]\ndata_parallel_size = 2\ndata_parallel_rpc_port = 29500\n")
        assert issues_of(path) == [
            "f.toml:3:1: parallel.data_parallel_rpc_port: port 29500 is also used by "
            "parallel.data_parallel_master_port (got 29500); give every port of the run its own number "
            "[plan.port_collision]"]

    def test_rpc_port_collides_with_single_node_world_port(self) -> None:
        """On one node with DP the world group takes the DP port + 1, so the RPC port may not be that port."""
        path = write("g.toml", "[parallel]\ndata_parallel_size = 2\ndata_parallel_master_port = 40000\n"
                               "data_parallel_rpc_port = 40001\n")
        assert issues_of(path) == [
            "g.toml:4:1: parallel.data_parallel_rpc_port: port 40001 is also used by "
            "parallel.data_parallel_master_port + 1 (got 40001); give every port of the run its own number "
            "[plan.port_collision]"]

    def test_rpc_port_collides_with_the_api_server(self) -> None:
        """vLLM #20119: the DP RPC port equal to the API server's port; both keys named."""
        path = write("s.toml", "[parallel]\ndata_parallel_size = 2\ndata_parallel_rpc_port = 8000\n")
        assert issues_of(path) == [
            "default: serve.port: port 8000 is also used by parallel.data_parallel_rpc_port (got 8000); give "
            "every port of the run its own number [plan.port_collision]"]

    def test_unused_ports_are_not_checked(self) -> None:
        """Without DP, the DP master and RPC ports are not used, so they do not collide."""
        path = write("u.toml", "[parallel]\ntensor_parallel_size = 2\ndata_parallel_master_port = 29501\n"
                               "data_parallel_rpc_port = 29501\n")
        assert pconf.plan_files([path]).ports.world_port == 29501

    def test_node_rank_out_of_range_is_a_compile_error(self) -> None:
        """node_rank >= nnodes is refused by compile itself (engine.node_rank_range), before any plan."""
        path = write("n.toml", f"[parallel]\n{HEAD}nnodes = 2\nnode_rank = 2\ntensor_parallel_size = 2\n")
        with pytest.raises(pconf.RuleError) as info:
            pconf.compile_files([path])
        assert [i.render() for i in info.value.issues] == [
            "n.toml:5:1: parallel.node_rank: must be below nnodes (2) (got 2); use a node rank from 0 to 1 "
            "[engine.node_rank_range]"]


class TestPorts:
    def test_single_node_no_dp(self) -> None:
        """One node without DP: the world rendezvous is master_addr:master_port, and no DP port is taken; the API
        server takes 8000."""
        plan = plan_of({"tensor_parallel_size": 2, "master_addr": "10.9.0.1", "master_port": 31000})
        assert plan.ports == Ports(world_addr="10.9.0.1", world_port=31000, dp_master_ip="127.0.0.1",
                                   dp_init_ports=(), dp_rpc_port=29550, api_ports=(8000,))

    def test_single_node_dp(self) -> None:
        """One node with DP: the DP group takes P, the world group P+1 at data_parallel_master_ip (§12.1)."""
        plan = plan_of({"tensor_parallel_size": 2, "data_parallel_size": 2, "data_parallel_master_ip": "10.9.0.2",
                        "data_parallel_master_port": 40000, "master_addr": "10.9.0.1", "master_port": 31000})
        assert plan.ports == Ports(world_addr="10.9.0.2", world_port=40001, dp_master_ip="10.9.0.2",
                                   dp_init_ports=(40000, 40001), dp_rpc_port=29550, api_ports=(8000,),
                                   world_key="parallel.data_parallel_master_port")
        assert plan.ports.as_dict() == {"world_addr": "10.9.0.2", "world_port": 40001, "dp_master_ip": "10.9.0.2",
                                        "dp_init_ports": [40000, 40001], "dp_rpc_port": 29550, "api_ports": [8000]}

    def test_multi_node(self) -> None:
        """A multi-node run rendezvouses at master_addr:master_port, DP or not; DP takes only the engine's port."""
        plan = pconf.plan_files([DP_EP_2NODE], overrides=["parallel.master_port=31000"])
        assert plan.ports == Ports(world_addr="10.0.0.1", world_port=31000, dp_master_ip="10.0.0.1",
                                   dp_init_ports=(29500,), dp_rpc_port=29550, api_ports=(8000,))
        plan = plan_of({"tensor_parallel_size": 16, "nnodes": 2, "master_addr": "10.9.0.1", "master_port": 31000},
                       devices_per_node=8)
        assert (plan.ports.world_addr, plan.ports.world_port) == ("10.9.0.1", 31000)

    def test_vllm_env_mode_dp(self) -> None:
        """In vLLM-environment mode with DP > 1 the DP ports are picked at run time (None), and so is the
        single-node world port."""
        plan = pconf.compile_files([CLUSTER], env={}).plan()
        assert plan.ports == Ports(world_addr="127.0.0.1", world_port=None, dp_master_ip="127.0.0.1",
                                   dp_init_ports=None, dp_rpc_port=29550, api_ports=(8000,),
                                   world_key="parallel.data_parallel_master_port")
        assert "MASTER_PORT" not in plan.env(0)

    def test_vllm_env_mode_multi_node_dp(self) -> None:
        """In vLLM-environment mode a multi-node run still rendezvouses at master_port; only DP ports are open."""
        plan = pconf.compile_files([DP_EP_2NODE], env={}).plan()
        assert plan.ports == Ports(world_addr="10.0.0.1", world_port=29501, dp_master_ip="10.0.0.1",
                                   dp_init_ports=None, dp_rpc_port=29550, api_ports=(8000,))


def cluster_env(rank: int, local: int, dp: int, graph_hash: str) -> dict[str, str]:
    return {
        "RANK": str(rank), "LOCAL_RANK": str(local), "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "8", "NODE_RANK": "0",
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29501", "VLLM_DP_RANK": str(dp), "VLLM_DP_RANK_LOCAL": str(dp),
        "VLLM_DP_SIZE": "2", "VLLM_DP_MASTER_IP": "127.0.0.1", "VLLM_DP_MASTER_PORT": "29500",
        "PCONF_GRAPH_HASH": graph_hash,
    }


def two_node_env(rank: int, graph_hash: str) -> dict[str, str]:
    return {
        "RANK": str(rank), "LOCAL_RANK": str(rank % 8), "WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8",
        "NODE_RANK": str(rank // 8), "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29501", "VLLM_DP_RANK": str(rank),
        "VLLM_DP_RANK_LOCAL": str(rank % 8), "VLLM_DP_SIZE": "16", "VLLM_DP_MASTER_IP": "10.0.0.1",
        "VLLM_DP_MASTER_PORT": "29500", "PCONF_GRAPH_HASH": graph_hash,
    }


class TestEnv:
    def test_cluster_example(self) -> None:
        """examples/cluster.toml: ranks 0, 3, 4 and 7 get torchrun's and vLLM's DP variables and the hash."""
        compiled = pconf.compile_files([CLUSTER])
        plan, gh = compiled.plan(), str(compiled.graph_hash)
        assert plan.graph_hash == gh
        assert plan.env(0) == cluster_env(0, 0, 0, gh)
        assert plan.env(3) == cluster_env(3, 3, 0, gh)
        assert plan.env(4) == cluster_env(4, 4, 1, gh)
        assert plan.env(7) == cluster_env(7, 7, 1, gh)

    def test_two_node_example(self) -> None:
        """examples/dp-ep-2node.toml: node 1's ranks get NODE_RANK 1, local ranks 0..7, local DP ranks 0..7."""
        compiled = pconf.compile_files([DP_EP_2NODE])
        plan, gh = compiled.plan(), str(compiled.graph_hash)
        for r in (0, 7, 8, 9, 15):
            assert plan.env(r) == two_node_env(r, gh), r

    def test_replica_spanning_nodes(self) -> None:
        """TP=16 on 2 nodes: rank 9 is local 1 on node 1, DP rank 0 and local DP rank 0."""
        plan = plan_of({"tensor_parallel_size": 16, "nnodes": 2}, devices_per_node=8)
        env = plan.env(9)
        assert (env["RANK"], env["LOCAL_RANK"], env["NODE_RANK"], env["LOCAL_WORLD_SIZE"], env["WORLD_SIZE"]) == (
            "9", "1", "1", "8", "16")
        assert (env["VLLM_DP_RANK"], env["VLLM_DP_RANK_LOCAL"], env["VLLM_DP_SIZE"]) == ("0", "0", "1")

    def test_env_lines_order_and_quoting(self) -> None:
        """env_lines writes NAME=value lines in the env's order, shell-quoting only values that need it."""
        compiled = pconf.compile_files([CLUSTER], overrides=['parallel.data_parallel_master_ip="$(head)"'])
        gh = str(compiled.graph_hash)
        # Single-node DP rendezvouses at data_parallel_master_ip, so master_addr does not appear.
        assert env_lines(compiled.plan().env(5)) == (
            "RANK=5\nLOCAL_RANK=5\nWORLD_SIZE=8\nLOCAL_WORLD_SIZE=8\nNODE_RANK=0\nMASTER_ADDR='$(head)'\n"
            "MASTER_PORT=29501\nVLLM_DP_RANK=1\nVLLM_DP_RANK_LOCAL=1\nVLLM_DP_SIZE=2\nVLLM_DP_MASTER_IP='$(head)'\n"
            f"VLLM_DP_MASTER_PORT=29500\nPCONF_GRAPH_HASH={gh}\n")
        plan = plan_of({"tensor_parallel_size": 2, "master_addr": "$(head)"})
        assert env_lines(plan.env(1)).splitlines()[5] == "MASTER_ADDR='$(head)'"
        assert env_lines({"A": "x y", "B": "", "C": "it's", "D": "a:b/c-d.e,f=g"}) == (
            "A='x y'\nB=''\nC='it'\"'\"'s'\nD=a:b/c-d.e,f=g\n")


ROW_KEYS = ["rank", "node", "local_rank", "dp", "pp", "pcp", "tp", "dcp", "ep"]


class TestToDict:
    def test_contract(self) -> None:
        """to_dict has world_size, every rank's row (rank, node, local_rank, coordinates) and every kind's groups,
        and is JSON-serialisable as is."""
        plan = pconf.plan_files([CLUSTER])
        doc = plan.to_dict()
        assert json.loads(json.dumps(doc)) == doc
        assert doc["world_size"] == 8
        assert doc["nnodes"] == 1
        assert doc["ranks_per_node"] == 8
        assert doc["graph_hash"] == plan.graph_hash
        assert doc["sizes"] == {"dp": 2, "pp": 1, "pcp": 1, "tp": 4, "dcp": 1}
        assert doc["ports"] == {"world_addr": "127.0.0.1", "world_port": 29501, "dp_master_ip": "127.0.0.1",
                                "dp_init_ports": [29500, 29501], "dp_rpc_port": 29550, "api_ports": [8000]}
        ranks: list[dict[str, Any]] = doc["ranks"]  # type: ignore[assignment]
        assert [list(row) for row in ranks] == [ROW_KEYS] * 8
        assert ranks[5] == {"rank": 5, "node": 0, "local_rank": 5, "dp": 1, "pp": 0, "pcp": 0, "tp": 1, "dcp": 0,
                            "ep": 5}
        assert ranks == [row.as_dict() for row in plan.ranks]
        groups: dict[str, Any] = doc["groups"]  # type: ignore[assignment]
        assert list(groups) == ["tp", "pp", "dp", "ep", "dcp", "pcp"]
        assert groups == {"tp": [[0, 1, 2, 3], [4, 5, 6, 7]], "pp": SINGLETONS_0_7,
                          "dp": [[0, 4], [1, 5], [2, 6], [3, 7]], "ep": [list(range(8))], "dcp": SINGLETONS_0_7,
                          "pcp": SINGLETONS_0_7}

    def test_dense_row_has_null_ep(self) -> None:
        """A dense model's rows carry ep = null and its EP group list is empty."""
        doc = pconf.plan_files([str(ROOT / "examples" / "tp8.toml")]).to_dict()
        ranks: list[dict[str, Any]] = doc["ranks"]  # type: ignore[assignment]
        groups: dict[str, Any] = doc["groups"]  # type: ignore[assignment]
        assert {row["ep"] for row in ranks} == {None}
        assert groups["ep"] == []
        assert json.loads(json.dumps(doc)) == doc

    def test_one_node(self) -> None:
        """to_dict(node=1) keeps only node 1's rows; the groups stay whole."""
        plan = pconf.plan_files([DP_EP_2NODE])
        doc = plan.to_dict(node=1)
        ranks: list[dict[str, Any]] = doc["ranks"]  # type: ignore[assignment]
        assert [(row["rank"], row["node"], row["local_rank"]) for row in ranks] == [
            (r, 1, r - 8) for r in range(8, 16)]
        assert doc["groups"] == plan.all_groups()
        assert doc["world_size"] == 16
        with pytest.raises(IndexError, match=r"^node 2 is outside 0\.\.1$"):
            plan.to_dict(node=2)


class TestLaziness:
    def test_large_plan_one_rank(self) -> None:
        """A 65,536-rank plan (DP=8192 × TP=8 on 1024 nodes of 64) answers rank 40000's row and groups without
        building any other row."""
        plan = plan_of({"data_parallel_size": 8192, "data_parallel_size_local": 64 // 8, "tensor_parallel_size": 8,
                        "nnodes": 1024}, devices_per_node=64)
        assert (plan.world_size, plan.per_node) == (65536, 64)
        assert plan.rank(40000) == RankInfo(rank=40000, node=625, local_rank=0, dp=5000, pp=0, pcp=0, tp=0, dcp=0,
                                            ep=40000)
        assert plan.group_of("tp", 40000) == list(range(40000, 40008))
        assert plan.group_of("dp", 40000) == list(range(0, 65536, 8))
        assert plan.group_of("ep", 40000) == list(range(65536))
        assert plan.group_of("pp", 40000) == [40000]
        assert plan.group_of("dcp", 40000) == [40000]
        assert plan.group_of("pcp", 40000) == [40000]
        assert plan.node_ranks(625) == list(range(40000, 40064))
        assert plan.env(40001)["LOCAL_RANK"] == "1"
        assert plan._rows == []
