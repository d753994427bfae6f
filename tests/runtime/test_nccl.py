"""The NCCL path: device groups on GPUs plus gloo CPU groups. Runs only where GPUs are present."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import PROBE, pconf, probe_reports, write_config

torch = pytest.importorskip("torch")
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
needs_gpus = pytest.mark.skipif(GPUS < 1, reason="no CUDA GPU here (the CPU CI runs the gloo tests instead)")


@needs_gpus
def test_nccl_groups(no_leftovers: Path) -> None:
    """With cuda devices, every group is an NCCL group (with a gloo twin) and the check all-reduces pass."""
    world = min(GPUS, 4)
    parallel = {"tensor_parallel_size": world} if world > 1 else {}
    config = write_config(no_leftovers / "c.toml", parallel, {"device": "cuda", "devices_per_node": GPUS})
    result = pconf("launch", str(config), "--quiet", "--timeout", "120", "--", sys.executable, str(PROBE),
                   str(config), timeout=240)
    assert result.returncode == 0, result.stderr
    reports = probe_reports(result.stderr)
    assert sorted(reports) == list(range(world))
    assert {r["backend"] for r in reports.values()} == {"nccl"}
    for rank, report in reports.items():
        assert report["members"]["tp"] == list(range(world))
        assert report["sums"]["tp"] == sum(range(world)), rank
        # async scheduling is on for mp, so disable_nccl_for_dp_synchronization resolves true: DP sync on gloo
        assert report["dp_sync"] == "cpu"


@needs_gpus
def test_nccl_dp_sync_group_follows_the_flag(no_leftovers: Path) -> None:
    """disable_nccl_for_dp_synchronization = false keeps the DP padding sync on the NCCL group."""
    config = write_config(no_leftovers / "c.toml", {"disable_nccl_for_dp_synchronization": False},
                          {"device": "cuda", "devices_per_node": GPUS})
    result = pconf("launch", str(config), "--quiet", "--timeout", "120", "--", sys.executable, str(PROBE),
                   str(config), timeout=240)
    assert result.returncode == 0, result.stderr
    assert {r["dp_sync"] for r in probe_reports(result.stderr).values()} == {"device"}


@needs_gpus
def test_doctor_on_gpus(no_leftovers: Path) -> None:
    """pconf doctor sizes a large cuda config to this host's GPUs and passes."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 8, "data_parallel_size": 2},
                          {"device": "cuda", "devices_per_node": 16})
    result = pconf("doctor", str(config), "--quiet", "--timeout", "180", timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"this host runs {GPUS} GPUs" in result.stderr
