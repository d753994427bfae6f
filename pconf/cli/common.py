"""What every command shares: exit codes, the input options, compiling them, writing output, printing issues."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pconf.compile import Compiled
    from pconf.errors import Issue

#: The exit codes, the same for every command (docs/errors.md#exit-codes).
EXIT_OK = 0
EXIT_CHANGED = 1  # a check's negative answer: `hash --check` found changes, `diff` found differences
EXIT_CONFIG = 2  # bad input or usage: a config error, a wrong option
EXIT_FAULT = 3  # an environment fault: unreachable, port in use, timeout, a rank died
EXIT_BUG = 70  # an internal error (sysexits.h's EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


def inputs(p: argparse.ArgumentParser, files: bool = True) -> None:
    """The options of every command that compiles: the files, ``--set`` and ``--vllm-env``."""
    if files:
        p.add_argument("files", nargs="+", metavar="FILE",
                       help="cluster files, merged left to right; - reads one from standard input")
    overrides(p)
    p.add_argument("--vllm-env", action="store_true",
                   help="vLLM-environment mode: read VLLM_DP_*, RANK, ... from this process's environment")
    p.add_argument("--vllm-version", metavar="V", default=None,
                   help="compile for vLLM release V (0.23, 0.28, 0.34), over the files' vllm_version")
    p.add_argument("--model-config", metavar="PATH", default=None,
                   help="check the layout against this model: its config.json or model directory (as [model] "
                   "config = PATH; see docs/models.md)")
    p.add_argument("--stdin-format", choices=("toml", "yaml"), default=None,
                   help="what the file - (standard input) is; default: recognised from its content (JSON is YAML)")


def overrides(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` and ``--reset KEY`` (``--set ~KEY``), into one list, in the order given."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a key (applied last, in order)")
    p.add_argument("--reset", action="append", type=lambda key: "~" + key, metavar="KEY", dest="overrides",
                   help="reset KEY to its default, dropping what the files set (the same as --set ~KEY, which zsh "
                   "would expand)")


def seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds (``--timeout``); anything else is a usage error."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > 10**9:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds above 0 (at most 1e9)")
    return value


def probe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--probe-topology", action="store_true",
                   help="fill cluster.topology from this host's sysfs (source probe:/sys); never done otherwise")
    p.add_argument("--sysfs-root", metavar="DIR", default=None,
                   help="probe DIR/sys and DIR/proc (a recorded tree) instead of this host; implies --probe-topology")


def output_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")


def compile_args(files: Sequence[str], args: argparse.Namespace, warn: bool = True,
                 target: str | None = None) -> Compiled:
    """Compile ``files`` with the command's options (for a deployment ``target``); print the warnings (unless
    ``warn`` is false)."""
    from pconf.compile import compile_files

    probe = getattr(args, "sysfs_root", None) or getattr(args, "probe_topology", False)
    compiled = compile_files(files, overrides=args.overrides, env=os.environ if args.vllm_env else None,
                             probe_topology=probe, vllm_version=args.vllm_version,
                             model_config=getattr(args, "model_config", None),
                             stdin_format=getattr(args, "stdin_format", None), target=target)
    if warn:
        print_issues(compiled.warnings)
    return compiled


def shown_name(path: str) -> str:
    """A file argument as messages name it (``-`` is ``<stdin>``)."""
    return "<stdin>" if path == "-" else path


def no_stdin(files: Sequence[str], command: str, why: str) -> int | None:
    """Exit 2 (after saying why) when ``-`` (standard input) is among the files of a command that cannot read it."""
    if "-" in files:
        return usage(f"cannot read a file from standard input (-): {why}", command)
    return None


def overrides_for_ranks(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides of a command, with ``--vllm-version`` and ``--model-config`` as overrides too (for
    the processes ``launch`` and ``doctor`` start, which compile the files again and take only overrides)."""
    out = list(args.overrides)
    if args.vllm_version is not None:
        out.append(f"vllm_version={args.vllm_version}")
    path = getattr(args, "model_config", None)
    if path is not None:
        out += ["~model.hf_id", "model.config=" + json.dumps(os.path.abspath(path))]
    return out


def emit(text: str, output: str | None) -> None:
    """Write a command's output to stdout, or to the file the user named."""
    if output:
        write(output, text)
    else:
        sys.stdout.write(text)


def write(path: str, text: str) -> None:
    """Write an output file the user named; a failure is the user's to fix (exit 2), not a bug."""
    emit_chunks((text,), path)


def emit_chunks(chunks: Iterable[str], output: str | None) -> None:
    """Write a command's output piece by piece as it is made: to stdout, or to the file the user named (opened once
    the first piece is made, so a failure before any output leaves no file). A file that cannot be written is the
    user's to fix (exit 2), not a bug."""
    if not output:
        for chunk in chunks:
            sys.stdout.write(chunk)
        return
    from pconf.errors import ConfigError, Issue, Location

    pieces = iter(chunks)
    first = next(pieces, "")
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(first)
            for chunk in pieces:
                f.write(chunk)
    except OSError as exc:
        raise ConfigError([Issue((), Location.file(output), "output.write",
                                 f"cannot write the file: {exc.strerror}",
                                 hint="check the directory exists and is writable")]) from None


def usage(message: str, command: str) -> int:
    """A usage mistake the parser cannot see: say it, exit 2."""
    print(f"pconf {command}: {message}", file=sys.stderr)
    return EXIT_CONFIG


#: The most issues a command prints; the rest are counted ("and K more"), so a file of 50,000 mistakes answers at
#: once and stays readable. The library's ConfigError.issues holds every one.
MAX_PRINTED = 100


def print_issues(issues: Sequence[Issue]) -> None:
    for issue in issues[:MAX_PRINTED]:
        prefix = "warning: " if issue.severity == "warning" else ""
        print(prefix + issue.render(), file=sys.stderr)
    if len(issues) > MAX_PRINTED:
        print(f"pconf: ... and {len(issues) - MAX_PRINTED} more not shown", file=sys.stderr)
    print_summary(issues)


def print_summary(issues: Sequence[Issue]) -> None:
    """``pconf: N errors`` on stderr, when there are errors."""
    errors = sum(1 for i in issues if i.severity == "error")
    if errors:
        print(f"pconf: {errors} error{'s' if errors != 1 else ''}", file=sys.stderr)
