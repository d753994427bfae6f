"""The shipped examples as users meet them: editor directives, a purpose comment, TOML/YAML twins, and each one
validating and planning through the CLI; plus the facts each deployment example promises in its comment."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pconf.cli import main
from pconf.compile import compile_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCHEMA = ROOT / "schemas" / "pconf.schema.json"
FILES = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".toml", ".yaml", ".yml"))
IDS = [p.relative_to(ROOT).as_posix() for p in FILES]
DIRECTIVE = {".toml": re.compile(r"#:schema (\S+)\Z"), ".yaml": re.compile(r"# yaml-language-server: \$schema=(\S+)\Z"),
             ".yml": re.compile(r"# yaml-language-server: \$schema=(\S+)\Z")}


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_schema_directive(path: Path) -> None:
    """The first line points editors (Taplo, the YAML language server) at the committed schema, relatively."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = DIRECTIVE[path.suffix].match(first)
    assert match, f"{path.name}: first line must be the schema directive, got {first!r}"
    target = match.group(1)
    assert not os.path.isabs(target)
    assert (path.parent / target).resolve() == SCHEMA.resolve()


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_says_what_it_is_for(path: Path) -> None:
    """Besides the directive, the file has a comment on what it is for, within its first two lines."""
    second = path.read_text(encoding="utf-8").splitlines()[1]
    _, hash_mark, comment = second.partition("#")
    assert hash_mark, second
    assert len(comment.strip()) > 20, second


def test_every_example_has_a_twin() -> None:
    """Every TOML example has a YAML twin and the other way round."""
    stems = {p.with_suffix("") for p in FILES}
    for stem in stems:
        assert stem.with_suffix(".toml").exists(), stem
        assert stem.with_suffix(".yaml").exists(), stem


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_validates_and_plans(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pconf validate` and `pconf plan` (table and `vllm serve` lines) succeed without warnings; a file meant for
    a deployment target (examples/deploy/) validates for every target and writes each one's manifest."""
    rel = path.relative_to(ROOT).as_posix()
    if rel.startswith("examples/deploy/"):
        for target in ("lws", "slurm", "skypilot"):
            assert main(["validate", "--target", target, rel]) == 0
            assert main(["plan", rel, "--format", target]) == 0
    else:
        assert main(["validate", rel]) == 0
        assert main(["plan", rel]) == 0
        assert main(["plan", rel, "--format", "vllm"]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.startswith(f"{rel}: ok\n")


class TestDeploymentExamples:
    def test_tp_pp_2node(self, capsys: pytest.CaptureFixture[str]) -> None:
        """TP=8 × PP=2 on 2 nodes: each node holds one pipeline stage; node 1's command is headless."""
        plan = compile_files(["examples/tp-pp-2node.toml"]).plan()
        assert (plan.world_size, plan.nnodes, plan.per_node) == (16, 2, 8)
        assert plan.groups("tp") == [list(range(8)), list(range(8, 16))]
        assert {plan.rank(r).pp for r in plan.node_ranks(1)} == {1}
        assert main(["plan", "examples/tp-pp-2node.toml", "--format", "vllm", "--node", "1"]) == 0
        line = capsys.readouterr().out
        assert "--node-rank 1" in line
        assert line.rstrip().endswith("--headless")

    def test_wide_ep_external_lb(self, capsys: pytest.CaptureFixture[str]) -> None:
        """16 pods, one DP rank each, one EP group over all 16; pod N's server gets --data-parallel-rank N."""
        plan = compile_files(["examples/wide-ep-external-lb.toml"]).plan()
        assert (plan.world_size, plan.nnodes, plan.per_node, plan.dp) == (16, 16, 1, 16)
        assert plan.groups("ep") == [list(range(16))]
        assert main(["plan", "examples/wide-ep-external-lb.toml", "--format", "vllm", "--node", "5"]) == 0
        assert "--data-parallel-rank 5 --data-parallel-address 10.0.0.1" in capsys.readouterr().out

    def test_external_launcher(self) -> None:
        """8 torchrun processes: world_size counts DP; rank 5 is DP rank 1, TP rank 1."""
        compiled = compile_files(["examples/external-launcher.toml"])
        assert compiled.to_dict()["parallel"]["world_size"] == 8
        plan = compiled.plan()
        env = plan.env(5)
        assert (env["RANK"], env["WORLD_SIZE"], env["VLLM_DP_RANK"], plan.rank(5).tp) == ("5", "8", "1", 1)

    def test_ray(self) -> None:
        """The Ray example runs on the ray executor with its runtime environment."""
        p = compile_files(["examples/ray.toml"]).to_dict()["parallel"]
        assert (p["distributed_executor_backend"], p["world_size"]) == ("ray", 8)
        assert p["ray_runtime_env"] == {"env_vars": {"NCCL_DEBUG": "WARN"}}

    def test_cpu_gloo_dev(self) -> None:
        """4 CPU ranks on one host, with every group kind the comment lists."""
        compiled = compile_files(["examples/cpu-gloo-dev.toml"])
        assert compiled.resolved.document.cluster.device == "cpu"
        plan = compiled.plan()
        assert (plan.world_size, plan.nnodes) == (4, 1)
        assert plan.groups("tp") == [[0, 1], [2, 3]]
        assert plan.groups("dp") == [[0, 2], [1, 3]]
        assert plan.groups("ep") == [[0, 1, 2, 3]]
