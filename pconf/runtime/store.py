"""The rendezvous store: one TCPStore at the plan's world address, and waiting on it with a deadline.

A launcher (``pconf launch``) hosts the store itself and tells its ranks so (``PCONF_STORE_HOSTED=1``), which
lets it watch ranks join and outlive a rank that dies; otherwise global rank 0 hosts it, as torchrun does.
"""

from __future__ import annotations

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
        shown = ", ".join(map(str, self.missing[:16])) + (" ..." if len(self.missing) > 16 else "")
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


def joined(store: Store, keys: dict[int, str]) -> list[int]:
    """The ranks whose key is present (a launcher's progress report)."""
    return [r for r, k in keys.items() if store.check([k])]


def connect_store_client(plan: Plan, timeout: float) -> TCPStore:
    """A client handle on a store someone else hosts (a launcher of another node watching its ranks)."""
    addr, port = world_address(plan)
    return TCPStore(addr, port, None, False, timedelta(seconds=timeout), wait_for_workers=False)
