"""Layer: one source of settings (a file, the ``--set`` overrides) as plain data plus positions."""

from __future__ import annotations

from typing import Any, NamedTuple

from pconf.errors import Location
from pconf.keypath import KeyPath

#: Limits that keep a hostile file from eating the machine (documented in docs/errors.md).
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_VALUES = 100_000
MAX_LAYERS = 64
MAX_OVERRIDES = 1000
#: TOML's integer range (64-bit signed), applied to YAML and ``--set`` values too.
MIN_INT, MAX_INT = -(1 << 63), (1 << 63) - 1


class Layer(NamedTuple):
    """Raw settings of one source: builtins only, ``extends``/``reset`` already taken out.

    ``where`` maps each key path the layer sets (tables included) to where it was written.
    ``resets`` lists the dotted keys the layer puts back to their defaults before its own values apply.
    ``origin``: where the layer as a whole came from, when it is not the file ``name`` (``--set``, a dict, a probe).
    """

    name: str
    data: dict[str, Any]
    where: dict[KeyPath, Location]
    resets: tuple[tuple[KeyPath, Location], ...] = ()
    origin: Location | None = None

    @property
    def fallback(self) -> Location:
        """Where a key of this layer with no position of its own came from: the layer's origin, else its file."""
        return self.origin if self.origin is not None else Location.file(self.name)


def locate(where: dict[KeyPath, Location], path: KeyPath, fallback: Location) -> Location:
    """The location of ``path``, or of its nearest ancestor that has one."""
    while path:
        loc = where.get(path)
        if loc is not None:
            return loc
        path = path[:-1]
    return fallback
