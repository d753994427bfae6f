"""``pconf completion bash|zsh|fish``: a shell completion script, generated from the command line's own parsers.

pconf builds only the arguments of the command being run; for completion it builds every command's
(``parser(every=True)``) and reads each option from argparse: its flags, whether it takes a value, its choices.
What a value is follows from the option: cluster files (``.toml``, ``.yaml``, ``.yml``) for the
files, any file for ``-o``/``--output`` and other paths, the keys of the format for ``--reset`` and ``--set`` (as
``KEY=``), every key ``pconf docs KEY`` knows, the releases for ``--vllm-version`` (``pconf.cli.arguments``); one
writer per shell (``pconf.cli.shells``). The scripts are static (nothing runs pconf while completing), so a TAB
costs no Python start-up; regenerate them after upgrading pconf.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_OK

SHELLS = ("bash", "zsh", "fish")


# -- the command --------------------------------------------------------------------------------------------

def scripts() -> dict[str, Callable[[], str]]:
    """Each shell's script writer (pconf.cli.shells)."""
    from pconf.cli.shells import bash_script, fish_script, zsh_script

    return {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def _completion_parser(p: argparse.ArgumentParser) -> None:
    p.description = "Print a completion script for SHELL. bash: eval \"$(pconf completion bash)\" in ~/.bashrc; " \
        "zsh: pconf completion zsh > _pconf in a directory of $fpath; fish: pconf completion fish > " \
        "~/.config/fish/completions/pconf.fish."
    p.add_argument("shell", choices=SHELLS, help="the shell to complete pconf in")
    p.set_defaults(handler=_completion)


def _completion(args: argparse.Namespace) -> int:
    sys.stdout.write(scripts()[args.shell]())
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"completion": _completion_parser}
