"""``pconf compile``, ``validate`` and ``explain``: the resolved document, its errors, where a value came from."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import (
    EXIT_CONFIG,
    EXIT_OK,
    compile_args,
    emit,
    inputs,
    output_option,
    print_issues,
    probe_options,
)


def _compile_parser(p: argparse.ArgumentParser) -> None:
    from pconf.emit.document import FORMATS

    inputs(p)
    probe_options(p)
    p.add_argument("--format", choices=FORMATS, default="json", help="output format")
    output_option(p)
    p.set_defaults(handler=_compile)


def _compile(args: argparse.Namespace) -> int:
    from pconf.emit.document import render

    emit(render(compile_args(args.files, args).to_dict(), args.format), args.output)
    return EXIT_OK


def _validate_parser(p: argparse.ArgumentParser) -> None:
    from pconf.compile import TARGETS

    inputs(p)
    p.add_argument("--target", choices=TARGETS,
                   help="check each file as that deployment target takes it (pconf plan --format TARGET): the "
                        "target supplies the head's address, so a multi-node file needs none and may fix none")
    p.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from pconf.errors import ConfigError, Issue

    if args.target and args.vllm_env:
        print(f"pconf validate: --target {args.target} compiles the files declaratively: leave out --vllm-env",
              file=sys.stderr)
        return EXIT_CONFIG
    issues: list[Issue] = []
    for path in args.files:
        try:
            compiled = compile_args([path], args, target=args.target)
            if args.target:
                from pconf.emit import target_text

                target_text(compiled, args.target)  # what the target refuses (the model, the backend, ...)
        except ConfigError as exc:
            issues.extend(exc.issues)
        else:
            print(f"{path}: ok")
    if issues:
        print_issues(issues)
        return EXIT_CONFIG
    return EXIT_OK


def _explain_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="+", metavar="FILE... KEY", help="cluster files, then a dotted key")
    inputs(p, files=False)
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(handler=_explain)


def _explain(args: argparse.Namespace) -> int:
    from pconf.emit.reports import explain_json, explain_text

    if len(args.args) < 2:
        print("pconf explain: give one or more files, then a dotted key", file=sys.stderr)
        return EXIT_CONFIG
    *files, key = args.args
    explanation = compile_args(files, args).explain(key)
    sys.stdout.write(explain_json(explanation) if args.json else explain_text(explanation))
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "compile": _compile_parser,
    "validate": _validate_parser,
    "explain": _explain_parser,
}
