"""``knob()``: an attrs field that carries every fact about a config key in its metadata.

The facts are declared once, at the field: its doc, whether it is a graph factor, its scope, bounds, deprecated
values, an extra value check. The accepted literals are the ``Literal`` of the field's annotation (declared once,
as the type); ``choices=`` is only for an open string field (a name or an import path). Everything else reads
them through ``info`` and ``shape``: the checks in ``pconf.structure``, the JSON Schema and the reference in
``pconf.introspect``, the hash factor list, resolution's rewrites.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import attrs

Scope = Literal["graph", "rank", "launch", "host"]


class Deprecated(NamedTuple):
    """A literal vLLM still accepts: what to write instead, and whether vLLM rewrites the value to it (``naive``
    becomes ``allgather_reducescatter``) or keeps it as written (a deprecated spelling)."""

    instead: str
    rewritten: bool


@dataclass(frozen=True)
class ValueCheck:
    """A check of a field's value beyond its type, bounds and literals (numactl CPU lists, NUMA node numbers).

    ``run`` refuses a bad value (raising ``pconf.errors.refusal``, with one of ``rules``); ``schema`` holds the same
    constraints in JSON Schema (never stricter than ``run``) and ``text`` in words for the reference; ``rules``
    maps each rule id ``run`` can report to what it refuses.
    """

    run: Callable[[Any], None]
    schema: Mapping[str, Any]
    text: str
    rules: Mapping[str, str]


@dataclass(frozen=True, eq=False)  # one per field, hashed by identity (``info`` caches on it)
class FieldInfo:
    """Facts about one field: the single source for checks, docs, JSON Schema and the hash factor list.

    ``graph``: the field is a factor of the graph hash (vLLM's compute_hash includes it).
    ``scope``: ``graph`` (same on every rank), ``rank`` (differs per process), ``launch`` (how processes
    start and connect), ``host`` (facts about a machine).
    ``choices``: the accepted literal values (the annotation's ``Literal``, filled in by ``info``); with
    ``open_choices`` any dotted import path is accepted too.
    ``deprecated``: literal values that vLLM still accepts, and what becomes of each.
    ``check``: an extra value check (``pconf.schema.checks``).
    ``nullable``: whether ``null`` may be written (unset: when the annotation admits None).
    ``since`` / ``until``: the first vLLM release (a profile name, ``"0.28"``) that has the field, and the first
    that no longer has it; unset: every release pconf models. What else differs between releases is in the
    release's profile (``pconf.versions``).
    """

    doc: str
    graph: bool
    scope: Scope
    ge: int | None = None
    gt: int | None = None
    le: int | None = None
    choices: tuple[str, ...] = ()
    open_choices: bool = False
    deprecated: Mapping[str, Deprecated] = field(default_factory=dict)
    check: ValueCheck | None = None
    nullable: bool | None = None
    since: str | None = None
    until: str | None = None


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
    deprecated: Mapping[str, Deprecated] | None = None,
    check: ValueCheck | None = None,
    nullable: bool | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Any:
    """Declare a config field; every fact about it lives in ``metadata["pconf"]``.

    ``choices`` declares the names a string field accepts, for a field not typed with a ``Literal`` (which gives
    its choices): one that also takes an import path (``open_choices``).
    """
    meta = FieldInfo(
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
        nullable=nullable,
        since=since,
        until=until,
    )
    if factory is not None:
        return attrs.field(factory=factory, metadata={"pconf": meta})
    return attrs.field(default=default, metadata={"pconf": meta})


def info(a: attrs.Attribute[Any]) -> FieldInfo:
    """The FieldInfo of an attrs attribute declared with ``knob``, its choices taken from the annotation."""
    annotation: Any = a.type
    return _info(a.metadata["pconf"], annotation)


@functools.cache
def _info(meta: FieldInfo, annotation: Any) -> FieldInfo:
    changes: dict[str, Any] = {}
    literals = _literals(annotation)
    if literals and not meta.choices:
        changes["choices"] = literals
    if meta.nullable is None:
        changes["nullable"] = _shape(annotation).optional
    return replace(meta, **changes) if changes else meta  # one replace: each costs a copy of every fact


def _literals(tp: Any) -> tuple[str, ...]:
    """The string literals of an annotation: ``Literal["a", "b"]``, optional, or ``bool | Literal["auto"]``."""
    if typing.get_origin(tp) is Literal:
        return tuple(str(v) for v in typing.get_args(tp))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(v for arg in typing.get_args(tp) for v in _literals(arg))
    return ()


def field_info(cls: type[Any], name: str) -> FieldInfo:
    """The FieldInfo of field ``name`` of schema class ``cls``."""
    return info(attrs.fields_dict(cls)[name])


class FieldShape(NamedTuple):
    """What a field's annotation says: the type of its values, whether it may be unset (null), and, for a table
    or a list of tables, the table's attrs class."""

    base: Any
    optional: bool
    table: type[Any] | None
    is_list: bool


def shape(a: attrs.Attribute[Any]) -> FieldShape:
    """The shape of a field's annotation (``T``, ``T | None``, a table, a list of tables)."""
    annotation: Any = a.type
    return _shape(annotation)


@functools.cache
def _shape(tp: Any) -> FieldShape:
    args = typing.get_args(tp)
    optional = type(None) in args and typing.get_origin(tp) in (typing.Union, types.UnionType)
    base = next((t for t in args if t is not type(None)), tp) if optional and len(args) == 2 else tp
    if optional and len(args) > 2:  # bool | Literal["auto"] | None: the union without None
        base = typing.Union[tuple(t for t in args if t is not type(None))]  # noqa: UP007
    if isinstance(base, type) and attrs.has(base):
        return FieldShape(base, optional, base, False)
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        if isinstance(item, type) and attrs.has(item):
            return FieldShape(base, optional, item, True)
    return FieldShape(base, optional, None, False)
