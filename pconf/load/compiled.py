"""Compiled documents read back: what ``pconf compile`` prints is itself a cluster file. Its inputs load as a layer;
the values it states that were computed (``graph_hash``, ``derived``, the derived fields, the model's derived
facts) are taken out for ``pconf.compile`` to check against what the inputs compile to."""

from __future__ import annotations

from typing import Any

from pconf.errors import Location
from pconf.keypath import KeyPath
from pconf.load import Layer, locate

#: The top-level keys of a compiled document (``pconf compile``'s output) besides the input sections.
COMPILED_KEYS = ("graph_hash", "derived", "sources")
#: The keys of a compiled document's ``model`` table that are not inputs: derived from the facts (``is_moe``,
#: ``use_mla``) or read from the config.json with them (``model_type``, ``config``: the file they were read from).
COMPILED_MODEL_KEYS = ("config", "model_type", "is_moe", "use_mla")


def take_compiled(layer: Layer,
                  derived_fields: tuple[str, ...]) -> tuple[Layer, dict[KeyPath, tuple[Any, Location]]] | None:
    """A compiled document (what ``pconf compile`` prints, recognised by its top-level ``graph_hash``) as a layer
    of its inputs, and the compiled values it states, each with where: ``graph_hash``, ``derived``, the derived
    fields of ``parallel`` and the model's derived facts, to be checked (``check_compiled``). ``sources`` (the
    provenance of the compile that printed it) and the model's ``config`` and ``model_type`` are read as comments:
    the model's facts are written out, so its config.json is not read again. None for a layer that is not a
    compiled document. ``derived_fields``: the ``[parallel]`` keys that are computed (``world_size``, ...)."""
    data = layer.data
    if "graph_hash" not in data:
        return None
    values: dict[KeyPath, tuple[Any, Location]] = {}
    rest = {k: v for k, v in data.items() if k not in COMPILED_KEYS}

    def take(path: KeyPath, value: Any) -> None:
        values[path] = (value, locate(layer.where, path, layer.fallback))

    take(("graph_hash",), data["graph_hash"])
    derived = data.get("derived", {})
    if isinstance(derived, dict):
        for name, value in derived.items():
            take(("derived", name), value)
    else:
        take(("derived",), derived)
    for section, names in (("parallel", derived_fields), ("model", COMPILED_MODEL_KEYS)):
        table = rest.get(section)
        if isinstance(table, dict) and any(name in table for name in names):
            rest[section] = {k: v for k, v in table.items() if k not in names}
            for name in names:
                if name in table and name not in ("config", "model_type"):  # those two: read as comments
                    take((section, name), table[name])
    return Layer(layer.name, rest, layer.where, layer.resets, layer.origin), values
