"""``pconf schema`` and ``pconf docs``: the JSON Schema and the field reference, generated from the field facts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CHANGED, EXIT_OK, emit, output_option, usage


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
    p.add_argument("key", nargs="?", metavar="KEY",
                   help="one key (dotted, or its name alone when no other key has it): its meaning, type, default, "
                   "allowed values, the rules that read it and its vLLM flag; without KEY, the whole reference")
    p.add_argument("--vllm-version", metavar="V", default=None,
                   help="with KEY: the key in vLLM release V (default: files without vllm_version)")
    p.add_argument("-o", "--output", metavar="PATH", default=None,
                   help="write the reference to PATH instead of stdout (pconf's own: docs/reference.md)")
    p.add_argument("--check", action="store_true",
                   help="write nothing: exit 0 if the file at --output (default docs/reference.md) is current, "
                   "else 1 saying it is out of date")
    p.set_defaults(handler=_docs)


def _docs(args: argparse.Namespace) -> int:
    from pconf.introspect import REFERENCE_PATH, reference_markdown

    if args.key is not None:
        if args.output or args.check:
            return usage("KEY prints one key: leave out -o and --check", "docs")
        return _key(args.key, args.vllm_version)
    if args.vllm_version is not None:
        return usage("--vllm-version is for one KEY; the reference covers every release", "docs")
    text = reference_markdown()
    if not args.check:
        emit(text, args.output)
        if args.output:
            print(f"{args.output}: written", file=sys.stderr)
        return EXIT_OK
    path = args.output or REFERENCE_PATH
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read() == text
    except OSError as exc:
        print(f"pconf docs: cannot read {path}: {exc.strerror}; run `pconf docs -o {path}` to write it",
              file=sys.stderr)
        return EXIT_CHANGED
    if not current:
        print(f"pconf docs: {path} is out of date; run `pconf docs -o {path}` to regenerate it", file=sys.stderr)
        return EXIT_CHANGED
    print(f"{path}: up to date")
    return EXIT_OK


def _key(key: str, release: str | None) -> int:
    from pconf.introspect.key import describe_key
    from pconf.versions import lookup, supported

    profile = None
    if release is not None:
        profile = lookup(release)
        if profile is None:
            return usage(f"--vllm-version {release}: not a release pconf models; use one of {supported()}", "docs")
    sys.stdout.write(describe_key(key, profile).text())
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"schema": _schema_parser, "docs": _docs_parser}
