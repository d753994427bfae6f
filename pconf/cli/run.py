"""``pconf launch`` and ``pconf doctor``: this node's ranks, for real (the runtime package, which needs torch)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CONFIG, compile_args, inputs, overrides_for_ranks, usage


def _launch_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = ("pconf launch FILE... [options] -- CMD ARGS: run CMD in each rank with the rank's environment "
                "instead of pconf's group check")
    inputs(p)
    p.add_argument("--node-rank", type=int, default=None, metavar="K",
                   help="which node this is (default: parallel.node_rank of the files)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="ranks to start here; must match the plan's ranks per node (a check, not an override)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="give up after S seconds (default: distributed_timeout_seconds, else 300)")
    p.add_argument("--quiet", action="store_true", help="print only failures")
    p.set_defaults(handler=_launch, takes_command=True)


def _launch(args: argparse.Namespace) -> int:
    compiled = compile_args(args.files, args)
    plan = compiled.plan()
    node = args.node_rank if args.node_rank is not None else compiled.resolved.parallel.node_rank
    if not 0 <= node < plan.nnodes:
        return usage(f"--node-rank {node} is outside 0..{plan.nnodes - 1}", "launch")
    if args.nproc is not None and args.nproc != len(plan.node_ranks(node)):
        return usage(f"--nproc {args.nproc}, but the plan runs {len(plan.node_ranks(node))} ranks on node {node} "
                     "(change the parallel sizes or nnodes in the file)", "launch")
    timeout = args.timeout or float(compiled.resolved.parallel.distributed_timeout_seconds or 300)
    if importlib.util.find_spec("torch") is None:
        print("pconf launch: the ranks need torch: pip install torch==2.13.0 (the CPU wheel), then "
              "pip install 'pconf[runtime]'", file=sys.stderr)
        return EXIT_CONFIG
    from pconf.runtime.launch import LaunchOptions, start

    return start(plan, LaunchOptions(files=args.files, overrides=overrides_for_ranks(args), node=node,
                                     timeout=timeout, quiet=args.quiet, command=list(args.command_argv)))


def _doctor_parser(p: argparse.ArgumentParser) -> None:
    inputs(p)
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="give up after S seconds")
    p.add_argument("--quiet", action="store_true", help="print only the verdict and failures")
    p.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from pconf.runtime.doctor import doctor

    return doctor(args.files, overrides_for_ranks(args), args.timeout, args.quiet)


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"launch": _launch_parser, "doctor": _doctor_parser}
