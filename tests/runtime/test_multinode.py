"""Two "nodes" on one machine: two network namespaces joined by a veth pair, one `pconf launch` in each."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
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


@pytest.mark.ci_only("nothing cheaper launches two nodes; the one-node launch tests take the rest of the path")
def test_two_nodes_over_veth(no_leftovers: Path, two_namespaces: tuple[str, str, str, str]) -> None:
    """DP=2 × TP=2 on two nodes: each namespace launches its node's ranks; both rendezvous over the veth pair."""
    ns0, ns1, addr0, _ = two_namespaces
    config = write_config(no_leftovers / "c.toml", {
        "tensor_parallel_size": 2, "data_parallel_size": 2, "data_parallel_size_local": 1, "nnodes": 2,
        "master_addr": addr0, "data_parallel_master_ip": addr0, "enable_expert_parallel": True,
    }, {"devices_per_node": 2})
    nodes = [subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "pconf", "launch", str(config),
                               "--node-rank", str(node), "--timeout", "90"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for node, ns in enumerate((ns0, ns1))]
    try:
        results = [p.communicate(timeout=150) for p in nodes]
    finally:
        for p in nodes:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in nodes] == [0, 0], results
    assert "pconf launch: node 0: started ranks 0,1 of 4" in results[0][1]
    assert "pconf launch: node 1: started ranks 2,3 of 4" in results[1][1]
    assert "pconf launch: all 2 ranks of node 1 passed in " in results[1][1]
