"""Real gloo groups formed by `pconf launch`, checked from inside every rank against the spec's layouts."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from tests.runtime.conftest import PROBE, pconf, probe_reports, write_config

#: The dev profile runs one shape (PP, TP and no EP group; test_launch_checks_and_reports forms TP x DP with EP);
#: ci runs them all. The layouts themselves are checked without processes in tests/test_plan.py.
SHAPE_IN_DEV = pytest.mark.ci_only("world4-pp2-tp2-dense runs the same probe through the same launch")

# (parallel settings, expected groups per kind) -- the groups are spec §11.3's worked examples where there is one.
SHAPES = [
    pytest.param({"tensor_parallel_size": 2}, {"tp": [[0, 1]], "pp": [[0], [1]], "dp": [[0], [1]], "ep": [[0, 1]],
                                               "dcp": [[0], [1]], "pcp": [[0], [1]]}, id="world2-tp2",
                 marks=SHAPE_IN_DEV),
    pytest.param({"tensor_parallel_size": 2, "data_parallel_size": 2, "enable_expert_parallel": True},
                 {"tp": [[0, 1], [2, 3]], "pp": [[0], [1], [2], [3]], "dp": [[0, 2], [1, 3]], "ep": [[0, 1, 2, 3]],
                  "dcp": [[0], [1], [2], [3]], "pcp": [[0], [1], [2], [3]]}, id="world4-dp2-tp2",
                 marks=SHAPE_IN_DEV),
    pytest.param({"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "is_moe_model": False},
                 {"tp": [[0, 1], [2, 3]], "pp": [[0, 2], [1, 3]], "dp": [[0], [2], [1], [3]],
                  "dcp": [[0], [1], [2], [3]], "pcp": [[0], [1], [2], [3]]}, id="world4-pp2-tp2-dense"),
    pytest.param({"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "data_parallel_size": 2},
                 {"tp": [[0, 1], [2, 3], [4, 5], [6, 7]], "pp": [[0, 2], [1, 3], [4, 6], [5, 7]],
                  "dp": [[0, 4], [2, 6], [1, 5], [3, 7]], "ep": [[0, 1, 4, 5], [2, 3, 6, 7]],
                  "dcp": [[r] for r in range(8)], "pcp": [[r] for r in range(8)]}, id="world8-dp2-pp2-tp2",
                 marks=SHAPE_IN_DEV),
    pytest.param({"tensor_parallel_size": 4, "prefill_context_parallel_size": 2, "decode_context_parallel_size": 2},
                 {"tp": [[0, 1, 2, 3], [4, 5, 6, 7]], "dcp": [[0, 1], [2, 3], [4, 5], [6, 7]],
                  "pcp": [[0, 4], [1, 5], [2, 6], [3, 7]], "ep": [list(range(8))],
                  "pp": [[0], [4], [1], [5], [2], [6], [3], [7]], "dp": [[0], [4], [1], [5], [2], [6], [3], [7]]},
                 id="world8-pcp2-tp4-dcp2", marks=SHAPE_IN_DEV),
]


@pytest.mark.parametrize(("parallel", "expected"), SHAPES)
def test_groups_seen_from_every_rank(no_leftovers: Path, torch_python: Callable[..., list[str]],
                                     parallel: dict[str, Any], expected: dict[str, list[list[int]]]) -> None:
    """Every rank is in exactly the spec's groups, and an all-reduce of ranks over each gives their sum."""
    config = write_config(no_leftovers / "c.toml", parallel)
    result = pconf("launch", str(config), "--quiet", "--timeout", "90", "--", *torch_python(str(PROBE), str(config)),
                   timeout=150, python=torch_python)
    assert result.returncode == 0, result.stderr
    reports = probe_reports(result.stderr)
    world = sum(len(g) for g in expected["tp"])
    assert sorted(reports) == list(range(world))
    for rank, report in reports.items():
        assert report["backend"] == "gloo"
        assert set(report["members"]) == set(expected)
        for kind, groups in expected.items():
            mine = next(g for g in groups if rank in g)
            assert report["members"][kind] == mine, (rank, kind)
            assert report["sums"][kind] == sum(mine), (rank, kind)


def test_launch_checks_and_reports(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """pconf launch with its own worker exits 0 and prints one timing line per group kind."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "data_parallel_size": 2,
                                                    "enable_expert_parallel": True})
    result = pconf("launch", str(config), "--nproc", "4", "--timeout", "90", timeout=150, python=torch_python)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("pconf launch: ")]
    assert lines[0] == "pconf launch: node 0: started ranks 0-3 of 4"
    assert any(line.startswith("pconf launch: all 4 ranks of node 0 passed in ") for line in lines)
    for kind in ("tp", "pp", "dp", "ep", "dcp", "pcp"):
        assert any(line.startswith(f"pconf launch: {kind:<4} formed in ") for line in lines), kind
    assert any("DP helpers (sync_dp_state, has_unfinished_dp, sync_kv_cache_memory_size)" in line for line in lines)


def test_nproc_must_match_the_plan(no_leftovers: Path) -> None:
    """--nproc is a check: a count other than the plan's ranks per node is refused before anything starts."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    result = pconf("launch", str(config), "--nproc", "4", timeout=60)
    assert (result.returncode, result.stderr) == (
        2, "pconf launch: --nproc 4, but the plan runs 2 ranks on node 0 (change the parallel sizes or nnodes in "
           "the file)\n")


@pytest.mark.ci_only("test_launch_checks_and_reports runs the same launch and worker; test_doctor_shrink the sizing")
def test_doctor_passes_and_sizes_to_the_host(no_leftovers: Path) -> None:
    """pconf doctor shrinks a large config to this host, runs it, and prints PASS."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 8, "data_parallel_size": 4,
                                                    "enable_expert_parallel": True},
                          {"devices_per_node": 32})
    result = pconf("doctor", str(config), "--quiet", "--timeout", "90", timeout=150)
    assert result.returncode == 0, result.stderr
    assert "(the file asks for 32 ranks: DP=4 PP=1 PCP=1 TP=8 DCP=1, 1 node(s))" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("pconf doctor: PASS - ")


@pytest.mark.parametrize(("sizes", "slots", "expected"), [
    pytest.param({"dp": 4, "pp": 1, "pcp": 1, "tp": 8, "dcp": 1}, 4, {"dp": 2, "pp": 1, "pcp": 1, "tp": 2, "dcp": 1},
                 id="doctor-test-on-2-cores"),
    pytest.param({"dp": 4, "pp": 1, "pcp": 1, "tp": 8, "dcp": 1}, 8, {"dp": 4, "pp": 1, "pcp": 1, "tp": 2, "dcp": 1},
                 id="largest-first-tp-on-a-tie"),
    pytest.param({"dp": 4, "pp": 1, "pcp": 1, "tp": 8, "dcp": 1}, 32, {"dp": 4, "pp": 1, "pcp": 1, "tp": 8, "dcp": 1},
                 id="fits-unchanged"),
    pytest.param({"dp": 1, "pp": 3, "pcp": 1, "tp": 8, "dcp": 4}, 2, {"dp": 1, "pp": 1, "pcp": 1, "tp": 2, "dcp": 2},
                 id="odd-drops-to-1-dcp-follows-tp"),
    pytest.param({"dp": 2, "pp": 2, "pcp": 2, "tp": 2, "dcp": 2}, 1, {"dp": 1, "pp": 1, "pcp": 1, "tp": 1, "dcp": 1},
                 id="one-slot"),
])
def test_doctor_shrink(sizes: dict[str, int], slots: int, expected: dict[str, int]) -> None:
    """pconf doctor's sizing, without processes: halve the largest axis (TP, PCP, PP, DP in that order on a tie;
    an odd size drops to 1) until the world fits, then DCP divides TP."""
    from pconf.runtime.doctor import shrink

    assert shrink(sizes, slots) == expected


PINNED = '''import os, re, sys
status = open("/proc/self/status").read()
cpus = re.search(r"Cpus_allowed_list:\\s*(\\S+)", status).group(1)
print(f"rank {os.environ['RANK']} cpus {cpus} node {os.environ.get('PCONF_NUMA_NODE')}", flush=True)
'''


@pytest.mark.parametrize("mechanism", [
    pytest.param("numactl", marks=pytest.mark.ci_only("the affinity case takes the same launch path; test_bind.py "
                                                      "runs numactl itself")),
    "affinity",
])
def test_launch_pins_every_rank(no_leftovers: Path, torch_python: Callable[..., list[str]], mechanism: str) -> None:
    """With numa_bind and one CPU per rank, `pconf launch` starts every rank pinned to its CPU (numactl when it is
    installed, else pconf exec's affinity binding)."""
    import shutil

    if mechanism == "numactl" and shutil.which("numactl") is None:
        pytest.skip("numactl is not installed (CI installs it)")
    env = {}
    if mechanism == "affinity":  # hide numactl from the launcher
        env["PATH"] = ":".join(d for d in os.environ["PATH"].split(":") if not Path(d, "numactl").exists())
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "numa_bind": True,
                                                    "numa_bind_nodes": [0, 0], "numa_bind_cpus": ["0", "1"]})
    result = pconf("launch", str(config), "--quiet", "--timeout", "60", "--", sys.executable, "-c", PINNED,
                   timeout=120, env=env, python=torch_python)
    assert result.returncode == 0, result.stderr
    lines = sorted(line for line in result.stderr.splitlines() if "] rank " in line)
    assert lines == ["[rank 0] rank 0 cpus 0 node 0", "[rank 1] rank 1 cpus 1 node 0"]
