"""Where the model lands: layers per pipeline stage (vLLM's get_pp_indices) and experts per EP rank (vLLM's
determine_expert_map, its round_robin fallbacks, EPLB's initial physical placement), against references written
here independently, and as the plan shows them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pconf.cli import main
from pconf.compile import compile_dict
from pconf.emit.vllm import vllm_text
from pconf.model import ModelFacts
from pconf.model.placement import expert_layout, id_span, layer_range, placement_strategy, pp_partition
from pconf.schema import EPLBConfig, ParallelConfig
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent


def reference_pp(layers: int, pp: int) -> list[tuple[int, int]]:
    """get_pp_indices' ranges, stage by stage: ``layers // pp`` each, and one more for each of the ``layers % pp``
    stages just before the last."""
    extra = layers % pp
    sizes = [layers // pp + (1 if pp - 1 - extra <= s < pp - 1 else 0) for s in range(pp)]
    starts = [sum(sizes[:s]) for s in range(pp)]
    return [(starts[s], starts[s] + sizes[s]) for s in range(pp)]


def reference_map(experts: int, ep: int, rank: int, strategy: str) -> list[int]:
    """determine_expert_map's local experts of ``rank``: contiguous chunks, the first ``experts % ep`` ranks one
    larger (linear), or every ep-th expert (round_robin)."""
    if strategy == "round_robin":
        return [e for e in range(experts) if e % ep == rank]
    sizes = [experts // ep + (1 if r < experts % ep else 0) for r in range(ep)]
    start = sum(sizes[:rank])
    return list(range(start, start + sizes[rank]))


def parallel(**kw: Any) -> ParallelConfig:
    eplb = kw.pop("redundant", None)
    config = ParallelConfig(**kw)
    return attrs.evolve(config, eplb_config=EPLBConfig(num_redundant_experts=eplb)) if eplb else config


class TestLayers:
    @pytest.mark.parametrize(("layers", "pp", "ranges"), [
        (32, 2, [(0, 16), (16, 32)]),
        (94, 4, [(0, 23), (23, 47), (47, 71), (71, 94)]),
        (61, 2, [(0, 31), (31, 61)]),
        (10, 4, [(0, 2), (2, 5), (5, 8), (8, 10)]),
        (28, 3, [(0, 9), (9, 19), (19, 28)]),
        (3, 4, [(0, 1), (1, 2), (2, 3), (3, 3)]),
    ])
    def test_uneven_splits(self, layers: int, pp: int, ranges: list[tuple[int, int]]) -> None:
        """The remainder goes to the stages before the last, counting back from the second-to-last."""
        assert [layer_range(layers, s, pp) for s in range(pp)] == ranges

    @settings(max_examples=examples(100), deadline=None)
    @given(layers=st.integers(1, 500), pp=st.integers(1, 64))
    def test_matches_reference(self, layers: int, pp: int) -> None:
        """Every split matches the reference, covers every layer once, and differs by at most one layer."""
        ranges = [layer_range(layers, s, pp) for s in range(pp)]
        assert ranges == reference_pp(layers, pp)
        assert ranges[0][0] == 0
        assert ranges[-1][1] == layers
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        sizes = pp_partition(layers, pp)
        assert max(sizes) - min(sizes) <= 1
        assert sizes[-1] == min(sizes)

    def test_partition(self) -> None:
        """VLLM_PP_LAYER_PARTITION replaces the split."""
        assert [layer_range(32, s, 3, (4, 20, 8)) for s in range(3)] == [(0, 4), (4, 24), (24, 32)]


class TestExperts:
    @settings(max_examples=examples(100), deadline=None)
    @given(experts=st.integers(1, 300), ep=st.integers(2, 64), strategy=st.sampled_from(["linear", "round_robin"]))
    def test_map_matches_reference(self, experts: int, ep: int, strategy: str) -> None:
        """Each rank's experts match the reference; together every expert once (some ranks may hold none)."""
        facts = ModelFacts(num_experts=experts, num_expert_group=4)
        p = parallel(data_parallel_size=ep, enable_expert_parallel=True, expert_placement_strategy=strategy,
                     all2all_backend="deepep_low_latency")
        layout = expert_layout(p, facts)
        assert layout is not None
        assert (layout.ep_size, layout.strategy) == (ep, strategy)
        held = [layout.experts_of(r) for r in range(ep)]
        assert held == [reference_map(experts, ep, r, strategy) for r in range(ep)]
        assert sorted(e for h in held for e in h) == list(range(experts))

    def test_linear_uneven(self) -> None:
        """60 experts over 8 ranks: the first 4 ranks hold 8, the rest 7."""
        layout = expert_layout(parallel(data_parallel_size=8, enable_expert_parallel=True),
                               ModelFacts(num_experts=60))
        assert layout is not None
        assert [len(layout.experts_of(r)) for r in range(8)] == [8, 8, 8, 8, 7, 7, 7, 7]
        assert layout.experts_of(4) == list(range(32, 39))

    def test_ep_spans_dp_pcp_tp(self) -> None:
        """The EP group is DP × PCP × TP ranks."""
        p = parallel(data_parallel_size=2, tensor_parallel_size=2, prefill_context_parallel_size=2,
                     enable_expert_parallel=True)
        layout = expert_layout(p, ModelFacts(num_experts=16))
        assert layout is not None
        assert layout.ep_size == 8

    def test_no_expert_parallelism(self) -> None:
        """Without enable_expert_parallel every rank holds every expert; a dense model has no layout."""
        layout = expert_layout(parallel(tensor_parallel_size=4), ModelFacts(num_experts=8))
        assert layout is not None
        assert (layout.ep_size, layout.experts_of(3)) == (1, list(range(8)))
        assert expert_layout(parallel(tensor_parallel_size=4), ModelFacts(num_experts=0)) is None

    @settings(max_examples=examples(100), deadline=None)
    @given(experts=st.integers(1, 300), ep=st.integers(2, 32), data=st.data())
    def test_eplb_initial_placement(self, experts: int, ep: int, data: st.DataObject) -> None:
        """Under EPLB each rank holds an even share of physical slots: the logical experts in order, then copies
        of experts 0, 1, ... (vLLM's build_initial_global_physical_to_logical_map)."""
        redundant = (ep - experts % ep) % ep + ep * data.draw(st.integers(0, 3))
        p = parallel(data_parallel_size=ep, enable_expert_parallel=True, enable_eplb=True, redundant=redundant)
        layout = expert_layout(p, ModelFacts(num_experts=experts))
        assert layout is not None
        assert layout.eplb
        assert layout.physical == experts + redundant
        physical_to_logical = list(range(experts)) + [i % experts for i in range(redundant)]
        per_rank = (experts + redundant) // ep
        for r in range(ep):
            slots = layout.physical_of(r)
            assert (slots.start, slots.stop) == (r * per_rank, (r + 1) * per_rank)
            assert layout.experts_of(r) == physical_to_logical[slots.start:slots.stop]

    @pytest.mark.parametrize(("kw", "groups", "why"), [
        ({}, None, "the model has no expert groups (num_expert_group)"),
        ({}, 1, "the model has one expert group (num_expert_group)"),
        ({"enable_eplb": True}, 8, "EPLB is on"),
        ({"all2all_backend": "allgather_reducescatter"}, 8, "with DP > 1 needs the deepep_low_latency or nixl_ep"),
    ])
    def test_round_robin_fallbacks(self, kw: dict[str, Any], groups: int | None, why: str) -> None:
        """vLLM falls back to linear placement where round_robin is not supported, and says why."""
        settings_: dict[str, Any] = {"data_parallel_size": 4, "enable_expert_parallel": True,
                                     "expert_placement_strategy": "round_robin",
                                     "all2all_backend": "deepep_low_latency", **kw}
        p = parallel(**settings_)
        strategy, fallback = placement_strategy(p, ModelFacts(num_experts=16, num_expert_group=groups), True)
        assert strategy == "linear"
        assert why in fallback

    def test_round_robin_kept(self) -> None:
        """With expert groups, no EPLB, one DP rank (no all-to-all kernels), round_robin is kept."""
        p = parallel(tensor_parallel_size=4, enable_expert_parallel=True, expert_placement_strategy="round_robin")
        layout = expert_layout(p, ModelFacts(num_experts=16, num_expert_group=8))
        assert layout is not None
        assert layout.strategy == "round_robin"
        assert layout.experts_of(1) == [1, 5, 9, 13]


class TestIdSpan:
    @pytest.mark.parametrize(("ids", "text"), [
        ([], "none"), ([3], "3"), ([3, 4], "3,4"), (list(range(4)), "0-3"), ([0, 8, 16, 24], "0-24 step 8"),
        ([252, 253, 254, 255, 0, 1, 2], "252-255,0-2"), ([1, 5, 6], "1,5,6"),
    ])
    def test_spans(self, ids: list[int], text: str) -> None:
        assert id_span(ids) == text


class TestPlan:
    MOE: ClassVar[dict[str, Any]] = {"parallel": {"tensor_parallel_size": 2, "data_parallel_size": 4,
                                        "pipeline_parallel_size": 1, "enable_expert_parallel": True},
                           "model": {"num_experts": 60, "num_hidden_layers": 24}}

    def test_rank_dict(self) -> None:
        """A rank's slice gains model.layers [start, end] and model.experts (global ids of its EP rank)."""
        plan = compile_dict(self.MOE).plan()
        for r in range(plan.world_size):
            info = plan.rank(r)
            assert plan.rank_dict(r)["model"] == {"layers": [0, 24],
                                                  "experts": reference_map(60, 8, info.ep or 0, "linear")}

    def test_rank_dict_pp_eplb(self) -> None:
        """With PP and EPLB: the stage's layers, the logical experts and the physical slots of the rank."""
        doc = {"parallel": {"pipeline_parallel_size": 3, "data_parallel_size": 2, "enable_expert_parallel": True,
                            "enable_eplb": True, "eplb_config": {"num_redundant_experts": 2}},
               "model": {"num_experts": 8, "num_hidden_layers": 10}}
        plan = compile_dict(doc).plan()
        rank = next(r for r in range(plan.world_size) if plan.rank(r).pp == 2 and plan.rank(r).dp == 1)
        assert plan.rank_dict(rank)["model"] == {"layers": [7, 10], "experts": [5, 6, 7, 0, 1],
                                                 "physical_experts": [5, 10]}

    def test_plan_dict(self) -> None:
        """The whole plan gains every stage's layers and every EP rank's experts."""
        doc = compile_dict({**self.MOE, "parallel": {**self.MOE["parallel"], "pipeline_parallel_size": 1}})
        model = doc.plan().to_dict()["model"]
        assert isinstance(model, dict)
        assert model["layers"] == [[0, 24]]
        assert model["expert_placement"] == "linear"
        assert model["experts"] == [reference_map(60, 8, r, "linear") for r in range(8)]

    def test_dense_and_unknown(self) -> None:
        """A dense model's ranks hold no experts; facts that are unknown leave their keys out."""
        dense = compile_dict({"model": {"num_experts": 0, "num_hidden_layers": 4}}).plan()
        assert dense.rank_dict(0)["model"] == {"layers": [0, 4], "experts": []}
        only_heads = compile_dict({"model": {"num_attention_heads": 4}}).plan()
        assert only_heads.rank_dict(0)["model"] == {}

    def test_plans_without_model_keep_their_shape(self) -> None:
        """No [model]: no model key anywhere in the plan."""
        plan = compile_dict({"parallel": {"tensor_parallel_size": 2}}).plan()
        assert "model" not in plan.rank_dict(0)
        assert "model" not in plan.to_dict()

    def test_partition_reaches_the_run(self) -> None:
        """pp_layer_partition is the split, and the run gets it as VLLM_PP_LAYER_PARTITION."""
        plan = compile_dict({"parallel": {"pipeline_parallel_size": 2},
                             "model": {"num_hidden_layers": 10, "pp_layer_partition": [3, 7]}}).plan()
        assert plan.rank_dict(1)["model"]["layers"] == [3, 10]
        assert plan.env(1)["VLLM_PP_LAYER_PARTITION"] == "3,7"
        assert vllm_text(plan).startswith("env VLLM_PP_LAYER_PARTITION=3,7 vllm serve $MODEL ")

    def test_cli_rank_json(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """pconf plan --format json --rank R prints the rank's layers and experts (Qwen3-235B: PP 4 of 94 layers)."""
        monkeypatch.chdir(ROOT)
        assert main(["plan", "examples/models/qwen3-moe-tp4-pp4.toml", "--rank", "13", "--format", "json"]) == 0
        model = json.loads(capsys.readouterr().out)["model"]
        assert model == {"layers": [71, 94], "experts": list(range(32, 64))}

    def test_table(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """The plan table shows the layers of each stage and the experts of each EP rank."""
        monkeypatch.chdir(ROOT)
        assert main(["plan", "examples/models/deepseek-v3-wide-ep.toml"]) == 0
        out = capsys.readouterr().out
        assert "  experts: 256 + 32 redundant over EP 8, linear\n" in out
        assert "  7   252-287   252-255,0-31  36\n" in out
        assert "  pp  layers  count\n  0   0-60    61\n" in out
