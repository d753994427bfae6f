"""pconf.runtime: the only package with side effects (process groups, CPU binding, processes).

Names are resolved lazily (PEP 562), so ``pconf.runtime.bind`` works without torch; the process-group parts
import torch when first used and say which extra to install when it is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {}

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pconf.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
