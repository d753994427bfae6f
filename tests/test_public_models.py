"""Configs of public models (examples/models/) behave as vLLM would: the heads refusal naming
num_attention_heads, layer ranges on uneven pipeline splits, expert ids per EP rank, EPLB's divisibility refused
and accepted naming num_redundant_experts, and every layout `pconf suggest` prints compiling to exactly N ranks.

Each document is written to a file beside the model directories, so every message carries its file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pconf.cli import main
from pconf.compile import compile_dict, compile_files
from pconf.errors import RuleError
from tests.helpers import with_head

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def errors(path: Path, text: str) -> list[str]:
    path.write_text(text)
    with pytest.raises(RuleError) as caught:
        compile_files([str(path)])
    return [issue.render() for issue in caught.value.issues]


def doc(parallel: str, model: str) -> str:
    return f"[parallel]\n{parallel}\n[cluster]\ndevices_per_node = 16\n\n[model]\nconfig = \"{MODELS / model}\"\n"


class TestHeads:
    def test_qwen25_tp8(self, tmp_path: Path) -> None:
        """Qwen2.5-7B's 28 heads over TP 8: refused, naming num_attention_heads, its value and the file."""
        assert errors(tmp_path / "c.toml", doc("tensor_parallel_size = 8\n", "qwen2.5-7b")) == [
            f"{tmp_path}/c.toml:2:1: parallel.tensor_parallel_size: the model's num_attention_heads = 28 "
            f"({MODELS}/qwen2.5-7b/config.json) is not divisible by it (got 8); use a tensor_parallel_size that "
            "divides 28: 1, 2, 4, 7, 14 or 28 [model.heads_tp]"]

    @pytest.mark.parametrize(("model", "tp"), [("qwen2.5-7b", 4), ("qwen2.5-7b", 2), ("llama-3.1-8b", 8),
                                               ("llama-3.1-8b", 16), ("deepseek-v3", 16), ("qwen3-235b-a22b", 8)])
    def test_accepted(self, tmp_path: Path, model: str, tp: int) -> None:
        """TP sizes that divide the heads, with KV heads split or evenly replicated, compile."""
        (tmp_path / "c.toml").write_text(doc(f"tensor_parallel_size = {tp}\n", model))
        assert compile_files([str(tmp_path / "c.toml")]).resolved.world_size == tp

    def test_kv_replication(self, tmp_path: Path) -> None:
        """Qwen2.5-7B at TP 14: 28 heads divide, but its 4 KV heads cannot be replicated evenly on 14 ranks."""
        assert errors(tmp_path / "c.toml", doc("tensor_parallel_size = 14\n", "qwen2.5-7b")) == [
            f"{tmp_path}/c.toml:2:1: parallel.tensor_parallel_size: is more than the model's num_key_value_heads = 4 "
            f"({MODELS}/qwen2.5-7b/config.json) but not a multiple of it: each KV head must be replicated on the same "
            "number of ranks (got 14); use a divisor of 4, or a multiple of it [model.kv_heads_tp]"]


class TestLayers:
    @pytest.mark.parametrize(("model", "pp", "ranges"), [
        ("qwen3-235b-a22b", 4, [[0, 23], [23, 47], [47, 71], [71, 94]]),
        ("deepseek-v3", 2, [[0, 31], [31, 61]]),
        ("deepseek-v3", 8, [[0, 7], [7, 14], [14, 22], [22, 30], [30, 38], [38, 46], [46, 54], [54, 61]]),
        ("qwen2.5-7b", 3, [[0, 9], [9, 19], [19, 28]]),
        ("qwen1.5-moe-a2.7b", 5, [[0, 5], [5, 10], [10, 15], [15, 20], [20, 24]]),
    ])
    def test_uneven_splits(self, model: str, pp: int, ranges: list[list[int]]) -> None:
        """Each stage's layers, as vLLM's get_pp_indices splits them, in every rank's slice."""
        compiled = compile_dict({"parallel": {"pipeline_parallel_size": pp}, "cluster": {"devices_per_node": 16},
                                 "model": {"config": str(MODELS / model)}})
        plan = compiled.plan()
        assert [plan.rank_dict(r)["model"]["layers"] for r in range(plan.world_size)] == ranges

    def test_partition_must_add_up(self, tmp_path: Path) -> None:
        """A VLLM_PP_LAYER_PARTITION that does not add up to the model's layers is refused."""
        assert errors(tmp_path / "c.toml", "[parallel]\npipeline_parallel_size = 2\n\n[model]\nconfig = "
                      f"\"{MODELS}/llama-3.1-8b\"\npp_layer_partition = [16, 17]\n") == [
            f"{tmp_path}/c.toml:6:1: model.pp_layer_partition: adds up to 33 layers, not the model's "
            f"num_hidden_layers = 32 ({MODELS}/llama-3.1-8b/config.json) (got [16, 17]); make the counts add up to "
            "32 [model.pp_partition]"]


class TestExperts:
    def test_linear_uneven(self) -> None:
        """Qwen1.5-MoE's 60 experts over EP 8 (DP 8): ranks 0-3 hold 8, ranks 4-7 hold 7."""
        plan = compile_dict({"parallel": {"data_parallel_size": 8, "enable_expert_parallel": True},
                             "model": {"config": str(MODELS / "qwen1.5-moe-a2.7b")}}).plan()
        experts = [plan.rank_dict(r)["model"]["experts"] for r in range(8)]
        assert experts[0] == list(range(8))
        assert experts[3] == list(range(24, 32))
        assert experts[4] == list(range(32, 39))
        assert experts[7] == list(range(53, 60))

    def test_tp_and_dp_ranks(self) -> None:
        """Mixtral's 8 experts over EP = DP 2 × TP 2: EP rank (dp × TP + tp) holds experts 2·ep, 2·ep + 1."""
        plan = compile_dict({"parallel": {"data_parallel_size": 2, "tensor_parallel_size": 2,
                                          "enable_expert_parallel": True},
                             "model": {"config": str(MODELS / "mixtral-8x7b")}}).plan()
        assert [plan.rank_dict(r)["model"]["experts"] for r in range(4)] == [[0, 1], [2, 3], [4, 5], [6, 7]]

    def test_round_robin(self) -> None:
        """DeepSeek-V3 (8 expert groups) round-robin on TP 8: rank r holds r, r + 8, ..."""
        plan = compile_dict({"parallel": {"tensor_parallel_size": 8, "enable_expert_parallel": True,
                                          "expert_placement_strategy": "round_robin"},
                             "model": {"config": str(MODELS / "deepseek-v3")}}).plan()
        assert plan.rank_dict(3)["model"]["experts"] == list(range(3, 256, 8))

    def test_no_expert_parallelism(self) -> None:
        """Without expert parallelism every rank holds every expert."""
        plan = compile_dict({"parallel": {"tensor_parallel_size": 2},
                             "model": {"config": str(MODELS / "mixtral-8x7b")}}).plan()
        assert plan.rank_dict(1)["model"]["experts"] == list(range(8))


class TestEplb:
    EPLB = "data_parallel_size = 8\nenable_expert_parallel = true\nenable_eplb = true\n\n[parallel.eplb_config]\n"

    def test_refused(self, tmp_path: Path) -> None:
        """DeepSeek-V3: 256 + 4 redundant experts over EP 8 is refused, naming num_redundant_experts."""
        assert errors(tmp_path / "c.toml", doc(self.EPLB + "num_redundant_experts = 4\n", "deepseek-v3")) == [
            f"{tmp_path}/c.toml:7:1: parallel.eplb_config.num_redundant_experts: the model's num_experts = 256 "
            f"(n_routed_experts in {MODELS}/deepseek-v3/config.json) plus num_redundant_experts 4 make 260 physical "
            "experts, not divisible by the 8 EP ranks (DP × PCP × TP) (got 4); use num_redundant_experts = 0, 8, 16, "
            "... (experts + redundant a multiple of 8) [model.eplb_divisible]"]

    def test_refused_without_redundant(self, tmp_path: Path) -> None:
        """Qwen1.5-MoE's 60 experts over EP 8 need 4 redundant experts under EPLB."""
        [line] = errors(tmp_path / "c.toml", doc(self.EPLB + "num_redundant_experts = 0\n", "qwen1.5-moe-a2.7b"))
        assert "num_redundant_experts = 4, 12, 20, ..." in line
        assert line.endswith("[model.eplb_divisible]")

    def test_accepted(self, tmp_path: Path) -> None:
        """With 4 redundant experts it compiles; rank 7 holds the last 4 logical experts and copies of 0-3."""
        (tmp_path / "c.toml").write_text(doc(self.EPLB + "num_redundant_experts = 4\n", "qwen1.5-moe-a2.7b"))
        plan = compile_files([str(tmp_path / "c.toml")]).plan()
        assert plan.rank_dict(7)["model"] == {"layers": [0, 24], "experts": [56, 57, 58, 59, 0, 1, 2, 3],
                                              "physical_experts": [56, 64]}


class TestSuggest:
    @pytest.mark.parametrize(("model", "gpus", "per_node"), [
        ("llama-3.1-8b", "8", "8"), ("qwen2.5-7b", "16", "8"), ("deepseek-v3", "32", "8"),
        ("qwen3-235b-a22b", "64", "8"), ("mixtral-8x7b", "4", "4"), ("qwen1.5-moe-a2.7b", "24", "8"),
    ])
    def test_printed_layouts_compile(self, model: str, gpus: str, per_node: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
        """Every layout `pconf suggest --format json` prints compiles to exactly N ranks."""
        assert main(["suggest", "--gpus", gpus, "--devices-per-node", per_node, "--model-config",
                     f"examples/models/{model}", "--format", "json"]) == 0
        docs = json.loads(capsys.readouterr().out)
        assert docs
        for document in docs:
            assert "parallel" in document
            assert compile_dict(with_head(document)).plan().world_size == int(gpus)
