"""Benchmark: `pconf launch` on Ray next to `pconf launch` with processes (mp), for the same plan.

The plan is examples/ray-cpu.toml's shape (TP=2 × DP=2, EP on, 4 CPU ranks) with fresh ports each round.
Every rank runs the same checks either way (``pconf.runtime.worker.run_checks``: compile, rendezvous, hash
check, every group formed and checked, the DP helpers). Three ways, timed end to end from the driver:
- mp: ``pconf.runtime.launch.launch`` (spawns one process per rank, as ``pconf launch`` does);
- ray (warm): ``ray_launch`` on a Ray this script already started (placement groups + rank actors per launch);
- ray (cold): ``ray_launch`` starting and stopping its own local Ray, as ``pconf launch`` does on a fresh box
  (measured ``--cold`` times, since each start costs seconds).
Rounds alternate mp and warm Ray; the script prints the medians and ratios against mp.

    python bench/ray_launch.py [--rounds N] [--cold N]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray  # noqa: TID251 - the benchmark starts Ray itself

import pconf
from pconf.plan import Plan
from pconf.runtime.launch import LaunchOptions, launch
from pconf.runtime.ray_backend import ray_launch

TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fresh_plan(directory: Path, round_no: int) -> tuple[Path, Plan]:
    path = directory / f"ray-{round_no}.toml"
    path.write_text(
        "[parallel]\ntensor_parallel_size = 2\ndata_parallel_size = 2\nis_moe_model = true\n"
        'enable_expert_parallel = true\ndistributed_executor_backend = "ray"\n'
        f"master_port = {free_port()}\ndata_parallel_master_port = {free_port()}\n"
        f"data_parallel_rpc_port = {free_port()}\n"
        '[cluster]\ndevice = "cpu"\ndevices_per_node = 4\nray_installed = true\n')
    return path, pconf.plan_files([str(path)])


def time_mp(directory: Path, round_no: int) -> float:
    config, plan = fresh_plan(directory, round_no)
    out = io.StringIO()
    start = time.perf_counter()
    code = launch(plan, LaunchOptions(files=[str(config)], overrides=[], node=0, timeout=TIMEOUT, quiet=True), out)
    elapsed = time.perf_counter() - start
    if code:
        sys.exit(f"mp launch failed ({code}):\n{out.getvalue()}")
    return elapsed


def time_ray(directory: Path, round_no: int) -> float:
    config, plan = fresh_plan(directory, round_no)
    out = io.StringIO()
    start = time.perf_counter()
    code = ray_launch(plan, [str(config)], [], TIMEOUT, quiet=True, out=out)
    elapsed = time.perf_counter() - start
    if code:
        sys.exit(f"ray launch failed ({code}):\n{out.getvalue()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cold = [time_ray(directory, -1 - i) for i in range(args.cold)]  # each starts and stops its own Ray
        ray.init(num_cpus=max(4, os.cpu_count() or 1), include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
        try:
            time_ray(directory, 0)  # warm-up: Ray's worker pool, pconf imported in the workers
            mp, warm = [], []
            for round_no in range(1, args.rounds + 1):
                mp.append(time_mp(directory, round_no))
                warm.append(time_ray(directory, 1000 + round_no))
        finally:
            ray.shutdown()
    base = statistics.median(mp)
    print(f"plan: TP=2 x DP=2, EP, 4 CPU ranks; {args.rounds} rounds, {args.cold} cold Ray starts")
    print(f"{'way':<24}{'median s':>10}{'vs mp':>8}")
    rows = [("pconf launch (mp)", base), ("ray_launch (Ray running)", statistics.median(warm))]
    if cold:
        rows.append(("ray_launch (starts Ray)", statistics.median(cold)))
    for name, value in rows:
        print(f"{name:<24}{value:>10.2f}{value / base:>7.2f}x")


if __name__ == "__main__":
    main()
