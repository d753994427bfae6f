"""Data-parallel helpers with vLLM's semantics (spec §12): ports, the stateless DP group, the DP syncs.

- ``DPPorts.next()`` is ``get_next_dp_init_port``: pop the last port of a prepared pool, else hand out the DP
  master port and count it up.
- ``stateless_dp_group`` builds a gloo group of the DP ranks outside the default group (engine processes may
  have no GPU). DP rank 0 binds the next port of the sequence and, on EADDRINUSE, the one after (at most
  ``retries`` attempts). With a coordination store it publishes the port it bound and the other ranks read it,
  so they follow it past taken ports; without one every rank walks the same sequence, and a port that another
  program holds leaves the other ranks waiting on it until the timeout, as in vLLM. ``pconf launch``
  coordinates through its rendezvous store.
- ``sync_dp_state`` (one SUM all-reduce of [has_unfinished, pending_pause]), ``has_unfinished_dp`` (MAX),
  ``sync_kv_cache_memory_size`` (MIN, -1 meaning no limit) are vLLM's, on any group.
"""

from __future__ import annotations

import errno
import socket
from datetime import timedelta

import torch
import torch.distributed as dist
from torch._C._distributed_c10d import PrefixStore, ProcessGroup, Store, TCPStore
from torch.distributed.distributed_c10d import ProcessGroupGloo

from pconf.netaddr import tcp_url
from pconf.plan import Plan

MAX_RETRIES = 5
INT64_MAX = torch.iinfo(torch.int64).max
DP_PORT_KEY = "pconf/dp_master_port/{name}"


class DPPorts:
    """``get_next_dp_init_port``: the last port of ``pool`` while there is one, else ``port``, ``port + 1``, …"""

    def __init__(self, port: int, pool: list[int] | None = None) -> None:
        self.port = port
        self.pool = list(pool or [])

    @classmethod
    def of(cls, plan: Plan) -> DPPorts:
        return cls(plan.resolved.parallel.data_parallel_master_port)

    def next(self) -> int:
        if self.pool:
            return self.pool.pop()
        port = self.port
        self.port += 1
        return port


def gloo_group(store: Store, rank: int, size: int, timeout: timedelta) -> ProcessGroup:
    """A gloo ProcessGroup over ``store`` that is not registered with torch's default group."""
    group = ProcessGroup(store, rank, size)
    backend = ProcessGroupGloo(store, rank, size, timeout=timeout)
    group._set_default_backend(ProcessGroup.BackendType.GLOO)
    backend._set_sequence_number_for_group()
    group._register_backend(torch.device("cpu"), ProcessGroup.BackendType.GLOO, backend)
    return group


def stateless_dp_group(plan: Plan, dp_rank: int, *, ports: DPPorts | None = None, coord_store: Store | None = None,
                       name: str = "dp", timeout: float | None = None,
                       retries: int = MAX_RETRIES) -> tuple[ProcessGroup, TCPStore]:
    """The stateless gloo group of the DP ranks (this process is DP rank ``dp_rank``); see the module docstring.

    Returns the group and its store (keep the store alive as long as the group). ``name`` keys the port
    published on the coordination store, so one store can coordinate several groups.
    """
    p = plan.resolved.parallel
    size, host = p.data_parallel_size, p.data_parallel_master_ip
    seconds = timeout if timeout is not None else float(p.cpu_distributed_timeout_seconds or 1800)
    ports = ports or DPPorts.of(plan)
    key = DP_PORT_KEY.format(name=name)
    taken: list[int] = []
    for _ in range(retries):
        # Following DP rank 0 through the coordination store (get() waits for it), or walking the sequence.
        port = int(coord_store.get(key)) if coord_store is not None and dp_rank != 0 else ports.next()
        listen_fd = _listen(port) if dp_rank == 0 else None
        if dp_rank == 0 and listen_fd is None:
            taken.append(port)  # the port is taken: move on to the next one (every rank walks the same sequence)
            continue
        store = TCPStore(host, port, size, dp_rank == 0, timedelta(seconds=seconds), wait_for_workers=False,
                         master_listen_fd=listen_fd)
        if coord_store is not None and dp_rank == 0:
            coord_store.set(key, str(port))
        prefixed = PrefixStore(tcp_url(host, port), store)  # vLLM's key: tcp://host:port, IPv6 in brackets
        return gloo_group(prefixed, dp_rank, size, timedelta(seconds=seconds)), store
    raise OSError(errno.EADDRINUSE, f"the DP master ports {', '.join(map(str, taken))} are all in use "
                                    f"({retries} attempts)")


def _listen(port: int) -> int | None:
    """A socket listening on ``port`` on every interface, as TCPStore's own server listens: its file descriptor,
    which the store takes over; None if the port is taken (EADDRINUSE).

    Binding here rather than in TCPStore leaves no window between choosing the port and listening on it, and
    keeps no exception past a taken port: one held across the retries would keep the frames, and so the store
    and group made after it, in a reference cycle that only the garbage collector frees, at interpreter exit,
    while gloo's threads still run (they abort the process then).
    """
    try:
        if socket.has_dualstack_ipv6():
            sock = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
        else:
            sock = socket.create_server(("", port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    return sock.detach()


def sync_dp_state(group: ProcessGroup, has_unfinished: bool, pending_pause: bool) -> tuple[bool, bool]:
    """(any rank has work or only some ranks want to pause, every rank wants to pause): one SUM all-reduce."""
    tensor = torch.tensor((int(has_unfinished), int(pending_pause)), dtype=torch.int32)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    unfinished, pauses = tensor.tolist()
    size = group.size()
    return unfinished > 0 or pauses % size != 0, pauses == size


def has_unfinished_dp(group: ProcessGroup, has_unfinished: bool) -> bool:
    """Logical OR of ``has_unfinished`` across the group (MAX all-reduce)."""
    tensor = torch.tensor([int(has_unfinished)], dtype=torch.int32, device="cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=group)
    return bool(tensor.item())


def sync_kv_cache_memory_size(group: ProcessGroup, kv_cache_memory: int) -> int:
    """The smallest KV-cache size across the group; -1 means no limit (int64 max when nobody has one, as in
    vLLM)."""
    value = INT64_MAX if kv_cache_memory == -1 else kv_cache_memory
    tensor = torch.tensor([value], dtype=torch.int64, device="cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN, group=group)
    return int(tensor.item())
