"""Where the model lands: the decoder layers of each pipeline stage and the experts of each expert-parallel rank.

Pure arithmetic, exactly vLLM's (0.23.0; 0.28.0 and 0.34.0 compute the same):

- layers: ``get_pp_indices`` (``vllm/distributed/utils.py``): each stage gets ``layers // PP``; the remainder goes
  one layer each to the stages before the last, counting back from the second-to-last; VLLM_PP_LAYER_PARTITION
  (``[model] pp_layer_partition``) replaces the split. Stage ``p`` holds layers ``[start, end)``.
- experts: ``determine_expert_map`` (``vllm/model_executor/layers/fused_moe/expert_map_manager.py``) over the EP
  group of DP × PCP × TP ranks (``FusedMoEParallelConfig.make``; EP rank ``(dp × PCP + pcp) × TP + tp``):
  ``linear`` gives each rank a contiguous run, the first ``experts % EP`` ranks one more; ``round_robin`` gives
  rank ``r`` the experts ``r, r + EP, ...``. ``determine_expert_placement_strategy`` falls back to linear when the
  model has no more than one expert group, with redundant experts or EPLB, and when all-to-all kernels run (DP > 1)
  on a backend other than deepep_low_latency or nixl_ep. Under EPLB the map is over the physical experts
  (experts + redundant), which start out as ``EplbState.build_initial_global_physical_to_logical_map`` lays them:
  the logical experts in order, then the redundant copies of experts ``0, 1, ...``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

from pconf.model.facts import ModelFacts
from pconf.schema import ParallelConfig

#: all2all backends whose kernels keep round-robin routing tables (``needs_round_robin_routing_tables``).
ROUND_ROBIN_BACKENDS = frozenset({"deepep_low_latency", "nixl_ep"})


def pp_partition(num_layers: int, pp_size: int, partition: tuple[int, ...] | None = None) -> list[int]:
    """The layers of each pipeline stage (``get_pp_indices``'s partitions): ``partition`` as given, else the even
    split with the remainder on the stages before the last."""
    if partition is not None:
        return list(partition)
    parts = [num_layers // pp_size] * pp_size
    for i in range(2, num_layers % pp_size + 2):
        parts[-i] += 1
    return parts


def layer_range(num_layers: int, pp_rank: int, pp_size: int, partition: tuple[int, ...] | None = None
                ) -> tuple[int, int]:
    """``get_pp_indices``: the ``[start, end)`` layers of pipeline stage ``pp_rank``."""
    parts = pp_partition(num_layers, pp_size, partition)
    start = sum(parts[:pp_rank])
    return start, start + parts[pp_rank]


@dataclass(frozen=True)
class ExpertLayout:
    """How a MoE model's experts are spread: over ``ep_size`` ranks (1: no expert parallelism, every rank holds
    every expert, sliced by TP), by ``strategy`` (the one vLLM runs; ``fallback`` says why it differs from the
    configured one), over ``physical`` slots (experts + redundant experts under EPLB)."""

    num_experts: int
    ep_size: int
    strategy: str
    fallback: str
    eplb: bool
    physical: int

    def experts_of(self, ep_rank: int) -> list[int]:
        """The experts (global, logical ids) EP rank ``ep_rank`` holds at start-up, in its local order."""
        return [self.logical(p) for p in self.physical_of(ep_rank)]

    def physical_of(self, ep_rank: int) -> range:
        """The physical expert slots of EP rank ``ep_rank`` (``determine_expert_map`` over the physical experts)."""
        if self.ep_size == 1:
            return range(self.physical)
        base, extra = divmod(self.physical, self.ep_size)
        count = base + (1 if ep_rank < extra else 0)
        if self.strategy == "round_robin":
            return range(ep_rank, self.physical, self.ep_size)
        start = ep_rank * base + min(ep_rank, extra)
        return range(start, start + count)

    def logical(self, physical: int) -> int:
        """The logical expert a physical slot starts with: itself, or for a redundant slot a copy of expert
        ``(slot - experts) % experts``."""
        return physical if physical < self.num_experts else (physical - self.num_experts) % self.num_experts


def expert_layout(p: ParallelConfig, facts: ModelFacts) -> ExpertLayout | None:
    """The expert layout of a resolved ParallelConfig for a MoE model; None for a dense or unknown one."""
    experts = facts.num_experts
    if not experts:
        return None
    width = p.data_parallel_size * p.prefill_context_parallel_size * p.tensor_parallel_size
    use_ep = p.enable_expert_parallel and width > 1
    ep_size = width if use_ep else 1
    written = p.eplb_config.num_redundant_experts
    # unset (0.34 with EPLB): the model fills the fewest that make the physical experts divide over the EP ranks
    redundant = (written if written is not None else (ep_size - experts % ep_size) % ep_size) if use_ep else 0
    strategy, fallback = placement_strategy(p, facts, use_ep)
    return ExpertLayout(experts, ep_size, strategy, fallback, p.enable_eplb and use_ep, experts + redundant)


def placement_strategy(p: ParallelConfig, facts: ModelFacts, use_ep: bool) -> tuple[str, str]:
    """The placement vLLM runs (``determine_expert_placement_strategy``, then ``ExpertMapManager.
    _determine_placement_strategy``) and, when it falls back to linear, why."""
    if p.expert_placement_strategy != "round_robin":
        return p.expert_placement_strategy, ""
    if not use_ep:
        return "linear", "no expert parallelism"
    groups = facts.num_expert_group
    if groups is None or groups <= 1 or p.eplb_config.num_redundant_experts or p.enable_eplb:
        why = ("EPLB is on" if p.enable_eplb else "there are redundant experts"
               if p.eplb_config.num_redundant_experts else
               f"the model has {'no expert groups' if groups is None else 'one expert group'} (num_expert_group)")
        return "linear", f"round_robin needs more than one expert group and no redundant experts or EPLB: {why}"
    if p.data_parallel_size > 1 and p.all2all_backend not in ROUND_ROBIN_BACKENDS:
        return "linear", (f"round_robin with DP > 1 needs the deepep_low_latency or nixl_ep all2all backend, "
                          f"not {p.all2all_backend}")
    return "round_robin", ""


class RankShare(NamedTuple):
    """One rank's share of the model: the ``[start, end)`` layers of its pipeline stage; the experts (global ids)
    it holds at start-up (every expert without expert parallelism; none for a dense model); under EPLB its
    ``[start, end)`` physical expert slots. None where the fact it needs is unknown."""

    layers: tuple[int, int] | None
    experts: list[int] | None
    physical: tuple[int, int] | None

    def as_dict(self) -> dict[str, object]:
        """``{"layers": [start, end], "experts": [ids], "physical_experts": [start, end]}``, unknowns left out."""
        out: dict[str, object] = {}
        if self.layers is not None:
            out["layers"] = list(self.layers)
        if self.experts is not None:
            out["experts"] = self.experts
        if self.physical is not None:
            out["physical_experts"] = list(self.physical)
        return out


def rank_placement(p: ParallelConfig, facts: ModelFacts, pp_rank: int, dp: int, pcp: int, tp: int) -> RankShare:
    """The share of the rank at pipeline stage ``pp_rank`` and coordinates ``dp``, ``pcp``, ``tp`` (its EP rank
    is ``(dp × PCP + pcp) × TP + tp``)."""
    layers = None
    if facts.num_hidden_layers is not None:
        layers = layer_range(facts.num_hidden_layers, pp_rank, p.pipeline_parallel_size, facts.pp_partition)
    experts: list[int] | None = None
    physical = None
    if facts.num_experts is not None:
        layout = expert_layout(p, facts)
        ep_rank = (dp * p.prefill_context_parallel_size + pcp) * p.tensor_parallel_size + tp
        if layout is not None and layout.ep_size == 1:
            ep_rank = 0
        experts = layout.experts_of(ep_rank) if layout else []
        if layout is not None and layout.eplb:
            slots = layout.physical_of(ep_rank)
            physical = (slots.start, slots.stop)
    return RankShare(layers, experts, physical)


def plan_placement(p: ParallelConfig, facts: ModelFacts) -> dict[str, object]:
    """The whole model's placement: ``layers`` per pipeline stage, ``experts`` per EP rank (and
    ``expert_placement``, the strategy vLLM runs); unknown facts leave their keys out."""
    out: dict[str, object] = {}
    if facts.num_hidden_layers is not None:
        pp = p.pipeline_parallel_size
        out["layers"] = [list(layer_range(facts.num_hidden_layers, s, pp, facts.pp_partition)) for s in range(pp)]
    layout = expert_layout(p, facts)
    if layout is not None:
        out["expert_placement"] = layout.strategy
        out["experts"] = [layout.experts_of(e) for e in range(layout.ep_size)]
        if layout.eplb:
            out["physical_experts"] = [[s.start, s.stop] for s in map(layout.physical_of, range(layout.ep_size))]
    elif facts.num_experts is not None:
        out["experts"] = []
    return out


def id_span(ids: list[int] | range) -> str:
    """Expert or layer ids in words: runs of consecutive ids as ``a-b`` (``252-255,0-31``), an evenly strided
    list as ``0-248 step 8``, others as they are; ``none`` for no ids."""
    ids = list(ids)
    if len(ids) > 2:
        step = ids[1] - ids[0]
        if step > 1 and all(b - a == step for a, b in itertools.pairwise(ids)):
            return f"{ids[0]}-{ids[-1]} step {step}"
    parts: list[str] = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[i - 1] + 1:
            run = ids[start:i]
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)))
            start = i
    return ",".join(parts) or "none"


__all__ = [
    "ExpertLayout",
    "RankShare",
    "expert_layout",
    "id_span",
    "layer_range",
    "placement_strategy",
    "plan_placement",
    "pp_partition",
    "rank_placement",
]
