"""What the model checks read that differs between vLLM releases (each profile's ``model``): one value per
release, read from that release's own files. ``pconf.model`` and ``pconf.rules.model`` read these facts through
the file's profile, never a version string."""

from __future__ import annotations

from typing import Literal, NamedTuple

#: How DeepSeek-V4's fused-MoE path (moe_backend other than deep_gemm_mega_moe) checks its experts:
#: ``routed_per_tp``: n_routed_experts % TP (0.23.0); ``physical_per_tp``: (experts + redundant) % TP (0.28.0);
#: ``none``: no check, the experts are split over the EP group (0.34.0).
DeepseekV4Fused = Literal["routed_per_tp", "physical_per_tp", "none"]

_MLA_0_23 = frozenset({
    "AXK1", "deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_v4", "deepseek_mtp", "glm_moe_dsa",
    "glm4_moe_lite", "glm4_moe_lite_mtp", "kimi_k2", "kimi_linear", "longcat_flash", "pangu_ultra_moe",
    "pangu_ultra_moe_mtp", "bailing_hybrid",
})
_TP_OVER_EXPERTS_0_23 = frozenset({
    "Cohere2MoeForCausalLM", "Ernie4_5_MoeForCausalLM", "ExaoneMoEForCausalLM", "HYV3ForCausalLM",
    "HunYuanMoEV1ForCausalLM", "LagunaForCausalLM", "Lfm2MoeForCausalLM", "MiMoV2FlashForCausalLM",
    "MiMoV2ForCausalLM", "MiniMaxM2ForCausalLM", "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM",
    "Qwen3NextForCausalLM", "Step3TextForCausalLM", "Step3p5ForCausalLM",
})


class ModelRelease(NamedTuple):
    """The model facts of one vLLM release that the model checks depend on.

    ``mla_model_types``: the model types vLLM runs with multi-head latent attention when their config has
    kv_lora_rank (``ModelArchConfigConvertorBase.is_deepseek_mla``). ``tp_over_experts``: the architectures
    whose MoE block refuses a tensor_parallel_size above the number of experts. ``deepseek_v4_fused``: see
    ``DeepseekV4Fused``. ``fills_redundant_experts``: an unset num_redundant_experts is filled with the smallest
    value that makes the physical experts divide over the EP ranks (0.34.0's
    ``ParallelConfig.compute_eplb_num_redundant_experts``); 0.23.0 has no unset value (its default is 0).
    ``max_redundant_experts``: ``EplbState``'s MAX_EXPERT_REDUNDANCY (1023 in all three).
    ``pp_partition_negative``: whether VLLM_PP_LAYER_PARTITION may hold a negative count (0.34.0 refuses one;
    pconf refuses it in every release, since the layer ranges would make no sense).
    """

    version: str
    mla_model_types: frozenset[str]
    tp_over_experts: frozenset[str]
    deepseek_v4_fused: DeepseekV4Fused
    fills_redundant_experts: bool
    max_redundant_experts: int
    pp_partition_negative: bool


VLLM_0_23 = ModelRelease(
    version="0.23.0",
    mla_model_types=_MLA_0_23,
    tp_over_experts=_TP_OVER_EXPERTS_0_23,
    deepseek_v4_fused="routed_per_tp",
    fills_redundant_experts=False,
    max_redundant_experts=1023,
    pp_partition_negative=True,
)
VLLM_0_28 = ModelRelease(
    version="0.28.0",
    mla_model_types=(_MLA_0_23 - {"AXK1"}) | {"axk1", "dots3_note", "k3_dspark", "longcat_flash_ngram",
                                              "bailing_hybrid_mtp", "bailing_hybrid_v3_mtp"},
    tp_over_experts=_TP_OVER_EXPERTS_0_23,
    deepseek_v4_fused="physical_per_tp",
    fills_redundant_experts=False,
    max_redundant_experts=1023,
    pp_partition_negative=True,
)
VLLM_0_34 = ModelRelease(
    version="0.34.0",
    mla_model_types=(VLLM_0_28.mla_model_types - {"longcat_flash_ngram"}) | {
        "deepseek_v41", "glm5_next", "glm5_next_text", "mistral_large_4", "hy_v4", "hy_v4_mtp"},
    tp_over_experts=(VLLM_0_28.tp_over_experts - {"HunYuanMoEV1ForCausalLM"}) | {
        "K2HorizonForCausalLM", "AliceAIForCausalLM"},
    deepseek_v4_fused="none",
    fills_redundant_experts=True,
    max_redundant_experts=1023,
    pp_partition_negative=False,
)
def redundant_experts(release: ModelRelease, written: int | None, experts: int, ep_size: int) -> int:
    """The num_redundant_experts vLLM runs with: the written value, or (a release that fills an unset one) the
    smallest count that makes ``experts`` plus it divisible by ``ep_size``."""
    if written is not None or not release.fills_redundant_experts:
        return written or 0
    return (ep_size - experts % ep_size) % ep_size
