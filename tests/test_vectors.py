"""vLLM's own ParallelConfig, recorded per release (tests/data/vllm-vectors*.jsonl): pconf must agree.

Each ``single`` record is compiled in vLLM-environment mode with the record's platform as cluster facts and its
release as ``vllm_version``. pconf must accept exactly what vLLM accepted (except the refusals it makes on purpose,
listed in ``STRICTER`` with the rule that refuses them), refuse what vLLM refused with the matching rule, and
resolve every field and derived property to vLLM's value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import pconf
from pconf.schema import INTERNAL_FIELDS

DATA = Path(__file__).parent / "data"
#: The recorded vectors of each release pconf models (a record's ``version`` names its release; none: the seed).
FILES = {"0.23": "vllm-vectors.jsonl", "0.28": "vllm-vectors-0.28.jsonl", "0.34": "vllm-vectors-0.34.jsonl"}


def release(record: dict[str, Any]) -> str:
    """The pconf profile of a record: ``0.28.0`` -> ``0.28``; no ``version`` -> the seed's ``0.23``."""
    version = record.get("version")
    return "0.23" if version is None else ".".join(str(version).split(".")[:2])


RECORDS = [json.loads(line) for name in FILES.values() for line in (DATA / name).read_text().splitlines()]
SINGLES = [r for r in RECORDS if r["kind"] == "single"]


def key(record: dict[str, Any]) -> str:
    """A record's id across releases (ids are unique within one release's file only)."""
    return f"{release(record)}/{record['id']}"


#: Records vLLM's ParallelConfig accepts and pconf refuses on purpose, with the rule that refuses them.
#: (Records with strict-typing cases are matched by tag: ``coercion_*`` -> ``schema.type``.)
SEED_STRICTER: dict[str, str] = {
    # Executor.get_class fails at start-up on an empty backend name.
    "s0075": "schema.choice",
    "s0076": "schema.choice",
    "s0077": "schema.choice",
    # EngineArgs asserts hybrid and external load balancing are not both on.
    "s0419": "engine.lb_modes_exclusive",
    # EngineArgs asserts node_rank < nnodes.
    "s0431": "engine.node_rank_range",
    "s0432": "engine.node_rank_range",
    "s0433": "engine.node_rank_range",
    "s0440": "engine.node_rank_range",
    "s0441": "engine.node_rank_range",
    "s0442": "engine.node_rank_range",
    "s0455": "engine.node_rank_range",
    "s0457": "engine.node_rank_range",
    "s0458": "engine.node_rank_range",
    "s0459": "engine.node_rank_range",
    "s0622": "engine.node_rank_range",
    "s0744": "engine.node_rank_range",
    # vLLM's nnodes_within_dp / node_rank_within_dp / local_world_size divide by zero on these layouts.
    "s0448": "engine.derived_layout",
    "s0466": "engine.derived_layout",
    "s0478": "engine.derived_layout",
    "s0627": "engine.derived_layout",
    "s0757": "engine.derived_layout",
    # VllmConfig asserts micro-batching (enable_dbo or ubatch_size > 1) runs on a DeepEP all2all backend.
    "s0557": "engine.ubatch_requires_deepep",
    "s0560": "engine.ubatch_requires_deepep",
    "s0563": "engine.ubatch_requires_deepep",
    "s0564": "engine.ubatch_requires_deepep",
    "s0578": "engine.ubatch_requires_deepep",
    "s0585": "engine.ubatch_requires_deepep",
    "s0629": "engine.ubatch_requires_deepep",
    "s0755": "engine.ubatch_requires_deepep",
    "s0810": "engine.ubatch_requires_deepep",
    # vLLM's NUMA binding fails at worker start: numa_bind_nodes is shorter than the GPU indices the workers use.
    "s0603": "numa.nodes_too_short",
    "s0711": "numa.nodes_too_short",
    # EngineArgs asserts DP × PP × TP is divisible by nnodes.
    "s0700": "engine.nnodes_divides_world",
    "s0758": "engine.nnodes_divides_world",
    # pconf's deployment checks (pconf.rules.deploy), which vLLM's ParallelConfig does not make.
    # A port is 1..65535 (vLLM takes master_port = -1 and fails when it binds it).
    "s0114": "schema.bound",
    # A node has at least one device (cluster.devices_per_node = 0: the oracle's platform reported no GPU).
    "s0484": "plan.devices",
    # A run over several nodes (nnodes > 1, or vLLM's DP-only multi-node form: data_parallel_size_local given
    # below data_parallel_size) meets at 127.0.0.1, vLLM's default, which the other nodes never reach (they time
    # out after the rendezvous timeout).
    **dict.fromkeys(["s0364", "s0380", "s0381", "s0383", "s0449", "s0450", "s0461", "s0467", "s0480", "s0483",
                     "s0552", "s0580", "s0790", "s0451", "s0470", "s0720"], "network.loopback"),
    # The ranks do not fill the nodes evenly (with DP = data_parallel_size_local on 2 or 4 nodes, vLLM's DP engines
    # all start on node 0; the other nodes' share is empty).
    **dict.fromkeys(["s0447", "s0453", "s0463", "s0471", "s0475", "s0477"], "plan.nodes"),
    # One node would run more ranks than it has GPUs: vLLM checks world_size (one DP replica) against the GPUs;
    # the DP engines after the first find no GPU when they start.
    **dict.fromkeys(["s0429", "s0495", "s0507", "s0531", "s0554", "s0573", "s0582", "s0611", "s0632", "s0666",
                     "s0694", "s0730", "s0742", "s0774", "s0787", "s0803"], "plan.devices"),
}
STRICTER: dict[str, str] = {
    **{f"0.23/{rid}": rule for rid, rule in SEED_STRICTER.items()},
    # -- vLLM 0.28 --
    # Executor.get_class fails at start-up on an empty backend name.
    "0.28/s0037": "schema.choice", "0.28/s0039": "schema.choice", "0.28/s0045": "schema.choice",
    "0.28/s0055": "schema.choice",
    # EngineArgs: node_rank < nnodes.
    "0.28/s0435": "engine.node_rank_range", "0.28/s0438": "engine.node_rank_range",
    "0.28/s0447": "engine.node_rank_range",
    # vLLM's local_world_size divides by zero on these layouts.
    "0.28/s0461": "engine.derived_layout", "0.28/s0467": "engine.derived_layout",
    # EngineArgs: DP × PP × TP divisible by nnodes.
    "0.28/s0577": "engine.nnodes_divides_world",
    # NUMA binding fails at worker start: one CPU list for the four workers of a PP=4 run.
    "0.28/s0701": "numa.cpus_too_short",
    # pconf's deployment checks (pconf.rules.deploy), as in the seed's list above: the port -1 and the timeout -1
    # that vLLM takes, loopback rendezvous across nodes, nodes the ranks do not fill evenly, too few devices.
    "0.28/s0105": "schema.bound", "0.28/s0106": "schema.bound",
    **dict.fromkeys(["0.28/s0399", "0.28/s0400", "0.28/s0414", "0.28/s0439", "0.28/s0442", "0.28/s0448", "0.28/s0454",
                     "0.28/s0457", "0.28/s0463", "0.28/s0465", "0.28/s0466", "0.28/s0470", "0.28/s0471", "0.28/s0474",
                     "0.28/s0593", "0.28/s0675", "0.28/s0697", "0.28/s0725", "0.28/s0768", "0.28/s0773",
                     "0.28/s0782"], "network.loopback"),
    **dict.fromkeys(["0.28/s0449", "0.28/s0450", "0.28/s0654"], "plan.nodes"),
    **dict.fromkeys(["0.28/s0429", "0.28/s0431", "0.28/s0432", "0.28/s0440", "0.28/s0441", "0.28/s0443", "0.28/s0477",
                     "0.28/s0573", "0.28/s0599", "0.28/s0606", "0.28/s0615", "0.28/s0628", "0.28/s0669", "0.28/s0676",
                     "0.28/s0680", "0.28/s0698", "0.28/s0712", "0.28/s0715", "0.28/s0727", "0.28/s0760",
                     "0.28/s0766"], "plan.devices"),
    # -- vLLM 0.34 --
    "0.34/s0043": "schema.choice", "0.34/s0053": "schema.choice", "0.34/s0059": "schema.choice",
    "0.34/s0486": "engine.node_rank_range", "0.34/s0487": "engine.node_rank_range",
    "0.34/s0488": "engine.node_rank_range", "0.34/s0489": "engine.node_rank_range",
    "0.34/s0490": "engine.node_rank_range", "0.34/s0500": "engine.node_rank_range",
    "0.34/s0784": "engine.node_rank_range",
    # vLLM 0.34's nnodes_within_dp raises when nnodes is not a multiple of the DP node groups.
    "0.34/s0512": "dp.nnodes_groups", "0.34/s0769": "dp.nnodes_groups",
    # VllmConfig: micro-batching needs a DeepEP or nixl_ep all2all backend.
    "0.34/s0735": "engine.ubatch_requires_deepep",
    # pconf's deployment checks, as for 0.28.
    "0.34/s0120": "schema.bound", "0.34/s0121": "schema.bound",
    **dict.fromkeys(["0.34/s0452", "0.34/s0465", "0.34/s0467", "0.34/s0495", "0.34/s0501", "0.34/s0504", "0.34/s0510",
                     "0.34/s0511", "0.34/s0517", "0.34/s0519", "0.34/s0525", "0.34/s0526", "0.34/s0528", "0.34/s0678",
                     "0.34/s0711", "0.34/s0744", "0.34/s0767"], "network.loopback"),
    **dict.fromkeys(["0.34/s0503", "0.34/s0505", "0.34/s0506", "0.34/s0513", "0.34/s0658", "0.34/s0859"], "plan.nodes"),
    **dict.fromkeys(["0.34/s0493", "0.34/s0494", "0.34/s0530", "0.34/s0545", "0.34/s0646", "0.34/s0701", "0.34/s0716",
                     "0.34/s0749", "0.34/s0776", "0.34/s0803", "0.34/s0806", "0.34/s0808", "0.34/s0813", "0.34/s0836",
                     "0.34/s0837", "0.34/s0852"], "plan.devices"),
}

#: Records whose ParallelConfig value VllmConfig changes afterwards (the recording ran ParallelConfig alone):
#: pconf shows the value vLLM runs with.
VLLM_CONFIG_LEVEL: dict[str, tuple[str, object]] = {
    # 0.34's VllmConfig forces the DP synchronisation onto gloo under fault tolerance (vllm/config/vllm.py).
    "0.34/s0861": ("disable_nccl_for_dp_synchronization", True),
}

#: vLLM's error message (the first one it reports) -> the pconf rule that reports the same problem.
MESSAGE_RULES: list[tuple[str, str]] = [
    (r"Input should be (greater|less) than", "schema.bound"),
    (r"Input should be '|Input should be 'ag_rs'", "schema.choice"),
    (r"Input should be a valid|unable to (parse|interpret)", "schema.type"),
    (r"Unexpected keyword argument", "schema.unknown_key|schema.derived_key|schema.other_release"),
    (r"Elastic EP is only supported with enable_eplb", "elastic_ep.requires_eplb"),
    (r"Elastic EP is not supported with pipeline", "elastic_ep.no_pipeline"),
    (r"Elastic EP is not compatible", "elastic_ep.no_lb_modes"),
    (r"World size \(\d+\) is larger than the number of available GPUs", "executor.gpu_count"),
    (r"must be divisible by ?dcp_size", "dcp.tp_divisible"),
    (r"When PCP is enabled, DCP must be", "dcp.pcp_sizes"),
    (r"PCP does not support data parallelism", "pcp.no_dp"),
    (r"EPLB requires tensor, prefill-context, or data", "eplb.requires_tp_or_dp"),
    (r"communicator is incompatible with async EPLB", "eplb.async_communicator"),
    (r"Elastic EP with async EPLB requires the NIXL", "elastic_ep.async_needs_nixl"),
    (r"--elastic-ep-max-dp-size must be greater", "elastic_ep.max_dp_size"),
    (r"NUMA binding lists cannot be combined with numa_bind=False", "numa.requires_bind"),
    (r"must be at least the number of microbatches", "dbo.thresholds"),
    (r"data_parallel_size_local \(\d+\) must be <=", "dp.local_size"),
    (r"data_parallel_external_lb can only be set", "dp.external_lb_needs_dp"),
    (r"numa_bind_nodes must contain non-negative", "numa.nodes_negative"),
    (r"numa_bind_nodes must not be empty", "numa.nodes_empty"),
    (r"numa_bind_cpus must not be empty", "numa.cpus_empty"),
    (r"numa_bind_cpus (entries|ranges)", "numa.cpus_syntax"),
    (r"require numa_bind=True", "numa.requires_bind"),
    (r"num_redundant_experts is set to", "eplb.redundant_without_eplb"),
    (r"enable_expert_parallel must be True to use EPLB", "eplb.requires_ep"),
    (r"only supported on CUDA devices or ROCm", "eplb.platform"),
    (r"EPLB requires tensor_parallel_size or data_parallel_size", "eplb.requires_tp_or_dp"),
    (r"data_parallel_rank \(\d+\) must be in the range", "dp.rank_range"),
    (r"Offline data parallel mode", "dp.offline_dense"),
    (r"nnodes > 1 can only be set", "nnodes.backend"),
    (r"Failed to import Ray", "ray.not_installed"),
    (r"Unable to use nsight", "ray.nsight_requires_ray"),
    (r"dcp_comm_backend='a2a' requires", "dcp.a2a_requires_dcp"),
    (r"'RANK'", "env.rank_required"),
]


def document(record: dict[str, Any]) -> dict[str, Any]:
    """The pconf document for a record: its kwargs as [parallel], its platform as [cluster]."""
    platform = record["platform"]
    doc: dict[str, Any] = {
        "parallel": record["kwargs"],
        "cluster": {
            "device": platform["device_type"],
            "devices_per_node": platform["device_count"],
            "custom_all_reduce": platform["use_custom_allreduce"],
            "nixl_available": platform["nixl_available"],
            "ray_installed": platform["ray_available"],
            "ray_initialized": platform["ray_initialized"],
            "ray_placement_group": platform["ray_current_placement_group"],
        },
    }
    if "async_scheduling" in record:
        doc["scheduler"] = {"async_scheduling": record["async_scheduling"]}
    if release(record) != "0.23":
        doc["vllm_version"] = release(record)
    return doc


def vllm_message(outcome: dict[str, Any]) -> str:
    details = outcome.get("details") or []
    return str(details[0]["msg"] if details else outcome["message"])


def expected_rule(outcome: dict[str, Any]) -> str:
    message = vllm_message(outcome)
    for pattern, rule in MESSAGE_RULES:
        if re.search(pattern, message):
            return rule
    raise AssertionError(f"no pconf rule mapped for vLLM's message {message!r}")


def uses_internal_fields(record: dict[str, Any]) -> bool:
    return any(k in INTERNAL_FIELDS for k in record["kwargs"])


def compile_record(record: dict[str, Any]) -> tuple[pconf.Compiled | None, pconf.ConfigError | None]:
    try:
        return pconf.compile_dict(document(record), env=record["env"]), None
    except pconf.ConfigError as exc:
        return None, exc


@pytest.mark.parametrize("record", SINGLES, ids=[key(r) for r in SINGLES])
def test_single(record: dict[str, Any]) -> None:
    """pconf accepts, refuses and resolves exactly as vLLM's ParallelConfig did on this input."""
    outcome = record["outcome"]
    compiled, error = compile_record(record)
    if compiled is not None:
        assert "resolved" in outcome, f"pconf accepted what vLLM refused: {vllm_message(outcome)!r}"
        assert key(record) not in STRICTER
        assert not uses_internal_fields(record)
        _check_resolved(record, compiled.to_dict())
        return
    assert error is not None
    rules = {i.rule for i in error.issues}
    if uses_internal_fields(record):  # vLLM-internal fields are not part of the file format
        assert "schema.internal_key" in rules
    elif "resolved" in outcome:
        expected = "schema.type" if record["tag"].startswith("coercion") else STRICTER.get(key(record))
        assert expected is not None, f"pconf refused what vLLM accepted: {error}"
        assert expected in rules, str(error)
    else:
        wanted = set(expected_rule(outcome).split("|"))
        assert rules & wanted, f"vLLM: {vllm_message(outcome)!r}; pconf: {error}"
        _check_field_error_path(outcome, error)


def _check_field_error_path(outcome: dict[str, Any], error: pconf.ConfigError) -> None:
    """For a field-level pydantic error, pconf names the same field."""
    details = outcome.get("details") or []
    loc = details[0]["loc"] if details else []
    if not loc:
        return
    field = ("parallel", loc[0])
    assert field in {i.path[:2] for i in error.issues}, f"vLLM loc {loc}; pconf: {error}"


def _check_resolved(record: dict[str, Any], doc: dict[str, Any]) -> None:
    outcome = record["outcome"]
    fields, resolved = outcome["fields"], outcome["resolved"]
    parallel, derived = doc["parallel"], doc["derived"]
    kwargs = record["kwargs"]
    dp_branch = kwargs.get("data_parallel_size", 1) > 1 or kwargs.get("data_parallel_size_local", 1) == 0
    for name, value in fields.items():
        if name in INTERNAL_FIELDS or name == "disable_nccl_for_dp_synchronization":
            continue
        if name == "data_parallel_master_port" and dp_branch and not fields["enable_elastic_ep"]:
            # vLLM popped a free port; pconf leaves the pick to the runtime and says so.
            assert derived["dp_master_port_picked_at_runtime"] is True
            continue
        assert parallel[name] == value, f"parallel.{name}: vLLM {value!r}, pconf {parallel[name]!r}"
    assert parallel["eplb_config"]["communicator"] == resolved["eplb_communicator"]
    nccl = resolved.get("disable_nccl_for_dp_synchronization_after_vllm_config",
                        resolved["disable_nccl_for_dp_synchronization"])
    if key(record) in VLLM_CONFIG_LEVEL:
        field, value = VLLM_CONFIG_LEVEL[key(record)]
        assert (field, parallel[field]) == (field, value)
    elif nccl is not None:
        assert parallel["disable_nccl_for_dp_synchronization"] == nccl
    for name in ("numa_bind", "elastic_ep_max_dp_size", "dcp_comm_backend"):  # 0.34 records them as resolved
        if name in resolved:
            assert parallel[name] == resolved[name], f"parallel.{name}: vLLM {resolved[name]!r}"
    if "eplb_num_redundant_experts" in resolved:
        assert parallel["eplb_config"]["num_redundant_experts"] == resolved["eplb_num_redundant_experts"]
    for prop, value in resolved["derived"].items():
        if isinstance(value, dict) and "error" in value:
            raise AssertionError(f"vLLM's {prop} raised ({value}); pconf should have refused the config")
        assert derived[prop] == value, f"derived.{prop}: vLLM {value!r}, pconf {derived[prop]!r}"


def test_every_vllm_error_message_is_mapped() -> None:
    """Every distinct error vLLM reported in the vectors maps to a pconf rule (no silent gaps)."""
    for record in SINGLES:
        if "error" in record["outcome"] and not uses_internal_fields(record):
            expected_rule(record["outcome"])


def test_stricter_list_is_current() -> None:
    """Every record listed as stricter-by-design is one vLLM accepted."""
    by_key = {key(r): r for r in SINGLES}
    for rid in STRICTER:
        assert "resolved" in by_key[rid]["outcome"]
