"""Before any collective: every rank's graph hash is compared with every other's, through the rendezvous store.

A mismatch is an error on every rank naming the ranks that differ and the factors that differ (with each
side's value), raised before ``init_process_group``, so nothing can hang on mismatched collectives.

Store traffic per rank is O(1) in the number of ranks N when the ranks agree -- five requests, whatever N:

1. ``set`` its join record (hash, factor values, host, pid) under its own key ``pconf/join/<rank>``;
2. ``add`` 1 to the counter of its graph hash, ``pconf/agree/<hash>``;
3. ``add`` to the arrival counter ``pconf/arrived``: 1 in its low bits, its world size N above them
   (``ARRIVAL_SHIFT``), so the answer says both how many ranks have arrived and whether they all count the same
   N. A rank's requests are answered in order, so when the count reaches N every rank's hash count is in. The
   rank that brings it to N (the last to arrive) reads the count of its own hash and checks in one request that
   every rank's record is there: then N means every rank agrees, and it sets the verdict ``ok``. Anything less
   means some rank differs: that rank alone reads the records (O(N), only on a mismatch), works out which ranks
   and factors differ, and sets that as the verdict;
4. ``wait`` for the verdict and 5. ``get`` it; a mismatch verdict raises GraphMismatch on every rank with the
   same message.

Why counters and one verdict rather than every rank reading every record (O(N) per rank, O(N²) bytes through
one store: minutes at a thousand ranks): agreement is a count, and a count is one integer on the server. The
arrival counter tells the last rank it is last, without polling; a count per hash (rather than a comparison
with a reference rank's) needs no value read back and no order among the ranks. Only the last arrival reads
more than its own answers, and reads records only when the counts say they differ. The records stay one per
rank under its own key: a launcher sees who joined, a report names who differs, a timeout names who is missing.

A rank whose world size differs from the others' cannot be waited for the same way (the count it waits for is
another), so the arrival counter's upper bits catch it as soon as it and any other rank have both arrived: the
first rank to see the sums disagree reports the mismatch from the records there are, and every rank raises.
On a timeout, the ranks that did not arrive are named by one rank (the first to time out reads every rank's
join key and publishes the list); the others read that list, so naming them costs O(N) once, not per rank.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
from dataclasses import dataclass

from torch._C._distributed_c10d import Store

from pconf.hashing import graph_hash
from pconf.netaddr import host_port
from pconf.plan import Plan
from pconf.runtime.store import RendezvousTimeout, arrive, count, missing_ranks, wait_for

JOIN_KEY = "pconf/join/{rank}"
AGREE_KEY = "pconf/agree/{graph_hash}"
ARRIVED_KEY = "pconf/arrived"
VERDICT_KEY = "pconf/verdict"
READ_KEY = "pconf/verdict-read"
MISSING_KEY = "pconf/join-missing"
READ_CHUNK = 1024
#: The arrival counter's low bits count the ranks, the bits above sum their world sizes (at most 2^20 ranks).
ARRIVAL_SHIFT = 20
ARRIVAL_MASK = (1 << ARRIVAL_SHIFT) - 1
OK = "ok"
MISMATCH = "mismatch\n"


class GraphMismatch(RuntimeError):
    """Ranks of one deployment compiled different graphs."""


@dataclass(frozen=True)
class JoinRecord:
    """What a rank says about itself when it joins: its graph hash, the value of every graph factor (to name the
    factors that differ), its host and pid."""

    rank: int
    graph_hash: str
    factors: dict[str, object]  # name -> value
    host: str
    pid: int

    def encode(self) -> str:
        return json.dumps({"rank": self.rank, "graph_hash": self.graph_hash, "factors": self.factors,
                           "host": self.host, "pid": self.pid})

    @classmethod
    def decode(cls, data: bytes) -> JoinRecord:
        d = json.loads(data)
        return cls(d["rank"], d["graph_hash"], d["factors"], d["host"], d["pid"])


def join_record(plan: Plan, rank: int) -> JoinRecord:
    gh = graph_hash(plan.resolved)
    return JoinRecord(rank, str(gh), gh.values(), _hostname(), os.getpid())


@functools.cache
def _hostname() -> str:
    return socket.gethostname()


def join_keys(world_size: int) -> dict[int, str]:
    """Every rank's join-record key (O(N): for reports, not for the check itself)."""
    return {r: JOIN_KEY.format(rank=r) for r in range(world_size)}


def arrivals(store: Store) -> int:
    """How many ranks have published their record so far (one request; a launcher's progress report)."""
    return count(store, ARRIVED_KEY) & ARRIVAL_MASK


def publish_and_verify(store: Store, plan: Plan, rank: int, deadline: float,
                       hosts_store: bool = False) -> JoinRecord:
    """Publish this rank's record, wait for the verdict on every rank's, and raise GraphMismatch if any hash
    differs (see the module docstring); return this rank's record. ``deadline`` is a ``time.monotonic()``
    value; past it, RendezvousTimeout names the ranks that did not join.

    On a mismatch the rank that hosts the store (``hosts_store``) waits until every rank has read the verdict,
    so it cannot take the store away from ranks still reading.
    """
    n = plan.world_size
    mine = join_record(plan, rank)
    store.set(JOIN_KEY.format(rank=rank), mine.encode())
    store.add(AGREE_KEY.format(graph_hash=mine.graph_hash), 1)
    total = int(store.add(ARRIVED_KEY, 1 + (n << ARRIVAL_SHIFT)))
    arrived, sizes = total & ARRIVAL_MASK, total >> ARRIVAL_SHIFT
    if sizes != arrived * n:  # a rank counts another world size: a mismatch, whoever else comes
        verdict = _world_size_verdict(store, mine, n, arrived, sizes, deadline)
    elif arrived == n:
        verdict = store.compare_set(VERDICT_KEY, "", _verdict(store, mine, n)).decode()  # the first one stands
    else:
        where = f"rendezvous at {host_port(plan.ports.world_addr, plan.ports.world_port)}"
        verdict = _wait_verdict(store, n, deadline, where)
    if verdict != OK:  # every rank reads the same verdict; the store's host waits for them all (bounded)
        if arrive(store, READ_KEY, n):
            store.set(READ_KEY + "/all", "1")
        if hosts_store:
            with contextlib.suppress(RendezvousTimeout):
                wait_for(store, READ_KEY + "/all", deadline, "mismatch report")
        raise GraphMismatch(verdict.removeprefix(MISMATCH))
    return mine


def _verdict(store: Store, last: JoinRecord, n: int) -> str:
    """The last arrival's verdict: ``ok`` when its hash's count is N and every rank's record is there, else the
    mismatch read from the records."""
    agreed = count(store, AGREE_KEY.format(graph_hash=last.graph_hash)) == n
    if agreed and all(store.check(keys) for keys in _chunks(range(n))):
        return OK
    records = present_records(store, range(n))
    found = {r.rank for r in records}
    missing = [r for r in range(n) if r not in found]
    if missing:  # N ranks arrived but some rank id is not among them: two processes were given one RANK
        return MISMATCH + (f"rendezvous: {n} ranks arrived but rank{'s' if len(missing) > 1 else ''} "
                           f"{_ranks(missing)} did not: a rank id was given to two processes, or one outside "
                           f"0..{n - 1} (each process needs its own RANK)")
    return MISMATCH + (mismatch(records) or "graph hash mismatch (the ranks' hash counts differ)")


def _world_size_verdict(store: Store, mine: JoinRecord, n: int, arrived: int, sizes: int, deadline: float) -> str:
    """The ranks count different world sizes: the first rank to see it reports the mismatch from the records
    there are (O(N), once) as the verdict; every rank that sees it raises that."""
    if arrive(store, VERDICT_KEY + "/reporter", 1):
        records = present_records(store, range(n))
        if all(r.rank != mine.rank for r in records):
            records.append(mine)
        store.compare_set(VERDICT_KEY, "", MISMATCH + (mismatch(records) or _sizes_differ(mine, n, arrived, sizes)))
    with contextlib.suppress(RendezvousTimeout):
        wait_for(store, VERDICT_KEY, deadline, "mismatch report")
    value: bytes = store.get(VERDICT_KEY) if store.check([VERDICT_KEY]) else OK.encode()
    verdict = value.decode()
    if verdict == OK:  # the others had agreed among themselves before this rank came: it differs from them
        verdict = MISMATCH + _sizes_differ(mine, n, arrived, sizes)
    return verdict


def _sizes_differ(mine: JoinRecord, n: int, arrived: int, sizes: int) -> str:
    return (f"graph hash mismatch: rank {mine.rank} ({mine.host}) counts {n} ranks in the world, but the {arrived} "
            f"ranks arrived so far count {sizes} in all: the ranks compiled different parallel sizes")


def _chunks(ranks: range) -> list[list[str]]:
    """The ranks' join keys in lists of at most READ_CHUNK (a store message is bounded: 8 MiB for torch's libuv
    server)."""
    return [[JOIN_KEY.format(rank=r) for r in ranks[i:i + READ_CHUNK]] for i in range(0, len(ranks), READ_CHUNK)]


def present_records(store: Store, ranks: range) -> list[JoinRecord]:
    """The join records of ``ranks`` that are there (O(N): mismatch reports only)."""
    records = []
    for keys in _chunks(ranks):
        there = keys if store.check(keys) else [k for k in keys if store.check([k])]
        if there:
            records += [JoinRecord.decode(value) for value in store.multi_get(there)]
    return records


def _wait_verdict(store: Store, n: int, deadline: float, what: str) -> str:
    """The verdict, once the last rank has set it; at the deadline, RendezvousTimeout naming the ranks missing.

    If every rank did arrive but no verdict came (the last arrival died before setting it), the verdict is
    worked out here from the records."""
    try:
        wait_for(store, VERDICT_KEY, deadline, what)
    except RendezvousTimeout as exc:
        missing = missing_ranks(store, JOIN_KEY, n, f"{MISSING_KEY}/{n}")
        if missing:
            raise RendezvousTimeout(what, missing, exc.waited) from None
        problem = mismatch(present_records(store, range(n)))
        return OK if problem is None else MISMATCH + problem
    value: bytes = store.get(VERDICT_KEY)
    return value.decode()


def mismatch(records: list[JoinRecord]) -> str | None:
    """Describe how the ranks' graphs differ (by rank 0's as the reference), or None when they agree."""
    reference = records[0]
    odd = [r for r in records if r.graph_hash != reference.graph_hash]
    if not odd:
        return None
    same = [r.rank for r in records if r.graph_hash == reference.graph_hash]
    lines = [f"graph hash mismatch: rank{'s' if len(same) > 1 else ''} {_ranks(same)} {reference.graph_hash}; "
             + "; ".join(f"rank {r.rank} ({r.host}) {r.graph_hash}" for r in odd[:8])
             + (f"; and {len(odd) - 8} more ranks" if len(odd) > 8 else "")]
    names = sorted(set(reference.factors) | {n for r in odd for n in r.factors})
    absent = object()
    for name in names:
        ref = reference.factors.get(name, absent)
        differing = [r for r in odd if r.factors.get(name, absent) != ref]
        if differing:
            theirs = ", ".join(f"rank {r.rank}: {_value(r.factors, name)}" for r in differing[:8])
            theirs += f", and {len(differing) - 8} more" if len(differing) > 8 else ""
            lines.append(f"  {name}: rank {reference.rank}: {_value(reference.factors, name)}; {theirs}")
    lines.append("every rank must compile the same graph factors; compare the ranks' files and overrides "
                 "(pconf diff OLD NEW)")
    return "\n".join(lines)


def _value(factors: dict[str, object], name: str) -> str:
    return json.dumps(factors[name]) if name in factors else "(absent)"


def _ranks(ranks: list[int], most: int = 16) -> str:
    """Ranks as runs: ``0-2,5,7-9`` (a run of more than two ranks as its ends); after ``most`` runs, a count."""
    runs: list[list[int]] = []
    for r in ranks:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    words = [f"{a}-{b}" if b - a > 1 else f"{a},{b}" if b > a else str(a) for a, b in runs[:most]]
    rest = sum(b - a + 1 for a, b in runs[most:])
    return ",".join(words) + (f" and {rest} more" if rest else "")

