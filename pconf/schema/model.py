"""ModelSection: the ``[model]`` table, the model a layout is checked against (docs/models.md).

The facts come from a Hugging Face ``config.json`` (``config``: the file, or a model directory holding one) or
from the local Hugging Face cache (``hf_id``; nothing is downloaded); a fact written here overrides the file's.
None of these keys is a graph-hash factor: vLLM's ParallelConfig hash holds no model facts. (The one model fact
that is a factor, ``parallel.is_moe_model``, is filled from the model when the file leaves it unset, as vLLM's
EngineArgs does.)
"""

import attrs

from pconf.schema._field import knob


@attrs.frozen(kw_only=True)
class ModelSection:
    """The model a layout is checked against: its config.json, or facts written out (which win)."""

    config: str | None = knob(
        None,
        graph=False,
        scope="graph",
        doc="A Hugging Face config.json, or a local model directory holding one; a relative path is relative to "
        "the file that sets it (to the working directory on the command line). Read once while compiling.",
    )
    hf_id: str | None = knob(
        None,
        graph=False,
        scope="graph",
        doc="A Hugging Face model id (org/name) whose config.json is read from the local Hugging Face cache "
        "(HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub); nothing is downloaded. Not together "
        "with config.",
    )
    revision: str = knob(
        "main",
        graph=False,
        scope="graph",
        doc="With hf_id: the branch, tag or commit of the cached snapshot to read.",
    )
    num_attention_heads: int | None = knob(
        None, ge=1, graph=False, scope="graph", doc="Attention (query) heads; overrides config.json."
    )
    num_key_value_heads: int | None = knob(
        None,
        ge=1,
        graph=False,
        scope="graph",
        doc="Key/value heads (GQA; equal to num_attention_heads for multi-head attention); overrides config.json.",
    )
    num_hidden_layers: int | None = knob(
        None, ge=1, graph=False, scope="graph", doc="Decoder layers, split over pipeline stages; overrides config.json."
    )
    num_experts: int | None = knob(
        None,
        ge=0,
        graph=False,
        scope="graph",
        doc="Routed experts of each MoE layer (0: a dense model); overrides config.json's n_routed_experts, "
        "num_local_experts, num_experts or moe_num_experts.",
    )
    experts_per_token: int | None = knob(
        None, ge=1, graph=False, scope="graph", doc="Experts each token is routed to (top-k); overrides config.json."
    )
    num_expert_group: int | None = knob(
        None,
        ge=1,
        graph=False,
        scope="graph",
        doc="Expert groups of grouped top-k routing (config.json's n_group); round_robin expert placement needs "
        "more than one.",
    )
    mla: bool | None = knob(
        None,
        graph=False,
        scope="graph",
        doc="Multi-head latent attention (DeepSeek-style: config.json's kv_lora_rank on a model type vLLM runs "
        "with MLA). Its latent KV cache counts as one KV head. Overrides config.json.",
    )
    architecture: str | None = knob(
        None,
        graph=False,
        scope="graph",
        doc="The model class (config.json's architectures[0], e.g. Qwen3MoeForCausalLM): selects the checks "
        "particular models make. Overrides config.json.",
    )
    moe_backend: str = knob(
        "auto",
        graph=False,
        scope="graph",
        doc="vLLM's --kernel-config moe_backend. Only deep_gemm_mega_moe changes a check (DeepSeek-V4's MegaMoE "
        "experts).",
    )
    pp_layer_partition: tuple[int, ...] | None = knob(
        None,
        graph=False,
        scope="graph",
        doc="Layers per pipeline stage, first stage first (vLLM's VLLM_PP_LAYER_PARTITION, which the plan's "
        "environment then sets); unset: vLLM's even split. In vLLM-environment mode the variable itself wins.",
    )
