"""A rank's environment as ``NAME=value`` lines."""

from __future__ import annotations

import shlex


def env_lines(env: dict[str, str]) -> str:
    """``NAME=value`` lines, values shell-quoted where needed, ready for ``source`` or ``env -S``."""
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in env.items())
