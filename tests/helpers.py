"""Helpers the test modules share: files written in the working directory, ``pconf`` run in-process, and a
suggested layout given node 0's address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pconf.cli import main


def write(name: str, text: str) -> str:
    """Write ``text`` to ``name`` (relative to the working directory); the name."""
    Path(name).write_text(text, encoding="utf-8")
    return name


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main(ARGS)`` in-process; the exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def with_head(doc: dict[str, Any]) -> dict[str, Any]:
    """A suggested document with node 0's address added, as a deployment does for a layout over several nodes."""
    if doc["parallel"].get("nnodes", 1) == 1:
        return doc
    return {**doc, "parallel": {**doc["parallel"], "master_addr": "10.0.0.1"}}
