"""Two "nodes" on one machine: two network namespaces joined by a veth pair, one `pconf launch` in each."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tests.runtime.conftest import write_config


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def two_namespaces() -> Iterator[tuple[str, str, str, str]]:
    """(namespace 0, namespace 1, address 0, address 1), removed afterwards."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (CI has both)")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    ns0, ns1, veth0, veth1 = f"pc{tag}a", f"pc{tag}b", f"pv{tag}a", f"pv{tag}b"
    net = f"10.{random.randrange(64, 250)}.{random.randrange(1, 250)}"
    try:
        _ip("netns", "add", ns0)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"network namespaces are not available here: {exc.stderr.decode().strip()}")
    try:
        _ip("netns", "add", ns1)
        _ip("link", "add", veth0, "type", "veth", "peer", "name", veth1)
        for ns, veth, host in ((ns0, veth0, 1), (ns1, veth1, 2)):
            _ip("link", "set", veth, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{net}.{host}/24", "dev", veth)
            _ip("-n", ns, "link", "set", veth, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield ns0, ns1, f"{net}.1", f"{net}.2"
    finally:
        for ns in (ns0, ns1):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True, timeout=30)


def launch_nodes(config: Path, *within: list[str]) -> list[tuple[str, str]]:
    """``pconf launch`` node K run under the command prefix ``within[K]`` (``ip netns exec NS``, or nothing), all at
    once and bounded; check every node passed and return their (stdout, stderr)."""
    nodes = [subprocess.Popen([*prefix, sys.executable, "-m", "pconf", "launch", str(config), "--node-rank",
                               str(node), "--timeout", "90"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for node, prefix in enumerate(within)]
    try:
        results = [p.communicate(timeout=150) for p in nodes]
    finally:
        for p in nodes:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in nodes] == [0] * len(nodes), results
    return results


def launch_over_veth(config: Path, ns0: str, ns1: str) -> list[tuple[str, str]]:
    """Node 0 launched in ``ns0``, node 1 in ``ns1`` (DP = 2 × TP = 2: ranks 0,1 and 2,3); both passed."""
    results = launch_nodes(config, ["ip", "netns", "exec", ns0], ["ip", "netns", "exec", ns1])
    assert "pconf launch: node 0: started ranks 0,1 of 4" in results[0][1]
    assert "pconf launch: node 1: started ranks 2,3 of 4" in results[1][1]
    assert "pconf launch: all 2 ranks of node 1 passed in " in results[1][1]
    return results


@pytest.mark.ci_only("nothing cheaper launches two nodes; the one-node launch tests take the rest of the path")
def test_two_nodes_over_veth(no_leftovers: Path, two_namespaces: tuple[str, str, str, str]) -> None:
    """DP=2 × TP=2 on two nodes: each namespace launches its node's ranks; both rendezvous over the veth pair."""
    ns0, ns1, addr0, _ = two_namespaces
    config = write_config(no_leftovers / "c.toml", {
        "tensor_parallel_size": 2, "data_parallel_size": 2, "data_parallel_size_local": 1, "nnodes": 2,
        "master_addr": addr0, "data_parallel_master_ip": addr0, "enable_expert_parallel": True,
    }, {"devices_per_node": 2})
    launch_over_veth(config, ns0, ns1)


def test_dp_only_layout_over_veth(no_leftovers: Path, two_namespaces: tuple[str, str, str, str]) -> None:
    """vLLM's DP-only multi-node form (nnodes unset, data_parallel_size_local = 1 of DP = 2, TP = 2): pconf plans
    two nodes, one DP rank each, meeting at node 0's DP address; each namespace launches its node's ranks."""
    ns0, ns1, addr0, addr1 = two_namespaces
    config = write_config(no_leftovers / "c.toml", {
        "tensor_parallel_size": 2, "data_parallel_size": 2, "data_parallel_size_local": 1,
        "data_parallel_master_ip": addr0, "enable_expert_parallel": True,
    }, {"devices_per_node": 2, "network": {"node_addresses": [addr0, addr1]}})
    results = launch_over_veth(config, ns0, ns1)
    assert "stateless DP group" in results[0][1]


def test_unreachable_head_over_veth(no_leftovers: Path, two_namespaces: tuple[str, str, str, str]) -> None:
    """Node 1 launched while node 0's launcher is not running: nobody answers at node 0's address, so node 1
    exits 3 within --timeout plus a few seconds, one line naming the address and port."""
    _, ns1, addr0, _ = two_namespaces
    config = write_config(no_leftovers / "c.toml", {"tensor_parallel_size": 2, "nnodes": 2, "master_addr": addr0},
                          {"devices_per_node": 1})
    import pconf as library

    port = library.plan_files([config]).ports.world_port
    start = time.monotonic()
    result = subprocess.run(["ip", "netns", "exec", ns1, sys.executable, "-m", "pconf", "launch", str(config),
                             "--node-rank", "1", "--timeout", "5"], capture_output=True, text=True, timeout=60,
                            check=False)
    elapsed = time.monotonic() - start
    assert (result.returncode, result.stdout) == (3, ""), result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"pconf launch: cannot reach the rendezvous store at {addr0}:{port} within 5 s (")
    assert elapsed < 5 + 15  # torch's default wait would be 600 s; a loaded machine needs the slack


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_dp_only_layout_on_ipv6_loopback(no_leftovers: Path) -> None:
    """IPv6 end to end: vLLM's DP-only form on two "nodes" of this host, said outright (node_addresses ::1 twice),
    meeting at [::1]; every group and the stateless DP group form and check."""
    config = write_config(no_leftovers / "c.toml", {
        "data_parallel_size": 2, "data_parallel_size_local": 1, "data_parallel_master_ip": "::1",
        "enable_expert_parallel": True,
    }, {"devices_per_node": 1, "network": {"node_addresses": ["::1", "::1"]}})
    results = launch_nodes(config, [], [])
    assert "pconf launch: all 1 ranks of node 1 passed in " in results[1][1]
