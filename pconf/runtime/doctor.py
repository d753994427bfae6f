"""``pconf doctor``: run a configuration's groups for real on this one host, sized to fit, and say if it works.

The shape is shrunk to the host (GPUs when the config is for cuda and GPUs are present, else two ranks per
CPU core, at most 8) by halving its largest axis at a time (DCP follows TP), everything on one node, ports
picked free. The device setting is kept (so the same rules apply); without GPUs the groups run on gloo. Then
the same launch as ``pconf launch`` runs, and a verdict line says what was checked.
"""

from __future__ import annotations

import math
import os
import socket
import sys
from typing import TextIO

from pconf.compile import compile_files
from pconf.plan import Plan

MAX_CPU_RANKS = 8


def host_slots(plan: Plan) -> tuple[int, str]:
    """How many ranks this host can run at once, and on what."""
    import torch

    if plan.resolved.document.cluster.device == "cuda" and torch.cuda.is_available():
        return torch.cuda.device_count(), "GPUs"
    return min(MAX_CPU_RANKS, 2 * (os.cpu_count() or 1)), "CPU ranks"


def shrink(sizes: dict[str, int], slots: int) -> dict[str, int]:
    """Halve the largest of TP, PCP, PP, DP (an odd size drops to 1) until the world fits ``slots``, so as many
    kinds of group as possible keep more than one member; DCP then divides TP."""
    out = dict(sizes)
    axes = ("tp", "pcp", "pp", "dp")
    while out["dp"] * out["pp"] * out["pcp"] * out["tp"] > max(slots, 1):
        axis = max(axes, key=lambda a: out[a])
        out[axis] = out[axis] // 2 if out[axis] % 2 == 0 else 1
    out["dcp"] = math.gcd(out["dcp"], out["tp"])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def doctor(files: list[str], overrides: list[str], timeout: float, quiet: bool, out: TextIO = sys.stderr) -> int:
    """Size, launch and judge (see the module docstring); the exit code is the launch's."""
    from pconf.runtime.launch import LaunchOptions, launch

    plan = compile_files(files, overrides=overrides).plan()
    slots, unit = host_slots(plan)
    before = {"dp": plan.dp, "pp": plan.pp, "pcp": plan.pcp, "tp": plan.tp, "dcp": plan.dcp}
    after = shrink(before, slots)
    dp_port = free_port()
    sized = [
        *overrides,
        f"parallel.data_parallel_size={after['dp']}", f"parallel.pipeline_parallel_size={after['pp']}",
        f"parallel.prefill_context_parallel_size={after['pcp']}", f"parallel.tensor_parallel_size={after['tp']}",
        f"parallel.decode_context_parallel_size={after['dcp']}", "parallel.nnodes=1", "parallel.node_rank=0",
        f"parallel.data_parallel_size_local={after['dp']}", "parallel.data_parallel_external_lb=false",
        "parallel.data_parallel_hybrid_lb=false", "parallel.master_addr=127.0.0.1",
        "parallel.data_parallel_master_ip=127.0.0.1", f"parallel.master_port={free_port()}",
        f"parallel.data_parallel_master_port={dp_port}", f"parallel.data_parallel_rpc_port={free_port()}",
        f"cluster.devices_per_node={max(slots, 1)}", "~cluster.network.node_addresses",  # one node: this host
    ]
    small = compile_files(files, overrides=sized).plan()
    shape = " ".join(f"{k.upper()}={v}" for k, v in after.items())
    was = " ".join(f"{k.upper()}={v}" for k, v in before.items())
    print(f"pconf doctor: this host runs {slots} {unit}; checking {small.world_size} ranks with {shape}"
          + (f" (the file asks for {plan.world_size} ranks: {was}, {plan.nnodes} node(s))" if after != before
             else ""), file=out, flush=True)
    code = launch(small, LaunchOptions(files=files, overrides=sized, timeout=timeout, quiet=quiet), out)
    if code == 0:
        print(f"pconf doctor: PASS - {small.world_size} ranks joined, hashes agreed, every group formed and passed "
              "its check all-reduce, the DP helpers gave vLLM's answers", file=out, flush=True)
    else:
        print(f"pconf doctor: FAIL (exit {code}) - see the rank report above", file=out, flush=True)
    return code
