"""pconf: compile layered TOML/YAML cluster files into a validated, resolved vLLM parallel configuration.

The public API, resolved lazily (PEP 562) so that ``import pconf`` loads nothing heavy::

    import pconf
    result = pconf.compile_files(["cluster.toml"], overrides=["parallel.tensor_parallel_size=8"])
    result.to_dict()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pconf._version import __version__

_EXPORTS = {
    "compile_files": "pconf.compile",
    "compile_dict": "pconf.compile",
    "plan_files": "pconf.compile",
    "Plan": "pconf.plan",
    "RankInfo": "pconf.plan",
    "Compiled": "pconf.compile",
    "Explanation": "pconf.compile",
    "ConfigError": "pconf.errors",
    "LoadError": "pconf.errors",
    "SchemaError": "pconf.errors",
    "RuleError": "pconf.errors",
    "PconfError": "pconf.errors",
    "Fault": "pconf.errors",
    "Issue": "pconf.errors",
    "Location": "pconf.errors",
    "Document": "pconf.schema",
    "ParallelConfig": "pconf.schema",
    "EPLBConfig": "pconf.schema",
    "SchedulerConfig": "pconf.schema",
    "ClusterFacts": "pconf.schema",
    "ResolvedConfig": "pconf.resolve",
    "Derived": "pconf.resolve",
    "GraphHash": "pconf.hashing",
    "Factor": "pconf.hashing",
    "graph_hash": "pconf.hashing",
    "FACTOR_NAMES": "pconf.hashing",
}

__all__ = [
    "FACTOR_NAMES",
    "ClusterFacts",
    "Compiled",
    "ConfigError",
    "Derived",
    "Document",
    "EPLBConfig",
    "Explanation",
    "Factor",
    "Fault",
    "GraphHash",
    "Issue",
    "LoadError",
    "Location",
    "ParallelConfig",
    "PconfError",
    "Plan",
    "RankInfo",
    "ResolvedConfig",
    "RuleError",
    "SchedulerConfig",
    "SchemaError",
    "__version__",
    "compile_dict",
    "compile_files",
    "graph_hash",
    "plan_files",
]

if TYPE_CHECKING:
    from pconf.compile import Compiled, Explanation, compile_dict, compile_files, plan_files
    from pconf.errors import ConfigError, Fault, Issue, LoadError, Location, PconfError, RuleError, SchemaError
    from pconf.hashing import FACTOR_NAMES, Factor, GraphHash, graph_hash
    from pconf.plan import Plan, RankInfo
    from pconf.resolve import Derived, ResolvedConfig
    from pconf.schema import ClusterFacts, Document, EPLBConfig, ParallelConfig, SchedulerConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pconf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
