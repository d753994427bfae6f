"""The ``pconf`` command line: parse, call a library function, render, map exceptions to exit codes.

Each command lives in a module of this package that declares its arguments and its handler; only the module
of the command being run is imported (``COMMANDS``), so ``pconf hash`` does not build ``pconf launch``.

Exit codes: 0 success; 2 a config error (every issue listed on stderr, no traceback); 1 an internal bug
(with its traceback), or a negative answer where the command is a check: ``pconf hash --check`` when the
graph changed, ``pconf diff`` when the configs differ (like diff(1)). ``PCONF_TRACEBACK=1`` re-raises
config errors too.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from pconf.cli.common import EXIT_BUG, EXIT_CONFIG, EXIT_OK, print_issues

#: command -> (the module that declares it, its one-line help), in the order ``pconf --help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("pconf.cli.document", "print the resolved document"),
    "validate": ("pconf.cli.document", "check each file on its own; exit 2 listing every error"),
    "plan": ("pconf.cli.plan", "what every rank does: node, local rank, coordinates, groups, ports, env"),
    "suggest": ("pconf.cli.suggest", "every layout of N GPUs a model runs with, ranked, with the reasons"),
    "numa": ("pconf.cli.host", "this host's NUMA nodes, their CPUs and memory, and where each GPU and NIC sits"),
    "exec": ("pconf.cli.host", "run a command as rank R would run: its environment and NUMA binding"),
    "launch": ("pconf.cli.run", "start this node's ranks: rendezvous, hash check, every group, checks"),
    "doctor": ("pconf.cli.run", "run the config's groups on this host, sized to fit, and give a verdict"),
    "hash": ("pconf.cli.graph", "print the graph hash; write or check a CI lock"),
    "diff": ("pconf.cli.graph", "every key that differs between two configs, and whether the hash changes"),
    "explain": ("pconf.cli.document", "show a key's value and every layer that set it"),
    "migrate": ("pconf.cli.migrate", "move a cluster file to a newer vLLM release, keeping what it means"),
    "schema": ("pconf.cli.reference", "print the JSON Schema of cluster files (for editors and CI)"),
    "docs": ("pconf.cli.reference", "write the field reference (docs/reference.md) from the field metadata"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``sys.argv`` without ``argv``: as the program); return the exit code.

    Run as the program, the cyclic garbage collector is turned off once the command is done: the process ends
    then, and the interpreter's last collection would only walk every object the command's start-up made (the
    classes and tables of every stage) -- some ms of ``pconf hash``. Called with ``argv`` (tests, an embedding
    program), nothing changes."""
    program = argv is None
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    finally:
        if program:
            gc.disable()


def _main(argv: list[str]) -> int:
    after: list[str] = []
    if "--" in argv:  # `pconf launch FILE -- CMD ARGS`: everything after `--` is the command, options included
        cut = argv.index("--")
        argv, after = argv[:cut], argv[cut + 1 :]
    args = parser(argv).parse_args(argv)
    args.command_argv = after
    handler: Callable[[argparse.Namespace], int] = args.handler
    from pconf.errors import ConfigError

    try:
        return handler(args)
    except ConfigError as exc:
        if os.environ.get("PCONF_TRACEBACK") == "1":
            raise
        print_issues(exc.issues)
        return EXIT_CONFIG
    except BrokenPipeError:  # e.g. `pconf compile x.toml | head`
        sys.stderr.close()
        return EXIT_OK
    except Exception:  # an internal bug: say so, with the traceback
        import traceback

        traceback.print_exc()
        print("pconf: internal error (this is a bug in pconf; please report it with the input)", file=sys.stderr)
        return EXIT_BUG


def parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser: every command listed (only the named one when ``argv`` starts with a command), the
    arguments of the one ``argv`` names declared."""
    top = argparse.ArgumentParser(
        prog="pconf",
        description="Compile layered TOML/YAML cluster files into a validated vLLM parallel configuration.",
        formatter_class=_Formatter,
    )
    top.add_argument("--version", action=_Version, help="pconf's version, the vLLM releases it models, the hash scheme")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    # `pconf COMMAND ...`: only that command's parser is built (start-up time); otherwise every command is listed,
    # for `pconf --help` and for the choices of a mistyped one.
    listed = {argv[0]: COMMANDS[argv[0]]} if argv and argv[0] in COMMANDS else COMMANDS
    for name, (module, text) in listed.items():
        p = sub.add_parser(name, help=text, formatter_class=_Formatter)
        if name == chosen:
            importlib.import_module(module).PARSERS[name](p)
    return top


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal's width as argparse works it out (``shutil.get_terminal_size``:
    ``COLUMNS``, else the terminal, else 80; less 2) without importing shutil, which argparse does for every
    argument it declares (with shutil's archive modules: a few ms of every command's start-up)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Version(argparse.Action):
    """``pconf --version``: worked out only when asked for (the releases come from their profiles)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help", "")))

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    """pconf's version, the vLLM releases it models (the default marked) and the graph-hash scheme."""
    from pconf._version import __version__
    from pconf.hashing import SCHEME
    from pconf.versions import DEFAULT, PROFILES

    releases = ", ".join(f"{p.name} ({p.label}{', the default' if p.name == DEFAULT else ''})"
                         for p in PROFILES.values())
    return f"pconf {__version__}\nvLLM releases: {releases}\ngraph hash scheme: {SCHEME}"


__all__ = ["COMMANDS", "main", "parser", "version_text"]
