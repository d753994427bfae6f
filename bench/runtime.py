"""Benchmark: pconf's runtime against bare torch.distributed doing the same work, in the same processes.

DP=2 × TP ranks (``--tp``, default 1: two ranks, one per core of a small CI machine), EP on, gloo. Each round,
every rank:
- bare: TCPStore + ``init_process_group`` + ``new_group`` for every group of every kind (the plan's lists),
  then ``destroy_process_group``;
- pconf: ``pconf.runtime.init(plan, rank, check=False)`` (store, graph-hash publish and compare, default
  group, every group), then ``shutdown``;
and then times ``sync_dp_state`` against a bare ``all_reduce`` of the same 2-element tensor on the same DP
group (built from the step's flags and read back each call: the least any caller does; reusing one constant
tensor would hide a per-call cost gloo charges on a loaded host that the caller pays either way). Rounds
alternate; rank 0 prints medians and the ratios (targets: both <= 1.15).

    python bench/runtime.py [--rounds N] [--iters N] [--tp N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

WORLD = 4  # overwritten by --tp: DP=2 × TP ranks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_port_range(n: int) -> int:
    """The first of ``n`` consecutive ports that are free right now."""
    while True:
        base = free_port()
        if base + n > 65535:
            continue
        try:
            sockets = [socket.create_server(("127.0.0.1", p)) for p in range(base, base + n)]
        except OSError:
            continue
        for s in sockets:
            s.close()
        return base


def write_config(directory: Path, tp: int) -> Path:
    path = directory / "bench.toml"
    path.write_text(
        f"[parallel]\ntensor_parallel_size = {tp}\ndata_parallel_size = 2\nenable_expert_parallel = true\n"
        f"master_port = {free_port()}\ndata_parallel_master_port = {free_port()}\n"
        f"data_parallel_rpc_port = {free_port()}\n\n[cluster]\ndevice = \"cpu\"\ndevices_per_node = 4\n")
    return path


def rank_main(config: str, rank: int, rounds: int, iters: int, bare_port_base: int, pconf_port_base: int,
              blocks: int = 20) -> None:
    import torch  # noqa: TID251 - the benchmark drives torch.distributed directly
    import torch.distributed as dist  # noqa: TID251
    from torch._C._distributed_c10d import PrefixStore, TCPStore  # noqa: TID251

    import pconf
    import pconf.runtime as rt
    from pconf.plan import GROUP_KINDS
    from pconf.runtime.store import HOSTED_ENV, host_store

    # In both paths rank 0 starts the store server before the clock starts (a client that arrives before its
    # server backs off for a random while, which would swamp what is measured); the other ranks connect.
    os.environ[HOSTED_ENV] = "1"
    # A separate store only to start every timed section on all ranks at once.
    sync = TCPStore("127.0.0.1", bare_port_base - 1, None, rank == 0, timedelta(seconds=120),
                    wait_for_workers=False)
    steps = iter(range(10**6))

    def together() -> None:
        key = f"step{next(steps)}"
        sync.add(key, 1)
        while sync.add(key, 0) < WORLD:
            time.sleep(0.001)

    times: dict[str, list[float]] = {"bare": [], "pconf": [], "bare_allreduce": [], "sync_dp_state": []}
    for round_ in range(rounds):
        # Fresh ports every round (a store from the previous round may still be closing).
        plan = pconf.plan_files([config], overrides=[
            f"parallel.data_parallel_master_port={pconf_port_base + 3 * round_}"])
        order = ("bare", "pconf") if round_ % 2 == 0 else ("pconf", "bare")
        servers = [TCPStore("127.0.0.1", bare_port_base + round_, None, True, timedelta(seconds=60),
                            wait_for_workers=False), host_store(plan, 60)] if rank == 0 else []
        for side in order:
            together()
            start = time.perf_counter()
            if side == "bare":  # the same store, default group and groups, nothing else
                store = TCPStore("127.0.0.1", bare_port_base + round_, None, False, timedelta(seconds=60),
                                 wait_for_workers=False)
                dist.init_process_group("gloo", store=PrefixStore("bare/", store), rank=rank, world_size=WORLD)
                for kind in GROUP_KINDS:
                    for ranks in plan.groups(kind):
                        dist.new_group(ranks, backend="gloo")
                dist.barrier()
                times["bare"].append(time.perf_counter() - start)
                dist.destroy_process_group()
                del store
                continue
            groups = rt.init(plan, rank, timeout=60, check=False)
            dist.barrier()
            times["pconf"].append(time.perf_counter() - start)
            # DP sync latency on the same group, in short interleaved blocks: a bare all_reduce of a tensor
            # holding this step's two flags, read back (what any caller has to do each step), against
            # sync_dp_state doing the same plus its decision.
            group = groups.dp
            assert group is not None
            for _ in range(blocks):
                together()
                start = time.perf_counter()
                for _ in range(iters):
                    tensor = torch.tensor((1, 0), dtype=torch.int32)
                    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
                    tensor.tolist()
                times["bare_allreduce"].append((time.perf_counter() - start) / iters)
                together()
                start = time.perf_counter()
                for _ in range(iters):
                    rt.sync_dp_state(group, True, False)
                times["sync_dp_state"].append((time.perf_counter() - start) / iters)
            rt.shutdown(groups)
            del groups
        together()
        del servers
    if rank == 0:
        medians = {k: statistics.median(v) for k, v in times.items()}
        # Adjacent blocks see the same machine load: the median of their ratios cancels the drift.
        medians["sync_ratio"] = statistics.median(
            s / b for s, b in zip(times["sync_dp_state"], times["bare_allreduce"], strict=True))
        print(json.dumps(medians), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--tp", type=int, default=1,
                        help="TP size (world = 2 × TP); keep the world at most the core count: an "
                        "oversubscribed host measures its scheduler, not the code")
    parser.add_argument("--rank", type=int)
    parser.add_argument("--config")
    parser.add_argument("--bare-port-base", type=int)
    parser.add_argument("--pconf-port-base", type=int)
    args = parser.parse_args()
    global WORLD  # noqa: PLW0603 - the rank processes and the parent share one module-level size
    WORLD = 2 * args.tp
    if args.rank is not None:
        rank_main(args.config, args.rank, args.rounds, args.iters, args.bare_port_base, args.pconf_port_base)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), args.tp)
        bare, ours = free_port_range(args.rounds + 1) + 1, free_port_range(3 * args.rounds)
        procs = [subprocess.Popen([sys.executable, __file__, "--rank", str(r), "--config", str(config),
                                   "--rounds", str(args.rounds), "--iters", str(args.iters),
                                   "--bare-port-base", str(bare), "--pconf-port-base", str(ours),
                                   "--tp", str(args.tp)],
                                  stdout=subprocess.PIPE, text=True)
                 for r in range(WORLD)]
        outs = [p.communicate(timeout=600)[0] for p in procs]
    if any(p.returncode for p in procs):
        print("a rank failed", file=sys.stderr)
        return 1
    m = json.loads(outs[0].strip().splitlines()[-1])
    init_ratio = m["pconf"] / m["bare"]
    sync_ratio = m["sync_ratio"]
    print(f"init + all groups ({WORLD} ranks, gloo): pconf {m['pconf'] * 1e3:.1f} ms, bare torch.distributed "
          f"{m['bare'] * 1e3:.1f} ms, ratio {init_ratio:.2f} (target <= 1.15)")
    print(f"DP sync: sync_dp_state {m['sync_dp_state'] * 1e6:.1f} us, bare all_reduce "
          f"{m['bare_allreduce'] * 1e6:.1f} us, ratio {sync_ratio:.2f} (median of adjacent-block ratios; "
          "target <= 1.15)")
    return 0 if init_ratio <= 1.15 and sync_ratio <= 1.15 else 1


if __name__ == "__main__":
    sys.exit(main())
