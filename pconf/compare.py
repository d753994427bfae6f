"""Two compiled configurations side by side: every key that differs, and whether the graph hash changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pconf.keypath import format_path
from pconf.tree import leaf_paths

if TYPE_CHECKING:
    from pconf.compile import Compiled
    from pconf.hashing import GraphHash

#: The tables a comparison walks (``derived`` and ``sources`` follow from them; ``model`` only where there is one).
SECTIONS = ("parallel", "scheduler", "cluster", "model")


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A key whose value differs (None where one side does not have it); ``graph``: it is a graph-hash factor."""

    key: str
    old: Any
    new: Any
    graph: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    """What ``pconf diff`` reports: the changed keys (in the old document's order, then new keys) and both hashes."""

    changes: tuple[KeyChange, ...]
    old_hash: GraphHash
    new_hash: GraphHash

    @property
    def hash_changed(self) -> bool:
        return self.old_hash != self.new_hash


def flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """Dotted key -> value for the parallel, scheduler, cluster (and model) tables of a compiled document."""
    tables = {section: doc[section] for section in SECTIONS if section in doc}
    out: dict[str, Any] = {}
    for path in leaf_paths(tables):
        node: Any = tables
        for part in path:
            node = node[part]
        out[format_path(path)] = node
    return out


def compare(old: Compiled, new: Compiled) -> Comparison:
    """Every key that differs between two compiled configurations, and their graph hashes."""
    from pconf.hashing import FACTOR_NAMES

    a, b = flatten(old.to_dict()), flatten(new.to_dict())
    factors = {f"parallel.{name}" for name in FACTOR_NAMES}
    keys = [*a, *(k for k in b if k not in a)]
    changes = tuple(KeyChange(k, a.get(k), b.get(k), k in factors) for k in keys if a.get(k) != b.get(k))
    return Comparison(changes, old.graph_hash, new.graph_hash)
