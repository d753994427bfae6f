"""``pconf plan``: what every rank does, in the format a person, a launcher or a cluster manager reads."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pconf.cli.common import EXIT_OK, compile_args, emit, inputs, output_option, probe_options, usage


def _plan_parser(p: argparse.ArgumentParser) -> None:
    from pconf.emit import PLAN_FORMATS

    inputs(p)
    probe_options(p)
    p.add_argument("--format", choices=tuple(PLAN_FORMATS), default="table",
                   help="table (default), json/toml/yaml, env (with --rank), vllm (`vllm serve` lines, with --node)")
    p.add_argument("--rank", type=int, metavar="R", help="only global rank R")
    p.add_argument("--node", type=int, metavar="N", help="only the ranks of node N")
    p.add_argument("--model", default="$MODEL", help="the model argument of --format vllm (default: $MODEL)")
    output_option(p)
    p.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace) -> int:
    from pconf.emit import PLAN_FORMATS, plan_text

    plan = compile_args(args.files, args).plan()
    for option, value, limit in (("--rank", args.rank, plan.world_size), ("--node", args.node, plan.nnodes)):
        if value is not None and not 0 <= value < limit:
            return usage(f"{option} {value} is outside 0..{limit - 1}", "plan")
    if PLAN_FORMATS[args.format].needs_rank and args.rank is None:
        return usage(f"--format {args.format} needs --rank R", "plan")
    emit(plan_text(plan, args.format, rank=args.rank, node=args.node, model=args.model), args.output)
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"plan": _plan_parser}
