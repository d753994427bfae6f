"""Benchmark: the 4,096-rank plan drawn, against printing the same plan as JSON.

For two layouts of 4,096 ranks (TP=8, DP=512, EP; 64 nodes of 64 GPUs, and 512 nodes of 8) it renders, in one
run and interleaved, ``pconf plan --format json`` (the baseline), ``svg``, ``html`` and ``grid`` from the same
compiled plan (``Compiled.plan()`` inside each timing, as the command does), and prints each one's time and
size as ratios to JSON's.

Bounds (issue #20): every rank present, each picture at most 8 MB and 30 s.

    python bench/pictures.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import pconf
from pconf.compile import Compiled
from pconf.emit import plan_text

FORMATS = ("json", "svg", "html", "grid")
MAX_BYTES = 8 << 20
MAX_SECONDS = 30.0


def compiled_for(per_node: int, n: int = 4096, tp: int = 8) -> Compiled:
    dp = n // tp
    nnodes = n // per_node
    doc = {"parallel": {"tensor_parallel_size": tp, "data_parallel_size": dp, "enable_expert_parallel": True,
                        "nnodes": nnodes, "data_parallel_size_local": dp // nnodes, "master_addr": "10.0.0.1"},
           "cluster": {"devices_per_node": per_node}}
    return pconf.compile_dict(doc)


def render(compiled: Compiled, fmt: str) -> tuple[float, str]:
    start = time.perf_counter()
    text = plan_text(compiled.plan(), fmt)
    return time.perf_counter() - start, text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ok = True
    for per_node in (64, 8):
        compiled = compiled_for(per_node)
        times: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
        sizes: dict[str, int] = {}
        for _ in range(args.rounds):  # interleaved against machine noise
            for fmt in FORMATS:
                seconds, text = render(compiled, fmt)
                times[fmt].append(seconds)
                sizes[fmt] = len(text.encode())
                if fmt in ("svg", "html"):
                    ok &= text.count('class="rank"') == 4096
        base_t, base_s = statistics.median(times["json"]), sizes["json"]
        print(f"4,096 ranks, {4096 // per_node} nodes of {per_node}:")
        print(f"  {'format':<6} {'time':>10} {'x json':>7} {'size':>10} {'x json':>7}")
        for fmt in FORMATS:
            t = statistics.median(times[fmt])
            print(f"  {fmt:<6} {t * 1e3:>7.0f} ms {t / base_t:>7.2f} {sizes[fmt] / 1e6:>7.2f} MB "
                  f"{sizes[fmt] / base_s:>7.2f}")
            if fmt in ("svg", "html"):
                ok &= sizes[fmt] <= MAX_BYTES and t <= MAX_SECONDS
    print(f"bounds (every rank, <= {MAX_BYTES >> 20} MB, <= {MAX_SECONDS:.0f} s): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
