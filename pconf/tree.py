"""Plain data trees: fresh copies as dicts and lists, and the key paths of their leaves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pconf.keypath import KeyPath

#: Tables whose keys are a value of their own (free-form data), never walked into as config keys.
OPAQUE_TABLES = frozenset({("parallel", "ray_runtime_env")})


def plain(value: Any) -> Any:
    """A fresh copy as plain dicts and lists: mappings become dicts, tuples (the schema's immutable lists)
    become lists, so every output format can write it and no caller's data is shared."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def leaf_paths(node: Mapping[str, Any], path: KeyPath = ()) -> list[KeyPath]:
    """The key path of every leaf of a tree of tables, in order (opaque tables count as leaves)."""
    out: list[KeyPath] = []
    for key, value in node.items():
        here = (*path, key)
        if isinstance(value, Mapping) and here not in OPAQUE_TABLES:
            out.extend(leaf_paths(value, here))
        else:
            out.append(here)
    return out
