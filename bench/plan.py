"""Benchmark: how plan time grows with world size, against numpy laying out the same groups.

For N = 8 … 65,536 ranks (TP=8, DP=N/8, 64 ranks per node) it times, in one run and interleaved:
- pconf: ``Compiled.plan()`` plus every group kind's member lists (``Plan.all_groups()``);
- numpy: ``arange(N).reshape(DP, PP, PCP, TP)``, the transposes of spec §11.2 and ``.tolist()`` for each
  kind (the same Python lists pconf returns; the time without ``.tolist()`` is printed too).
Then one rank's slice of the 65,536-rank plan (its row, its groups, its env), checking no other row is built.

Targets: the 4,096-rank plan within 2x numpy's time, growth about linear, the slice independent of N.

    python bench/plan.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np  # noqa: TID251 - the baseline the plan is measured against

import pconf
from pconf.compile import Compiled
from pconf.plan import GROUP_KINDS

SIZES = (8, 64, 512, 4096, 32768, 65536)
TP, PER_NODE = 8, 64


def compiled_for(n: int) -> Compiled:
    dp = n // TP
    nnodes = max(1, n // PER_NODE)
    doc = {"parallel": {"tensor_parallel_size": TP, "data_parallel_size": dp, "enable_expert_parallel": True,
                        "nnodes": nnodes, "data_parallel_size_local": dp // nnodes, "master_addr": "10.0.0.1"},
           "cluster": {"devices_per_node": PER_NODE}}
    return pconf.compile_dict(doc)


def pconf_layout(compiled: Compiled) -> Callable[[], object]:
    def run() -> object:
        return compiled.plan().all_groups()

    return run


def numpy_layout(n: int, tolist: bool) -> Callable[[], object]:
    dp, pp, pcp, tp = n // TP, 1, 1, TP

    def run() -> object:
        ranks = np.arange(n).reshape(dp, pp, pcp, tp)
        arrays = {
            "tp": ranks.reshape(-1, tp),
            "pp": ranks.transpose(0, 3, 2, 1).reshape(-1, pp),
            "dp": ranks.transpose(3, 1, 2, 0).reshape(-1, dp),
            "ep": ranks.transpose(1, 0, 2, 3).reshape(-1, dp * pcp * tp),
            "dcp": ranks.reshape(-1, 1),
            "pcp": ranks.transpose(0, 1, 3, 2).reshape(-1, pcp),
        }
        return {k: a.tolist() for k, a in arrays.items()} if tolist else arrays

    return run


def best_of(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"{'ranks':>7} {'pconf plan+groups':>18} {'numpy+tolist':>13} {'numpy only':>11} {'ratio':>6} {'us/rank':>8}")
    ratios: dict[int, float] = {}
    per_rank: list[float] = []
    for n in SIZES:
        compiled = compiled_for(n)
        ours, theirs, bare = pconf_layout(compiled), numpy_layout(n, True), numpy_layout(n, False)
        samples: dict[str, list[float]] = {"pconf": [], "numpy": [], "bare": []}
        for _ in range(3):  # interleave against machine noise
            samples["pconf"].append(best_of(ours, args.rounds))
            samples["numpy"].append(best_of(theirs, args.rounds))
            samples["bare"].append(best_of(bare, args.rounds))
        p, q, b = (statistics.median(samples[k]) for k in ("pconf", "numpy", "bare"))
        ratios[n] = p / q
        per_rank.append(p / n * 1e6)
        print(f"{n:>7} {p * 1e3:>15.3f} ms {q * 1e3:>10.3f} ms {b * 1e3:>8.3f} ms {p / q:>6.2f} {p / n * 1e6:>8.3f}")
    big = compiled_for(65536).plan()
    start = time.perf_counter()
    row = big.rank(40000)
    groups = {kind: big.group_of(kind, 40000) for kind in GROUP_KINDS}
    env = big.env(40000)
    slice_ms = (time.perf_counter() - start) * 1e3
    print(f"one rank of 65,536 (row, {len(groups)} groups, {len(env)} env vars): {slice_ms:.3f} ms; "
          f"other rows built: {len(big._rows)}; node {row.node}, local rank {row.local_rank}")
    linear = per_rank[-1] / per_rank[3] if per_rank[3] else float("inf")
    print(f"4,096-rank ratio pconf / numpy: {ratios[4096]:.2f} (target <= 2); "
          f"cost per rank at 65,536 vs 4,096: {linear:.2f}x (1.0 = linear)")
    return 0 if ratios[4096] <= 2 and not big._rows else 1


if __name__ == "__main__":
    sys.exit(main())
