"""NUMA, in two modules with one job each, both free of torch:

- ``pconf.numa.binding``: vLLM's binding rules (spec §13), pure: GPU index, NUMA node, numactl arguments of a
  worker or an EngineCore, from the configuration and a declared topology. The compile path (rules, plan) uses
  only this one.
- ``pconf.numa.sysfs``: reading a host's topology from sysfs (``read_host_topology``), for ``--probe-topology``,
  ``pconf numa`` and the runtime.

This package re-exports both modules' names for callers that import them from ``pconf.numa``; it loads each
module only when one of its names is asked for (PEP 562), so importing ``pconf.numa.binding`` never loads the
sysfs reader. pconf's own modules import from the module that owns the name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_BINDING = ("PCT_SKUS", "PROCESS_KINDS", "Binding", "BindingError", "Bound", "NodeList", "PctSku", "ProcessKind",
            "auto_detection_problem", "engine_binding", "gpu_index", "gpus_used", "local_layout", "node_cpus",
            "node_list", "pct_cpus", "pct_stride", "process_binding", "vllm_binds", "worker_binding")
_SYSFS = ("GPU_VENDORS", "HostNode", "HostTopology", "PciDevice", "read_host_topology")
_EXPORTS = {**dict.fromkeys(_BINDING, "pconf.numa.binding"), **dict.fromkeys(_SYSFS, "pconf.numa.sysfs")}

__all__ = [
    "GPU_VENDORS",
    "PCT_SKUS",
    "PROCESS_KINDS",
    "Binding",
    "BindingError",
    "Bound",
    "HostNode",
    "HostTopology",
    "NodeList",
    "PciDevice",
    "PctSku",
    "ProcessKind",
    "auto_detection_problem",
    "engine_binding",
    "gpu_index",
    "gpus_used",
    "local_layout",
    "node_cpus",
    "node_list",
    "pct_cpus",
    "pct_stride",
    "process_binding",
    "read_host_topology",
    "vllm_binds",
    "worker_binding",
]

if TYPE_CHECKING:
    from pconf.numa.binding import (
        PCT_SKUS,
        PROCESS_KINDS,
        Binding,
        BindingError,
        Bound,
        NodeList,
        PctSku,
        ProcessKind,
        auto_detection_problem,
        engine_binding,
        gpu_index,
        gpus_used,
        local_layout,
        node_cpus,
        node_list,
        pct_cpus,
        pct_stride,
        process_binding,
        vllm_binds,
        worker_binding,
    )
    from pconf.numa.sysfs import GPU_VENDORS, HostNode, HostTopology, PciDevice, read_host_topology


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pconf.numa' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return list(__all__)
