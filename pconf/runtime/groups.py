"""Real torch.distributed process groups from a plan, verified before any collective.

``init(plan, rank)``: connect to the rendezvous store, publish and compare graph hashes (``verify``), init the
default group (gloo on CPU, nccl when the device is cuda and GPUs are present), then create every group of
every kind in vLLM's order (TP, PP, DP, EP, DCP, PCP) -- every rank creates every group in the same order and
keeps the one that contains it -- and run one check all-reduce per group that proves its membership.
With nccl, each kind also gets a gloo "CPU" group, as vLLM's GroupCoordinator has.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch._C._distributed_c10d import PrefixStore, ProcessGroup, Store

from pconf.plan import GROUP_KINDS, Plan
from pconf.runtime.store import RendezvousTimeout, arrive, connect_store, hosts_store, wait_for
from pconf.runtime.verify import publish_and_verify

DEFAULT_INIT_TIMEOUT = 300.0
DONE_KEY = "pconf/shut-down"


class GroupCheckFailed(RuntimeError):
    """A group's check collective returned the wrong sum: its membership is not what the plan says."""


@dataclass
class Groups:
    """One rank's process groups (``None`` for a kind the plan has no group of, e.g. EP of a dense model)."""

    rank: int
    world_size: int
    backend: str
    store: Store
    members: dict[str, list[int]]
    device: dict[str, ProcessGroup | None]
    cpu: dict[str, ProcessGroup | None]
    dp_sync: ProcessGroup | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def tp(self) -> ProcessGroup | None:
        return self.device["tp"]

    @property
    def pp(self) -> ProcessGroup | None:
        return self.device["pp"]

    @property
    def dp(self) -> ProcessGroup | None:
        """The DP group for the DP helpers (``sync_dp_state`` & co.), which reduce CPU tensors: the gloo one.

        ``device["dp"]`` is the device group; ``dp_sync`` is the group vLLM's per-step DP padding sync uses,
        gloo when ``disable_nccl_for_dp_synchronization`` is true, else the device group.
        """
        return self.cpu["dp"]

    @property
    def ep(self) -> ProcessGroup | None:
        return self.device["ep"]

    @property
    def dcp(self) -> ProcessGroup | None:
        return self.device["dcp"]

    @property
    def pcp(self) -> ProcessGroup | None:
        return self.device["pcp"]


def choose_backend(plan: Plan) -> str:
    """gloo on CPU; nccl when the device is cuda and this process sees GPUs."""
    device = plan.resolved.document.cluster.device
    if device == "cuda" and torch.cuda.is_available() and torch.cuda.device_count() > 0:
        return "nccl"
    return "gloo"


def _seconds(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def init(plan: Plan, rank: int, *, timeout: float | None = None, check: bool = True) -> Groups:
    """Form every group of ``rank`` as the plan lays them out; see the module docstring.

    ``timeout`` bounds the rendezvous (default: the plan's distributed_timeout_seconds, else 300 s); a missing
    rank is a RendezvousTimeout naming it, differing hashes a GraphMismatch on every rank.
    """
    p = plan.resolved.parallel
    wait = timeout if timeout is not None else float(p.distributed_timeout_seconds or DEFAULT_INIT_TIMEOUT)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    store = connect_store(plan, rank, wait)
    publish_and_verify(store, plan, rank, time.monotonic() + wait, hosts_store=hosts_store(rank))
    timings["rendezvous"] = time.perf_counter() - start

    backend = choose_backend(plan)
    if backend == "nccl":
        torch.cuda.set_device(plan.rank(rank).local_rank % torch.cuda.device_count())
    # distributed_timeout_seconds: the default group and device groups; cpu_distributed_timeout_seconds: gloo
    # groups (falling back to the former). Unset: torch's defaults.
    device_timeout = _seconds(p.distributed_timeout_seconds)
    cpu_timeout = _seconds(p.cpu_distributed_timeout_seconds) or device_timeout
    group_timeout = device_timeout if backend == "nccl" else cpu_timeout
    start = time.perf_counter()
    dist.init_process_group(backend, store=PrefixStore("pconf/default/", store), rank=rank,
                            world_size=plan.world_size, timeout=device_timeout)
    timings["world"] = time.perf_counter() - start

    members: dict[str, list[int]] = {}
    device: dict[str, ProcessGroup | None] = {}
    cpu: dict[str, ProcessGroup | None] = {}
    for kind in GROUP_KINDS:
        start = time.perf_counter()
        members[kind] = plan.group_of(kind, rank)
        device[kind] = cpu[kind] = None
        for ranks in plan.groups(kind):
            group = dist.new_group(ranks, backend=backend, timeout=group_timeout)
            cpu_group = dist.new_group(ranks, backend="gloo", timeout=cpu_timeout) if backend == "nccl" else group
            if rank in ranks:
                device[kind], cpu[kind] = group, cpu_group
        timings[kind] = time.perf_counter() - start
    dp_sync = cpu["dp"] if p.disable_nccl_for_dp_synchronization else device["dp"]
    groups = Groups(rank, plan.world_size, backend, store, members, device, cpu, dp_sync, timings)
    if check:
        check_groups(groups)
    return groups


def check_groups(groups: Groups) -> None:
    """One all-reduce per group: the sum of the members' ranks proves each group is the one the plan lists."""
    on = torch.device("cuda", torch.cuda.current_device()) if groups.backend == "nccl" else torch.device("cpu")
    for kind in GROUP_KINDS:
        group = groups.device[kind]
        if group is None:
            continue
        start = time.perf_counter()
        ranks = dist.get_process_group_ranks(group)
        if ranks != groups.members[kind]:
            raise GroupCheckFailed(f"{kind} group of rank {groups.rank} has ranks {ranks}, the plan says "
                                   f"{groups.members[kind]}")
        tensor = torch.tensor([groups.rank], dtype=torch.int64, device=on)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
        if int(tensor.item()) != sum(groups.members[kind]):
            raise GroupCheckFailed(f"{kind} check all-reduce on rank {groups.rank} gave {int(tensor.item())}, "
                                   f"expected {sum(groups.members[kind])} (members {groups.members[kind]})")
        groups.timings[f"check:{kind}"] = time.perf_counter() - start


def shutdown(groups: Groups | None = None, timeout: float = 30.0) -> None:
    """Destroy every group and the default group. The rank that hosts the store waits (up to ``timeout``) for
    every rank to get here first, so it never takes the store away from a rank still using it."""
    if dist.is_initialized():
        dist.destroy_process_group()
    if groups is None:
        return
    if arrive(groups.store, DONE_KEY, groups.world_size):  # a counter: O(1) requests per rank
        groups.store.set(DONE_KEY + "/all", "1")
    if hosts_store(groups.rank):
        with contextlib.suppress(RendezvousTimeout):  # a rank that never gets here must not hang this one
            wait_for(groups.store, DONE_KEY + "/all", time.monotonic() + timeout, "shutdown")
    groups.device.clear()
    groups.cpu.clear()
    groups.dp_sync = None
