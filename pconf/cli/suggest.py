"""``pconf suggest``: the layouts of N GPUs a model runs with, ranked, each with its reasons."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CONFIG, EXIT_OK, emit, output_option, usage


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _suggest_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus", type=_positive, required=True, metavar="N", help="the GPUs of the run")
    p.add_argument("--devices-per-node", type=_positive, metavar="G",
                   help="GPUs per node (default: N, at most 8); layouts over several nodes use whole nodes")
    p.add_argument("--model-config", required=True, metavar="PATH",
                   help="the model's config.json, or a model directory holding one")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default; with the reasons) or json (a list of documents that compile)")
    output_option(p)
    p.set_defaults(handler=_suggest)


def _suggest(args: argparse.Namespace) -> int:
    from pconf.emit.suggest import suggest_json, suggest_table
    from pconf.suggest import suggest

    if args.devices_per_node is not None and args.gpus > args.devices_per_node and \
            args.gpus % args.devices_per_node:
        return usage(f"--gpus {args.gpus} does not fill nodes of --devices-per-node {args.devices_per_node}",
                     "suggest")
    found = suggest(args.gpus, args.model_config, args.devices_per_node)
    if not found.layouts:
        print(f"pconf suggest: no layout of {args.gpus} GPUs passes the checks for this model (refused by "
              f"{', '.join(found.refused) or 'the plan'})", file=sys.stderr)
        return EXIT_CONFIG
    emit(suggest_json(found) if args.format == "json" else suggest_table(found), args.output)
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"suggest": _suggest_parser}
