"""The model's share of a plan for people: the layers of each pipeline stage and the experts of each EP rank.

``model_lines`` gives lines and tables (a header and rows), which ``pconf.emit.table`` aligns like its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pconf.model.placement import expert_layout, id_span, layer_range, rank_placement

if TYPE_CHECKING:
    from pconf.model import ModelFacts
    from pconf.plan import Plan


def describe(facts: ModelFacts) -> str:
    """The model in one line: its class, where it was read, and the facts the layout depends on."""
    parts = []
    for value, unit in ((facts.num_hidden_layers, "layers"), (facts.num_attention_heads, "attention heads"),
                        (facts.num_key_value_heads, "KV heads")):
        if value is not None:
            parts.append(f"{value} {unit}")
    if facts.use_mla:
        parts.append("MLA")
    if facts.num_experts:
        top = f", {facts.experts_per_token} per token" if facts.experts_per_token else ""
        parts.append(f"{facts.num_experts} experts{top}")
    elif facts.num_experts == 0:
        parts.append("dense")
    name = facts.architecture or facts.model_type or "model"
    where = f" ({facts.source})" if facts.source else ""
    return f"{name}{where}: {', '.join(parts) or 'no facts'}"


#: A line of text, or a table: its header and its rows.
Block = str | tuple[Sequence[str], list[list[str]]]


def model_lines(plan: Plan) -> list[Block]:
    """``pconf plan``'s model section (nothing without ``[model]``): the layers of each pipeline stage, the experts
    of each EP rank and how they are placed."""
    facts = plan.resolved.model
    if facts is None:
        return []
    p = plan.resolved.parallel
    lines: list[Block] = [f"model: {describe(facts)}"]
    if facts.num_hidden_layers is not None:
        rows = []
        for stage in range(plan.pp):
            start, end = layer_range(facts.num_hidden_layers, stage, plan.pp, facts.pp_partition)
            rows.append([str(stage), id_span(range(start, end)), str(end - start)])
        lines.append((("pp", "layers", "count"), rows))
    layout = expert_layout(p, facts)
    if layout is None:
        return lines
    if layout.ep_size == 1:
        lines.append(f"  experts: all {layout.num_experts} on every rank, each sliced over TP (no expert parallelism)")
        return lines
    note = f" (round_robin falls back: {layout.fallback})" if layout.fallback else ""
    extra = f" + {layout.physical - layout.num_experts} redundant" if layout.physical > layout.num_experts else ""
    lines.append(f"  experts: {layout.num_experts}{extra} over EP {layout.ep_size}, {layout.strategy}{note}")
    rows = []
    for ep in range(layout.ep_size):
        ids = layout.experts_of(ep)
        row = [str(ep), id_span(ids), str(len(ids))]
        if layout.eplb:
            slots = layout.physical_of(ep)
            row.insert(1, id_span(slots))
        rows.append(row)
    header = ("ep", "physical", "experts", "count") if layout.eplb else ("ep", "experts", "count")
    return [*lines, (header, rows)]


def rank_model_lines(plan: Plan, rank: int) -> list[str]:
    """One rank's layers and experts for people (nothing without ``[model]``)."""
    facts = plan.resolved.model
    if facts is None:
        return []
    info = plan.rank(rank)
    share = rank_placement(plan.resolved.parallel, facts, info.pp, info.dp, info.pcp, info.tp)
    parts = []
    if share.layers is not None:
        parts.append(f"layers {id_span(range(*share.layers))}")
    if share.experts is not None and facts.num_experts:
        parts.append(f"experts {id_span(share.experts)} ({len(share.experts)})")
    return [f"  model {', '.join(parts)}"] if parts else []
