"""A vLLM release as data: which fields it has, what differs in their facts, and how it behaves.

A ``Profile`` is read by every stage and never branched on by name: structuring takes the field set, defaults,
bounds, literals and nullability; resolution and the rules take ``Behaviour``; hashing takes the factor set;
``emit.vllm`` takes the serve flags. Field presence is declared at the field (``knob(since=..., until=...)``);
everything else that changes lives in the release's module (``pconf/versions/v0_28.py``), as a change from
the release before it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import attrs

from pconf.schema import Document, FieldInfo, info, shape
from pconf.versions.model import ModelRelease


class _Unchanged:
    """A fact a release leaves as the release before it had it."""

    def __repr__(self) -> str:
        return "<unchanged>"


UNCHANGED: Any = _Unchanged()


class FieldChange(NamedTuple):
    """How a field's facts differ in a release: each fact given replaces the one before (``why`` says why, for
    ``pconf diff`` and ``pconf migrate``)."""

    why: str
    default: Any = UNCHANGED
    ge: Any = UNCHANGED
    le: Any = UNCHANGED
    nullable: Any = UNCHANGED
    choices: Any = UNCHANGED
    check: Any = UNCHANGED

    def apply(self, meta: FieldInfo) -> FieldInfo:
        facts = {k: v for k in ("ge", "le", "nullable", "choices", "check")
                 if (v := getattr(self, k)) is not UNCHANGED}
        return replace(meta, **facts) if facts else meta


class Behaviour(NamedTuple):
    """What a release does with the fields, where releases differ (read by resolve, rules, plan and emit).

    Each fact is named for what it decides; ``pconf/versions/v0_23.py`` documents every one. (A NamedTuple, not a
    dataclass: it is built at every start-up, and a NamedTuple costs a fifth of the time to make.)
    """

    eplb_communicator_order: tuple[str, ...]
    eplb_platforms: tuple[str, ...]
    eplb_size_axes: tuple[str, ...]
    eplb_async_refuses_nccl: bool
    elastic_ep_refuses_external_lb: bool
    elastic_ep_async_needs_nixl: bool
    elastic_ep_max_dp_size: bool
    custom_all_reduce_off_multinode: bool
    custom_all_reduce_off_batch_invariant: bool
    dcp_with_pcp: bool
    pcp_refuses_dp: bool
    dcp_a2a_needs_dcp: bool
    numa_lists_imply_bind: bool
    redundant_experts_unset_with_eplb: bool
    dbo_thresholds_cover_ubatches: bool
    nnodes_groups_must_divide: bool
    nccl_dp_sync_with_fault_tolerance: bool
    dcp_interleave_override: bool
    all2all_property: bool
    sequence_parallel_a2a: frozenset[str]
    batched_dp_a2a: frozenset[str]
    ubatch_a2a: tuple[str, ...]
    ubatch_a2a_rocm: tuple[str, ...]
    derived_properties: tuple[str, ...]


class Edit(NamedTuple):
    """One change ``pconf migrate`` makes to a file: set or remove a key (``note``: nothing written, only said)."""

    path: tuple[str | int, ...]
    action: str
    value: Any
    why: str


class ServeFlag(NamedTuple):
    """How ``vllm serve`` takes a field: the flag, and ``comma`` when its list is one comma-separated value
    (otherwise booleans are ``--x``/``--no-x``, lists several values and tables JSON)."""

    flag: str
    comma: bool = False


@dataclass(frozen=True, eq=False)  # one per release, hashed by identity (the caches key on it)
class Profile:
    """One vLLM release pconf models. ``name`` is how files say it (``vllm_version = "0.28"``); ``release`` the
    vLLM version it was checked against; ``label`` how people read it."""

    name: str
    release: str
    label: str
    changes: Mapping[str, FieldChange]
    behaviour: Behaviour
    serve_flags: Mapping[str, ServeFlag]
    model: ModelRelease
    constant_factors: Mapping[str, object] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    #: Values pconf accepts in this profile that the release's own ``vllm serve`` refuses (dotted key -> values).
    unreleased_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


    @functools.cached_property
    def key(self) -> tuple[int, ...]:
        """The release as numbers, for ordering (``since``/``until`` compare against it)."""
        return version_key(self.name)

    @property
    def hash_tag(self) -> str:
        """The line the graph-hash encoding adds for this release (none for the seed: its hashes predate profiles)."""
        return "" if self.name == SEED else f"vllm={self.name}\n"

    def has(self, meta: FieldInfo) -> bool:
        """Whether this release has the field."""
        return (meta.since is None or version_key(meta.since) <= self.key) and (
            meta.until is None or self.key < version_key(meta.until))

    def info(self, a: attrs.Attribute[Any], path: str) -> FieldInfo:
        """The field's facts in this release (``path``: its dotted key, ``parallel.numa_bind``)."""
        return _info(self, a, path)

    def default(self, a: attrs.Attribute[Any], path: str) -> Any:
        """The field's default in this release."""
        change = self.changes.get(path)
        if change is not None and change.default is not UNCHANGED:
            return change.default
        return a.default

    @functools.cached_property
    def default_changes(self) -> frozenset[str]:
        """The dotted keys whose default this release changes."""
        return frozenset(path for path, change in self.changes.items() if change.default is not UNCHANGED)

    def fields(self) -> dict[str, FieldInfo]:
        """Every key of the format this release has (dotted path -> facts), tables' keys included."""
        return dict(self._fields)

    @functools.cached_property
    def _fields(self) -> dict[str, FieldInfo]:
        return {path: self.info(a, path) for path, a in walk_fields() if self.has(info(a))}


SEED = "0.23"


@functools.cache
def version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


@functools.cache
def _info(profile: Profile, a: attrs.Attribute[Any], path: str) -> FieldInfo:
    meta = info(a)
    change = profile.changes.get(path)
    return change.apply(meta) if change is not None else meta


@functools.cache
def walk_fields() -> tuple[tuple[str, attrs.Attribute[Any]], ...]:
    """Every field of the format with its dotted path, in declaration order (tables before their keys)."""
    out: list[tuple[str, attrs.Attribute[Any]]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        for a in attrs.fields(cls):
            out.append((prefix + a.name, a))
            table = shape(a).table
            if table is not None:
                walk(table, f"{prefix}{a.name}.")

    walk(Document, "")
    return tuple(out)


def class_paths() -> dict[type[Any], str]:
    """Each table class of the format and the dotted path of its table (``EPLBConfig`` -> ``parallel.eplb_config``)."""
    out: dict[type[Any], str] = {Document: ""}
    for path, a in walk_fields():
        table = shape(a).table
        if table is not None:
            out[table] = path + "."
    return out
