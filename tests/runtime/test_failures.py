"""Failures are errors, never hangs: hash mismatches, dead ranks, timeouts, signals, taken ports, unreachable
stores -- all bounded, the environment's faults one line and exit 3."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tests.runtime.conftest import pconf, run, worker_processes, write_config

HERE = Path(__file__).resolve().parent
#: Two "nodes" on this host, said outright (loopback for every node): the multi-node faults without namespaces.
LOOPBACK_NODES = {"network": {"node_addresses": ["127.0.0.1", "127.0.0.1"]}}
#: Seconds past --timeout a fault may take to be reported: starting Python, importing torch, compiling, the
#: ranks' own grace (a loaded CI machine needs most of it; torch's default wait would be 600 s).
SLACK = 15


def test_hash_mismatch_stops_every_rank(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """One rank compiled a different graph: every rank exits 1 (a check found a difference) naming the factor,
    before any collective."""
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
    assert codes == [1, 1, 1, 1], results
    for rank, (_, err) in enumerate(results):
        assert f"pconf rank {rank}: graph hash mismatch: ranks 0-2 " in err
        assert "  dbo_decode_token_threshold: rank 0: 32; rank 3: 64" in err
        assert "rank 3 (" in err
    assert time.monotonic() - start < 60


def test_dead_rank_stops_the_launch(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """A rank killed during the rendezvous: the launcher stops the rest and names it in one line, exit 3 (a rank
    died: the environment's fault), well within the timeout."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 4})
    start = time.monotonic()
    result = pconf("launch", str(config), "--quiet", "--timeout", "120", "--",
                   *torch_python(str(HERE / "die_rank.py"), str(config), "1"), timeout=150, python=torch_python)
    elapsed = time.monotonic() - start
    assert result.returncode == 3, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("pconf launch:")]
    assert line.startswith("pconf launch: rank 1 (pid ")
    assert line.endswith(", node 0) was killed by signal 9 (SIGKILL); stopped the other ranks: a rank died, check "
                         "the node's memory and logs (dmesg)")
    assert elapsed < 60


def test_command_is_not_killed_at_the_timeout(no_leftovers: Path) -> None:
    """With -- CMD (a server, say) the deadline covers the rendezvous only: on one node there is none to wait for,
    so a command that outlives --timeout runs to its end."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    start = time.monotonic()
    result = pconf("launch", str(config), "--quiet", "--timeout", "1", "--", sys.executable, "-c",
                   f"import time; time.sleep(4)  # {no_leftovers}", timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert time.monotonic() - start >= 4


def test_check_run_timeout_names_the_missing_node(no_leftovers: Path) -> None:
    """pconf's check run over two nodes with only node 0 started: exit 3 within --timeout plus a few seconds, one
    line naming the ranks and node that did not join, the rendezvous address and what to start."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "nnodes": 2}, LOOPBACK_NODES)
    start = time.monotonic()
    result = pconf("launch", str(config), "--quiet", "--timeout", "4", timeout=60)
    elapsed = time.monotonic() - start
    assert result.returncode == 3, result.stderr
    port = pconf_port(config)
    [line] = [line for line in result.stderr.splitlines() if line.startswith("pconf launch:")]
    assert line == (f"pconf launch: rank 1 (node 1) did not join the rendezvous at 127.0.0.1:{port} within 4 s; "
                    "start `pconf launch FILE --node-rank K` on node 1 and check that it reaches "
                    f"127.0.0.1:{port} (the address is node 0's, the port open between the nodes)")
    assert elapsed < 4 + SLACK


def test_command_run_timeout_names_the_missing_node(no_leftovers: Path) -> None:
    """-- CMD over two nodes with only node 0 started: the rendezvous of the launchers fails, exit 3, one line."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "nnodes": 2}, LOOPBACK_NODES)
    start = time.monotonic()
    result = pconf("launch", str(config), "--quiet", "--timeout", "3", "--", sys.executable, "-c",
                   f"import time; time.sleep(60)  # {no_leftovers}", timeout=60)
    assert result.returncode == 3, result.stderr
    port = pconf_port(config)
    assert result.stderr == (f"pconf launch: node 1 did not join the rendezvous at 127.0.0.1:{port} within 3 s; "
                             "start `pconf launch FILE --node-rank K -- ...` on each of them and check that it reaches "
                             f"127.0.0.1:{port}\n")
    assert time.monotonic() - start < 3 + SLACK


def test_port_held_open(no_leftovers: Path) -> None:
    """Node 0's rendezvous port taken by another process: exit 3 at once, one line naming address, port and key."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    port = pconf_port(config)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", port))
        holder.listen()
        start = time.monotonic()
        result = pconf("launch", str(config), "--timeout", "30", timeout=60)
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == (f"pconf launch: cannot host the rendezvous store at 127.0.0.1:{port}: port {port} "
                             "(parallel.master_port) is already in use on this host; stop what listens there "
                             f"(ss -ltnp 'sport = :{port}'), e.g. an earlier run, or give parallel.master_port "
                             "another port\n")
    assert time.monotonic() - start < SLACK


def test_head_address_not_this_host(no_leftovers: Path) -> None:
    """Node 0's launcher started on a host that does not have master_addr: exit 3 at once, one line."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "master_addr": "192.0.2.1"})
    port = pconf_port(config)
    start = time.monotonic()
    result = pconf("launch", str(config), "--timeout", "30", timeout=60)
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == (f"pconf launch: cannot host the rendezvous store at 192.0.2.1:{port}: 192.0.2.1 is not an "
                             "address of this host; run node 0's launcher on the host whose address is 192.0.2.1 "
                             "(master_addr, or data_parallel_master_ip for a DP run on vLLM's one-node rendezvous)\n")
    assert time.monotonic() - start < SLACK


def test_unreachable_head(no_leftovers: Path) -> None:
    """Node 1 started while nobody answers at node 0's address: exit 3 within --timeout plus a few seconds, one
    line naming the address and port and what to check, no C++ stack."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "nnodes": 2,
                                                    "master_addr": "192.0.2.1"})  # TEST-NET-1: nobody answers
    port = pconf_port(config)
    start = time.monotonic()
    result = pconf("launch", str(config), "--node-rank", "1", "--timeout", "10", timeout=60)
    elapsed = time.monotonic() - start
    assert (result.returncode, result.stdout) == (3, "")
    [line] = result.stderr.splitlines()
    assert line.startswith(f"pconf launch: cannot reach the rendezvous store at 192.0.2.1:{port} within 10 s (no "
                           "answer); start node 0's launcher first")
    assert line.endswith("start node 0's launcher first (pconf launch FILE --node-rank 0), and check that "
                         f"192.0.2.1 is node 0's address and that port {port} is open between the nodes (a firewall, "
                         "another network)")
    assert elapsed < 10 + SLACK  # torch's own client retries would take twice the timeout


def test_lost_store(no_leftovers: Path) -> None:
    """Node 0's launcher goes away while node 1 runs its command: node 1 stops its ranks and exits 3, naming the
    store it lost."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "nnodes": 2}, LOOPBACK_NODES)
    command = ["--", sys.executable, "-c", f"import time; time.sleep(60)  # {no_leftovers}"]
    head = subprocess.Popen([sys.executable, "-m", "pconf", "launch", str(config), "--timeout", "30", *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    other = subprocess.Popen([sys.executable, "-m", "pconf", "launch", str(config), "--node-rank", "1",
                              "--timeout", "30", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while len(worker_processes(f"# {no_leftovers}")) < 4 + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        head.send_signal(signal.SIGTERM)
        head.communicate(timeout=30)
        _, err = other.communicate(timeout=30)
    finally:
        for p in (head, other):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert other.returncode == 3, err
    port = pconf_port(config)
    [line] = [line for line in err.splitlines() if "lost the rendezvous store" in line]
    assert line.startswith(f"pconf launch: lost the rendezvous store at 127.0.0.1:{port} (")
    assert line.endswith("node 0's launcher stopped or its host went away: check node 0 (its output, dmesg), then "
                         "start every node again")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "x"])
def test_timeout_is_finite_positive_seconds(value: str) -> None:
    """--timeout takes a finite, positive number of seconds; anything else is a usage error (exit 2)."""
    result = pconf("launch", str(HERE.parents[1] / "examples" / "cpu-gloo-dev.toml"), "--timeout", value, timeout=60)
    assert result.returncode == 2
    assert "argument --timeout: " in result.stderr
    assert "Traceback" not in result.stderr


def test_signal_is_forwarded(no_leftovers: Path) -> None:
    """SIGTERM to the launcher reaches every rank; the launcher exits 128+15 and leaves no process behind."""
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2})
    launcher = subprocess.Popen([sys.executable, "-m", "pconf", "launch", str(config), "--", sys.executable, "-c",
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
    assert err.splitlines()[-1] == "pconf launch: interrupted (SIGTERM); stopped the 2 ranks of node 0"


def test_launch_without_torch_says_what_to_install() -> None:
    """Without torch importable, pconf launch stops before starting anything: one line, exit 2."""
    code = ("import sys; sys.modules['torch'] = None; from pconf.cli import main; "
            f"sys.exit(main(['launch', {str(HERE.parents[1] / 'examples' / 'cpu-gloo-dev.toml')!r}]))")
    result = run([sys.executable, "-c", code], timeout=60)
    assert (result.returncode, result.stderr) == (
        2, "pconf launch: the ranks need torch: pip install torch==2.13.0 (the CPU wheel), then pip install "
           "'pconf-vllm[runtime]'\n")


def pconf_port(config: Path) -> int:
    """The world rendezvous port of a config written by write_config (its master_port, without DP)."""
    import pconf as library

    port = library.plan_files([config]).ports.world_port
    assert port is not None
    return port
