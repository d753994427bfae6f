"""Before any collective: every rank publishes its graph hash and factors, and every rank compares them.

A mismatch is an error on every rank naming the ranks that differ and the factors that differ (with each
side's value), raised before ``init_process_group``, so nothing can hang on mismatched collectives.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass

from torch._C._distributed_c10d import Store

from pconf.hashing import graph_hash
from pconf.netaddr import host_port
from pconf.plan import Plan
from pconf.runtime.store import RendezvousTimeout, wait_for_keys

JOIN_KEY = "pconf/join/{rank}"
READ_KEY = "pconf/read/{rank}"


class GraphMismatch(RuntimeError):
    """Ranks of one deployment compiled different graphs."""


@dataclass(frozen=True)
class JoinRecord:
    """What a rank says about itself when it joins."""

    rank: int
    graph_hash: str
    factors: dict[str, list[object]]  # name -> [value, digest]
    host: str
    pid: int

    def encode(self) -> str:
        return json.dumps({"rank": self.rank, "graph_hash": self.graph_hash, "factors": self.factors,
                           "host": self.host, "pid": self.pid}, sort_keys=True)

    @classmethod
    def decode(cls, data: bytes) -> JoinRecord:
        d = json.loads(data)
        return cls(d["rank"], d["graph_hash"], d["factors"], d["host"], d["pid"])


def join_record(plan: Plan, rank: int) -> JoinRecord:
    gh = graph_hash(plan.resolved)
    return JoinRecord(rank, str(gh), {f.name: [f.value, f.digest] for f in gh.factors}, socket.gethostname(),
                      os.getpid())


def join_keys(world_size: int) -> dict[int, str]:
    return {r: JOIN_KEY.format(rank=r) for r in range(world_size)}


def publish_and_verify(store: Store, plan: Plan, rank: int, deadline: float,
                       hosts_store: bool = False) -> list[JoinRecord]:
    """Publish this rank's record, wait for every rank's, and raise GraphMismatch if any hash differs.

    On a mismatch the rank that hosts the store (``hosts_store``) waits until every rank has read the records,
    so it cannot take the store away from ranks still reading.
    """
    mine = join_record(plan, rank)
    store.set(JOIN_KEY.format(rank=rank), mine.encode())
    keys = join_keys(plan.world_size)
    addr, port = plan.ports.world_addr, plan.ports.world_port
    wait_for_keys(store, keys, deadline, f"rendezvous at {host_port(addr, port)}")
    records = [JoinRecord.decode(value) for value in store.multi_get(list(keys.values()))]
    problem = mismatch(records)
    if problem:  # every rank sees it; the store's host waits for them all before it goes (bounded)
        store.set(READ_KEY.format(rank=rank), "1")
        if hosts_store:
            with contextlib.suppress(RendezvousTimeout):
                wait_for_keys(store, {r: READ_KEY.format(rank=r) for r in keys}, deadline, "mismatch report")
        raise GraphMismatch(problem)
    return records


def mismatch(records: list[JoinRecord]) -> str | None:
    """Describe how the ranks' graphs differ (by rank 0's as the reference), or None when they agree."""
    reference = records[0]
    odd = [r for r in records if r.graph_hash != reference.graph_hash]
    if not odd:
        return None
    same = [r.rank for r in records if r.graph_hash == reference.graph_hash]
    lines = [f"graph hash mismatch: rank{'s' if len(same) > 1 else ''} {_ranks(same)} {reference.graph_hash}; "
             + "; ".join(f"rank {r.rank} ({r.host}) {r.graph_hash}" for r in odd[:8])]
    names = sorted(set(reference.factors) | {n for r in odd for n in r.factors})
    for name in names:
        ref = reference.factors.get(name)
        differing = [r for r in odd if r.factors.get(name) != ref]
        if differing:
            theirs = ", ".join(f"rank {r.rank}: {_value(r.factors.get(name))}" for r in differing[:8])
            lines.append(f"  {name}: rank {reference.rank}: {_value(ref)}; {theirs}")
    lines.append("every rank must compile the same graph factors; compare the ranks' files and overrides "
                 "(pconf diff OLD NEW)")
    return "\n".join(lines)


def _value(entry: list[object] | None) -> str:
    return "(absent)" if entry is None else json.dumps(entry[0])


def _ranks(ranks: list[int]) -> str:
    if len(ranks) > 2 and ranks == list(range(ranks[0], ranks[-1] + 1)):
        return f"{ranks[0]}-{ranks[-1]}"
    return ",".join(map(str, ranks))
