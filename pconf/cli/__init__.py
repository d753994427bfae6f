"""The ``pconf`` command line: parse, call a library function, render, map exceptions to exit codes.

Each command lives in a module of this package that declares its arguments and its handler; only the module
of the command being run is imported (``COMMANDS``), so ``pconf hash`` does not build ``pconf launch``.

Exit codes, the same for every command (docs/errors.md#exit-codes holds the table): 0 success; 1 a check's
negative answer (``pconf hash --check`` when the graph changed, ``pconf diff`` when the configs differ, like
diff(1)); 2 bad input or usage (a config error: every issue listed on stderr, no traceback); 3 an environment
fault while running a plan (``pconf launch``, ``doctor``: the rendezvous store unreachable or its port taken,
ranks that did not join in time, a rank or peer that died), one line naming the address and what to check; 70 an
internal error (one line saying how to report it; ``PCONF_TRACEBACK=1`` prints the traceback, of config errors
and faults too); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from pconf.cli.common import EXIT_BUG, EXIT_CONFIG, EXIT_FAULT, EXIT_INTERRUPTED, EXIT_OK, print_issues, usage
from pconf.errors import ConfigError, Fault, shorten

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
    "docs": ("pconf.cli.reference", "print the field reference, or one key's: meaning, type, default, rules, flag"),
    "completion": ("pconf.cli.completion", "print a shell completion script: bash, zsh or fish"),
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
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's code for SIGINT
        print("pconf: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`pconf --version | head -1`): nothing left to say
        _quiet_stdout()
        return EXIT_OK
    finally:
        if program:
            gc.disable()


def _main(argv: list[str]) -> int:
    after: list[str] = []
    if "--" in argv:  # `pconf launch FILE -- CMD ARGS`: everything after `--` is the command, options included
        cut = argv.index("--")
        argv, after = argv[:cut], argv[cut + 1 :]
    args = parser(argv).parse_args(argv)
    if after and not getattr(args, "takes_command", False):
        import shlex  # only for this message: not imported at every start

        takers = " and ".join(f"pconf {name}" for name in TAKE_A_COMMAND)
        return usage(f"takes no arguments after `--` (got {shlex.join(after)}); only {takers} run a command "
                     "given there", args.command)
    args.command_argv = after
    handler: Callable[[argparse.Namespace], int] = args.handler
    trace = os.environ.get("PCONF_TRACEBACK") == "1"
    try:
        return handler(args)
    except ConfigError as exc:
        if trace:
            _print_traceback()
        print_issues(exc.issues)
        return EXIT_CONFIG
    except Fault as exc:  # the environment, not the file and not pconf: one line, exit 3
        if trace:
            _print_traceback()
        print(f"pconf {args.command}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAULT
    except BrokenPipeError:  # e.g. `pconf compile x.toml | head`
        _quiet_stdout()
        return EXIT_OK
    except Exception as exc:  # an internal bug: one line that says so and how to report it
        if trace:
            _print_traceback()
        print(internal_error_line(exc, trace), file=sys.stderr)
        return EXIT_BUG


def _print_traceback() -> None:
    import traceback  # only when asked (PCONF_TRACEBACK=1): not imported at every start

    traceback.print_exc()


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so that flushing it at exit raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (captured in tests)
        pass


#: The commands that run a command given after ``--`` (their parsers set ``takes_command``).
TAKE_A_COMMAND = ("exec", "launch")


def internal_error_line(exc: BaseException, traced: bool = False) -> str:
    """The one line an internal error prints: what escaped, that it is a bug, how to report it."""
    what = type(exc).__name__
    text = str(exc).strip().splitlines()
    if text:
        what += f": {shorten(text[0], 200)}"
    how = "" if traced else "; PCONF_TRACEBACK=1 prints the traceback"
    return (f"pconf: internal error ({what}): a bug in pconf, not in your files. Please report it with the command "
            f"line, its input files and `pconf --version`{how}")


def parser(argv: Sequence[str] = (), every: bool = False) -> argparse.ArgumentParser:
    """The argument parser: every command listed, the arguments of the one ``argv`` names declared (of every
    command with ``every``: ``pconf completion`` reads them all)."""
    top = argparse.ArgumentParser(
        prog="pconf",
        description="Compile layered TOML/YAML cluster files into a validated vLLM parallel configuration.",
        epilog="exit codes: 0 ok, 1 a check found a difference, 2 bad input or usage, 3 an environment fault, 70 an "
        "internal error, 130 interrupted (docs/errors.md#exit-codes). pconf docs KEY: one key of the format.",
        formatter_class=_Formatter,
    )
    top.add_argument("--version", action=_Version, help="pconf's version, the vLLM releases it models, the hash scheme")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    # `pconf COMMAND ...`: only that command's parser is built (start-up time); otherwise every command is listed,
    # for `pconf --help` and for the choices of a mistyped one (``every``: all built, for completion).
    one = not every and argv and argv[0] in COMMANDS
    listed = {argv[0]: COMMANDS[argv[0]]} if one else COMMANDS
    for name, (module, text) in listed.items():
        p = sub.add_parser(name, help=text, formatter_class=_Formatter)
        if every or name == chosen:
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
    from pconf._version import DISTRIBUTION, __version__
    from pconf.hashing import SCHEME
    from pconf.versions import DEFAULT, PROFILES

    releases = ", ".join(f"{p.name} ({p.label}{', the default' if p.name == DEFAULT else ''})"
                         for p in PROFILES.values())
    return (f"pconf {__version__} (distribution {DISTRIBUTION})\n"
            f"vLLM releases: {releases}\ngraph hash scheme: {SCHEME}")


__all__ = ["COMMANDS", "TAKE_A_COMMAND", "internal_error_line", "main", "parser", "version_text"]
