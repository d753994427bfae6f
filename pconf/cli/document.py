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
    print_summary,
    probe_options,
    shown_name,
)


def _compile_parser(p: argparse.ArgumentParser) -> None:
    from pconf.emit.document import FORMATS

    inputs(p)
    probe_options(p)
    p.add_argument("--format", choices=FORMATS, default="json", help="output format")
    output_option(p)
    p.set_defaults(handler=_compile)


def _compile(args: argparse.Namespace) -> int:
    from pconf.emit.document import assumed_notes, render

    doc = compile_args(args.files, args).to_dict()
    emit(render(doc, args.format, assumed_notes(doc)), args.output)
    return EXIT_OK


def _validate_parser(p: argparse.ArgumentParser) -> None:
    from pconf.target import TARGETS

    inputs(p)
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text (default: `FILE: ok` lines, issues on stderr), json (one document: file, line, col, "
                   "key, rule, message, hint of every issue) or github (GitHub Actions ::error annotations)")
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
    text = args.format == "text"
    checked: list[tuple[str, tuple[Issue, ...]]] = []
    for path in args.files:
        try:
            compiled = compile_args([path], args, warn=text, target=args.target)
            found = compiled.warnings
            if args.target:
                from pconf.emit import target_text

                target_text(compiled, args.target)  # what the target refuses (the model, the backend, ...)
        except ConfigError as exc:
            found = exc.issues
        checked.append((shown_name(path), found))
        if text and not any(i.severity == "error" for i in found):
            print(f"{shown_name(path)}: ok")
    errors = [i for _, found in checked for i in found if i.severity == "error"]
    if text:
        print_issues(errors)
    else:
        from pconf.emit.issues import validate_github, validate_json

        sys.stdout.write(validate_json(checked) if args.format == "json" else validate_github(checked))
        if errors and args.format == "github":
            print_summary(errors)
    return EXIT_CONFIG if errors else EXIT_OK


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
