"""Benchmark: the cross-rank graph-hash check against a bare store barrier of the same shape, at 256 … 4096 ranks.

Threads play the ranks (the store's calls release the GIL), each with its own client connection to one TCPStore
hosted by this process, as ``pconf launch`` hosts it (``hosts_store=False`` on every rank). Per round, every
rank thread runs one of:
- bare: set one record of the same size as a pconf join record under its own key, add 1 to a counter, and wait
  for the last arrival (the last one sets a key everyone waits on);
- pconf: ``pconf.runtime.verify.publish_and_verify(store, plan, rank, deadline)``, record built included.
Each round gets fresh keys (a PrefixStore per round); sides alternate; the clock runs from releasing the
threads to the last one finishing. Prints the median of each side and the ratio per N (target: <= 3).

With ``--mismatch``, one more round per N where the last rank compiled another graph: the time until every
rank has raised GraphMismatch, and a check that every rank's message names that rank and the factor.

The rank threads hand the GIL over when they block on the store; Python's default forced switch every 5 ms makes
4,096 runnable threads measure the scheduler (identical rounds differ tenfold), so the interval is set to 1 s
for both sides (``--switch-interval 0.005`` for Python's default). Connecting 4,096 clients can take a while:
torch looks the peer's name up for its log, and a slow resolver stalls a connect now and then.

    python bench/verify.py [--sizes 256,1024,4096] [--rounds N] [--mismatch]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta

os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # not a warning per client at exit (its peer's name)

from torch._C._distributed_c10d import PrefixStore, Store, TCPStore  # noqa: TID251 - the runtime's store

import pconf
from pconf.plan import Plan
from pconf.runtime.verify import GraphMismatch, join_record, publish_and_verify

TP = 8
#: Threads hand the GIL over when they block on the store (every rank does within microseconds); with Python's
#: default 5 ms forced switches, 4,096 runnable threads make identical rounds differ tenfold (both sides alike).
SWITCH_INTERVAL = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def plan_for(n: int, overrides: dict[str, object] | None = None) -> Plan:
    """A wide-EP plan of ``n`` ranks: TP=8, DP=n/8, one DP replica per node of 8."""
    dp = n // TP
    doc = {"parallel": {"tensor_parallel_size": TP, "data_parallel_size": dp, "enable_expert_parallel": True,
                        "nnodes": dp, "data_parallel_size_local": 1, "master_port": 29500,
                        "data_parallel_master_port": 29600, **(overrides or {})},
           "cluster": {"devices_per_node": TP,  # every "node" on this host, said outright
                       "network": {"node_addresses": ["127.0.0.1"] * dp}}}
    return pconf.compile_dict(doc).plan()


class Ranks:
    """``n`` client connections to the store; each round, ``n`` fresh threads run one function together."""

    def __init__(self, n: int, port: int) -> None:
        self.n = n
        # Connected from 64 threads at once: a client's connect can wait seconds on a reverse DNS lookup of the
        # address (torch logs the peer's name), which on some hosts stalls now and then.
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            self.clients = list(pool.map(lambda _: TCPStore("127.0.0.1", port, None, False, timedelta(seconds=600),
                                                            wait_for_workers=False), range(n)))
        self.round = 0
        self.results: list[object] = [None] * n
        threading.stack_size(256 * 1024)

    def run(self, job: Callable[[Store, int], object]) -> float:
        """Start a thread per rank, release them all at once on ``job``; the seconds until the last one finished
        (with fresh keys: a PrefixStore per round)."""
        self.round += 1
        go, ready = threading.Event(), threading.Semaphore(0)
        ends = [0.0] * self.n
        stores = [PrefixStore(f"round{self.round}/", client) for client in self.clients]

        def rank_main(rank: int) -> None:
            ready.release()
            go.wait()
            try:
                self.results[rank] = job(stores[rank], rank)
            except Exception as exc:  # the mismatch round: every rank raises
                self.results[rank] = exc
            ends[rank] = time.perf_counter()

        threads = [threading.Thread(target=rank_main, args=(r,), daemon=True) for r in range(self.n)]
        for t in threads:
            t.start()
        for _ in range(self.n):
            ready.acquire()
        time.sleep(0.2)  # every thread parked in go.wait()
        start = time.perf_counter()
        go.set()
        for t in threads:
            t.join()
        return max(ends) - start


def bare_barrier(n: int, record: str) -> Callable[[Store, int], object]:
    def job(store: Store, rank: int) -> object:
        store.set(f"rec/{rank}", record)
        if store.add("count", 1) == n:
            store.set("done", "1")
        store.wait(["done"], timedelta(seconds=600))
        return None

    return job


def verify(plan: Plan) -> Callable[[Store, int], object]:
    def job(store: Store, rank: int) -> object:
        publish_and_verify(store, plan, rank, time.monotonic() + 600)
        return None

    return job


def mismatched(plan: Plan, odd: Plan) -> Callable[[Store, int], object]:
    def job(store: Store, rank: int) -> object:
        return publish_and_verify(store, odd if rank == plan.world_size - 1 else plan, rank, time.monotonic() + 600)

    return job


def measure(n: int, rounds: int, mismatch: bool) -> tuple[float, float]:
    plan = plan_for(n)
    record = join_record(plan, 0).encode()
    port = free_port()
    server = TCPStore("127.0.0.1", port, None, True, timedelta(seconds=600), wait_for_workers=False)
    start = time.perf_counter()
    ranks = Ranks(n, port)
    print(f"N = {n}: {n} client connections and threads in {time.perf_counter() - start:.1f} s", flush=True)
    times: dict[str, list[float]] = {"bare": [], "pconf": []}
    jobs = {"bare": bare_barrier(n, record), "pconf": verify(plan)}
    for round_ in range(rounds):
        for side in ("bare", "pconf") if round_ % 2 == 0 else ("pconf", "bare"):
            times[side].append(ranks.run(jobs[side]))
            bad = [r for r in ranks.results if r is not None]
            if bad:
                raise SystemExit(f"{side} round failed on {len(bad)} ranks: {bad[0]}")
    bare, ours = statistics.median(times["bare"]), statistics.median(times["pconf"])
    print(f"N = {n:5}: bare barrier {bare * 1e3:8.1f} ms, publish_and_verify {ours * 1e3:8.1f} ms, "
          f"ratio {ours / bare:5.2f} (median of {rounds}; target <= 3)", flush=True)
    if mismatch:
        odd = plan_for(n, {"dbo_decode_token_threshold": 64})
        elapsed = ranks.run(mismatched(plan, odd))
        raised = [r for r in ranks.results if isinstance(r, GraphMismatch)]
        named = all(f"rank {n - 1} (" in str(r) and "dbo_decode_token_threshold: rank 0: 32; rank "
                    f"{n - 1}: 64" in str(r) for r in raised)
        print(f"N = {n:5}: mismatch raised on {len(raised)}/{n} ranks in {elapsed * 1e3:.1f} ms, "
              f"every message names rank {n - 1} and the factor: {named}", flush=True)
        if len(raised) != n or not named:
            raise SystemExit("the mismatch was not reported on every rank")
    del server
    return bare, ours


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,1024,4096")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mismatch", action="store_true", help="also time a mismatch round and check its report")
    parser.add_argument("--switch-interval", type=float, default=SWITCH_INTERVAL,
                        help=f"sys.setswitchinterval for the rank threads (default {SWITCH_INTERVAL}; Python's: "
                        "0.005)")
    args = parser.parse_args()
    sys.setswitchinterval(args.switch_interval)
    ok = True
    for n in map(int, args.sizes.split(",")):
        bare, ours = measure(n, args.rounds, args.mismatch)
        ok &= ours / bare <= 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
