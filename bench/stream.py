"""Benchmark: ``pconf plan`` of big plans in every format, written as it is made, against ``--format json``.

For N = 4,096 and 65,536 ranks (TP=8, DP=N/8, EP on, 64 ranks per node) it runs, as fresh processes and in turn:
- ``pconf plan FILE --format F`` for json, yaml, toml and table (streamed: ``pconf.emit.plan_chunks``), and
  ``--rank R --format env``;
- the whole document as the command built it before streaming: ``render(plan.to_dict(), F)`` for json, yaml and
  toml (the libraries on the full tree), for comparison.
Each run's wall time, the time until its first line arrives on the pipe, and its peak memory (the child's
``ru_maxrss``) are medians of ``--runs`` runs. Targets: every streamed format within 3x the time of
``--format json`` for the same plan, its first line within a second, its peak memory within 1.25x json's (the
same whatever the format). With ``--numa``, plans whose every rank has a NUMA binding (8 GPUs per node on two
sockets), the section of a plan that costs the most to make.

    python bench/stream.py [--sizes 4096,65536] [--runs N] [--numa]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TP, PER_NODE = 8, 64
FORMATS = ("json", "yaml", "toml", "table")
WHOLE = ("import sys; import pconf; from pconf.emit.document import render; "
         "sys.stdout.write(render(pconf.plan_files([sys.argv[1]]).to_dict(), sys.argv[2]))")


def write_config(directory: Path, n: int, numa: bool) -> Path:
    """TP=8, DP=N/8, EP on, 64 ranks per node; with ``numa``, 8 per node (two sockets) and every rank bound."""
    per_node = TP if numa else PER_NODE
    dp, nnodes = n // TP, max(1, n // per_node)
    path = directory / f"plan{n}.toml"
    text = (f"[parallel]\ntensor_parallel_size = {TP}\ndata_parallel_size = {dp}\nenable_expert_parallel = true\n"
            f"nnodes = {nnodes}\ndata_parallel_size_local = {dp // nnodes}\nmaster_port = 29500\n"
            'master_addr = "10.0.0.1"\n'
            f"data_parallel_master_port = 29600\n" + ("numa_bind = true\n" if numa else "")
            + f"\n[cluster]\ndevices_per_node = {per_node}\n")
    if numa:
        text += ("\n[cluster.topology]\ngpus = [0, 0, 0, 0, 1, 1, 1, 1]\n\n[[cluster.topology.nodes]]\nid = 0\n"
                 'cpus = "0-31,64-95"\n\n[[cluster.topology.nodes]]\nid = 1\ncpus = "32-63,96-127"\n')
    path.write_text(text)
    return path


def measure(argv: list[str]) -> tuple[float, float, float, int]:
    """(seconds to the end, seconds to the first line, peak memory in MiB, bytes written) of one run."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    first = child.stdout.readline()
    first_line = time.perf_counter() - start
    size = len(first)
    while chunk := child.stdout.read(1 << 16):
        size += len(chunk)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return elapsed, first_line, usage.ru_maxrss / 1024, size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="4096,65536")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--numa", action="store_true", help="plans with numa_bind: a NUMA binding per rank")
    args = parser.parse_args()
    pconf = [sys.executable, "-m", "pconf", "plan"]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.sizes.split(",")):
            config = str(write_config(Path(tmp), n, args.numa))
            runs: dict[str, list[str]] = {f: [*pconf, config, "--format", f] for f in FORMATS}
            runs["env (--rank)"] = [*pconf, config, "--format", "env", "--rank", str(n - 1)]
            for fmt in ("json", "yaml", "toml"):
                runs[f"{fmt}, whole document"] = [sys.executable, "-c", WHOLE, config, fmt]
            results: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in runs}
            for _ in range(args.runs):  # in turn: the machine's load drifts alike for all
                for name, argv in runs.items():
                    results[name].append(measure(argv))
            med = {name: tuple(statistics.median(r[i] for r in rs) for i in range(4)) for name, rs in results.items()}
            json_time, _, json_mem, _ = med["json"]
            print(f"N = {n}: median of {args.runs} runs; ratios against `pconf plan --format json` of the same run")
            for name, (elapsed, first, mem, size) in med.items():
                print(f"  {name:<24} {elapsed:6.2f} s ({elapsed / json_time:4.2f}x)  first line {first:5.2f} s  "
                      f"peak {mem:7.1f} MiB ({mem / json_mem:4.2f}x)  {size / 2**20:6.1f} MiB out")
                if name in FORMATS:
                    ok &= elapsed <= 3 * json_time and first <= 1.0 and mem <= 1.25 * json_mem
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
