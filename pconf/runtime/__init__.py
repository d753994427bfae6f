"""pconf.runtime: the only package with side effects (process groups, CPU binding, processes).

Names are resolved lazily (PEP 562), so ``pconf.runtime.bind`` works without torch; the process-group parts
import torch when first used and say which extra to install when it is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "init": "pconf.runtime.groups",
    "shutdown": "pconf.runtime.groups",
    "Groups": "pconf.runtime.groups",
    "GroupCheckFailed": "pconf.runtime.groups",
    "GraphMismatch": "pconf.runtime.verify",
    "RendezvousTimeout": "pconf.runtime.store",
    "DPPorts": "pconf.runtime.dp",
    "stateless_dp_group": "pconf.runtime.dp",
    "sync_dp_state": "pconf.runtime.dp",
    "has_unfinished_dp": "pconf.runtime.dp",
    "sync_kv_cache_memory_size": "pconf.runtime.dp",
    "LaunchOptions": "pconf.runtime.launch",
    "launch": "pconf.runtime.launch",
    "apply_binding": "pconf.runtime.bind",
    "numactl_argv": "pconf.runtime.bind",
    "exec_bound": "pconf.runtime.bind",
}

__all__ = [
    "DPPorts",
    "GraphMismatch",
    "GroupCheckFailed",
    "Groups",
    "LaunchOptions",
    "RendezvousTimeout",
    "apply_binding",
    "exec_bound",
    "has_unfinished_dp",
    "init",
    "launch",
    "numactl_argv",
    "shutdown",
    "stateless_dp_group",
    "sync_dp_state",
    "sync_kv_cache_memory_size",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pconf.runtime' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise ImportError("pconf.runtime needs torch: pip install 'pconf-vllm[runtime]' (after pip install "
                              "torch==2.13.0 for the CPU wheel)") from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
