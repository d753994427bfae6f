"""Runtime tests: real gloo process groups in real processes, every run bounded by a timeout.

Modules that need torch skip themselves without it (``pytest.importorskip``); the binding tests need none.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PROBE = HERE / "probe_rank.py"


def free_ports(n: int) -> list[int]:
    """n ports free right now, each followed by a free one (DP takes port and port + 1)."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        if port + 1 <= 65535 and not {port, port + 1} & set(ports) and not {port, port + 1} & {p + 1 for p in ports}:
            ports.append(port)
    return ports


def write_config(path: Path, parallel: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    """A CPU config with free ports (master, DP master (+1), DP RPC, the API server); ``cluster["network"]`` is
    written as its own ``[cluster.network]`` table."""
    master, dp, rpc, api = free_ports(4)
    fields = {"master_port": master, "data_parallel_master_port": dp, "data_parallel_rpc_port": rpc, **parallel}
    facts = {"device": "cpu", "devices_per_node": 8, **(cluster or {})}
    network = facts.pop("network", None)
    lines = ["[parallel]"] + [f"{k} = {json.dumps(v)}" for k, v in fields.items()]
    lines += ["", "[cluster]"] + [f"{k} = {json.dumps(v)}" for k, v in facts.items()]
    if network:
        lines += ["", "[cluster.network]"] + [f"{k} = {json.dumps(v)}" for k, v in network.items()]
    lines += ["", "[serve]", f"port = {api}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within ``timeout`` seconds (a hang fails the test, never blocks it)."""
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def pconf(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pconf", *args], timeout, env)


def probe_reports(stderr: str) -> dict[int, dict[str, Any]]:
    """The probe's JSON lines out of the launcher's prefixed output."""
    reports = {}
    for line in stderr.splitlines():
        found = re.match(r"\[rank (\d+)\] (\{.*\})$", line)
        if found:
            reports[int(found.group(1))] = json.loads(found.group(2))
    return reports


def worker_processes(marker: str) -> list[int]:
    """PIDs of live processes whose command line mentions ``marker`` (to prove none is left behind)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[Path]:
    """A directory for configs; after the test, no process that names it may still be alive."""
    yield tmp_path
    deadline = time.monotonic() + 10
    while worker_processes(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker_processes(str(tmp_path)) == []
