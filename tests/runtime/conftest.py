"""Runtime tests: real gloo process groups in real processes, every run bounded by a timeout.

Modules that need torch skip themselves without it (``pytest.importorskip``); the binding tests need none.
The programs that import torch -- ``pconf launch`` itself and the rank programs the tests write (probe_rank.py,
die_rank.py, dp_rank.py, the worker started directly) -- start through ``torch_python``: fresh interpreters in
the ci profile, children of a fork server that has torch imported in the dev profile (``zygote.py``; over a
second of import saved per process). The ranks ``pconf launch`` starts with its own worker are fresh processes
in both.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import profiles

HERE = Path(__file__).resolve().parent
PROBE = HERE / "probe_rank.py"
ZYGOTE = HERE / "zygote.py"
#: PIDs of the fork servers started in this session: their children must be gone after each test too.
ZYGOTE_SERVERS: list[int] = []


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
    """A CPU config with free ports (master, DP master (+1), DP RPC)."""
    master, dp, rpc = free_ports(3)
    fields = {"master_port": master, "data_parallel_master_port": dp, "data_parallel_rpc_port": rpc, **parallel}
    lines = ["[parallel]"] + [f"{k} = {json.dumps(v)}" for k, v in fields.items()]
    lines += ["", "[cluster]"] + [f"{k} = {json.dumps(v)}" for k, v in
                                  {"device": "cpu", "devices_per_node": 8, **(cluster or {})}.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within ``timeout`` seconds (a hang fails the test, never blocks it)."""
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def pconf(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
          python: Callable[..., list[str]] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m pconf ARGS`` to completion; ``python``: the torch_python fixture, for commands that import torch."""
    return run((python or (lambda *program: [sys.executable, *program]))("-m", "pconf", *args), timeout, env)


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


def children_of(parents: list[int]) -> list[int]:
    """PIDs of live processes whose parent is one of ``parents``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) in parents and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[Path]:
    """A directory for configs; after the test, no process that names it may still be alive, and no rank the
    dev profile's fork server started."""
    yield tmp_path

    def left() -> list[int]:
        return worker_processes(str(tmp_path)) + children_of(ZYGOTE_SERVERS)

    deadline = time.monotonic() + 10
    while left() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left() == []


@pytest.fixture(scope="session")
def torch_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., list[str]]]:
    """``torch_python(PROGRAM, ARG...)``: the argv that runs ``python PROGRAM ARG...`` (PROGRAM: a script, or "-m",
    MODULE) for a program that imports torch. In the ci profile that is exactly that; in dev, the client of a fork
    server with torch imported (zygote.py), which stands for the program -- exit code, death by signal, forwarded
    signals, streams."""
    if profiles.chosen() == "ci":
        yield lambda *program: [sys.executable, *program]
        return
    pytest.importorskip("torch")
    where = tmp_path_factory.mktemp("zygote")
    sockets = tempfile.mkdtemp(prefix="pconf-zygote-")  # short: a socket path has at most 107 bytes
    path = os.path.join(sockets, "s")
    with (where / "stderr").open("w") as log:
        server = subprocess.Popen([sys.executable, str(ZYGOTE), "serve", path], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=log, text=True,
                                  env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], 120)
        line = server.stdout.readline() if ready else ""
        assert line == "ready\n", f"the fork server did not start: {line!r}, {(where / 'stderr').read_text()}"
        ZYGOTE_SERVERS.append(server.pid)
        yield lambda *program: [sys.executable, str(ZYGOTE), "run", path, *program]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.pid in ZYGOTE_SERVERS:
            ZYGOTE_SERVERS.remove(server.pid)
        shutil.rmtree(sockets, ignore_errors=True)
