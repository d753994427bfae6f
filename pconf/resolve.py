"""Document (+ an optional vLLM environment) -> ResolvedConfig: every derived and defaulted value, decided.

Pure and total: resolution never raises for a structured Document. Where vLLM would fail (too few GPUs, a
missing ``RANK``, a property dividing by zero) it records what it found and ``pconf.rules`` reports it; vLLM
runs its checks on these post-derivation values too (spec §1.4), which is why the rules read a
ResolvedConfig rather than the Document.

Two modes (spec §6):
- declarative (``env is None``): the file is the whole truth; per-rank values and ports stay as written;
- vLLM-environment (``env`` given): ParallelConfig's construction exactly, reading ``VLLM_DP_*``, ``RANK``,
  ``VLLM_BATCH_INVARIANT``, ``VLLM_XLA_USE_SPMD`` (and ``VLLM_USE_RAY_V2_EXECUTOR_BACKEND`` for async
  scheduling) from that mapping only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from pconf.errors import Location
from pconf.keypath import KeyPath
from pconf.model import ModelFacts
from pconf.schema import Document, ParallelConfig, field_info
from pconf.schema.eplb import EPLBCommunicator
from pconf.versions import PROFILES, Behaviour, Profile

#: Executor backends whose executor class supports async scheduling (vLLM 0.23.0: mp, uni and the
#: external-launcher executor; ray through RayExecutorV2, the default unless VLLM_USE_RAY_V2_EXECUTOR_BACKEND=0).
ASYNC_BACKENDS = frozenset({"mp", "uni", "external_launcher"})


@attrs.frozen(kw_only=True)
class VllmEnv:
    """The environment of vLLM-environment mode, as text; variables are parsed when resolution reads them,
    as vLLM's lazily evaluated ``envs`` module does (a bad value matters only where vLLM would read it)."""

    raw: Mapping[str, str]


@attrs.frozen(kw_only=True)
class Derived:
    """vLLM's derived properties of a ParallelConfig (spec §8), plus ``use_all2all``: expert parallelism on and
    DP > 1, the device communicator's rule for running MoE all-to-all on the EP group.

    A property that would raise in vLLM (division by zero) is None here; ``pconf.rules`` reports it.
    """

    world_size_across_dp: int
    local_engines_only: bool
    use_sequence_parallel_moe: bool
    use_batched_dp_moe: bool
    use_all2all: bool
    nnodes_within_dp: int | None
    node_rank_within_dp: int | None
    local_world_size: int | None
    use_ubatching: bool
    num_ubatches: int
    use_ray: bool
    dp_master_port_picked_at_runtime: bool
    pcp_shard_decode_requests: bool = False
    eplb_migration_batching_enabled: bool = False


@attrs.frozen(kw_only=True)
class ResolvedConfig:
    """A fully resolved configuration: the effective ParallelConfig, world sizes and derived properties.

    ``document`` is the structured input; ``parallel`` holds the values after resolution (backend chosen,
    deprecated aliases rewritten, env values applied, is_moe_model taken from the model). ``origins`` says where
    resolution took each value it set (an env variable, or a rule of vLLM's). ``model``: the facts of the
    ``[model]`` table, None without one.
    """

    document: Document
    profile: Profile
    env: VllmEnv | None
    parallel: ParallelConfig
    async_scheduling: bool
    world_size: int
    data_parallel_index: int
    derived: Derived
    dp_branch: bool
    origins: Mapping[KeyPath, Location]
    backend_supports_async: bool
    missing_env: tuple[str, ...] = ()
    env_problems: Mapping[str, str] = attrs.field(factory=dict)  # variable -> value that is not an integer
    model: ModelFacts | None = None  # the [model] facts, as the run sees them (see _model)

    @property
    def env_mode(self) -> bool:
        return self.env is not None


def read_env(env: Mapping[str, object]) -> VllmEnv:
    """Take the environment mapping for vLLM-environment mode (values as text, as os.environ has them)."""
    return VllmEnv(raw=MappingProxyType({k: str(v) for k, v in env.items()}))


class _EnvReader:
    """Parse vLLM's variables the way vLLM does (``int()``, flags as ``bool(int())``), noting bad values."""

    def __init__(self, env: VllmEnv | None) -> None:
        self.raw: Mapping[str, str] = env.raw if env is not None else {}
        self.problems: dict[str, str] = {}  # name -> the value that does not parse

    def text(self, name: str) -> str | None:
        return self.raw.get(name)

    def number(self, name: str) -> int | None:
        raw = self.raw.get(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            self.problems[name] = raw
            return None

    def flag(self, name: str, default: bool) -> bool:
        value = self.number(name)
        return default if value is None else bool(value)


def resolve(document: Document, env: VllmEnv | None = None, model: ModelFacts | None = None) -> ResolvedConfig:
    """Resolve a document; ``env`` switches on vLLM-environment mode (see the module docstring); ``model`` holds
    the facts of its ``[model]`` table (``pconf.model.model_facts``)."""
    p, cluster = document.parallel, document.cluster
    profile = PROFILES[document.vllm_version]
    facts = profile.behaviour
    reader = _EnvReader(env)
    origins: dict[KeyPath, Location] = {}
    changes: dict[str, Any] = {}

    def derive(key: str, value: Any, why: str) -> None:
        changes[key] = value
        origins[("parallel", key)] = Location.derived(why)

    # 1. World size (spec §6 steps 1-2): external_launcher counts data parallelism in it.
    world_size = p.pipeline_parallel_size * p.tensor_parallel_size * p.prefill_context_parallel_size
    if p.distributed_executor_backend == "external_launcher":
        world_size *= p.data_parallel_size

    # 2. Data-parallel values (spec §6 step 4): the DP branch, or (env mode only) the SPMD env branch.
    dp_size, dp_rank = p.data_parallel_size, p.data_parallel_rank
    dp_branch = p.data_parallel_size > 1 or p.data_parallel_size_local == 0
    missing: list[str] = []
    port_at_runtime = False
    if env is not None and dp_branch:
        if p.distributed_executor_backend == "external_launcher":
            rank = reader.number("RANK")
            if rank is None and reader.text("RANK") is None:
                missing.append("RANK")
            if rank is not None:
                dp_rank = rank // (world_size // p.data_parallel_size)
                changes["data_parallel_rank"] = dp_rank
                origins[("parallel", "data_parallel_rank")] = Location.env(
                    "RANK", "RANK // (PP × TP × PCP) with external_launcher")
        port_at_runtime = not p.enable_elastic_ep
        if port_at_runtime:
            origins[("parallel", "data_parallel_master_port")] = Location.derived(
                "vLLM replaces it with a free port at start-up (DP branch)")
    elif env is not None:
        dp_size = _from_env(changes, origins, "data_parallel_size", "VLLM_DP_SIZE", reader.number("VLLM_DP_SIZE"), 1)
        dp_rank = _from_env(changes, origins, "data_parallel_rank", "VLLM_DP_RANK", reader.number("VLLM_DP_RANK"), 0)
        _from_env(changes, origins, "data_parallel_rank_local", "VLLM_DP_RANK_LOCAL",
                  reader.number("VLLM_DP_RANK_LOCAL"), dp_rank, default_name="VLLM_DP_RANK")
        _from_env(changes, origins, "data_parallel_master_ip", "VLLM_DP_MASTER_IP", reader.text("VLLM_DP_MASTER_IP"),
                  "127.0.0.1")
        _from_env(changes, origins, "data_parallel_master_port", "VLLM_DP_MASTER_PORT",
                  reader.number("VLLM_DP_MASTER_PORT"), 0)
    across = world_size * dp_size

    # 3. Executor backend (spec §6 steps 7-8).
    backend = p.distributed_executor_backend
    if backend is None:
        backend, why = _auto_backend(document, reader if env is not None else None, across)
        derive("distributed_executor_backend", backend, why)

    # 4. Value rewrites vLLM makes on these same fields (spec §4, §6 step 10, §7.2, §10.1).
    old = field_info(ParallelConfig, "all2all_backend").deprecated.get(p.all2all_backend)
    if old is not None and old.rewritten:  # naive, pplx (spec §4)
        derive("all2all_backend", old.instead, f"{p.all2all_backend} is a deprecated alias")
    eplb = p.eplb_config
    if p.enable_eplb and eplb.communicator is None:
        comm, why = _eplb_communicator(document, facts.eplb_communicator_order)
        eplb = attrs.evolve(eplb, communicator=comm)
        origins[("parallel", "eplb_config", "communicator")] = Location.derived(why)
    if eplb.num_redundant_experts is None and not p.enable_eplb:  # unset (0.34): 0 without EPLB
        eplb = attrs.evolve(eplb, num_redundant_experts=0)
        origins[("parallel", "eplb_config", "num_redundant_experts")] = Location.derived("unset and EPLB is off")
    if eplb is not p.eplb_config:
        changes["eplb_config"] = eplb
    batch_invariant = (env is not None and facts.custom_all_reduce_off_batch_invariant
                       and reader.flag("VLLM_BATCH_INVARIANT", False))
    if not p.disable_custom_all_reduce:
        if batch_invariant:
            changes["disable_custom_all_reduce"] = True
            origins[("parallel", "disable_custom_all_reduce")] = Location.env("VLLM_BATCH_INVARIANT")
        elif not cluster.custom_all_reduce:
            derive("disable_custom_all_reduce", True, "the platform has no custom all-reduce kernel")
        elif p.nnodes > 1 and facts.custom_all_reduce_off_multinode:
            derive("disable_custom_all_reduce", True, "multi-node (nnodes > 1)")
    if p.numa_bind is None and (p.numa_bind_nodes is not None or p.numa_bind_cpus is not None):
        derive("numa_bind", True, "a NUMA list is set and numa_bind is unset")
    if facts.elastic_ep_max_dp_size:
        max_dp = p.elastic_ep_max_dp_size if p.enable_elastic_ep and p.elastic_ep_max_dp_size is not None \
            else dp_size
        if max_dp != p.elastic_ep_max_dp_size:
            derive("elastic_ep_max_dp_size", max_dp, "data_parallel_size (no elastic EP, or unset)")
    if (facts.dcp_interleave_override and p.decode_context_parallel_size > 1 and p.dcp_kv_cache_interleave_size > 1
            and p.dcp_kv_cache_interleave_size != p.cp_kv_cache_interleave_size):
        derive("cp_kv_cache_interleave_size", p.dcp_kv_cache_interleave_size,
               "dcp_kv_cache_interleave_size > 1 overrides it when DCP > 1")

    # 5. The model (docs/models.md): is_moe_model from it, as vLLM's EngineArgs passes ModelConfig.is_moe.
    if model is not None:
        model = _model(model, reader if env is not None else None)
        if p.is_moe_model is None and model.is_moe is not None:
            derive("is_moe_model", model.is_moe, f"from the model: {model.show('num_experts')}")

    # 6. Async scheduling (VllmConfig, spec §10.1) and the DP-sync flag it drives.
    supports_async = backend_supports_async(backend, reader.flag("VLLM_USE_RAY_V2_EXECUTOR_BACKEND", True)
                                            if backend == "ray" else True)
    async_on = _async_scheduling(document, backend, supports_async, origins)
    if p.disable_nccl_for_dp_synchronization is None:
        derive("disable_nccl_for_dp_synchronization", async_on,
               f"async scheduling is {'on' if async_on else 'off'}")
    if facts.nccl_dp_sync_with_fault_tolerance and p.enable_fault_tolerance \
            and not changes.get("disable_nccl_for_dp_synchronization", p.disable_nccl_for_dp_synchronization):
        derive("disable_nccl_for_dp_synchronization", True, "fault tolerance is on")

    parallel = attrs.evolve(p, **changes)
    return ResolvedConfig(
        document=document,
        profile=profile,
        env=env,
        parallel=parallel,
        async_scheduling=async_on,
        world_size=world_size,
        data_parallel_index=dp_rank,
        derived=_derived(parallel, facts, world_size, dp_size, backend, port_at_runtime),
        dp_branch=dp_branch,
        origins=MappingProxyType(origins),
        backend_supports_async=supports_async,
        missing_env=tuple(missing),
        env_problems=MappingProxyType(dict(reader.problems)),
        model=model,
    )


def _model(facts: ModelFacts, env: _EnvReader | None) -> ModelFacts:
    """The model as the run sees it: in vLLM-environment mode VLLM_MLA_DISABLE turns MLA off (ModelConfig.use_mla)
    and VLLM_PP_LAYER_PARTITION, when set, is the layer split (get_pp_indices reads it with int() per entry)."""
    if env is None:
        return facts
    where = dict(facts.where)
    changes: dict[str, Any] = {}
    if facts.use_mla and env.flag("VLLM_MLA_DISABLE", False):
        changes["use_mla"] = False
        where["use_mla"] = "env:VLLM_MLA_DISABLE"
    text = env.text("VLLM_PP_LAYER_PARTITION")
    if text is not None:
        where["pp_partition"] = "env:VLLM_PP_LAYER_PARTITION"
        try:
            changes["pp_partition"] = tuple(int(part) for part in text.split(","))
        except ValueError:
            changes["pp_partition"], changes["pp_partition_text"] = None, text
    return dataclasses.replace(facts, **changes, where=MappingProxyType(where)) if changes else facts


def _from_env(changes: dict[str, Any], origins: dict[KeyPath, Location], key: str, name: str, value: Any,
              default: Any, default_name: str = "") -> Any:
    """Take ``key`` from env variable ``name`` as vLLM's SPMD branch does (its default when unset)."""
    if value is None:
        value = default
        detail = f"unset: {default_name}'s value" if default_name else f"unset: vLLM's default {default!r}"
        origins[("parallel", key)] = Location.env(name, detail)
    else:
        origins[("parallel", key)] = Location.env(name)
    changes[key] = value
    return value


def _auto_backend(document: Document, env: _EnvReader | None, across: int) -> tuple[str, str]:
    """vLLM's executor auto-selection (spec §6 step 7), first match wins.

    The GPU-count failure (CUDA, one node, fewer devices than world_size) is reported by the rule
    ``executor.gpu_count``; resolution carries on as vLLM's later steps would.
    """
    p, c = document.parallel, document.cluster
    if across <= 1:
        return "uni", "a single worker (world_size_across_dp == 1)"
    if c.device == "tpu" and env is not None and env.flag("VLLM_XLA_USE_SPMD", False):
        return "uni", "TPU with VLLM_XLA_USE_SPMD"
    if c.device == "cuda" and p.nnodes > 1:
        return "mp", "CUDA, multi-node (nnodes > 1)"
    if p.data_parallel_backend == "ray":
        return "ray", "data_parallel_backend = ray"
    if c.ray_installed and p.placement_group:
        return "ray", "Ray is installed and a placement group is named"
    if c.ray_installed and c.ray_initialized and c.ray_placement_group:
        return "ray", "Ray is initialised inside a placement group"
    return "mp", "more than one worker, no Ray placement group"


def _async_scheduling(document: Document, backend: str, supported: bool, origins: dict[KeyPath, Location]) -> bool:
    """VllmConfig's async-scheduling rule: "auto" is on unless the executor does not support it."""
    setting = document.scheduler.async_scheduling
    if setting != "auto":
        return bool(setting)
    origins[("scheduler", "async_scheduling")] = Location.derived(
        f"auto: the {backend} executor {'supports' if supported else 'does not support'} it")
    return supported


def backend_supports_async(backend: str, ray_v2_executor: bool) -> bool:
    """Whether vLLM 0.23.0's executor class for ``backend`` supports async scheduling.

    ray: RayExecutorV2 does (the default; ``VLLM_USE_RAY_V2_EXECUTOR_BACKEND=0`` selects the old one, which
    does not). A custom executor class cannot be imported at compile time; the base class says no.
    """
    if backend == "ray":
        return ray_v2_executor
    return backend in ASYNC_BACKENDS


def _eplb_communicator(document: Document, order: tuple[str, ...]) -> tuple[EPLBCommunicator, str]:
    """EPLB's communicator when none is given: the first condition of the release's ``order`` that holds."""
    p, cluster = document.parallel, document.cluster
    holds = {
        "elastic": ("pynccl", "elastic EP", p.enable_elastic_ep),
        "nixl": ("nixl", "NIXL is available (cluster.nixl_available)", cluster.nixl_available),
        "xpu": ("torch_xccl", "an XPU device", str(cluster.device) == "xpu"),  # a 0.34 platform
    }
    for condition in order:
        comm, why, true = holds[condition]
        if true:
            return comm, why  # type: ignore[return-value]  # a communicator name of the release
    others = ", ".join({"elastic": "no elastic EP", "nixl": "no NIXL", "xpu": "no XPU"}[c] for c in order)
    return "torch_gloo", f"EPLB on, {others}"


def _derived(p: ParallelConfig, facts: Behaviour, world_size: int, dp: int, backend: str,
             port_at_runtime: bool) -> Derived:
    ep = p.enable_expert_parallel
    a2a = p.all2all_backend
    nnodes_within_dp: int | None = 1
    if p.nnodes > 1:
        groups = dp // p.data_parallel_size_local if p.data_parallel_size_local else 0
        nnodes_within_dp = p.nnodes // groups if groups else None
        if groups and p.data_parallel_external_lb and facts.nnodes_groups_must_divide:
            nnodes_within_dp = max(p.nnodes // groups, 1)
        elif groups and facts.nnodes_groups_must_divide and p.nnodes % groups:
            nnodes_within_dp = None  # vLLM raises (rule dp.nnodes_groups)
    usable = nnodes_within_dp or None  # 0 would divide by zero next, as it does in vLLM
    sequence_parallel = a2a in facts.sequence_parallel_a2a and ep and p.tensor_parallel_size > 1 and dp > 1
    pcp = p.prefill_context_parallel_size
    return Derived(
        world_size_across_dp=world_size * dp,
        local_engines_only=p.data_parallel_external_lb or p.data_parallel_hybrid_lb,
        use_sequence_parallel_moe=sequence_parallel,
        use_batched_dp_moe=a2a in facts.batched_dp_a2a and ep and dp > 1,
        use_all2all=(dp > 1 or sequence_parallel or (ep and pcp > 1)) if facts.all2all_property else ep and dp > 1,
        nnodes_within_dp=nnodes_within_dp,
        node_rank_within_dp=p.node_rank % usable if usable else None,
        local_world_size=world_size // usable if usable else None,
        use_ubatching=p.enable_dbo or p.ubatch_size > 1,
        num_ubatches=2 if p.enable_dbo else p.ubatch_size,
        use_ray=backend == "ray",
        dp_master_port_picked_at_runtime=port_at_runtime,
        pcp_shard_decode_requests=pcp > 1 and p.decode_context_parallel_size == 1,
        eplb_migration_batching_enabled=p.eplb_config.use_async and p.eplb_config.enable_migration_batching,
    )
