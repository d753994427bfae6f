"""Merge layers into one raw tree and record, for every key, the chain of layers that set it.

Precedence, lowest first: defaults < each file's ``extends`` files (in order, depth first) < the file itself
< later files on the command line < ``--set`` overrides. Within that order:

- tables merge key by key; scalars and lists replace what was there (a list is never merged element-wise);
- a layer's ``reset`` keys (``--set ~key`` on the command line) are removed before the layer's own values
  apply, so the key falls back to its default unless a later layer sets it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pconf.errors import DEFAULT, MISSING, Location
from pconf.keypath import KeyPath
from pconf.load import Layer, locate


class Setting(NamedTuple):
    """One layer's word on a key: where it was written and the value it gave (MISSING for a reset)."""

    where: Location
    value: Any

    @property
    def is_reset(self) -> bool:
        return self.value is MISSING


class Merged(NamedTuple):
    """The merged raw tree and, per key path, the settings that led to it (last one wins)."""

    tree: dict[str, Any]
    chains: dict[KeyPath, tuple[Setting, ...]]
    #: Every key a layer's ``reset`` (or ``--set ~key``) named, where it was named.
    resets: tuple[tuple[KeyPath, Location], ...] = ()

    def where(self, path: KeyPath) -> Location:
        """Where the value at ``path`` (or its nearest set ancestor) came from; ``default`` if nowhere."""
        while path:
            chain = self.chains.get(path)
            if chain and not chain[-1].is_reset:
                return chain[-1].where
            if chain:
                return DEFAULT
            path = path[:-1]
        return DEFAULT


def merge(layers: Sequence[Layer]) -> Merged:
    """Merge layers left to right (see the module docstring for the precedence)."""
    tree: dict[str, Any] = {}
    chains: dict[KeyPath, list[Setting]] = {}
    for layer in layers:
        for path, loc in layer.resets:
            _reset(tree, chains, path, loc)
        _merge_table(tree, layer.data, (), layer, chains)
    return Merged(tree, {k: tuple(v) for k, v in chains.items()},
                  tuple(reset for layer in layers for reset in layer.resets))


def _merge_table(dst: dict[str, Any], src: dict[str, Any], path: KeyPath, layer: Layer,
                 chains: dict[KeyPath, list[Setting]]) -> None:
    for key, value in src.items():
        here = (*path, key)
        loc = locate(layer.where, here, layer.fallback)
        old = dst.get(key, MISSING)
        if isinstance(value, dict) and isinstance(old, dict):
            chains.setdefault(here, []).append(Setting(loc, {}))
            _merge_table(old, value, here, layer, chains)
            continue
        if isinstance(old, dict | list):  # a replaced table or list: its keys and elements are gone
            for stale in [p for p in chains if len(p) > len(here) and p[: len(here)] == here]:
                del chains[stale]
        dst[key] = _record(value, here, layer, loc, chains)


def _record(value: Any, path: KeyPath, layer: Layer, loc: Location,
            chains: dict[KeyPath, list[Setting]]) -> Any:
    """Copy ``value`` into the tree (fresh dicts, so later merges never touch a layer) and log the setting."""
    if isinstance(value, dict):
        chains.setdefault(path, []).append(Setting(loc, {}))
        return {
            k: _record(v, (*path, k), layer, locate(layer.where, (*path, k), loc), chains)
            for k, v in value.items()
        }
    chains.setdefault(path, []).append(Setting(loc, value))
    if isinstance(value, list):  # elements keep their own positions (YAML has them), for errors like x[2]
        for i, item in enumerate(value):
            where = locate(layer.where, (*path, i), loc)
            chains.setdefault((*path, i), []).append(Setting(where, item))
            if isinstance(item, dict):  # a list of tables: each key keeps its position too, for errors like x[0].y
                for key, child in item.items():
                    _record(child, (*path, i, key), layer, locate(layer.where, (*path, i, key), where), chains)
    return value


def _reset(tree: dict[str, Any], chains: dict[KeyPath, list[Setting]], path: KeyPath, loc: Location) -> None:
    node: Any = tree
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for p in [p for p in chains if p[: len(path)] == path]:
        chains[p].append(Setting(loc, MISSING))
    chains.setdefault(path, [Setting(loc, MISSING)])
