"""A rank program for the runtime tests: form the groups, then print what this rank sees as one JSON line.

    pconf launch FILE -- python tests/runtime/probe_rank.py FILE [--set K=V]...

Prints {"rank", "backend", "members": {kind: ranks from torch}, "sums": {kind: all_reduce of ranks},
"dp_state": [...], "kv": ...}; the test compares them with the spec's layouts and truth tables.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist

import pconf
import pconf.runtime as rt


def main() -> int:
    files = [a for a in sys.argv[1:] if not a.startswith("--") and "=" not in a]
    overrides = [a for a in sys.argv[1:] if "=" in a]
    rank = int(os.environ["RANK"])
    plan = pconf.plan_files(files, overrides=overrides)
    groups = rt.init(plan, rank, timeout=60)
    members, sums = {}, {}
    device = torch.device("cuda", torch.cuda.current_device()) if groups.backend == "nccl" else torch.device("cpu")
    for kind, group in groups.device.items():
        if group is None:
            continue
        members[kind] = dist.get_process_group_ranks(group)
        tensor = torch.tensor([rank], dtype=torch.int64, device=device)
        dist.all_reduce(tensor, group=group)
        sums[kind] = int(tensor.item())
    dp_rank = plan.rank(rank).dp
    state = rt.sync_dp_state(groups.dp, has_unfinished=dp_rank == 0, pending_pause=True)
    kv = rt.sync_kv_cache_memory_size(groups.dp, -1 if dp_rank == 0 else 100 + dp_rank)
    print(json.dumps({"rank": rank, "backend": groups.backend, "members": members, "sums": sums,
                      "dp_state": list(state), "kv": kv,
                      "dp_sync": "cpu" if groups.dp_sync is groups.cpu["dp"] else "device"}), flush=True)
    rt.shutdown(groups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
