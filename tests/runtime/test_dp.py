"""The DP helpers across real processes: vLLM's truth tables, the stateless group, port retries."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from pconf.runtime.dp import INT64_MAX, DPPorts
from tests.runtime.conftest import free_ports, write_config

DP_RANK = Path(__file__).resolve().parent / "dp_rank.py"


def run_dp_ranks(python: Callable[..., list[str]], config: Path, size: int, extra: list[str] | None = None,
                 timeout: float = 90) -> list[dict[str, Any]]:
    """Start one process per DP rank (``python``: the torch_python fixture), wait for all (bounded), return their
    JSON reports in DP-rank order."""
    procs = [subprocess.Popen(python(str(DP_RANK), str(config), str(d), *(extra or [])),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in range(size)]
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outs


def expected_state(vector: list[list[bool]]) -> list[bool]:
    """spec §12.5: keep running while any rank has work or only some want to pause; pause by unanimity."""
    n = len(vector)
    work = sum(u for u, _ in vector)
    pauses = sum(p for _, p in vector)
    return [work > 0 or pauses % n != 0, pauses == n]


@pytest.mark.parametrize("size", [
    2, pytest.param(3, marks=pytest.mark.ci_only("size 2 runs the same helpers on every input of two ranks")),
])
def test_truth_tables(no_leftovers: Path, torch_python: Callable[..., list[str]], size: int) -> None:
    """sync_dp_state, has_unfinished_dp and sync_kv_cache_memory_size give vLLM's answers on every input."""
    config = write_config(no_leftovers / "c.toml", {"data_parallel_size": size})
    reports = run_dp_ranks(torch_python, config, size)
    for report in reports:
        assert len(report["state"]) == 4 ** size
        for key, got in report["state"].items():
            assert got == expected_state(json.loads(key)), key
        for key, got in report["unfinished"].items():
            assert got is any(json.loads(key)), key
        for key, got in report["kv"].items():
            values = [INT64_MAX if v == -1 else v for v in json.loads(key)]
            assert got == min(values), key
    assert len({r["port"] for r in reports}) == 1


SPEC_EXAMPLES = [([[True, False], [False, False]], [True, False]), ([[False, True], [False, False]], [True, False]),
                 ([[False, True], [False, True]], [False, True]), ([[True, True], [True, True]], [True, True])]


def test_expected_state_gives_the_spec_examples() -> None:
    """expected_state, the truth table test_truth_tables holds every DP process to, gives the four n=2 examples
    of spec §12.5 (no processes: the dev profile's stand-in for test_spec_examples)."""
    for vector, state in SPEC_EXAMPLES:
        assert expected_state(vector) == state


@pytest.mark.ci_only("test_truth_tables[2] holds every input's answer to expected_state, which "
                     "test_expected_state_gives_the_spec_examples checks against these")
def test_spec_examples(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """The four n=2 examples of spec §12.5."""
    config = write_config(no_leftovers / "c.toml", {"data_parallel_size": 2})
    state = run_dp_ranks(torch_python, config, 2)[0]["state"]
    for vector, want in SPEC_EXAMPLES:
        assert state[json.dumps(vector)] == want, vector


def _configured_dp_port(config: Path) -> int:
    return int(next(line.split("= ")[1] for line in config.read_text().splitlines()
                    if line.startswith("data_parallel_master_port")))


def test_first_port_in_use_is_retried(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """With the first DP port taken (EADDRINUSE for DP rank 0), rank 0 binds the next one, publishes it on the
    coordination store, and the group forms there."""
    from torch._C._distributed_c10d import TCPStore

    config = write_config(no_leftovers / "c.toml", {"data_parallel_size": 2})
    first = _configured_dp_port(config)
    coord_port = free_ports(1)[0]
    coord = TCPStore("127.0.0.1", coord_port, None, True, timedelta(seconds=60), wait_for_workers=False)
    squatter = socket.create_server(("127.0.0.1", first))
    try:
        reports = run_dp_ranks(torch_python, config, 2, ["--coord", f"127.0.0.1:{coord_port}"])
    finally:
        squatter.close()
    assert [r["port"] for r in reports] == [first + 1, first + 1]
    assert int(coord.get("pconf/dp_master_port/dp")) == first + 1


@pytest.mark.ci_only("test_first_port_in_use_is_retried forms the group through a coordination store too")
def test_coordination_store_publishes_the_port(no_leftovers: Path, torch_python: Callable[..., list[str]]) -> None:
    """With a coordination store and a free first port, the group forms on the configured port."""
    from torch._C._distributed_c10d import TCPStore

    config = write_config(no_leftovers / "c.toml", {"data_parallel_size": 3})
    coord_port = free_ports(1)[0]
    coord = TCPStore("127.0.0.1", coord_port, None, True, timedelta(seconds=60), wait_for_workers=False)
    reports = run_dp_ranks(torch_python, config, 3, ["--coord", f"127.0.0.1:{coord_port}"])
    assert [r["port"] for r in reports] == [_configured_dp_port(config)] * 3
    assert int(coord.get("pconf/dp_master_port/dp")) == _configured_dp_port(config)


class TestDPPorts:
    def test_without_pool_counts_up(self) -> None:
        """Without a pool: the DP master port, then one more each call."""
        ports = DPPorts(29500)
        assert [ports.next() for _ in range(3)] == [29500, 29501, 29502]

    def test_pool_pops_last_first(self) -> None:
        """A prepared pool is used from its end, then the master port counts up (spec §12.1)."""
        ports = DPPorts(29500, [41000, 41001, 41002])
        assert [ports.next() for _ in range(5)] == [41002, 41001, 41000, 29500, 29501]


class TestTakenPorts:
    """DP rank 0 walking past taken ports, in this process with real sockets (DP = 1: a group of one)."""

    def test_group_is_freed_without_the_collector(self, no_leftovers: Path) -> None:
        """Past a taken port, the store and group are freed as soon as the caller drops them: nothing keeps them
        in a reference cycle until interpreter exit, where gloo's threads would abort the process."""
        import gc
        import weakref

        import pconf
        from pconf.runtime.dp import stateless_dp_group

        config = write_config(no_leftovers / "c.toml", {"data_parallel_size": 1})
        first = _configured_dp_port(config)
        squatter = socket.create_server(("127.0.0.1", first))
        gc.disable()
        try:
            group, store = stateless_dp_group(pconf.plan_files([config]), 0, timeout=30)
            assert store.port == first + 1
            group_ref, store_ref = weakref.ref(group), weakref.ref(store)
            del group, store
            assert (group_ref(), store_ref()) == (None, None)
        finally:
            gc.enable()
            squatter.close()

    def test_every_port_taken(self, no_leftovers: Path) -> None:
        """After ``retries`` taken ports, rank 0 raises EADDRINUSE naming each port it tried."""
        import errno

        import pconf
        from pconf.runtime.dp import stateless_dp_group

        config = write_config(no_leftovers / "c.toml", {"data_parallel_size": 2})
        pool = free_ports(3)
        squatters = [socket.create_server(("127.0.0.1", port)) for port in pool]
        try:
            with pytest.raises(OSError, match="are all in use") as caught:
                stateless_dp_group(pconf.plan_files([config]), 0, ports=DPPorts(pool[0], list(pool)), retries=3)
        finally:
            for squatter in squatters:
                squatter.close()
        assert caught.value.errno == errno.EADDRINUSE
        assert caught.value.strerror == (f"the DP master ports {pool[2]}, {pool[1]}, {pool[0]} are all in use "
                                         "(3 attempts)")
