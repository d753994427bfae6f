"""``pconf plan``: what every rank does, in the format a person, a launcher or a cluster manager reads."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from pconf.cli.common import (
    EXIT_OK,
    compile_args,
    emit,
    emit_chunks,
    inputs,
    output_option,
    print_issues,
    probe_options,
    usage,
)


def _kinds(text: str) -> tuple[str, ...]:
    """``--groups``: group kinds, comma-separated (argparse reports a bad one and exits 2)."""
    from pconf.emit.picture import parse_kinds

    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _plan_parser(p: argparse.ArgumentParser) -> None:
    from pconf.emit import PLAN_FORMATS
    from pconf.plan import GROUP_KINDS

    inputs(p)
    probe_options(p)
    p.add_argument("--format", choices=tuple(PLAN_FORMATS), default="table",
                   help="table (default), json/toml/yaml, env (with --rank), vllm (`vllm serve` lines, with --node); "
                        "pictures: svg, html (self-contained, interactive), mermaid (Markdown), grid (terminal); "
                        "deployment targets, which start every node's vllm line and supply the head's address: "
                        "lws (Kubernetes LeaderWorkerSet + Service), slurm (sbatch script), skypilot (task YAML)")
    p.add_argument("--rank", type=int, metavar="R", help="only global rank R")
    p.add_argument("--node", type=int, metavar="N", help="only the ranks of node N")
    p.add_argument("--model", default=None,
                   help="the model the serve lines name (vllm and the deployment targets), over [deploy].model "
                        "(default: [deploy].model, else $MODEL, left for the shell: the targets' nodes then read "
                        "MODEL when they start)")
    p.add_argument("--groups", type=_kinds, metavar="KINDS",
                   help=f"svg/html: the group kinds to outline, comma-separated ({','.join(GROUP_KINDS)}; "
                        "default: all; none: no outlines)")
    p.add_argument("--color-by", choices=GROUP_KINDS, metavar="KIND",
                   help="svg/html/mermaid/grid: fill each rank's cell by its group of KIND (default: tp, or the "
                        "first kind with groups of several ranks)")
    p.add_argument("--color", choices=("auto", "always", "never"),
                   help="grid: ANSI colours (auto: on a terminal, unless NO_COLOR is set)")
    output_option(p)
    p.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace) -> int:
    from pconf.emit import PLAN_FORMATS, plan_chunks
    from pconf.emit.mermaid import TooLarge

    fmt = PLAN_FORMATS[args.format]
    for option, value in (("groups", args.groups), ("color_by", args.color_by), ("color", args.color)):
        if value is not None and option not in fmt.options:
            users = ", ".join(name for name, f in PLAN_FORMATS.items() if option in f.options)
            return usage(f"--{option.replace('_', '-')} is not an option of --format {args.format} (it is for "
                         f"{users})", "plan")
    for option, value in (("rank", args.rank), ("node", args.node)):
        if value is not None and option not in fmt.slices:
            return usage(f"--format {args.format} draws the whole plan: leave out --{option}", "plan")
    if fmt.target:
        return _target(args)
    compiled = compile_args(args.files, args)
    plan = compiled.plan()
    for option, value, limit in (("--rank", args.rank, plan.world_size), ("--node", args.node, plan.nnodes)):
        if value is not None and not 0 <= value < limit:
            return usage(f"{option} {value} is outside 0..{limit - 1}", "plan")
    if fmt.needs_rank and args.rank is None:
        return usage(f"--format {args.format} needs --rank R", "plan")
    try:  # the big formats are made as they are written (pconf.emit.plan_chunks)
        chunks = plan_chunks(plan, args.format, rank=args.rank, node=args.node, model=args.model,
                             groups=args.groups, color_by=args.color_by, color=_ansi(args.color, args.output))
    except TooLarge as exc:
        return usage(str(exc), "plan")
    if args.format == "vllm":
        from pconf.emit.vllm import serve_warnings

        print_issues(serve_warnings(compiled))
    emit_chunks(chunks, args.output)
    return EXIT_OK


def _target(args: argparse.Namespace) -> int:
    """A deployment target's manifest: the files compiled for it (the target supplies the head's address)."""
    from pconf.emit import target_text
    from pconf.emit.launch_script import target_warnings

    if args.vllm_env:
        return usage(f"--format {args.format} compiles the files declaratively (the target sets vLLM's variables): "
                     "leave out --vllm-env", "plan")
    compiled = compile_args(args.files, args, target=args.format)
    text = target_text(compiled, args.format, args.model)
    print_issues(target_warnings(compiled, args.model))
    emit(text, args.output)
    return EXIT_OK


def _ansi(choice: str | None, output: str | None) -> bool:
    """Whether the grid is coloured: always, never, or (auto) on a terminal without NO_COLOR (no-color.org)."""
    if choice in ("always", "never"):
        return choice == "always"
    return not output and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"plan": _plan_parser}
