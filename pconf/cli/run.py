"""``pconf launch`` and ``pconf doctor``: this node's ranks, for real (the runtime package, which needs torch)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pconf._version import DISTRIBUTION
from pconf.cli.common import EXIT_CONFIG, compile_args, inputs, no_stdin, overrides_for_ranks, seconds, usage

if TYPE_CHECKING:
    from pconf.plan import Plan


def _launch_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = ("pconf launch FILE... [options] -- CMD ARGS: run CMD in each rank with the rank's environment "
                "instead of pconf's group check")
    inputs(p)
    p.add_argument("--node-rank", type=int, default=None, metavar="K",
                   help="which node this is (default: parallel.node_rank of the files)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="ranks to start here; must match the plan's ranks per node (a check, not an override)")
    p.add_argument("--timeout", type=seconds, default=None, metavar="S",
                   help="give up on the rendezvous after S seconds (default: distributed_timeout_seconds, else 300); "
                        "pconf's own check run must also finish in that time, a command after -- need not")
    p.add_argument("--quiet", action="store_true", help="print only failures")
    p.set_defaults(handler=_launch, takes_command=True)


def _launch(args: argparse.Namespace) -> int:
    refused = no_stdin(args.files, "launch", "every rank compiles the files again; name the files")
    if refused is not None:
        return refused
    compiled = compile_args(args.files, args)
    plan = compiled.plan()
    node = args.node_rank if args.node_rank is not None else compiled.resolved.parallel.node_rank
    if not 0 <= node < plan.nnodes:
        return usage(f"--node-rank {node} is outside 0..{plan.nnodes - 1}", "launch")
    if args.nproc is not None and args.nproc != len(plan.node_ranks(node)):
        return usage(f"--nproc {args.nproc}, but the plan runs {len(plan.node_ranks(node))} ranks on node {node} "
                     "(change the parallel sizes or nnodes in the file)", "launch")
    timeout = args.timeout or float(compiled.resolved.parallel.distributed_timeout_seconds or 300)
    if plan.ports.world_port is None:
        return usage("the world rendezvous port is picked when vLLM starts (vLLM-environment mode with DP); launch "
                     "without --vllm-env, where the file's ports are kept", "launch")
    if not _have_torch("launch"):
        return EXIT_CONFIG
    if not args.command_argv:  # pconf's own group checks (a command after -- forms no groups of pconf's)
        _say_backend("launch", plan)
    # A failed connect makes torch's C++ side log a stack trace; the launcher says it in one line (exit 3). Its
    # ranks keep torch's own logging.
    unset = () if "TORCH_CPP_LOG_LEVEL" in os.environ else ("TORCH_CPP_LOG_LEVEL",)
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "FATAL")
    from pconf.runtime.launch import LaunchOptions, start

    return start(plan, LaunchOptions(files=args.files, overrides=overrides_for_ranks(args), node=node,
                                     timeout=timeout, quiet=args.quiet, command=list(args.command_argv),
                                     child_env_unset=unset))


def _doctor_parser(p: argparse.ArgumentParser) -> None:
    inputs(p)
    p.add_argument("--timeout", type=seconds, default=120.0, metavar="S", help="give up after S seconds")
    p.add_argument("--quiet", action="store_true", help="print only the verdict and failures")
    p.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    refused = no_stdin(args.files, "doctor", "every rank compiles the files again; name the files")
    if refused is not None:
        return refused
    if not _have_torch("doctor"):
        return EXIT_CONFIG
    _say_backend("doctor", compile_args(args.files, args, warn=False).plan())
    from pconf.runtime.doctor import doctor

    return doctor(args.files, overrides_for_ranks(args), args.timeout, args.quiet)


def _have_torch(command: str) -> bool:
    """Whether torch can be imported; if not, say how to install the runtime extra."""
    if importlib.util.find_spec("torch") is not None:
        return True
    print(f"pconf {command}: the ranks need torch: pip install torch==2.13.0 (the CPU wheel), then "
          f"pip install '{DISTRIBUTION}[runtime]'", file=sys.stderr)
    return False


def _say_backend(command: str, plan: Plan) -> None:
    """Say so when a config for GPUs runs its groups on gloo here, because this host has no GPU torch can use."""
    if plan.resolved.document.cluster.device != "cuda":
        return
    from pconf.runtime.groups import choose_backend

    if choose_backend(plan) == "gloo":
        print(f"pconf {command}: cluster.device is \"cuda\", but torch sees no GPU on this host: the groups run on "
              "gloo (CPU) instead of nccl, so nccl itself is not checked", file=sys.stderr, flush=True)


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"launch": _launch_parser, "doctor": _doctor_parser}
