"""`pconf launch` on the ray backend as users run it: a fresh process starts a local Ray, places the ranks of
examples/ray-cpu.toml, runs the checks in the rank actors and shuts Ray down; and without Ray, one clear line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import free_ports, pconf, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ray-cpu.toml"


def port_overrides() -> list[str]:
    master, dp, rpc = free_ports(3)
    return ["--set", f"parallel.master_port={master}", "--set", f"parallel.data_parallel_master_port={dp}",
            "--set", f"parallel.data_parallel_rpc_port={rpc}"]


@pytest.mark.timeout(240)
@pytest.mark.ci_only("starts a Ray of its own (the slowest test); test_ray.py runs ray_launch on a shared Ray")
def test_launch_the_ray_example() -> None:
    pytest.importorskip("ray")
    pytest.importorskip("torch")
    result = pconf("launch", str(EXAMPLE), *port_overrides(), "--timeout", "120", timeout=200)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("pconf launch: ")]
    assert lines[0].startswith("pconf launch: started Ray in ")
    assert lines[1] == "pconf launch: placed 4 rank actors (STRICT_PACK x 4 CPU)"
    assert any(line.startswith("pconf launch: all 4 ranks passed on Ray in ") for line in lines)
    for kind in ("tp", "pp", "dp", "ep", "dcp", "pcp"):
        assert any(line.startswith(f"pconf launch: {kind:<4} formed in ") for line in lines), kind


def test_launch_without_ray_says_which_extra() -> None:
    """With Ray not importable, pconf launch on a ray config exits 2 with one line naming the extra."""
    pytest.importorskip("torch")
    code = ("import sys; sys.modules['ray'] = None; from pconf.cli import main; "
            f"sys.exit(main(['launch', {str(EXAMPLE)!r}]))")
    result = run([sys.executable, "-c", code], timeout=60)
    assert (result.returncode, result.stderr) == (2, "pconf launch: the ray backend needs Ray: pip install "
                                                     "'pconf-vllm[ray]'\n")
