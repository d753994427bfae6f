"""Golden outputs: every command over every example and format, byte for byte (stdout, stderr, exit code).

The refactorings keep the command line's output exactly; these files say what it is. Each case runs
``pconf.cli.main`` in-process from the repository root. ``python tests/test_golden.py --record`` rewrites
``tests/golden/`` from what pconf prints now: read the diff before committing.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*")
                  if p.suffix in (".toml", ".yaml") and p.parent.name != "deploy")
#: Files meant for a deployment target (no addresses): their manifests, not the plain commands.
DEPLOY_EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples" / "deploy").glob("*.toml"))
SYSFS = sorted(p.name for p in (ROOT / "tests" / "data" / "sysfs").iterdir() if p.is_dir())


def cases() -> dict[str, list[str]]:
    """Case name -> the arguments of ``pconf``."""
    out: dict[str, list[str]] = {}
    for example in EXAMPLES:
        name = example.removeprefix("examples/").replace("/", "-")
        for fmt in ("json", "toml", "yaml"):
            out[f"{name}.compile-{fmt}"] = ["compile", example, "--format", fmt]
        for fmt in ("table", "json", "toml", "yaml", "vllm"):
            out[f"{name}.plan-{fmt}"] = ["plan", example, "--format", fmt]
        out[f"{name}.plan-node0"] = ["plan", example, "--node", "0"]
        out[f"{name}.plan-node0-json"] = ["plan", example, "--node", "0", "--format", "json"]
        out[f"{name}.plan-rank0"] = ["plan", example, "--rank", "0"]
        out[f"{name}.plan-rank0-json"] = ["plan", example, "--rank", "0", "--format", "json"]
        out[f"{name}.plan-env0"] = ["plan", example, "--rank", "0", "--format", "env"]
        out[f"{name}.plan-vllm-node0"] = ["plan", example, "--format", "vllm", "--node", "0"]
        out[f"{name}.plan-probe-table"] = ["plan", example, "--sysfs-root", "tests/data/sysfs/two-socket-8gpu"]
        out[f"{name}.validate"] = ["validate", example]
        out[f"{name}.hash"] = ["hash", example]
        out[f"{name}.hash-json"] = ["hash", example, "--json"]
        for key in ("parallel.data_parallel_size", "parallel.distributed_executor_backend", "derived.use_ray",
                    "parallel.eplb_config"):
            out[f"{name}.explain-{key}"] = ["explain", example, key]
        out[f"{name}.explain-json"] = ["explain", example, "parallel.tensor_parallel_size", "--json"]
    for a, b in (("layered/prod.toml", "layered/dev.toml"), ("cluster.toml", "tp8.toml"),
                 ("dp-ep-2node.toml", "wide-ep-external-lb.toml")):
        name = f"diff-{a}-{b}".replace("/", "-")
        out[name] = ["diff", f"examples/{a}", f"examples/{b}"]
        out[f"{name}-json"] = ["diff", f"examples/{a}", f"examples/{b}", "--json"]
    for example in DEPLOY_EXAMPLES:
        name = example.removeprefix("examples/").replace("/", "-")
        for target in ("lws", "slurm", "skypilot"):
            out[f"{name}.plan-{target}"] = ["plan", example, "--format", target]
        out[f"{name}.validate-target"] = ["validate", "--target", "slurm", example]
        out[f"{name}.compile-target"] = ["compile", example, "--format", "toml"]
    out["target-fixed-address"] = ["plan", "examples/network-2node.toml", "--format", "lws", "--model", "m", "--set",
                                   'parallel.master_addr="10.10.0.1"']
    out["target-external-launcher"] = ["plan", "examples/external-launcher.toml", "--format", "slurm", "--model", "m"]
    out["target-no-model"] = ["plan", "examples/tp8.toml", "--format", "lws"]
    out["target-skypilot-accelerator"] = ["plan", "examples/tp8.toml", "--format", "skypilot", "--model", "m"]
    out["target-owned-flag"] = ["validate", "examples/deploy/one-node.toml", "--set",
                                'deploy.extra_args=["--port", "9000", "-tp", "2", "--max-model-len", "1024"]']
    for tree in SYSFS:
        for fmt in ("table", "json", "toml"):
            out[f"numa-{tree}-{fmt}"] = ["numa", "--sysfs-root", f"tests/data/sysfs/{tree}", "--format", fmt]
    out["schema"] = ["schema"]
    out["validate-all"] = ["validate", *EXAMPLES]
    out["set-and-reset"] = ["compile", "examples/cluster.toml", "--set", "parallel.tensor_parallel_size=2",
                            "--set", "~parallel.data_parallel_size", "--format", "toml"]
    out["explain-unknown"] = ["explain", "examples/cluster.toml", "parallel.tensor_paralel_size"]
    out["plan-rank-out-of-range"] = ["plan", "examples/cluster.toml", "--rank", "999"]
    out["plan-env-without-rank"] = ["plan", "examples/cluster.toml", "--format", "env"]
    out["exec-dry-run"] = ["exec", "examples/numa-2socket.toml", "--rank", "1", "--bind", "numactl", "--dry-run",
                           "--", "python", "-c", "pass"]
    out["rule-errors"] = ["validate", "tests/golden/inputs/rules.toml"]
    out["plan-errors"] = ["plan", "tests/golden/inputs/plan-errors.toml"]
    out["warnings"] = ["compile", "tests/golden/inputs/warnings.toml", "--format", "toml"]
    out["warnings-plan"] = ["plan", "tests/golden/inputs/warnings.toml", "--rank", "1", "--format", "env"]
    out["vllm-env"] = ["compile", "examples/cluster.toml", "--vllm-env"]
    out["model-errors"] = ["validate", "tests/golden/inputs/model-errors.toml"]
    out["model-config-plan"] = ["plan", "examples/tp8.toml", "--model-config", "examples/models/llama-3.1-8b"]
    out["model-config-rank-json"] = ["plan", "examples/dp-ep-2node.toml", "--model-config",
                                     "examples/models/qwen1.5-moe-a2.7b", "--rank", "13", "--format", "json"]
    out["model-eplb-rank-json"] = [*out["model-config-rank-json"], "--set",
                                   "parallel.eplb_config.num_redundant_experts=4"]
    out["model-missing"] = ["validate", "examples/tp8.toml", "--model-config", "examples/models/none"]
    for model, gpus in (("qwen2.5-7b", "8"), ("deepseek-v3", "16"), ("mixtral-8x7b", "16")):
        out[f"suggest-{model}-{gpus}"] = ["suggest", "--gpus", gpus, "--model-config", f"examples/models/{model}"]
    return out


CASES = cases()
VLLM_ENV = {"VLLM_DP_SIZE": "2", "VLLM_DP_RANK": "1", "RANK": "3"}


def run(args: list[str]) -> str:
    """What a case prints: ``exit N``, then stdout, then a ``--- stderr`` line and stderr."""
    from pconf.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (*VLLM_ENV, "PCONF_TRACEBACK")}
    os.environ.update(VLLM_ENV)
    os.environ.pop("PCONF_TRACEBACK", None)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return f"exit {code}\n{out.getvalue()}--- stderr\n{err.getvalue()}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_unchanged(name: str) -> None:
    expected = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    assert run(CASES[name]) == expected


def test_every_golden_file_is_a_case() -> None:
    names = {p.stem for p in GOLDEN.glob("*.txt")}
    assert names == set(CASES)


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_golden.py --record")
    GOLDEN.mkdir(exist_ok=True)
    for old in GOLDEN.glob("*.txt"):
        old.unlink()
    for case, arguments in sorted(CASES.items()):
        (GOLDEN / f"{case}.txt").write_text(run(arguments), encoding="utf-8")
    print(f"{len(CASES)} golden files written to {GOLDEN}")
