"""Functions the Ray tests run inside rank actors (shipped by value, so the workers need not import tests/)."""

from __future__ import annotations

import os
from typing import Any


def probe_groups(rank: int, files: list[str]) -> dict[str, Any]:
    """Form the plan's groups in this actor and report, per kind, the members torch sees and an all-reduce sum."""
    import torch
    import torch.distributed as dist

    import pconf
    import pconf.runtime as rt

    plan = pconf.plan_files(files)
    groups = rt.init(plan, rank, timeout=60)
    members, sums = {}, {}
    for kind, group in groups.device.items():
        if group is None:
            continue
        members[kind] = dist.get_process_group_ranks(group)
        tensor = torch.tensor([rank], dtype=torch.int64)
        dist.all_reduce(tensor, group=group)
        sums[kind] = int(tensor.item())
    report = {"rank": rank, "backend": groups.backend, "members": members, "sums": sums, "pid": os.getpid()}
    rt.shutdown(groups)
    return report


def environment(rank: int, names: list[str]) -> dict[str, Any]:
    """This actor's rank, pid, CPU affinity and the named environment variables."""
    return {"rank": rank, "pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0)),
            "env": {name: os.environ.get(name) for name in names}}


def placement(rank: int) -> dict[str, Any]:
    """The placement group and bundle Ray scheduled this actor on."""
    import ray

    context = ray.get_runtime_context()
    return {"rank": rank, "placement_group": context.get_placement_group_id(), "node": context.get_node_id()}
