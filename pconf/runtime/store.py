"""The rendezvous store: one TCPStore at the plan's world address, and waiting on it with a deadline.

A launcher (``pconf launch``) hosts the store itself and tells its ranks so (``PCONF_STORE_HOSTED=1``), which
lets it watch ranks join and outlive a rank that dies; otherwise global rank 0 hosts it, as torchrun does.

Everything every rank does through the store is O(1) requests in the number of ranks N (one store serves them
all): a barrier is a counter (``arrive``: the N-th arrival sets a key the others ``wait_for``), never a key per
rank that each rank waits on. Only a failure report may cost O(N), and then once (``missing_ranks``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import timedelta

from torch._C._distributed_c10d import Store, TCPStore
from torch.distributed import DistError

from pconf.plan import Plan

HOSTED_ENV = "PCONF_STORE_HOSTED"
POLL_SECONDS = 0.05


class RendezvousTimeout(TimeoutError):
    """Some ranks did not arrive before the deadline; ``missing`` names them."""

    def __init__(self, what: str, missing: Sequence[int], waited: float) -> None:
        self.missing = tuple(missing)
        self.waited = waited
        shown = ", ".join(map(str, self.missing[:16])) + (" ..." if len(self.missing) > 16 else "")
        if not self.missing:
            super().__init__(f"{what}: not every rank got there within {waited:.0f} s")
            return
        super().__init__(f"{what}: rank{'s' if len(self.missing) != 1 else ''} {shown} did not join within "
                         f"{waited:.0f} s")


def world_address(plan: Plan) -> tuple[str, int]:
    """Host and port of the world rendezvous (``Plan.ports``)."""
    port = plan.ports.world_port
    if port is None:
        raise ValueError("the world rendezvous port is picked at run time by vLLM; set the ports in the file "
                         "(declarative mode) to run pconf's runtime")
    return plan.ports.world_addr, port


def host_store(plan: Plan, timeout: float) -> TCPStore:
    """Start the store server at the world address (for a launcher or global rank 0)."""
    addr, port = world_address(plan)
    return TCPStore(addr, port, None, True, timedelta(seconds=timeout), wait_for_workers=False)


def hosts_store(rank: int) -> bool:
    """Whether this rank runs the store server (global rank 0, unless a launcher hosts it)."""
    return rank == 0 and os.environ.get(HOSTED_ENV) != "1"


def connect_store(plan: Plan, rank: int, timeout: float) -> TCPStore:
    """This rank's handle on the rendezvous store: the server itself for rank 0 unless a launcher hosts it."""
    return host_store(plan, timeout) if hosts_store(rank) else connect_store_client(plan, timeout)


def wait_for_keys(store: Store, keys: dict[int, str], deadline: float, what: str) -> None:
    """Wait until every rank's key exists (the store wakes us, no polling); at the deadline, RendezvousTimeout
    naming the ranks whose key is missing."""
    start = time.monotonic()
    try:
        store.wait(list(keys.values()), timedelta(seconds=max(deadline - start, 0.001)))
    except DistError:  # the store's wait timed out
        missing = [r for r, k in keys.items() if not store.check([k])]
        if not missing:
            return
        raise RendezvousTimeout(what, missing, time.monotonic() - start) from None


def count(store: Store, key: str) -> int:
    """A counter's value (0 when nothing was added yet): one request."""
    return int(store.add(key, 0))


def arrive(store: Store, key: str, n: int) -> bool:
    """Add 1 to the counter ``key``: True for the ``n``-th arrival (which then sets what the others wait for)."""
    return int(store.add(key, 1)) == n


def wait_for(store: Store, key: str, deadline: float, what: str) -> None:
    """Wait until ``key`` exists (the store wakes us, no polling); at the deadline, RendezvousTimeout without
    names (the caller knows whom it waited for: see ``missing_ranks``)."""
    start = time.monotonic()
    try:
        store.wait([key], timedelta(seconds=max(deadline - start, 0.001)))
    except DistError:  # the store's wait timed out
        if not store.check([key]):
            raise RendezvousTimeout(what, (), time.monotonic() - start) from None


def missing_ranks(store: Store, key: str, n: int, report_key: str, grace: float = 10.0) -> list[int]:
    """The ranks ``r < n`` whose ``key.format(rank=r)`` is absent, for a timeout's report.

    The first rank to ask checks the N keys and publishes the list under ``report_key``; the others read it (one
    request each), so N ranks timing out together cost O(N) requests, not O(N²). A rank that does not see the
    list within ``grace`` seconds (its reporter died) checks the keys itself."""
    if int(store.add(report_key + "/reporter", 1)) == 1:
        missing = [r for r in range(n) if not store.check([key.format(rank=r)])]
        store.set(report_key, json.dumps(missing))
        return missing
    try:
        store.wait([report_key], timedelta(seconds=grace))
        found: list[int] = json.loads(store.get(report_key))
    except DistError:
        return [r for r in range(n) if not store.check([key.format(rank=r)])]
    return found


def joined(store: Store, keys: dict[int, str]) -> list[int]:
    """The ranks whose key is present (a launcher's progress report)."""
    return [r for r, k in keys.items() if store.check([k])]


def connect_store_client(plan: Plan, timeout: float) -> TCPStore:
    """A client handle on a store someone else hosts (a launcher of another node watching its ranks)."""
    addr, port = world_address(plan)
    return TCPStore(addr, port, None, False, timedelta(seconds=timeout), wait_for_workers=False)
