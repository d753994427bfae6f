"""``knob()``: an attrs field that carries every fact about a config key in its metadata."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import attrs

Scope = Literal["graph", "rank", "launch", "host"]


@dataclass(frozen=True)
class FieldInfo:
    """Facts about one field: the single source for checks, docs, JSON Schema and the hash factor list.

    ``graph``: the field is a factor of the graph hash (vLLM's compute_hash includes it).
    ``scope``: ``graph`` (same on every rank), ``rank`` (differs per process), ``launch`` (how processes
    start and connect), ``host`` (facts about a machine).
    ``choices``: the accepted literal values; with ``open_choices`` any dotted import path is accepted too.
    ``deprecated``: literal values that vLLM still accepts, mapped to what to write instead.
    ``check``: the name of an extra value check in ``pconf.structure`` (e.g. numactl CPU lists).
    """

    doc: str
    graph: bool
    scope: Scope
    ge: int | None = None
    gt: int | None = None
    le: int | None = None
    choices: tuple[str, ...] = ()
    open_choices: bool = False
    deprecated: Mapping[str, str] = field(default_factory=dict)
    check: str | None = None


def knob(
    default: Any = attrs.NOTHING,
    *,
    doc: str,
    graph: bool,
    scope: Scope,
    factory: Callable[[], Any] | None = None,
    ge: int | None = None,
    gt: int | None = None,
    le: int | None = None,
    choices: tuple[str, ...] = (),
    open_choices: bool = False,
    deprecated: Mapping[str, str] | None = None,
    check: str | None = None,
) -> Any:
    """Declare a config field; every fact about it lives in ``metadata["pconf"]``."""
    info = FieldInfo(
        doc=" ".join(doc.split()),
        graph=graph,
        scope=scope,
        ge=ge,
        gt=gt,
        le=le,
        choices=choices,
        open_choices=open_choices,
        deprecated=dict(deprecated or {}),
        check=check,
    )
    if factory is not None:
        return attrs.field(factory=factory, metadata={"pconf": info})
    return attrs.field(default=default, metadata={"pconf": info})


def info(a: "attrs.Attribute[Any]") -> FieldInfo:
    """The FieldInfo of an attrs attribute declared with ``knob``."""
    result: FieldInfo = a.metadata["pconf"]
    return result
