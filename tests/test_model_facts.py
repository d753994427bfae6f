"""The [model] table: config.json read into ModelFacts with vLLM's names per family, the Hugging Face cache,
--model-config, is_moe_model from the model, and what the compiled document and the graph hash show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pconf.cli import main
from pconf.compile import compile_dict, compile_files
from pconf.errors import LoadError, Location, RuleError
from pconf.load.model import MAX_MODEL_CONFIG_BYTES, find_cached_config, hf_hub_cache
from pconf.model import ModelFacts, model_facts
from pconf.schema import ModelSection
from pconf.versions.model import VLLM_0_28

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"
NOWHERE = Location.argument("[model]")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def facts(config: dict[str, Any], **written: Any) -> ModelFacts:
    """The facts of a config.json table (source ``m/config.json``) under the facts ``written`` in [model]."""
    out = model_facts(ModelSection(**written), config, "m/config.json",
                      {k: Location.file("c.toml", 9, 1) for k in written}, NOWHERE)
    assert isinstance(out, ModelFacts), out
    return out


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    return path / "config.json"


class TestFamilyNames:
    def test_dense_gqa(self) -> None:
        """A Llama-style file: heads, KV heads and layers under their own names, no experts: dense."""
        f = facts({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_attention_heads": 32,
                   "num_key_value_heads": 8, "num_hidden_layers": 32})
        assert (f.num_attention_heads, f.num_key_value_heads, f.num_hidden_layers, f.num_experts) == (32, 8, 32, 0)
        assert (f.is_moe, f.mla, f.use_mla, f.architecture, f.model_type) == (False, False, False,
                                                                              "LlamaForCausalLM", "llama")
        assert f.show("num_experts") == "num_experts = 0 (no expert key in m/config.json: a dense model)"

    @pytest.mark.parametrize(("key", "value"), [("n_routed_experts", 256), ("num_local_experts", 8),
                                                ("num_experts", 60), ("moe_num_experts", 16)])
    def test_expert_names(self, key: str, value: int) -> None:
        """Each family's expert key is read, and the message names it."""
        f = facts({key: value, "num_attention_heads": 8})
        assert (f.num_experts, f.is_moe) == (value, True)
        where = "m/config.json" if key == "num_experts" else f"{key} in m/config.json"
        assert f.show("num_experts") == f"num_experts = {value} ({where})"

    def test_expert_key_order(self) -> None:
        """vLLM reads num_experts before n_routed_experts; the first key present wins, 0 falls to block_configs."""
        assert facts({"num_experts": 4, "n_routed_experts": 8}).num_experts == 4
        f = facts({"num_experts": 0, "n_routed_experts": 8,
                   "block_configs": [{"block_type": "moe", "n_routed_experts": 16}, {"block_type": "attention"}]})
        assert f.num_experts == 16
        assert facts({"num_experts": None, "n_routed_experts": 8}).num_experts == 0

    def test_expert_list(self) -> None:
        """A list of expert counts (Ernie's remote code) counts its first entry."""
        assert facts({"moe_num_experts": [64, 64]}).num_experts == 64

    def test_kv_default_is_heads(self) -> None:
        """Without a KV-head key every attention head is a KV head (multi-head attention)."""
        f = facts({"num_attention_heads": 16})
        assert f.num_key_value_heads == 16
        assert f.show("num_key_value_heads") == ("num_key_value_heads = 16 (as num_attention_heads: no KV-head key "
                                                 "in m/config.json)")

    def test_kv_null_is_unset(self) -> None:
        """A null KV-head key counts as unset, as transformers' config classes make it."""
        assert facts({"num_attention_heads": 16, "num_key_value_heads": None}).num_key_value_heads == 16

    def test_kv_names(self) -> None:
        """ChatGLM's multi_query_group_num and Falcon's n_head_kv are KV heads too."""
        assert facts({"num_attention_heads": 32, "multi_query_group_num": 2}).num_key_value_heads == 2
        assert facts({"n_head": 64, "n_head_kv": 8, "model_type": "falcon",
                      "new_decoder_architecture": True}).num_key_value_heads == 8

    def test_falcon_multi_query(self) -> None:
        """Falcon's old multi-query attention has one KV head."""
        f = facts({"model_type": "falcon", "n_head": 71, "multi_query": True, "n_layer": 32})
        assert (f.num_attention_heads, f.num_key_value_heads, f.num_hidden_layers) == (71, 1, 32)

    def test_mpt_attn_config(self) -> None:
        """MPT keeps its KV heads in attn_config."""
        f = facts({"model_type": "mpt", "n_heads": 32, "attn_config": {"kv_n_heads": 8}})
        assert f.num_key_value_heads == 8
        assert f.show("num_key_value_heads") == "num_key_value_heads = 8 (attn_config.kv_n_heads in m/config.json)"

    def test_text_config(self) -> None:
        """A multimodal model's facts are its text_config's; the architecture is the top level's."""
        f = facts({"architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
                   "text_config": {"model_type": "qwen3_vl_moe_text", "num_attention_heads": 32,
                                   "num_key_value_heads": 4, "num_hidden_layers": 48, "num_experts": 128}})
        assert (f.num_attention_heads, f.num_experts, f.architecture) == (
            32, 128, "Qwen3VLMoeForConditionalGeneration")

    def test_mla(self) -> None:
        """kv_lora_rank on a model type vLLM runs with MLA; not on others (MiniCPM3 has it, vLLM runs it without)."""
        assert facts({"model_type": "deepseek_v3", "kv_lora_rank": 512}).use_mla is True
        assert facts({"model_type": "deepseek_v3", "kv_lora_rank": None}).mla is False
        assert facts({"model_type": "minicpm3", "kv_lora_rank": 256}).mla is False
        assert facts({"model_type": "deepseek_v4", "compress_ratios": [4], "head_dim": 512}).mla is True
        assert facts({"model_type": "deepseek_v4", "compress_ratios": [4], "kv_lora_rank": 512}).mla is False

    def test_mla_types_per_release(self) -> None:
        """The model types differ per release (0.28 spells axk1 in lower case)."""
        config = {"model_type": "axk1", "kv_lora_rank": 512}
        assert facts(config).mla is False
        out = model_facts(ModelSection(), config, "m", {}, NOWHERE, VLLM_0_28)
        assert isinstance(out, ModelFacts)
        assert out.mla is True

    def test_deepseek_v4(self) -> None:
        """DeepSeek-V4 is known by its architecture or its model type."""
        assert facts({"architectures": ["DeepseekV4ForCausalLM"]}).deepseek_v4
        assert facts({"model_type": "deepseek_v4"}).deepseek_v4
        assert not facts({"model_type": "deepseek_v3"}).deepseek_v4


class TestWrittenFacts:
    def test_written_facts_win(self) -> None:
        """A fact written in [model] replaces the file's and says where it was written."""
        f = facts({"num_attention_heads": 32, "num_hidden_layers": 32}, num_attention_heads=40)
        assert (f.num_attention_heads, f.num_hidden_layers) == (40, 32)
        assert f.show("num_attention_heads") == "num_attention_heads = 40 (set at c.toml:9:1)"

    def test_facts_without_a_file(self) -> None:
        """Without config or hf_id only the written facts are known; the others stay unknown."""
        out = model_facts(ModelSection(num_experts=8), None, "", {}, NOWHERE)
        assert isinstance(out, ModelFacts)
        assert (out.num_experts, out.num_attention_heads, out.is_moe, out.source) == (8, None, True, "")

    def test_no_table_no_facts(self) -> None:
        """A document without [model] has no model, and compiles as before."""
        assert compile_dict({}).resolved.model is None
        assert "model" not in compile_dict({}).to_dict()

    @pytest.mark.parametrize("value", ["32", 32.0, True, -1, [1]])
    def test_bad_values(self, value: object) -> None:
        """A fact in config.json that is not a whole number >= 0 is a load error naming the key."""
        out = model_facts(ModelSection(), {"num_attention_heads": value}, "m/config.json", {},
                          Location.file("c.toml", 5, 1))
        assert isinstance(out, list)
        [issue] = out
        assert issue.render().startswith("c.toml:5:1: model.config: m/config.json: num_attention_heads must be a "
                                          "whole number >= 0 (got ")
        assert issue.rule == "load.model_config"


class TestReading:
    def test_file_and_directory(self, tmp_path: Path) -> None:
        """config names a config.json or the directory holding it, relative to the file that names it."""
        write_config(tmp_path / "models" / "m", {"num_attention_heads": 12})
        (tmp_path / "deploy").mkdir()
        (tmp_path / "deploy" / "a.toml").write_text('[model]\nconfig = "../models/m"\n')
        (tmp_path / "deploy" / "b.toml").write_text('[model]\nconfig = "../models/m/config.json"\n')
        for name in ("a", "b"):
            model = compile_files([f"deploy/{name}.toml"]).resolved.model
            assert model is not None
            assert (model.num_attention_heads, model.source) == (12, "models/m/config.json")

    def test_extends_keeps_the_writing_file(self, tmp_path: Path) -> None:
        """A config path in an extended file is relative to that file, not to the one extending it."""
        write_config(tmp_path / "base" / "m", {"num_hidden_layers": 7})
        (tmp_path / "base" / "base.toml").write_text('[model]\nconfig = "m"\n')
        (tmp_path / "top.toml").write_text('extends = ["base/base.toml"]\n')
        model = compile_files(["top.toml"]).resolved.model
        assert model is not None
        assert model.num_hidden_layers == 7

    @pytest.mark.parametrize(("content", "message"), [
        (None, "no such file: m.json; name a config.json, or a model directory holding one"),
        ("{", "m.json is not valid JSON (line 1, column 2); name a model's config.json"),
        ("[1, 2]", "m.json does not hold a JSON object; name a model's config.json"),
        ("[" * 100_000, "m.json is not valid JSON; name a model's config.json"),
        ('{"a": 1' + "1" * 5000 + "}", "m.json is not valid JSON; name a model's config.json"),
    ])
    def test_unreadable(self, tmp_path: Path, content: str | None, message: str) -> None:
        """A missing, broken or hostile config.json is one located load error, never a traceback."""
        if content is not None:
            (tmp_path / "m.json").write_text(content)
        (tmp_path / "c.toml").write_text('[model]\nconfig = "m.json"\n')
        with pytest.raises(LoadError) as caught:
            compile_files(["c.toml"])
        assert [i.render() for i in caught.value.issues] == [f"c.toml:2:1: model.config: {message} "
                                                             "[load.model_config]"]

    def test_too_large(self, tmp_path: Path) -> None:
        """A config.json over the limit is refused without being parsed."""
        (tmp_path / "m.json").write_text("{" + " " * MAX_MODEL_CONFIG_BYTES + "}")
        with pytest.raises(LoadError, match="larger than 4 MiB"):
            compile_dict({"model": {"config": "m.json"}})

    def test_not_a_regular_file(self, tmp_path: Path) -> None:
        """A directory without config.json is not read."""
        (tmp_path / "empty").mkdir()
        with pytest.raises(LoadError, match=r"no such file: empty/config\.json"):
            compile_dict({"model": {"config": "empty"}})

    def test_config_and_hf_id(self) -> None:
        """Naming the model twice is an error."""
        with pytest.raises(LoadError) as caught:
            compile_dict({"model": {"config": "m", "hf_id": "a/b"}})
        assert caught.value.issues[0].rule == "load.model_source"


class TestHuggingFaceCache:
    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def cache(self, hub: Path, repo: str = "Org/Model", ref: str | None = "main") -> Path:
        root = hub / ("models--" + repo.replace("/", "--"))
        write_config(root / "snapshots" / self.COMMIT, {"num_attention_heads": 20, "num_hidden_layers": 10})
        if ref:
            (root / "refs").mkdir(parents=True)
            (root / "refs" / ref).write_text(self.COMMIT + "\n")
        return root

    def test_cache_dirs(self) -> None:
        """HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub."""
        assert hf_hub_cache({"HF_HUB_CACHE": "/a", "HF_HOME": "/b"}) == "/a"
        assert hf_hub_cache({"HUGGINGFACE_HUB_CACHE": "/old"}) == "/old"
        assert hf_hub_cache({"HF_HOME": "/b"}) == "/b/hub"
        assert hf_hub_cache({"XDG_CACHE_HOME": "/x"}) == "/x/huggingface/hub"
        assert hf_hub_cache({}).endswith("/.cache/huggingface/hub")

    def test_found_by_ref(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """hf_id reads the snapshot refs/main points at, from HF_HOME's cache."""
        self.cache(tmp_path / "home" / "hub")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
        monkeypatch.delenv("HF_HUB_CACHE", raising=False)
        model = compile_dict({"model": {"hf_id": "Org/Model"}}).resolved.model
        assert model is not None
        assert (model.num_attention_heads, model.num_hidden_layers) == (20, 10)
        assert model.source.endswith(f"models--Org--Model/snapshots/{self.COMMIT}/config.json")

    def test_found_by_commit(self, tmp_path: Path) -> None:
        """A commit as the revision needs no ref."""
        self.cache(tmp_path, ref=None)
        path = find_cached_config("Org/Model", self.COMMIT, {"HF_HUB_CACHE": str(tmp_path)}, NOWHERE, ("m",))
        assert isinstance(path, str)
        assert path.endswith("config.json")

    @pytest.mark.parametrize(("hf_id", "revision", "message"), [
        ("Org/Other", "main", "Org/Other is not in the local Hugging Face cache ({hub})"),
        ("Org/Model", "v2", "the cache has no snapshot of Org/Model at revision v2"),
        ("../etc", "main", 'not a Hugging Face model id (got "../etc")'),
        ("a/b/c", "main", 'not a Hugging Face model id (got "a/b/c")'),
    ])
    def test_not_cached(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hf_id: str, revision: str,
                        message: str) -> None:
        """A model the cache lacks is a clear error that says where pconf looked; nothing is downloaded."""
        self.cache(tmp_path / "hub")
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        with pytest.raises(LoadError) as caught:
            compile_dict({"model": {"hf_id": hf_id, "revision": revision}})
        [issue] = caught.value.issues
        assert issue.rule == "load.model_cache"
        assert issue.render().startswith(f"<dict>: model.hf_id: {message.format(hub=tmp_path / 'hub')}")


class TestCommandLine:
    def test_model_config_option(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--model-config checks the files against the model, as [model] config would."""
        (tmp_path / "c.toml").write_text("[parallel]\ntensor_parallel_size = 8\n")
        assert main(["validate", "c.toml", "--model-config", str(MODELS / "qwen2.5-7b")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("c.toml:2:1: parallel.tensor_parallel_size: the model's num_attention_heads = 28 (")
        assert err.endswith("[model.heads_tp]\npconf: 1 error\n")
        assert main(["validate", "c.toml", "--model-config", str(MODELS / "llama-3.1-8b")]) == 0

    def test_model_config_replaces_hf_id(self, tmp_path: Path) -> None:
        """--model-config wins over the file's [model] hf_id (which is reset) and keeps its written facts."""
        (tmp_path / "c.toml").write_text('[model]\nhf_id = "nobody/nothing"\nnum_hidden_layers = 3\n')
        compiled = compile_files(["c.toml"], model_config=MODELS / "llama-3.1-8b")
        model = compiled.resolved.model
        assert model is not None
        assert (model.num_attention_heads, model.num_hidden_layers) == (32, 3)
        assert compiled.to_dict()["sources"]["model.config"] == "--model-config"

    def test_relative_to_working_directory(self, tmp_path: Path) -> None:
        """--model-config is relative to the working directory, not to the files."""
        write_config(tmp_path / "m", {"num_attention_heads": 6})
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "c.toml").write_text("")
        model = compile_files(["sub/c.toml"], model_config="m").resolved.model
        assert model is not None
        assert model.num_attention_heads == 6


class TestIsMoeModel:
    def test_filled_from_the_model(self) -> None:
        """Unset, is_moe_model is the model's (vLLM's ModelConfig.is_moe), derived, with the fact as the reason."""
        doc = compile_dict({"model": {"num_experts": 8}}).to_dict()
        assert doc["parallel"]["is_moe_model"] is True
        assert doc["sources"]["parallel.is_moe_model"] == ("derived: from the model: num_experts = 8 (set at "
                                                           "<dict>)")
        assert compile_dict({"model": {"num_experts": 0}}).to_dict()["parallel"]["is_moe_model"] is False

    def test_unknown_experts_leave_it(self) -> None:
        """Facts without the number of experts leave is_moe_model as written."""
        assert compile_dict({"model": {"num_attention_heads": 8}}).to_dict()["parallel"]["is_moe_model"] is None

    def test_contradiction(self) -> None:
        """A written is_moe_model that contradicts the model is an error (a dense model's EP groups differ)."""
        with pytest.raises(RuleError) as caught:
            compile_dict({"parallel": {"is_moe_model": False}, "model": {"num_experts": 8}})
        assert [i.rule for i in caught.value.issues] == ["model.is_moe_model"]

    def test_dense_model_has_no_ep_groups(self) -> None:
        """A dense model's plan has no expert-parallel groups, as with is_moe_model = false."""
        plan = compile_dict({"parallel": {"tensor_parallel_size": 2}, "model": {"num_experts": 0}}).plan()
        assert plan.groups("ep") == []


class TestGraphHash:
    BASE: ClassVar[dict[str, Any]] = {"parallel": {"tensor_parallel_size": 4, "is_moe_model": True,
                                         "enable_expert_parallel": True}}

    def test_model_facts_are_not_factors(self) -> None:
        """The [model] keys are not hash factors: a file that sets is_moe_model hashes the same with a model."""
        plain = compile_dict(self.BASE).graph_hash
        with_model = compile_dict({**self.BASE, "model": {"num_experts": 64, "num_attention_heads": 32,
                                                          "num_hidden_layers": 40, "mla": True}}).graph_hash
        assert str(plain) == str(with_model)

    def test_filled_is_moe_model_is_a_factor(self) -> None:
        """is_moe_model filled from the model is hashed as vLLM hashes it once the model fills it in."""
        filled = compile_dict({"parallel": {"tensor_parallel_size": 4}, "model": {"num_experts": 8}}).graph_hash
        written = compile_dict({"parallel": {"tensor_parallel_size": 4, "is_moe_model": True}}).graph_hash
        assert str(filled) == str(written)


class TestCompiledDocument:
    def test_model_table_and_sources(self) -> None:
        """The compiled document shows the facts and where each came from."""
        compiled = compile_files([str(ROOT / "examples/models/deepseek-v3-wide-ep.toml")])
        doc = compiled.to_dict()
        assert doc["model"]["num_experts"] == 256
        assert doc["model"]["use_mla"] is True
        assert doc["sources"]["model.num_experts"].startswith("n_routed_experts in ")
        assert doc["sources"]["model.moe_backend"] == "default"
        assert compiled.explain("model.num_expert_group").value == 8

    def test_vllm_env_mla_and_partition(self) -> None:
        """In vLLM-environment mode VLLM_MLA_DISABLE turns MLA off and VLLM_PP_LAYER_PARTITION is the split."""
        doc = {"parallel": {"pipeline_parallel_size": 2}, "model": {"mla": True, "num_hidden_layers": 10,
                                                                     "pp_layer_partition": [5, 5]}}
        model = compile_dict(doc, env={"VLLM_MLA_DISABLE": "1", "VLLM_PP_LAYER_PARTITION": "3,7"}).resolved.model
        assert model is not None
        assert (model.mla, model.use_mla, model.pp_partition) == (True, False, (3, 7))
        declarative = compile_dict(doc).resolved.model
        assert declarative is not None
        assert (declarative.use_mla, declarative.pp_partition) == (True, (5, 5))
