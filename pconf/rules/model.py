"""The checks vLLM makes once it knows the model (``[model]``, docs/models.md): ModelConfig's, the attention
layers', get_pp_indices', FusedMoE's, EPLB's and particular models' own. Each runs only when the facts it reads
are known; each message names the model fact, its value and where it came from.

What differs between vLLM releases is read from the file's profile (``Profile.model``).
"""

from __future__ import annotations

from pconf.errors import Issue
from pconf.keypath import KeyPath
from pconf.model import ModelFacts
from pconf.model.facts import MEGA_MOE
from pconf.model.placement import expert_layout, placement_strategy
from pconf.resolve import ResolvedConfig
from pconf.rules.registry import ENGINE, found, par, rule
from pconf.versions.model import redundant_experts

MODEL_VERIFY = "vLLM ModelConfig.verify_with_parallel_config"
ATTENTION = "vLLM QKVParallelLinear.__init__"
PP_INDICES = "vLLM get_pp_indices"
FUSED_MOE = "vLLM FusedMoE.__init__"
EPLB_STATE = "vLLM EplbState.add_model"
MOE_BLOCK = "vLLM Qwen3MoeSparseMoeBlock.__init__ (and other models' MoE blocks)"
DEEPSEEK_V4 = "vLLM DeepseekV4MoE.__init__"
PLACEMENT = "vLLM determine_expert_placement_strategy"
REDUNDANT: KeyPath = ("parallel", "eplb_config", "num_redundant_experts")


def _divisors(n: int, most: int = 8) -> str:
    """The first divisors of ``n`` in words (``1, 2, 4, 7, 14 or 28``), for hints."""
    found_ = [d for d in range(1, min(n, 1 << 16) + 1) if n % d == 0][:most + 1]
    if len(found_) > most:
        return ", ".join(map(str, found_[:most])) + ", ..."
    return ", ".join(map(str, found_[:-1])) + f" or {found_[-1]}" if len(found_) > 1 else str(found_[0])


def _ep_size(r: ResolvedConfig) -> int:
    """The expert-parallel size: DP × PCP × TP with expert parallelism on (FusedMoEParallelConfig.make), else 1."""
    p = r.parallel
    width = p.data_parallel_size * p.prefill_context_parallel_size * p.tensor_parallel_size
    return width if p.enable_expert_parallel and width > 1 else 1


def _heads_ok(m: ModelFacts, tp: int) -> bool:
    return m.num_attention_heads is None or m.num_attention_heads % tp == 0


# -- ModelConfig / EngineArgs ---------------------------------------------------------------------------------


@rule("model.is_moe_model", ENGINE)
def _is_moe(r: ResolvedConfig) -> Issue | None:
    """is_moe_model, when the file sets it, must agree with the model (whether it has experts).

    vLLM never reads it from a file: EngineArgs.create_engine_config (vllm/engine/arg_utils.py) passes
    is_moe_model=model_config.is_moe and VllmConfig.__post_init__ (vllm/config/vllm.py) sets it again from
    ModelConfig.is_moe (num_experts > 0). A file that says otherwise describes another model. Left unset,
    pconf takes it from the model the same way (a graph-hash factor, as in vLLM)."""
    m, written = r.model, r.document.parallel.is_moe_model
    if m is None or m.is_moe is None or written is None or written == m.is_moe:
        return None
    return found(par("is_moe_model"), f"contradicts the model: {m.show('num_experts')}",
                 "remove it (pconf takes it from the model), or check [model]", written)


@rule("model.ep_requires_moe", MODEL_VERIFY)
def _ep_moe(r: ResolvedConfig) -> Issue | None:
    """enable_expert_parallel needs a model with experts (ModelConfig._verify_with_expert_parallelism,
    vllm/config/model.py: "Number of experts in the model must be greater than 0 when expert parallelism is
    enabled")."""
    m = r.model
    if m is None or m.is_moe is not False or not r.parallel.enable_expert_parallel:
        return None
    return found(par("enable_expert_parallel"), f"needs a model with experts; {m.show('num_experts')}",
                 "turn expert parallelism off for a dense model", True)


@rule("model.heads_tp", MODEL_VERIFY)
def _heads_tp(r: ResolvedConfig) -> Issue | None:
    """The attention heads must divide evenly over the tensor-parallel ranks: num_attention_heads %
    tensor_parallel_size == 0 (ModelConfig.verify_with_parallel_config, vllm/config/model.py; the same in 0.28.0
    and 0.34.0). vLLM refuses it there, before any weight is loaded (vLLM issue #11797)."""
    m, tp = r.model, r.parallel.tensor_parallel_size
    if m is None or _heads_ok(m, tp):
        return None
    heads = m.num_attention_heads or 0
    return found(par("tensor_parallel_size"), f"the model's {m.show('num_attention_heads')} is not divisible by it",
                 f"use a tensor_parallel_size that divides {heads}: {_divisors(heads)}", tp)


@rule("model.kv_heads_tp", ATTENTION)
def _kv_heads_tp(r: ResolvedConfig) -> Issue | None:
    """The KV heads must split evenly over the tensor-parallel ranks, or be replicated evenly: with
    tensor_parallel_size >= num_key_value_heads each KV head is replicated, so tensor_parallel_size %
    num_key_value_heads == 0; below it, num_key_value_heads % tensor_parallel_size == 0 (QKVParallelLinear.__init__,
    vllm/model_executor/layers/linear.py, and the attention layers such as LlamaAttention.__init__,
    vllm/model_executor/models/llama.py). Not for MLA (its latent KV cache is one head). Checked when the
    attention heads divide (vLLM reaches the layers only then)."""
    m, tp = r.model, r.parallel.tensor_parallel_size
    if m is None or m.use_mla or not m.num_key_value_heads or not _heads_ok(m, tp):
        return None
    kv = m.num_key_value_heads
    if tp >= kv and tp % kv:
        return found(par("tensor_parallel_size"), f"is more than the model's {m.show('num_key_value_heads')} but not "
                     f"a multiple of it: each KV head must be replicated on the same number of ranks",
                     f"use a divisor of {kv}, or a multiple of it", tp)
    if tp < kv and kv % tp:
        return found(par("tensor_parallel_size"), f"the model's {m.show('num_key_value_heads')} is not divisible by it",
                     f"use a tensor_parallel_size that divides {kv}: {_divisors(kv)}, or a multiple of {kv}", tp)
    return None


def _dcp_applies(r: ResolvedConfig) -> ModelFacts | None:
    m = r.model
    if m is None or m.use_mla or not m.num_key_value_heads or r.parallel.decode_context_parallel_size <= 1:
        return None
    return m


@rule("model.dcp_kv_heads", MODEL_VERIFY)
def _dcp_kv(r: ResolvedConfig) -> Issue | None:
    """Decode context parallelism of a GQA/MQA model needs tensor_parallel_size > num_key_value_heads: DCP splits
    the ranks that hold copies of one KV head (ModelConfig.verify_with_parallel_config, vllm/config/model.py).
    Not for MLA, whose latent KV cache counts as one KV head (ModelConfig.get_num_kv_heads)."""
    m = _dcp_applies(r)
    p = r.parallel
    if m is None or p.tensor_parallel_size > (kv := m.num_key_value_heads or 0):
        return None
    return found(par("decode_context_parallel_size"), f"needs tensor_parallel_size ({p.tensor_parallel_size}) above "
                 f"the model's {m.show('num_key_value_heads')}",
                 f"raise tensor_parallel_size above {kv}, or set decode_context_parallel_size = 1",
                 p.decode_context_parallel_size)


@rule("model.dcp_max", MODEL_VERIFY)
def _dcp_max(r: ResolvedConfig) -> Issue | None:
    """decode_context_parallel_size must be at most tensor_parallel_size // num_key_value_heads, the copies of
    each KV head (ModelConfig.verify_with_parallel_config, vllm/config/model.py; GQA/MQA only)."""
    m = _dcp_applies(r)
    p = r.parallel
    if m is None or p.tensor_parallel_size <= (kv := m.num_key_value_heads or 0):
        return None
    most = p.tensor_parallel_size // kv
    if p.decode_context_parallel_size <= most:
        return None
    return found(par("decode_context_parallel_size"), f"is more than tensor_parallel_size {p.tensor_parallel_size} "
                 f"// {m.show('num_key_value_heads')} = {most}", f"use at most {most}",
                 p.decode_context_parallel_size)


@rule("model.dcp_q_per_kv", MODEL_VERIFY)
def _dcp_q(r: ResolvedConfig) -> Issue | None:
    """The query heads per KV head (num_attention_heads // num_key_value_heads) must be divisible by
    decode_context_parallel_size (ModelConfig.verify_with_parallel_config, vllm/config/model.py; GQA/MQA only)."""
    m = _dcp_applies(r)
    p = r.parallel
    if m is None or m.num_attention_heads is None:
        return None
    kv, dcp = m.num_key_value_heads or 1, p.decode_context_parallel_size
    if p.tensor_parallel_size <= kv or dcp > p.tensor_parallel_size // kv:
        return None
    per_kv = m.num_attention_heads // kv
    if per_kv % dcp == 0:
        return None
    return found(par("decode_context_parallel_size"), f"does not divide the {per_kv} query heads per KV head "
                 f"({m.show('num_attention_heads')} // num_key_value_heads {kv})",
                 f"use a decode_context_parallel_size that divides {per_kv}", dcp)


# -- the layers of each pipeline stage ------------------------------------------------------------------------


def _partition_path(m: ModelFacts) -> KeyPath:
    return ("env", "VLLM_PP_LAYER_PARTITION") if m.where.get("pp_partition", "").startswith("env:") \
        else ("model", "pp_layer_partition")


@rule("model.pp_layers", PP_INDICES)
def _pp_layers(r: ResolvedConfig) -> Issue | None:
    """Every pipeline stage needs a layer: pipeline_parallel_size <= num_hidden_layers. vLLM does not refuse more
    stages than layers; get_pp_indices (vllm/distributed/utils.py) then gives a stage no layer, and that stage's
    GPUs only pass activations on (make_layers fills it with PPMissingLayer). pconf refuses it."""
    m, pp = r.model, r.parallel.pipeline_parallel_size
    if m is None or m.num_hidden_layers is None or pp <= m.num_hidden_layers:
        return None
    return found(par("pipeline_parallel_size"), f"is more than the model's {m.show('num_hidden_layers')}: a stage "
                 "would hold no layer", f"use at most {m.num_hidden_layers} pipeline stages", pp)


@rule("model.pp_partition", PP_INDICES)
def _pp_partition(r: ResolvedConfig) -> Issue | None:
    """VLLM_PP_LAYER_PARTITION (model.pp_layer_partition) must be integers, one per pipeline stage, adding
    up to num_hidden_layers (get_pp_indices, vllm/distributed/utils.py). A negative count is refused too: 0.34.0
    refuses it, 0.23.0 and 0.28.0 would compute layer ranges that make no sense."""
    m = r.model
    if m is None:
        return None
    path = _partition_path(m)
    if m.pp_partition_text is not None:
        return found(path, "not a comma-separated list of integers", "write one layer count per stage, e.g. 16,16",
                     m.pp_partition_text)
    parts, pp = m.pp_partition, r.parallel.pipeline_parallel_size
    if parts is None:
        return None
    got = ",".join(map(str, parts)) if path[0] == "env" else list(parts)
    if len(parts) != pp:
        return found(path, f"has {len(parts)} entries for pipeline_parallel_size {pp}",
                     "give one layer count per pipeline stage", got)
    if any(n < 0 for n in parts):
        return found(path, "a stage cannot hold a negative number of layers", "use counts of 0 or more", got)
    if m.num_hidden_layers is not None and sum(parts) != m.num_hidden_layers:
        return found(path, f"adds up to {sum(parts)} layers, not the model's {m.show('num_hidden_layers')}",
                     f"make the counts add up to {m.num_hidden_layers}", got)
    return None


# -- experts ------------------------------------------------------------------------------------------------


@rule("model.tp_experts", MOE_BLOCK)
def _tp_experts(r: ResolvedConfig) -> Issue | None:
    """Some models refuse more tensor-parallel ranks than experts: "Tensor parallel size N is greater than the
    number of experts E" in their MoE block's __init__ (Qwen2MoeSparseMoeBlock in
    vllm/model_executor/models/qwen2_moe.py, Qwen3MoeSparseMoeBlock in qwen3_moe.py, and the blocks of
    qwen3_next, minimax_m2, hunyuan_v1, ernie45_moe, step3_text, step3p5, cohere2_moe, exaone_moe, lfm2_moe,
    mimo_v2, laguna, hy_v3); the architectures are listed in pconf.model.releases (tp_over_experts)."""
    m, tp = r.model, r.parallel.tensor_parallel_size
    if m is None or not m.num_experts or m.architecture not in r.profile.model.tp_over_experts or tp <= m.num_experts:
        return None
    return found(par("tensor_parallel_size"), f"is more than the model's {m.show('num_experts')}, which "
                 f"{m.architecture} refuses", f"use a tensor_parallel_size of at most {m.num_experts}", tp)


@rule("model.eplb_divisible", FUSED_MOE)
def _eplb_divisible(r: ResolvedConfig) -> Issue | None:
    """With EPLB, the physical experts (experts + num_redundant_experts) must divide evenly over the EP ranks
    (DP × PCP × TP): FusedMoE.__init__ (vllm/model_executor/layers/fused_moe/layer.py) refuses "EPLB currently
    only supports even distribution of experts across ranks" (vLLM issue #52435 shows the same arithmetic)."""
    m, p = r.model, r.parallel
    ep = _ep_size(r)
    if m is None or not m.num_experts or not p.enable_eplb or ep == 1:
        return None
    written = p.eplb_config.num_redundant_experts
    redundant = redundant_experts(r.profile.model, written, m.num_experts, ep)
    if (m.num_experts + redundant) % ep == 0:
        return None
    first = (ep - m.num_experts % ep) % ep
    return found(REDUNDANT, f"the model's {m.show('num_experts')} plus num_redundant_experts {redundant} make "
                 f"{m.num_experts + redundant} physical experts, not divisible by the {ep} EP ranks (DP × PCP × TP)",
                 f"use num_redundant_experts = {first}, {first + ep}, {first + 2 * ep}, ... (experts + redundant a "
                 f"multiple of {ep})", written)


@rule("model.eplb_redundancy", EPLB_STATE)
def _eplb_redundancy(r: ResolvedConfig) -> Issue | None:
    """EPLB keeps at most 1023 redundant experts (EplbState.add_model, vllm/distributed/eplb/eplb_state.py:
    MAX_EXPERT_REDUNDANCY, the same in 0.28.0 and 0.34.0)."""
    m, p = r.model, r.parallel
    most = r.profile.model.max_redundant_experts
    if m is None or not m.num_experts or not p.enable_eplb or (p.eplb_config.num_redundant_experts or 0) <= most:
        return None
    return found(REDUNDANT, f"is more than EPLB's {most} redundant experts", f"use at most {most}",
                 p.eplb_config.num_redundant_experts)


@rule("model.deepseek_v4_experts", DEEPSEEK_V4)
def _deepseek_v4(r: ResolvedConfig) -> Issue | None:
    """DeepSeek-V4's MoE layer makes its own expert checks (DeepseekV4MoE in
    vllm/models/deepseek_v4/nvidia/model.py). With moe_backend = deep_gemm_mega_moe (_init_mega_moe_experts) it
    needs expert parallelism and the physical experts (n_routed_experts + num_redundant_experts) divisible by the
    EP size, with or without EPLB (vLLM issue #52435: 256 experts over EP 3). Otherwise (_init_fused_moe_experts)
    0.23.0 needs n_routed_experts divisible by tensor_parallel_size (0.28.0: the physical experts; 0.34.0:
    nothing)."""
    m, p = r.model, r.parallel
    if m is None or not m.deepseek_v4 or not m.num_experts:
        return None
    ep = p.data_parallel_size * p.prefill_context_parallel_size * p.tensor_parallel_size
    physical = m.num_experts + redundant_experts(r.profile.model, p.eplb_config.num_redundant_experts, m.num_experts,
                                                 ep)
    if m.moe_backend == MEGA_MOE:
        if not p.enable_expert_parallel:
            return found(("model", "moe_backend"), "DeepSeek-V4's MegaMoE needs enable_expert_parallel = true",
                         "set parallel.enable_expert_parallel = true, or use another moe_backend", MEGA_MOE)
        ep = p.data_parallel_size * p.prefill_context_parallel_size * p.tensor_parallel_size
        if physical % ep:
            return found(REDUNDANT, f"DeepSeek-V4's MegaMoE needs the {physical} physical experts "
                         f"({m.show('num_experts')} + num_redundant_experts) divisible by the EP size {ep}",
                         f"use num_redundant_experts = {(ep - m.num_experts % ep) % ep} (or that plus a multiple "
                         f"of {ep}), or an EP size that divides {m.num_experts}", p.eplb_config.num_redundant_experts)
        return None
    tp, rule_kind = p.tensor_parallel_size, r.profile.model.deepseek_v4_fused
    count = m.num_experts if rule_kind == "routed_per_tp" else physical
    if rule_kind != "none" and count % tp:
        return found(par("tensor_parallel_size"), f"DeepSeek-V4's fused MoE needs the model's "
                     f"{m.show('num_experts')} divisible by it", f"use a tensor_parallel_size that divides "
                     f"{count}: {_divisors(count)}", tp)
    return None


@rule("model.round_robin_fallback", PLACEMENT, "warning")
def _round_robin(r: ResolvedConfig) -> Issue | None:
    """vLLM places experts round-robin only for a model with more than one expert group, without redundant
    experts or EPLB, and (with DP > 1) on the deepep_low_latency or nixl_ep all2all backend; otherwise it warns
    and places them linearly (determine_expert_placement_strategy and ExpertMapManager._determine_placement_strategy,
    vllm/model_executor/layers/fused_moe/expert_map_manager.py)."""
    m, p = r.model, r.parallel
    if m is None or not m.num_experts or p.expert_placement_strategy != "round_robin" or _ep_size(r) == 1:
        return None
    strategy, why = placement_strategy(p, m, True)
    layout = expert_layout(p, m)
    if strategy == "round_robin" or layout is None:
        return None
    return found(par("expert_placement_strategy"), f"vLLM places the experts linearly: {why}",
                 "write expert_placement_strategy = \"linear\", or meet the conditions", "round_robin")
