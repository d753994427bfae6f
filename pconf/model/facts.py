"""A model's config.json and the ``[model]`` table -> ModelFacts: the numbers vLLM's layout checks read.

The names each family uses are vLLM's (``vllm/transformers_utils/model_arch_config_convertor.py``,
``ModelArchConfigConvertorBase`` and its per-family subclasses): the text config is the ``text_config`` table of
a multimodal model, else the whole file; the experts are the first of ``num_experts``, ``moe_num_experts``,
``n_routed_experts``, ``num_local_experts`` (0, a dense model, when none is set); the KV heads the first of
``n_head_kv``, ``num_kv_heads``, ``num_key_value_heads``, ``multi_query_group_num``, ``num_attention_groups``
(else every attention head is a KV head); MLA is ``kv_lora_rank`` on a model type the release runs with MLA.
A key the file leaves null counts as unset, as transformers' config classes make it. A fact written in
``[model]`` wins over the file's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pconf.errors import Issue, Location
from pconf.keypath import KeyPath
from pconf.schema.model import ModelSection
from pconf.versions import DEFAULT, PROFILES
from pconf.versions.model import ModelRelease

#: config.json keys of each fact, in the order vLLM reads them (the first set one wins). Heads and layers also
#: take the spellings transformers' attribute maps accept for older families (GPT-2, Falcon, MPT, ChatGLM).
HEAD_KEYS = ("num_attention_heads", "n_head", "n_heads")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")
KV_HEAD_KEYS = ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num", "num_attention_groups")
EXPERT_KEYS = ("num_experts", "moe_num_experts", "n_routed_experts", "num_local_experts")
TOP_K_KEYS = ("num_experts_per_tok", "moe_top_k", "moe_topk")
GROUP_KEYS = ("n_group", "num_expert_group")
#: Families whose KV heads vLLM reads another way (MPTModelArchConfigConvertor, FalconModelArchConfigConvertor).
FALCON_TYPES = frozenset({"falcon", "RefinedWeb", "RefinedWebModel"})
#: The facts, in the order the compiled document lists them.
FACT_NAMES = ("num_attention_heads", "num_key_value_heads", "num_hidden_layers", "num_experts", "experts_per_token",
              "num_expert_group", "mla")
#: Architectures of DeepSeek-V4, whose MoE layer makes its own expert checks (``vllm/models/deepseek_v4``).
DEEPSEEK_V4 = frozenset({"DeepseekV4ForCausalLM"})
MEGA_MOE = "deep_gemm_mega_moe"


@dataclass(frozen=True)
class ModelFacts:
    """What pconf knows about the model: each fact, or None where neither the file nor ``[model]`` says it.

    ``source``: the config.json read ("" when every fact is written in ``[model]``). ``where``: for each fact,
    where it came from in words (``n_routed_experts in models/x/config.json``, ``set at c.toml:7:1``).
    ``mla`` is the model's attention; ``use_mla`` whether vLLM runs it (VLLM_MLA_DISABLE in vLLM-environment mode
    turns it off). ``pp_partition`` is the layers per pipeline stage the run sets (``[model]
    pp_layer_partition`` or VLLM_PP_LAYER_PARTITION), ``pp_partition_text`` the variable's text when it is not a
    list of integers.
    """

    source: str = ""
    model_type: str | None = None
    architecture: str | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    num_hidden_layers: int | None = None
    num_experts: int | None = None
    experts_per_token: int | None = None
    num_expert_group: int | None = None
    mla: bool | None = None
    use_mla: bool = False
    deepseek_v4: bool = False
    moe_backend: str = "auto"
    pp_partition: tuple[int, ...] | None = None
    pp_partition_text: str | None = None
    where: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_moe(self) -> bool | None:
        """Whether the model has experts (vLLM's ``ModelConfig.is_moe``); None when the number is unknown."""
        return None if self.num_experts is None else self.num_experts > 0

    def show(self, name: str) -> str:
        """A fact for a message: ``num_attention_heads = 28 (models/qwen/config.json)``."""
        value = getattr(self, name)
        shown = ("true" if value else "false") if isinstance(value, bool) else value
        return f"{name} = {shown} ({self.where.get(name, 'unset')})"

    def as_dict(self) -> dict[str, Any]:
        """The facts as the compiled document's ``model`` table shows them."""
        return {
            "config": self.source or None,
            "model_type": self.model_type,
            "architecture": self.architecture,
            **{name: getattr(self, name) for name in FACT_NAMES},
            "is_moe": self.is_moe,
            "use_mla": self.use_mla,
            "moe_backend": self.moe_backend,
            "pp_layer_partition": list(self.pp_partition) if self.pp_partition is not None else None,
        }


def model_facts(section: ModelSection, config: Mapping[str, Any] | None, source: str,
                written: Mapping[str, Location], config_where: Location,
                release: ModelRelease = PROFILES[DEFAULT].model) -> ModelFacts | list[Issue]:
    """The facts of a ``[model]`` table: ``config`` (the parsed config.json read from ``source``; None when the
    table names no file) with the table's written facts over it. ``written`` maps each key the table sets to
    where; ``config_where`` is where the file was named (the location of config.json's own problems)."""
    issues: list[Issue] = []
    reader = _Reader(config, source, config_where, issues) if config is not None else None
    facts: dict[str, Any] = {}
    where: dict[str, str] = {}
    if reader is not None:
        text = reader.text_config()
        model_type = reader.string(text, "model_type")
        facts["num_attention_heads"] = reader.first(text, HEAD_KEYS, "num_attention_heads", where)
        facts["num_hidden_layers"] = reader.first(text, LAYER_KEYS, "num_hidden_layers", where)
        facts["num_key_value_heads"] = _kv_heads(reader, text, model_type, facts["num_attention_heads"], where)
        facts["num_experts"] = _experts(reader, text, where)
        facts["experts_per_token"] = reader.first(text, TOP_K_KEYS, "experts_per_token", where)
        facts["num_expert_group"] = reader.first(text, GROUP_KEYS, "num_expert_group", where)
        facts["mla"] = _mla(text, model_type, release)
        where["mla"] = _mla_where(text, model_type, source)
        architectures = reader.data.get("architectures")
        arch = architectures[0] if isinstance(architectures, list) and architectures else None
        facts["architecture"] = arch if isinstance(arch, str) else None
        facts["model_type"] = model_type
    for name in (*FACT_NAMES, "architecture"):
        value = getattr(section, name)
        if value is not None:
            facts[name] = value
            where[name] = f"set at {written.get(name, Location.argument('[model]'))}"
    if issues:
        return issues
    arch = facts.get("architecture")
    return ModelFacts(
        source=source,
        **facts,
        use_mla=bool(facts.get("mla")),
        deepseek_v4=arch in DEEPSEEK_V4 or facts.get("model_type") == "deepseek_v4",
        moe_backend=section.moe_backend,
        pp_partition=section.pp_layer_partition,
        where={**where, "pp_partition": f"model.pp_layer_partition, set at "
                                        f"{written.get('pp_layer_partition', Location.argument('[model]'))}"},
    )


def _kv_heads(reader: _Reader, text: Mapping[str, Any], model_type: str | None, heads: int | None,
              where: dict[str, str]) -> int | None:
    """vLLM's ``get_total_num_kv_heads``: Falcon's multi_query, MPT's attn_config, else the first KV-head key,
    else every attention head."""
    name = "num_key_value_heads"
    if model_type in FALCON_TYPES and not text.get("new_decoder_architecture") and text.get("multi_query") is True:
        where[name] = f"multi_query in {reader.source}"
        return 1
    attn = text.get("attn_config")
    if model_type in ("mpt", "dbrx") and isinstance(attn, Mapping) and attn.get("kv_n_heads") is not None:
        return reader.first(attn, ("kv_n_heads",), name, where, prefix="attn_config.")
    kv = reader.first(text, KV_HEAD_KEYS, name, where)
    if kv is None and heads is not None:
        where[name] = f"as num_attention_heads: no KV-head key in {reader.source}"
        return heads
    return kv


def _experts(reader: _Reader, text: Mapping[str, Any], where: dict[str, str]) -> int:
    """vLLM's ``get_num_experts``: the first expert key the file has (the first entry of a list); when that is
    0 or null, the most experts of a ``block_configs`` MoE block; else 0."""
    name = "num_experts"
    key = next((k for k in EXPERT_KEYS if k in text), None)
    value = text.get(key) if key is not None else None
    if isinstance(value, list):
        value = value[0] if value else 0
    if key is not None and value:
        number = reader.number(value, key)
        if number is not None:
            where[name] = reader.phrase(key, name)
        return number or 0
    blocks = text.get("block_configs")
    most = 0
    if isinstance(blocks, list):
        for block in blocks:
            if isinstance(block, Mapping) and block.get("block_type") == "moe":
                most = max(most, reader.number(block.get("n_routed_experts") or 0, "block_configs") or 0)
    where[name] = (f"block_configs in {reader.source}" if most else
                   f"{key} in {reader.source}: a dense model" if key else f"no expert key in {reader.source}: "
                   "a dense model")
    return most


def _mla(text: Mapping[str, Any], model_type: str | None, release: ModelRelease) -> bool:
    """vLLM's ``is_deepseek_mla``: a model type the release runs with MLA, with kv_lora_rank set (DeepSeek-V4,
    which has compress_ratios: with head_dim set)."""
    if model_type not in release.mla_model_types:
        return False
    if "compress_ratios" in text:
        return text.get("head_dim") is not None
    return text.get("kv_lora_rank") is not None


def _mla_where(text: Mapping[str, Any], model_type: str | None, source: str) -> str:
    if text.get("kv_lora_rank") is not None:
        return f"kv_lora_rank and model_type {model_type} in {source}"
    return f"model_type {model_type} in {source}" if model_type else f"no model_type in {source}"


@dataclass
class _Reader:
    """Reads facts out of a config.json table, noting where each came from and every value that is not one."""

    data: Mapping[str, Any]
    source: str
    where: Location
    issues: list[Issue]
    key: KeyPath = ("model", "config")

    def text_config(self) -> Mapping[str, Any]:
        """The text model's config (vLLM's ``get_hf_text_config``): ``text_config`` when the file has one."""
        text = self.data.get("text_config")
        return text if isinstance(text, Mapping) else self.data

    def string(self, table: Mapping[str, Any], key: str) -> str | None:
        value = table.get(key)
        return value if isinstance(value, str) else None

    def first(self, table: Mapping[str, Any], keys: tuple[str, ...], name: str, where: dict[str, str],
              prefix: str = "") -> int | None:
        """The first of ``keys`` the table sets (null counts as unset), as a fact called ``name``."""
        for key in keys:
            value = table.get(key)
            if value is not None:
                number = self.number(value, prefix + key)
                if number is not None:
                    where[name] = self.phrase(prefix + key, name)
                return number
        return None

    def number(self, value: Any, key: str) -> int | None:
        """A whole number >= 0, or None with an issue naming the key."""
        if type(value) is int and value >= 0:
            return value
        self.issues.append(Issue(self.key, self.where, "load.model_config",
                                 f"{self.source}: {key} must be a whole number >= 0", "fix the file, or write the "
                                 "fact in [model] (which wins)", value))
        return None

    def phrase(self, key: str, name: str) -> str:
        return self.source if key == name else f"{key} in {self.source}"


__all__ = ["FACT_NAMES", "ModelFacts", "model_facts"]
