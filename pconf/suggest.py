"""``pconf suggest``: every layout of N GPUs that a model runs with, ranked, each with its reasons.

A layout is a choice of tensor (TP), pipeline (PP), data (DP) and decode-context (DCP) parallelism with TP × PP ×
DP = N, and, for a MoE model, expert parallelism on or off. Each one is written as a document and compiled with
every rule and model check, then planned (multi-node layouts need whole replicas per node, or whole nodes per
replica); the ones that pass are ranked by vLLM's own guidance, most important first:

1. TP inside a node: its all-reduce runs on every layer, so it stays on the node's links;
2. for a MoE model, expert parallelism: each rank holds a share of the experts instead of a slice of each;
3. experts for every rank: expert parallelism wider than the experts leaves ranks without one;
4. PP only across nodes: with several stages on a node, TP would do the same job without pipeline bubbles;
5. no DCP unless asked for: it splits the KV cache of long contexts, at a communication cost;
6. fewest copies of each KV head: TP beyond the KV heads replicates them (MLA's latent cache counts as one head);
7. then the larger TP (more memory per replica for weights and KV cache), then fewer pipeline stages.

pconf does not estimate memory or speed: the reasons say what each layout trades, and the first one that fits the
model's weights in memory is usually the one to try.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pconf.compile import compile_dict, model_from_file
from pconf.errors import ConfigError, Issue, Location
from pconf.model import ModelFacts
from pconf.model.placement import expert_layout, pp_partition
from pconf.schema.parallel import MAX_PARALLEL_SIZE
from pconf.target import TARGET_HEAD

#: The node size ``suggest`` assumes when none is given (capped at the number of GPUs).
DEFAULT_DEVICES_PER_NODE = 8


@dataclass(frozen=True)
class Layout:
    """One layout that compiles and plans to exactly the GPUs asked for: its sizes, how it sits on the nodes,
    why it ranks where it does, and the document that compiles to it (over several nodes, once node 0's address
    is added: ``parallel.master_addr`` or ``[cluster.network].node_addresses``)."""

    tp: int
    pp: int
    dp: int
    dcp: int
    ep: int
    nnodes: int
    reasons: tuple[str, ...]
    rank_key: tuple[int, ...]
    document: dict[str, Any]


@dataclass(frozen=True)
class Suggestion:
    """What ``suggest`` found: the layouts, best first, for ``gpus`` GPUs on nodes of ``devices_per_node``."""

    gpus: int
    devices_per_node: int
    model: ModelFacts
    layouts: tuple[Layout, ...]
    refused: tuple[str, ...]  # the rule ids that refused the other layouts, sorted


def suggest(gpus: int, model_config: str | os.PathLike[str], devices_per_node: int | None = None) -> Suggestion:
    """Every layout of ``gpus`` GPUs (nodes of ``devices_per_node``, default up to 8) that passes every rule and
    model check for the model of ``model_config`` (a config.json or a model directory), ranked (module docstring).

    ConfigError when the model cannot be read, or when the GPUs do not fill whole nodes."""
    where = Location.argument("--gpus")
    per_node = devices_per_node if devices_per_node is not None else min(gpus, DEFAULT_DEVICES_PER_NODE)
    if not 1 <= gpus <= MAX_PARALLEL_SIZE or per_node < 1:
        raise ConfigError([Issue(("gpus",), where, "suggest.size", f"must be from 1 to {MAX_PARALLEL_SIZE}, with "
                                 "at least 1 device per node", "give the GPUs of the run", gpus)])
    if gpus > per_node and gpus % per_node:
        raise ConfigError([Issue(("gpus",), where, "suggest.size", f"{gpus} GPUs do not fill nodes of {per_node}",
                                 "give a multiple of --devices-per-node", gpus)])
    facts = model_from_file(model_config)
    path = os.path.abspath(os.fspath(model_config))  # the documents compile from any working directory
    layouts: list[Layout] = []
    refused: set[str] = set()
    for candidate in _candidates(gpus, per_node, facts):
        doc = _document(candidate, per_node, path)
        # Over several nodes the layout is checked with the head's address as a deployment supplies it (the same
        # placeholder as a deployment target's); the document leaves it out.
        checked = {**doc, "parallel": {**doc["parallel"], "master_addr": TARGET_HEAD}} if candidate[5] > 1 else doc
        try:
            plan = compile_dict(checked, model=facts).plan()
        except ConfigError as exc:
            refused.update(issue.rule for issue in exc.issues)
            continue
        if plan.world_size != gpus:  # a guard: every candidate multiplies out to the GPUs
            continue
        tp, pp, dp, dcp, ep, nnodes = candidate
        layouts.append(Layout(tp, pp, dp, dcp, ep, nnodes, _reasons(candidate, per_node, facts, plan.resolved.parallel),
                              _rank_key(candidate, per_node, facts), doc))
    layouts.sort(key=lambda layout: layout.rank_key)
    return Suggestion(gpus, per_node, facts, tuple(layouts), tuple(sorted(refused)))


Candidate = tuple[int, int, int, int, int, int]  # tp, pp, dp, dcp, ep (1: off), nnodes


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _candidates(gpus: int, per_node: int, facts: ModelFacts) -> list[Candidate]:
    """Every (TP, PP, DP, DCP, EP) of ``gpus`` that could sit on whole nodes: a replica (TP × PP) either fills a
    whole number of nodes or a whole number of replicas fill a node."""
    nnodes = max(1, gpus // per_node)
    out: list[Candidate] = []
    for tp in _divisors(gpus):
        for pp in _divisors(gpus // tp):
            dp = gpus // (tp * pp)
            replica = tp * pp
            if nnodes > 1 and (per_node % replica if replica <= per_node else replica % per_node):
                continue
            for dcp in _divisors(tp):
                for ep in ((1, dp * tp) if facts.num_experts and dp * tp > 1 else (1,)):
                    out.append((tp, pp, dp, dcp, ep, nnodes))
    return out


def _document(c: Candidate, per_node: int, model_config: str) -> dict[str, Any]:
    """The document of a candidate: its sizes, the node layout, the host facts and the model."""
    tp, pp, dp, dcp, ep, nnodes = c
    parallel: dict[str, Any] = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp, "data_parallel_size": dp}
    if ep > 1:
        parallel["enable_expert_parallel"] = True
    if dcp > 1:
        parallel["decode_context_parallel_size"] = dcp
    if nnodes > 1:
        parallel["nnodes"] = nnodes
        if dp > 1:
            parallel["data_parallel_size_local"] = max(1, per_node // (tp * pp))
    return {"parallel": parallel, "cluster": {"device": "cuda", "devices_per_node": per_node},
            "model": {"config": model_config}}


def _kv_copies(tp: int, facts: ModelFacts) -> int:
    """How many ranks hold a copy of each KV head (MLA's latent cache is one head, on every TP rank)."""
    if facts.use_mla:
        return tp
    kv = facts.num_key_value_heads
    return max(1, tp // kv) if kv else 1


def _rank_key(c: Candidate, per_node: int, facts: ModelFacts) -> tuple[int, ...]:
    tp, pp, dp, dcp, ep, _ = c
    experts = facts.num_experts or 0
    return (int(tp > per_node), int(experts > 0 and ep == 1 and tp * dp > 1), int(ep > max(experts, 1)),
            int(pp > 1 and tp < per_node), int(dcp > 1), _kv_copies(tp, facts), -tp, pp, dcp, -ep)


def _reasons(c: Candidate, per_node: int, facts: ModelFacts, parallel: Any) -> tuple[str, ...]:
    """Why a layout ranks where it does, in the order of the ranking."""
    tp, pp, dp, dcp, ep, _ = c
    out: list[str] = []
    if tp > per_node:
        out.append(f"TP {tp} spans {tp // per_node} nodes: its all-reduce crosses the network")
    elif tp > 1:
        out.append(f"TP {tp} inside a node")
    layout = expert_layout(parallel, facts)
    if layout is not None and layout.ep_size > 1:
        low, high = layout.num_experts // ep, -(-layout.num_experts // ep)
        share = str(low) if low == high else f"{low}-{high}"
        idle = f"; {ep - layout.num_experts} ranks hold no expert" if ep > layout.num_experts else ""
        out.append(f"EP {ep}: {share} of {layout.num_experts} experts per rank{idle}")
    elif facts.num_experts and tp * dp > 1:
        out.append(f"no EP: all {facts.num_experts} experts on every rank, sliced over TP")
    if pp > 1:
        layers = (f" ({'+'.join(map(str, pp_partition(facts.num_hidden_layers, pp)))} layers)"
                  if facts.num_hidden_layers else "")
        where = (f", {min(pp, per_node // tp)} stages per node: TP could do it without bubbles" if tp < per_node
                 else " across nodes, a node per stage" if tp == per_node else
                 f" across nodes, {tp // per_node} nodes per stage")
        out.append(f"PP {pp}{layers}{where}")
    if dcp > 1:
        out.append(f"DCP {dcp}: the KV cache split over {dcp} ranks (for long contexts)")
    if tp > 1 or facts.use_mla:
        copies = _kv_copies(tp, facts)
        if facts.use_mla:
            out.append("MLA: the latent KV cache is on every TP rank" if tp > 1 else
                       "MLA without TP: no copies of the latent KV cache")
        elif facts.num_key_value_heads and copies > 1:
            out.append(f"each of the {facts.num_key_value_heads} KV heads on {copies} ranks")
        elif facts.num_key_value_heads:
            heads = facts.num_key_value_heads // tp
            out.append(f"{heads} KV head{'s' if heads > 1 else ''} per rank")
    if dp > 1:
        out.append(f"DP {dp} replicas" + (" (attention data-parallel, experts shared)" if ep > 1 else ""))
    return tuple(out)


__all__ = ["DEFAULT_DEVICES_PER_NODE", "Layout", "Suggestion", "suggest"]
