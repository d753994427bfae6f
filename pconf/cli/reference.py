"""``pconf schema`` and ``pconf docs``: the JSON Schema and the field reference, generated from the field facts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CHANGED, EXIT_OK, emit, output_option, usage, write


def _schema_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vllm-version", metavar="V", default=None,
                   help="the schema of files for vLLM release V (default: files without vllm_version)")
    output_option(p)
    p.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace) -> int:
    from pconf.introspect import schema_text

    profile = None
    if args.vllm_version is not None:
        from pconf.versions import lookup, supported

        profile = lookup(args.vllm_version)
        if profile is None:
            return usage(f"--vllm-version {args.vllm_version}: not a release pconf models; use one of {supported()}",
                         "schema")
    emit(schema_text(profile), args.output)
    return EXIT_OK


def _docs_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="PATH", default="docs/reference.md",
                   help="the reference file (default: docs/reference.md)")
    p.add_argument("--check", action="store_true",
                   help="do not write: exit 0 if the file is current, else 1 saying it is out of date")
    p.set_defaults(handler=_docs)


def _docs(args: argparse.Namespace) -> int:
    from pconf.introspect import reference_markdown

    text = reference_markdown()
    if not args.check:
        write(args.output, text)
        print(f"{args.output}: written")
        return EXIT_OK
    try:
        with open(args.output, encoding="utf-8") as f:
            current = f.read() == text
    except OSError as exc:
        print(f"pconf docs: cannot read {args.output}: {exc.strerror}; run `pconf docs` to write it", file=sys.stderr)
        return EXIT_CHANGED
    if not current:
        print(f"pconf docs: {args.output} is out of date; run `pconf docs` to regenerate it", file=sys.stderr)
        return EXIT_CHANGED
    print(f"{args.output}: up to date")
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"schema": _schema_parser, "docs": _docs_parser}
