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
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from torch._C._distributed_c10d import Store, TCPStore
from torch.distributed import DistError

from pconf.errors import Fault
from pconf.netaddr import host_port
from pconf.plan import Plan

HOSTED_ENV = "PCONF_STORE_HOSTED"
#: How long past the timeout a connect to the store may take before pconf gives up on it itself.
CONNECT_GRACE = 1.0
POLL_SECONDS = 0.05


class RendezvousTimeout(Fault, TimeoutError):
    """Some ranks did not arrive before the deadline; ``missing`` names them."""

    def __init__(self, what: str, missing: Sequence[int], waited: float) -> None:
        self.missing = tuple(missing)
        self.what, self.waited = what, waited
        shown = ", ".join(map(str, self.missing[:16])) + (" ..." if len(self.missing) > 16 else "")
        if not self.missing:
            super().__init__(f"{what}: not every rank got there within {waited:.0f} s",
                             "start every node's ranks, and check they reach the rendezvous address")
            return
        super().__init__(f"{what}: rank{'s' if len(self.missing) != 1 else ''} {shown} did not join within "
                         f"{waited:.0f} s", "start every node's ranks, and check they reach the rendezvous address")

    def __reduce__(self) -> tuple[type[RendezvousTimeout], tuple[str, tuple[int, ...], float]]:  # type: ignore[override]
        return (type(self), (self.what, self.missing, self.waited))


def world_address(plan: Plan) -> tuple[str, int]:
    """Host and port of the world rendezvous (``Plan.ports``)."""
    port = plan.ports.world_port
    if port is None:
        raise ValueError("the world rendezvous port is picked at run time by vLLM; set the ports in the file "
                         "(declarative mode) to run pconf's runtime")
    return plan.ports.world_addr, port


def host_store(plan: Plan, timeout: float) -> TCPStore:
    """Start the store server at the world address (for a launcher or global rank 0); Fault when the port is taken
    or the address is not this host's."""
    addr, port = world_address(plan)
    not_here = _not_this_hosts(addr)
    if not_here:  # the store's server would listen, then wait on itself at an address that never answers
        raise Fault(f"cannot host the rendezvous store at {host_port(addr, port)}: {not_here}",
                    f"run node 0's launcher on the host whose address is {addr} (master_addr, or "
                    "data_parallel_master_ip for a DP run on vLLM's one-node rendezvous)")
    try:
        return TCPStore(addr, port, None, True, timedelta(seconds=timeout), wait_for_workers=False)
    except DistError as exc:
        raise store_fault(exc, plan, timeout, hosting=True) from None


def _not_this_hosts(addr: str) -> str | None:
    """Why ``addr`` is not an address of this host (binding a socket to it says so at once), or None."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(addr, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{addr} does not resolve ({exc.strerror or exc})"
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind((sockaddr[0], 0, *sockaddr[2:]))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
                return None  # another reason: let the store say what it is
            return None
    return f"{addr} is not an address of this host"


def hosts_store(rank: int) -> bool:
    """Whether this rank runs the store server (global rank 0, unless a launcher hosts it)."""
    return rank == 0 and os.environ.get(HOSTED_ENV) != "1"


def connect_store(plan: Plan, rank: int, timeout: float) -> TCPStore:
    """This rank's handle on the rendezvous store: the server itself for rank 0 unless a launcher hosts it."""
    return host_store(plan, timeout) if hosts_store(rank) else connect_store_client(plan, timeout)


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
    """A client handle on a store someone else hosts (a launcher of another node watching its ranks); Fault when
    nobody answers at the world address within ``timeout``."""
    addr, port = world_address(plan)
    try:
        return within(timeout + CONNECT_GRACE, lambda: TCPStore(addr, port, None, False, timedelta(seconds=timeout),
                                                                 wait_for_workers=False))
    except (DistError, TimeoutError) as exc:
        raise store_fault(exc, plan, timeout, hosting=False) from None


def within(seconds: float, make: Callable[[], TCPStore]) -> TCPStore:
    """``make()``, given up on after ``seconds`` (TimeoutError): torch's client retries its connect with the
    whole timeout for each try, so a store nobody answers would take twice the timeout or more. The attempt left
    behind runs out in a daemon thread."""
    outcome: list[TCPStore | BaseException] = []

    def attempt() -> None:
        try:
            outcome.append(make())
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)

    thread = threading.Thread(target=attempt, name="pconf-store-connect", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise TimeoutError(f"timed out after {seconds:.0f} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def store_fault(exc: BaseException, plan: Plan, timeout: float, *, hosting: bool) -> Fault:
    """What a failure of the rendezvous store means, in one line naming its ``address:port`` and what to check
    (torch's own text is a C++ stack)."""
    addr, port = world_address(plan)
    where, key = host_port(addr, port), plan.ports.world_key
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "EADDRINUSE" in text or "address already in use" in text.lower():
        return Fault(f"cannot host the rendezvous store at {where}: port {port} ({key}) is already in use on this "
                     "host", f"stop what listens there (ss -ltnp 'sport = :{port}'), e.g. an earlier run, or give "
                     f"{key} another port")
    if hosting:  # the server listens on every address, then connects to its own address: not this host's
        return Fault(f"hosted the rendezvous store on port {port} but could not reach it at {where} within "
                     f"{timeout:.0f} s", f"run node 0's launcher on the host whose address is {addr} "
                     "(master_addr, or data_parallel_master_ip for a DP run on vLLM's one-node rendezvous)")
    return Fault(f"cannot reach the rendezvous store at {where} within {timeout:.0f} s ({_why(text)})",
                 f"start node 0's launcher first (pconf launch FILE --node-rank 0), and check that {addr} is node 0's "
                 f"address and that port {port} is open between the nodes (a firewall, another network)")


def lost_store(exc: BaseException, plan: Plan) -> Fault:
    """The store went away while ranks or launchers were using it: its host (node 0's launcher) died."""
    addr, port = world_address(plan)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Fault(f"lost the rendezvous store at {host_port(addr, port)} ({_why(text)})",
                 "node 0's launcher stopped or its host went away: check node 0 (its output, dmesg), then start every "
                 "node again")


def _why(text: str) -> str:
    """torch's reason in a few words."""
    lowered = text.lower()
    for words, said in (("timed out", "no answer"), ("refused", "connection refused"), ("reset", "connection reset"),
                        ("broken pipe", "connection broken"), ("unreachable", "network unreachable")):
        if words in lowered:
            return said
    return text if len(text) <= 80 else text[:77] + "..."
