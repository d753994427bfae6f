"""pconf suggest: every layout it prints compiles to exactly N ranks, passes every check, and is ranked by the
documented order; the command line prints a table with reasons or a list of documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pconf.cli import main
from pconf.compile import compile_dict
from pconf.errors import ConfigError
from pconf.suggest import suggest
from tests.helpers import with_head
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent
MODELS = sorted(p.name for p in (ROOT / "examples" / "models").iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def model(name: str) -> str:
    return f"examples/models/{name}"


def sizes(doc: dict[str, object]) -> tuple[int, ...]:
    p = doc["parallel"]
    assert isinstance(p, dict)
    return (p["tensor_parallel_size"], p["pipeline_parallel_size"], p["data_parallel_size"],
            p.get("decode_context_parallel_size", 1), int(bool(p.get("enable_expert_parallel"))))


class TestEveryLayoutCompiles:
    @pytest.mark.parametrize("name", MODELS)
    @pytest.mark.parametrize(("gpus", "per_node"), [(1, None), (4, None), (8, None), (12, 4), (16, 8), (64, 8)])
    def test_exactly_n_ranks(self, name: str, gpus: int, per_node: int | None) -> None:
        """Each suggested document compiles on its own (reading the model again) and plans exactly N ranks."""
        found = suggest(gpus, model(name), per_node)
        assert found.layouts, (name, gpus)
        for layout in found.layouts:
            plan = compile_dict(with_head(layout.document)).plan()
            assert plan.world_size == gpus
            assert (plan.tp, plan.pp, plan.dp, plan.dcp) == (layout.tp, layout.pp, layout.dp, layout.dcp)
            assert plan.nnodes == layout.nnodes
            assert plan.per_node <= found.devices_per_node

    @settings(max_examples=examples(25), deadline=None)
    @given(gpus=st.integers(1, 48), name=st.sampled_from(MODELS))
    def test_any_gpu_count(self, gpus: int, name: str) -> None:
        """Any GPU count on one node: every layout is distinct and compiles to that many ranks."""
        found = suggest(gpus, model(name), devices_per_node=gpus)
        assert len({sizes(x.document) for x in found.layouts}) == len(found.layouts)
        for layout in found.layouts:
            assert compile_dict(with_head(layout.document)).plan().world_size == gpus

    def test_multinode_documents_leave_the_address_out(self) -> None:
        """A layout over several nodes is checked with a stand-in for node 0's address; its document has none, so
        it compiles once the deployment gives one (without, loopback is refused)."""
        [first, *_] = [x for x in suggest(16, model("deepseek-v3"), 8).layouts if x.nnodes == 2]
        assert "master_addr" not in first.document["parallel"]
        with pytest.raises(ConfigError) as caught:
            compile_dict(first.document)
        assert {i.rule for i in caught.value.issues} == {"network.loopback"}

    def test_refused_layouts_are_missing(self) -> None:
        """Qwen2.5-7B's 28 heads rule out TP 8 on 8 GPUs; the refusing rules are named."""
        found = suggest(8, model("qwen2.5-7b"))
        assert {x.tp for x in found.layouts} == {1, 2, 4}
        assert "model.heads_tp" in found.refused

    def test_prime_gpu_count(self) -> None:
        """5 GPUs of Llama-3.1-8B (32 heads): DP 5, or PP 5 (layers 6+7+7+6+6); TP 5 divides no head count."""
        found = suggest(5, model("llama-3.1-8b"))
        assert [(x.tp, x.pp, x.dp) for x in found.layouts] == [(1, 1, 5), (1, 5, 1)]
        assert found.layouts[1].reasons[0] == "PP 5 (6+6+7+7+6 layers), 5 stages per node: TP could do it without " \
            "bubbles"

    def test_no_layout(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A model no layout passes (here: no layers at all): exit 2 naming the rules that refused them."""
        (tmp_path / "config.json").write_text('{"num_attention_heads": 8, "num_hidden_layers": 0}')
        assert main(["suggest", "--gpus", "2", "--model-config", str(tmp_path)]) == 2
        assert capsys.readouterr().err == ("pconf suggest: no layout of 2 GPUs passes the checks for this model "
                                           "(refused by model.dcp_kv_heads, model.pp_layers)\n")


class TestRanking:
    def test_dense_prefers_tp_in_a_node(self) -> None:
        """Llama-3.1-8B on 16 GPUs of 8 per node: TP 8 × DP 2 first, then TP 8 × PP 2 across the nodes; TP 16
        (across nodes) last."""
        found = suggest(16, model("llama-3.1-8b"), 8)
        first = [(x.tp, x.pp, x.dp) for x in found.layouts[:2]]
        assert first == [(8, 1, 2), (8, 2, 1)]
        assert found.layouts[-1].tp == 16
        assert found.layouts[0].reasons == ("TP 8 inside a node", "1 KV head per rank", "DP 2 replicas")

    def test_mla_moe_prefers_dp_attention_with_ep(self) -> None:
        """DeepSeek-V3 (MLA) on 8 GPUs: DP 8 × EP 8 first (no copies of the latent KV cache)."""
        best = suggest(8, model("deepseek-v3")).layouts[0]
        assert (best.tp, best.pp, best.dp, best.ep, best.dcp) == (1, 1, 8, 8, 1)
        assert best.reasons[0] == "EP 8: 32 of 256 experts per rank"

    def test_moe_without_ep_ranks_low(self) -> None:
        """Every layout with expert parallelism ranks above every MoE layout without it."""
        found = suggest(8, model("qwen3-235b-a22b"))
        eps = [x.ep > 1 for x in found.layouts if x.tp * x.dp > 1]
        assert eps == sorted(eps, reverse=True)

    def test_idle_expert_ranks(self) -> None:
        """Mixtral's 8 experts over EP 16 leave ranks without an expert: said, and ranked below."""
        found = suggest(16, model("mixtral-8x7b"), 8)
        wide = next(x for x in found.layouts if x.ep == 16)
        assert any("8 ranks hold no expert" in r for r in wide.reasons)
        assert found.layouts.index(wide) > 0
        assert found.layouts[0].ep == 8

    def test_gqa_kv_copies(self) -> None:
        """Qwen3-235B's 4 KV heads: TP 8 copies each on 2 ranks, ranked after TP 4 (one head per rank)."""
        found = suggest(8, model("qwen3-235b-a22b"))
        tps = [x.tp for x in found.layouts if x.ep > 1 and x.pp == 1 and x.dcp == 1]
        assert tps == [4, 2, 1, 8]


class TestCommandLine:
    def test_json_documents_compile(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format json: a list of documents, each with a parallel table, that compile to exactly N ranks."""
        assert main(["suggest", "--gpus", "16", "--devices-per-node", "8", "--model-config", model("deepseek-v3"),
                     "--format", "json"]) == 0
        docs = json.loads(capsys.readouterr().out)
        assert len(docs) == len(suggest(16, model("deepseek-v3"), 8).layouts)
        for doc in docs:
            assert set(doc) == {"parallel", "cluster", "model"}
            assert compile_dict(with_head(doc)).plan().world_size == 16

    def test_json_compiles_elsewhere(self, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
        """The documents name the model by its absolute path, so they compile from any directory."""
        assert main(["suggest", "--gpus", "4", "--model-config", model("mixtral-8x7b"), "--format", "json"]) == 0
        docs = json.loads(capsys.readouterr().out)
        monkeypatch.chdir(tmp_path)
        assert all(compile_dict(with_head(doc)).plan().world_size == 4 for doc in docs)

    def test_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The table: a header naming the model, a row per layout with its reasons, the refusing rules."""
        assert main(["suggest", "--gpus", "8", "--model-config", model("qwen2.5-7b")]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == ("9 layouts of 8 GPUs (one node of 8) for Qwen2ForCausalLM "
                            "(examples/models/qwen2.5-7b/config.json): 28 layers, 28 attention heads, 4 KV heads, "
                            "dense")
        assert lines[2] == "1  4   1   2   -   1    1      TP 4 inside a node; 1 KV head per rank; DP 2 replicas"
        assert lines[-1].startswith("other layouts refused by: ")

    @pytest.mark.parametrize(("argv", "message"), [
        (["--gpus", "12", "--devices-per-node", "8"], "pconf suggest: --gpus 12 does not fill nodes of "
                                                      "--devices-per-node 8\n"),
        (["--gpus", "8", "--model-config", "examples/models/none"], "--model-config: model.config: no such file: "
         "examples/models/none; name a config.json, or a model directory holding one [load.model_config]\n"
         "pconf: 1 error\n"),
    ])
    def test_errors(self, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
        """Bad sizes and a missing model: exit 2 with one clear message."""
        if "--model-config" not in argv:
            argv = [*argv, "--model-config", model("llama-3.1-8b")]
        assert main(["suggest", *argv]) == 2
        assert capsys.readouterr().err == message

    def test_library_errors(self) -> None:
        """The library refuses sizes out of range and GPUs that do not fill nodes."""
        with pytest.raises(ConfigError, match="12 GPUs do not fill nodes of 8"):
            suggest(12, model("llama-3.1-8b"), 8)
        with pytest.raises(ConfigError, match="must be from 1 to 65536"):
            suggest(0, model("llama-3.1-8b"))

    def test_usage(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--gpus must be a positive whole number."""
        with pytest.raises(SystemExit):
            main(["suggest", "--gpus", "0", "--model-config", model("llama-3.1-8b")])
        assert "must be 1 or more" in capsys.readouterr().err
