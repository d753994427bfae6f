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
    """A key whose value differs; ``graph``: it is a graph-hash factor; ``absent``: ``"old"`` or ``"new"`` when
    that side's release does not have the key (its value is then None)."""

    key: str
    old: Any
    new: Any
    graph: bool
    absent: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    """What ``pconf diff`` reports: the changed keys (in the old document's order, then new keys), both hashes,
    and, when the two target different vLLM releases, every key whose meaning or default the releases between
    them change (``release_notes``: key -> why)."""

    changes: tuple[KeyChange, ...]
    old_hash: GraphHash
    new_hash: GraphHash
    release_notes: tuple[tuple[str, str], ...] = ()

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
    changes = tuple(KeyChange(k, a.get(k), b.get(k), k in factors, "old" if k not in a else "new" if k not in b else "")
                    for k in keys if a.get(k) != b.get(k) or (k in a) != (k in b))
    return Comparison(changes, old.graph_hash, new.graph_hash,
                      release_notes(old.resolved.profile.name, new.resolved.profile.name))


def release_notes(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """Every key whose meaning or default changes between two vLLM releases (either way round), with why: the
    field changes and notes of each release after the older one, up to the newer one."""
    from pconf.versions import PROFILES, version_key

    low, high = sorted((old, new), key=version_key)
    notes: dict[str, list[str]] = {}
    for profile in PROFILES.values():
        if version_key(low) < profile.key <= version_key(high):
            earlier = [p for p in PROFILES.values() if p.key < profile.key][-1]
            for path, change in profile.changes.items():
                if earlier.changes.get(path) is not change:
                    notes.setdefault(path, []).append(f"{profile.name}: {change.why}")
            for path, note in profile.notes.items():
                notes.setdefault(path, []).append(f"{profile.name}: {note}")
    return tuple((path, "; ".join(whys)) for path, whys in notes.items())
