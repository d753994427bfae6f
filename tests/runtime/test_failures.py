"""Failures are errors, never hangs: hash mismatches, dead ranks, timeouts, signals -- all bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tests.runtime.conftest import pconf, run, worker_processes, write_config

HERE = Path(__file__).resolve().parent


def test_hash_mismatch_stops_every_rank(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """One rank compiled a different graph: every rank exits (code 3) naming the factor, before any collective."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "data_parallel_size": 2})
    procs = []
    for rank in range(4):
        extra = ["--set", "parallel.dbo_decode_token_threshold=64"] if rank == 3 else []
        procs.append(subprocess.Popen(torch_python("-m", "pconf.runtime.worker", str(config), *extra,
                                                  "--timeout", "60"), env={**os.environ, "RANK": str(rank)},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    start = time.monotonic()
    results = [p.communicate(timeout=90) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [3, 3, 3, 3], results
    for rank, (_, err) in enumerate(results):
        assert f"pconf rank {rank}: graph hash mismatch: ranks 0-2 " in err
        assert "  dbo_decode_token_threshold: rank 0: 32; rank 3: 64" in err
        assert "rank 3 (" in err
    assert time.monotonic() - start < 60


def test_dead_rank_stops_the_launch(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """A rank killed during the rendezvous: the launcher stops the rest and names it, well within the timeout."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 4})
    start = time.monotonic()
    result = pconf("launch", str(config), "--quiet", "--timeout", "120", "--",
                   *torch_python(str(HERE / "die_rank.py"), str(config), "1"), timeout=150, python=torch_python)
    elapsed = time.monotonic() - start
    assert result.returncode == 128 + signal.SIGKILL, result.stderr
    assert "pconf launch: rank 1 (pid " in result.stderr
    assert ") killed by signal 9 (SIGKILL); stopped the other ranks" in result.stderr
    assert elapsed < 60


def test_launch_timeout_names_the_ranks(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """Ranks that outlive --timeout are stopped; exit 124 naming them."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    result = pconf("launch", str(config), "--quiet", "--timeout", "1", "--", sys.executable, "-c",
                   f"import time; time.sleep(60)  # {no_leftovers}", timeout=60, python=torch_python)
    assert result.returncode == 124
    assert result.stderr == "pconf launch: timed out after 1 s; still running: ranks 0,1\n"


def test_signal_is_forwarded(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """SIGTERM to the launcher reaches every rank; the launcher exits 128+15 and leaves no process behind."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    launcher = subprocess.Popen([*torch_python("-m", "pconf", "launch", str(config)), "--", sys.executable, "-c",
                                 f"import time; time.sleep(60)  # {no_leftovers}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ranks() -> list[int]:
        return [pid for pid in worker_processes(f"# {no_leftovers}") if pid != launcher.pid]

    deadline = time.monotonic() + 30
    while len(ranks()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(ranks()) == 2
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=30)
    assert launcher.returncode == 128 + signal.SIGTERM
    assert "pconf launch: stopped by signal 15" in err


def test_launch_without_torch_says_what_to_install() -> None:
    """Without torch importable, pconf launch stops before starting anything: one line, exit 2."""
    code = ("import sys; sys.modules['torch'] = None; from pconf.cli import main; "
            f"sys.exit(main(['launch', {str(HERE.parents[1] / 'examples' / 'cpu-gloo-dev.toml')!r}]))")
    result = run([sys.executable, "-c", code], timeout=60)
    assert (result.returncode, result.stderr) == (
        2, "pconf launch: the ranks need torch: pip install torch==2.13.0 (the CPU wheel), then pip install "
           "'pconf-vllm[runtime]'\n")
