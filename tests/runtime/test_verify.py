"""The cross-rank graph-hash check in one process: threads as ranks, each with its own client of one TCPStore hosted
by the test (as ``pconf launch`` hosts it), counting every request each rank makes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("torch")

from torch._C._distributed_c10d import PrefixStore, Store, TCPStore

import pconf
from pconf.plan import Plan
from pconf.runtime.store import RendezvousTimeout, missing_ranks
from pconf.runtime.verify import (
    ARRIVAL_SHIFT,
    ARRIVED_KEY,
    JOIN_KEY,
    GraphMismatch,
    JoinRecord,
    _ranks,
    arrivals,
    join_record,
    mismatch,
    publish_and_verify,
)


def plan_of(world: int, **parallel: Any) -> Plan:
    return pconf.compile_dict({"parallel": {"tensor_parallel_size": 2, "data_parallel_size": world // 2,
                                            "master_port": 29500, "data_parallel_master_port": 29600,
                                            **parallel},
                               "cluster": {"devices_per_node": world}}).plan()


class Counting(Store):
    """A store that forwards to another and counts the requests (and the bytes of keys and values) it makes."""

    def __init__(self, inner: Store) -> None:
        super().__init__()
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.bytes = 0

    def _note(self, name: str, *parts: Any) -> None:
        self.calls[name] += 1
        self.bytes += sum(len(p) if isinstance(p, (str, bytes)) else sum(map(len, p)) for p in parts)

    def set(self, key: str, value: Any) -> None:
        self._note("set", key, value)
        self.inner.set(key, value)

    def get(self, key: str) -> bytes:
        self._note("get", key)
        value: bytes = self.inner.get(key)
        self.bytes += len(value)
        return value

    def add(self, key: str, amount: int) -> int:
        self._note("add", key)
        return int(self.inner.add(key, amount))

    def compare_set(self, key: str, expected: str, desired: str) -> bytes:
        self._note("compare_set", key, expected, desired)
        value: bytes = self.inner.compare_set(key, expected, desired)
        return value

    def wait(self, keys: list[str], timeout: timedelta | None = None) -> None:
        self._note("wait", keys)
        if timeout is None:
            self.inner.wait(keys)
        else:
            self.inner.wait(keys, timeout)

    def check(self, keys: list[str]) -> bool:
        self._note("check", keys)
        return bool(self.inner.check(keys))

    def multi_get(self, keys: list[str]) -> list[bytes]:
        self._note("multi_get", keys)
        values: list[bytes] = self.inner.multi_get(keys)
        self.bytes += sum(map(len, values))
        return values

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def server() -> TCPStore:
    return TCPStore("127.0.0.1", 0, None, True, timedelta(seconds=60), wait_for_workers=False)


def run_ranks(server: TCPStore, n: int, job: Callable[[Store, int], object],
              absent: frozenset[int] = frozenset()) -> tuple[list[object], list[Counting]]:
    """Run ``job(store, rank)`` on a thread per rank (except ``absent``), each with its own counted client
    (connected first, from every thread at once, then released together)."""
    stores: list[Counting] = [Counting(server)] * n  # placeholders for the absent ranks
    results: list[object] = [None] * n
    connected = threading.Barrier(n - len(absent))

    def main(rank: int) -> None:
        stores[rank] = Counting(TCPStore("127.0.0.1", server.port, None, False, timedelta(seconds=60),
                                         wait_for_workers=False))
        connected.wait()
        try:
            results[rank] = job(stores[rank], rank)
        except Exception as exc:
            results[rank] = exc

    threads = [threading.Thread(target=main, args=(r,)) for r in range(n) if r not in absent]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, [s for r, s in enumerate(stores) if r not in absent]


class TestAgreement:
    @pytest.mark.parametrize("n", [2, 8, 32])
    def test_every_rank_passes_with_constant_traffic(self, server: TCPStore, n: int) -> None:
        """Agreeing ranks each make five requests and send/receive a few KB, whatever N: set the record, add to
        the hash's count and the arrivals, wait for the verdict and get it. The last arrival instead reads its hash's
        count, checks every record is there (one request) and writes the verdict."""
        plan = plan_of(n)
        results, stores = run_ranks(server, n, lambda s, r: publish_and_verify(s, plan, r, time.monotonic() + 30))
        assert all(isinstance(r, JoinRecord) and r.graph_hash == plan.graph_hash for r in results), results
        assert [r.rank for r in results if isinstance(r, JoinRecord)] == list(range(n))
        last = [s for s in stores if s.calls["compare_set"]]
        assert len(last) == 1
        assert last[0].calls == {"set": 1, "add": 3, "check": 1, "compare_set": 1}
        for store in stores:
            if store is not last[0]:
                assert store.calls == {"set": 1, "add": 2, "wait": 1, "get": 1}
                assert store.bytes < 4000, store.bytes
        assert arrivals(server) == n

    def test_through_a_prefix_store(self, server: TCPStore) -> None:
        """Any Store works (here a PrefixStore over the client), and two checks on one server stay apart."""
        plan = plan_of(4)
        for prefix in ("first/", "second/"):
            results, _ = run_ranks(server, 4, lambda s, r, p=prefix: publish_and_verify(  # type: ignore[misc]
                PrefixStore(p, s), plan, r, time.monotonic() + 30))
            assert all(isinstance(r, JoinRecord) for r in results), results


class TestMismatch:
    def test_every_rank_names_the_ranks_and_factor(self, server: TCPStore) -> None:
        """One rank differs: every rank raises the same GraphMismatch naming it and the factor with both values;
        only the last arrival reads the records."""
        n = 16
        plan, odd = plan_of(n), plan_of(n, dbo_decode_token_threshold=64)
        results, stores = run_ranks(server, n, lambda s, r: publish_and_verify(
            s, odd if r == 5 else plan, r, time.monotonic() + 30, hosts_store=r == 0))
        assert all(isinstance(r, GraphMismatch) for r in results), results
        messages = {str(r) for r in results}
        assert len(messages) == 1
        message = messages.pop()
        assert message.startswith(f"graph hash mismatch: ranks 0-4,6-15 {plan.graph_hash}; rank 5 (")
        assert f") {odd.graph_hash}\n" in message
        assert "\n  dbo_decode_token_threshold: rank 0: 32; rank 5: 64\n" in message
        assert message.endswith("(pconf diff OLD NEW)")
        assert sum(s.calls["multi_get"] for s in stores) == 1
        assert sorted(s.requests for s in stores)[-2] <= 7  # every rank but the reader: O(1)

    def test_many_differing_ranks_are_counted(self) -> None:
        """Beyond eight differing ranks the message counts the rest instead of listing them."""
        plan, odd = plan_of(32), plan_of(32, dbo_decode_token_threshold=64)
        records = [join_record(odd if r % 2 else plan, r) for r in range(32)]
        message = mismatch(records)
        assert message is not None
        assert "; and 8 more ranks\n" in message
        assert "rank 15: 64, and 8 more\n" in message
        assert message.startswith("graph hash mismatch: ranks 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30 ")

    def test_a_factor_one_side_lacks(self) -> None:
        a = JoinRecord(0, "h1", {"x": 1, "y": None}, "a", 1)
        b = JoinRecord(1, "h2", {"x": 1}, "b", 2)
        assert mismatch([a, b]) == ("graph hash mismatch: rank 0 h1; rank 1 (b) h2\n"
                                    "  y: rank 0: null; rank 1: (absent)\n"
                                    "every rank must compile the same graph factors; compare the ranks' files and "
                                    "overrides (pconf diff OLD NEW)")
        assert mismatch([a, a]) is None


    @pytest.mark.parametrize("odd_rank_starts", ["first", "last"])
    def test_a_rank_counting_another_world_size(self, server: TCPStore, odd_rank_starts: str) -> None:
        """One rank compiled twice the DP size: whether it comes first or last, every rank raises GraphMismatch
        naming it and the sizes, well before the deadline."""
        plan, odd = plan_of(4), plan_of(8)
        first = odd_rank_starts == "first"

        def job(store: Store, rank: int) -> object:
            if (rank == 3) != first:  # wait for the ones that go first to have arrived
                while arrivals(store) < (1 if first else 3):
                    time.sleep(0.01)
            return publish_and_verify(store, odd if rank == 3 else plan, rank, time.monotonic() + 30)

        start = time.monotonic()
        results, _ = run_ranks(server, 4, job)
        assert time.monotonic() - start < 20
        assert all(isinstance(r, GraphMismatch) for r in results), results
        for r in results:
            assert "rank 3" in str(r), r
            assert "data_parallel_size: rank 0: 2; rank 3: 4" in str(r) or "counts 8 ranks" in str(r), r

    def test_a_rank_id_given_twice(self, server: TCPStore) -> None:
        """Four ranks arrive but two say they are rank 3: every rank raises, naming rank 2 as absent."""
        plan = plan_of(4)
        results, _ = run_ranks(server, 4, lambda s, r: publish_and_verify(s, plan, 3 if r == 2 else r,
                                                                          time.monotonic() + 30))
        assert all(isinstance(r, GraphMismatch) for r in results), results
        assert all(str(r).startswith("rendezvous: 4 ranks arrived but rank 2 did not: a rank id was given to two "
                                     "processes") for r in results)


class TestTimeout:
    def test_missing_ranks_are_named_by_one_rank(self, server: TCPStore) -> None:
        """Two ranks never come: every rank that did raises RendezvousTimeout naming them; one rank looked the
        keys up, the others read its list."""
        n = 12
        plan = plan_of(n)
        results, stores = run_ranks(server, n, lambda s, r: publish_and_verify(s, plan, r, time.monotonic() + 1.5),
                                    absent=frozenset({3, 7}))
        came = [r for i, r in enumerate(results) if i not in (3, 7)]
        assert all(isinstance(r, RendezvousTimeout) and r.missing == (3, 7) for r in came), came
        where = f"rendezvous at {plan.ports.world_addr}:{plan.ports.world_port}"
        assert all(f"{where}: ranks 3, 7 did not join within" in str(r) for r in came)
        # each rank checked the verdict once at its deadline; the reporter checked every rank's key too
        assert sorted(s.calls["check"] for s in stores) == [1] * (n - 3) + [n + 1]

    def test_a_silent_last_arrival(self, server: TCPStore) -> None:
        """Every rank arrived but the last one died before writing the verdict: at the deadline the others work it
        out from the records instead of blaming anyone."""
        n = 4
        plan = plan_of(n)
        client = TCPStore("127.0.0.1", server.port, None, False, timedelta(seconds=60), wait_for_workers=False)
        mine = join_record(plan, 3)
        client.set(JOIN_KEY.format(rank=3), mine.encode())
        client.add(f"pconf/agree/{mine.graph_hash}", 1)
        client.add(ARRIVED_KEY, 1 + (n << ARRIVAL_SHIFT))  # ... and never comes back
        results, _ = run_ranks(server, n, lambda s, r: publish_and_verify(s, plan, r, time.monotonic() + 1),
                               absent=frozenset({3}))
        assert all(isinstance(r, JoinRecord) for r in results[:3]), results

    def test_missing_ranks_reporter(self, server: TCPStore) -> None:
        """The first rank to ask checks every key; a later one reads its answer."""
        server.set("k/1", "x")
        first, second = Counting(server), Counting(server)
        assert missing_ranks(first, "k/{rank}", 3, "report") == [0, 2]
        assert missing_ranks(second, "k/{rank}", 3, "report") == [0, 2]
        assert (first.calls["check"], second.calls["check"], second.requests) == (3, 0, 3)


def test_rank_spans() -> None:
    assert _ranks([0, 1, 2]) == "0-2"
    assert _ranks([0, 1]) == "0,1"
    assert _ranks([0, 4, 8]) == "0,4,8"
    assert _ranks([0, 1, 2, 5, 7, 8, 9]) == "0-2,5,7-9"
    assert _ranks(list(range(0, 40, 2)), most=4) == "0,2,4,6 and 16 more"
