"""Ctrl-C and kill -9 as a user meets them: a real launcher, real signals, real rank processes.

Ctrl-C (SIGINT) during ``pconf launch``, with or without ``-- CMD``: exit 130, one line, no traceback from any
rank, every rank process gone. ``kill -9`` of the launcher: its ranks (and what they started) are gone within
10 s. ``pconf exec`` becomes its command (execve), so killing it kills the command itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tests.runtime.conftest import worker_processes, write_config

#: Two "nodes" on this host, said outright: node 0's ranks then wait in the rendezvous for node 1's.
LOOPBACK_NODES = {"network": {"node_addresses": ["127.0.0.1", "127.0.0.1"]}}


def _launcher(config: Path, *command: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pconf", "launch", str(config), "--quiet", "--timeout", "120",
                             *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(marker: str, count: int, exclude: int, timeout: float = 60) -> list[int]:
    """The pids of at least ``count`` live processes naming ``marker`` (other than ``exclude``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [pid for pid in worker_processes(marker) if pid != exclude]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} processes named {marker} within {timeout} s")


def _sleeper(marker: Path) -> list[str]:
    """A rank command that prints a KeyboardInterrupt traceback when interrupted (if anyone let it)."""
    return ["--", sys.executable, "-c", f"import time; time.sleep(120)  # {marker}"]


def test_ctrl_c_with_a_command(no_leftovers: Path) -> None:
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    launcher = _launcher(config, *_sleeper(no_leftovers))
    _wait_for(f"# {no_leftovers}", 2, launcher.pid)
    launcher.send_signal(signal.SIGINT)
    out, err = launcher.communicate(timeout=60)
    assert (launcher.returncode, out, err) == (130, "", "pconf launch: interrupted (SIGINT); stopped the 2 ranks "
                                                        "of node 0\n")


def test_ctrl_c_during_the_check_run(no_leftovers: Path) -> None:
    """pconf's own check ranks, interrupted while they wait in the rendezvous (node 1 never comes)."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 4, "nnodes": 2}, LOOPBACK_NODES)
    launcher = _launcher(config)
    ranks = _wait_for(str(config), 2, launcher.pid)
    time.sleep(3)  # into torch's rendezvous, where an interrupt used to leave a traceback per rank
    launcher.send_signal(signal.SIGINT)
    out, err = launcher.communicate(timeout=60)
    assert (launcher.returncode, out, err) == (130, "", "pconf launch: interrupted (SIGINT); stopped the 2 ranks "
                                                        "of node 0\n")
    assert not [pid for pid in ranks if Path(f"/proc/{pid}").exists()]


def test_kill_9_of_the_launcher_stops_its_ranks(no_leftovers: Path) -> None:
    """The ranks, and the processes each rank started, are gone within 10 s of the launcher's death."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    marker = f"# {no_leftovers}"
    shell = f"sleep 120 & python3 -c 'import time; time.sleep(120)  {marker}' ; wait"
    launcher = _launcher(config, "--", "sh", "-c", f"{shell}  {marker}")
    _wait_for(marker, 4, launcher.pid)  # two shells, each with its python grandchild
    launcher.send_signal(signal.SIGKILL)
    launcher.communicate(timeout=30)
    killed = time.monotonic()
    while worker_processes(marker) and time.monotonic() - killed < 10:
        time.sleep(0.1)
    assert worker_processes(marker) == []
    print(f"ranks gone {time.monotonic() - killed:.1f} s after kill -9 of the launcher")


def test_exec_becomes_its_command(no_leftovers: Path) -> None:
    """`pconf exec` replaces itself with the command: the pid a supervisor holds is the command's, so kill -9
    of it leaves nothing behind."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    marker = f"# {no_leftovers}"
    process = subprocess.Popen([sys.executable, "-m", "pconf", "exec", str(config), "--rank", "1", "--",
                                sys.executable, "-c", f"import time; time.sleep(120)  {marker}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    while b"time.sleep(120)" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"time.sleep(120)" in cmdline.read_bytes()  # the same pid now runs the command
    assert worker_processes(marker) == [process.pid]
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert worker_processes(marker) == []
