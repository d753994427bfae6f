"""Every command's arguments, read off the command line's full parser (``parser(every=True)``): what
``pconf completion`` writes its scripts from (``pconf.cli.shells``)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

#: The file types of cluster files.
CLUSTER_SUFFIXES = ("toml", "yaml", "yml")


@dataclass(frozen=True)
class Value:
    """What an option's value or a positional argument is: ``kind`` one of ``choices``, ``cluster`` (cluster
    files), ``file`` (any file), ``dir``, ``key`` (a key of the format), ``key=`` (``KEY=VALUE``), ``doc-key`` (a
    key ``pconf docs`` knows), ``text``."""

    kind: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    value: Value | None  # None: a switch
    repeat: bool


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    positionals: tuple[Value, ...]  # in order; the last one may repeat
    repeat_last: bool


def commands() -> list[Command]:
    """Every command with its options and positional arguments, read from the full parser."""
    from pconf.cli import COMMANDS, parser

    top = parser(every=True)
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for name, p in sub.choices.items():
        options, positionals, repeat = [], [], False
        for action in p._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            if action.option_strings:
                value = None if action.nargs == 0 else _value(action)
                options.append(Option(tuple(action.option_strings), _short(action.help or ""), value,
                                      isinstance(action, argparse._AppendAction)))
            else:
                positionals.append(_value(action))
                repeat = action.nargs in ("+", "*")
        out.append(Command(name, COMMANDS[name][1], (*options, Option(("-h", "--help"), "show the help", None, False)),
                           tuple(positionals), repeat))
    return out


def _value(action: argparse.Action) -> Value:
    if action.dest == "vllm_version":
        from pconf.versions import PROFILES

        return Value("choices", tuple(PROFILES))
    if action.choices is not None:
        return Value("choices", tuple(str(c) for c in action.choices))
    if action.dest == "overrides":
        return Value("key" if "--reset" in action.option_strings else "key=")
    if action.dest in ("files", "file", "old", "new", "args"):
        return Value("cluster")
    if action.dest == "key":
        return Value("doc-key")
    metavar = str(action.metavar or "")
    if metavar == "DIR":
        return Value("dir")
    if metavar in ("PATH", "FILE") or action.dest == "output":
        return Value("file")
    return Value("text")


def _short(text: str) -> str:
    """An option's help as a one-line description: its first clause."""
    text = re.split(r"; |: | \(", " ".join(text.split()), maxsplit=1)[0]
    return text if len(text) <= 70 else text[:67] + "..."


def keys() -> list[str]:
    """The dotted keys of the format (for --set and --reset)."""
    from pconf.versions.profile import walk_fields

    return [path for path, _ in walk_fields()]


def doc_keys() -> list[str]:
    """Every key ``pconf docs KEY`` knows."""
    from pconf.introspect.key import known_keys

    return known_keys()
