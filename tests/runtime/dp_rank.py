"""One DP rank for the DP-helper tests: join the stateless DP group, run every helper on every input, print.

    python tests/runtime/dp_rank.py CONFIG DP_RANK [--coord HOST:PORT]

Prints one JSON line: {"port": the port the group formed on, "state": {combo: result}, "unfinished": ...,
"kv": ...}. Inputs depend only on the DP rank, so the test computes the expected truth table itself.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from datetime import timedelta

from torch._C._distributed_c10d import TCPStore

import pconf
import pconf.runtime as rt


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("dp_rank", type=int)
    parser.add_argument("--coord")
    args = parser.parse_args()
    plan = pconf.plan_files([args.config])
    coord = None
    if args.coord:
        host, port = args.coord.rsplit(":", 1)
        coord = TCPStore(host, int(port), None, False, timedelta(seconds=30), wait_for_workers=False)
    group, store = rt.stateless_dp_group(plan, args.dp_rank, coord_store=coord, timeout=30)
    size = group.size()
    state = {}
    # Every rank walks the same list of input vectors; rank d contributes element d of each vector.
    for vector in itertools.product(itertools.product([False, True], repeat=2), repeat=size):
        unfinished, pause = vector[args.dp_rank]
        state[json.dumps(vector)] = list(rt.sync_dp_state(group, unfinished, pause))
    unfinished_any = {json.dumps(v): rt.has_unfinished_dp(group, v[args.dp_rank])
                      for v in itertools.product([False, True], repeat=size)}
    kv = {json.dumps(v): rt.sync_kv_cache_memory_size(group, v[args.dp_rank])
          for v in ([-1] * size, [5, -1, 7][:size], [9, 3, 4][:size])}
    print(json.dumps({"port": store.port, "state": state, "unfinished": unfinished_any, "kv": kv}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
