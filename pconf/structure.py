"""Raw merged tree -> Document, through one structurer with strict, metadata-driven field hooks.

Types are strict on purpose: TOML and YAML already type every value, so ``true`` is not 1, ``"2"`` is not 2
and ``2.0`` is not 2 (pydantic, and so vLLM, would coerce all three). Each field's hook checks the type,
then the bounds, choices and extra checks named in its ``FieldInfo``; the structurer walks every table of the
document, collects every failure (with the key path it happened at), and refuses unknown keys. The failures
are turned into Issues with the key path and the file:line that set the value.

The structurer is a loop over each class's fields and their hooks, built once per release: what a generated
converter (cattrs, which pconf used before) would add is code generation and its import at every start-up
(``pconf hash`` must start fast), for no check the hooks do not already make.
"""

from __future__ import annotations

import functools
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import attrs

from pconf.cpulist import MAX_NAMED_CPUS, cpu_count
from pconf.errors import Issue, SchemaError, did_you_mean, issue_order, problem, refusal
from pconf.keypath import KeyPath, format_path
from pconf.merge import Merged
from pconf.schema import DERIVED_FIELDS, INTERNAL_FIELDS, Document, FieldInfo, shape
from pconf.versions import DEFAULT, PROFILES, Profile, lookup, supported, version_key
from pconf.versions.profile import class_paths

_DOTTED_CLASS = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\Z", re.ASCII)
#: The longest list pconf reads (the NUMA lists: one entry per GPU or NUMA node of a host; Linux has at most
#: 1024 NUMA nodes): the checks across them compare entries pairwise, so this bounds their work.
MAX_LIST_ITEMS = 1024
#: The rule ids structuring reports, with what each refuses (the extra value checks declare their own).
FIELD_RULES: dict[str, str] = {
    "schema.type": "The value has the wrong type: pconf does not coerce (`\"2\"`, `2.0` and `true` are not `2`; "
    "`1` and `\"yes\"` are not `true`); null is allowed only where a key may be unset.",
    "schema.bound": "An integer is outside its range (e.g. a parallel size below 1).",
    "schema.choice": "A string is not one of the key's accepted values (for distributed_executor_backend: a "
    "backend name or the dotted import path of an executor class).",
    "schema.required": "A key that has no default is missing from its table.",
    "schema.unknown_key": "The key is not part of the format; the message suggests the closest key.",
    "schema.derived_key": "The key is derived (`world_size`, `data_parallel_index`) and cannot be set.",
    "schema.internal_key": "The key is one of vLLM's runtime-internal fields, not part of the file format.",
    "schema.too_many_items": f"A list has more than {MAX_LIST_ITEMS} entries (the NUMA lists: one per GPU or NUMA "
    "node).",
    "schema.too_many_cpus": f"The CPU lists of a document name more than {MAX_NAMED_CPUS} CPUs in all.",
    "schema.vllm_version": "`vllm_version` names a vLLM release pconf does not model.",
    "schema.other_release": "The key belongs to another vLLM release than the file's `vllm_version` (added "
    "later, or removed).",
}
#: How many problems of one document get a "did you mean" for an unknown key.
MAX_SUGGESTIONS = 100
_SECTIONS: dict[str, type[Any]] = {a.name: t for a in attrs.fields(Document) if (t := shape(a).table) is not None}


def structure(merged: Merged) -> Document:
    """Structure the merged tree into a Document for the vLLM release it names (``vllm_version``); raise
    SchemaError listing every problem."""
    tree = merged.tree
    profile = target_profile(tree)
    issues = [*_layout_issues(tree, merged), *_reset_issues(merged, profile)]
    try:
        document: Document = make_structurer(profile).structure(_without_reported(tree), Document)
    except Invalid as exc:
        issues.extend(_issues(exc.failures, merged))
        document = Document()
    else:
        document = _with_profile_defaults(document, tree, profile, "")
    if not issues:
        issues.extend(_cpu_count_issues(document, merged))
    if issues:
        raise SchemaError(sorted(issues, key=issue_order))
    return document


def _cpu_count_issues(document: Document, merged: Merged) -> list[Issue]:
    """The one limit across keys: all CPU lists together name at most MAX_NAMED_CPUS CPUs (counted from the
    ranges, never expanded), so the NUMA checks that expand and compare them stay cheap."""
    topology = document.cluster.topology
    counts = {
        ("parallel", "numa_bind_cpus"): sum(map(cpu_count, document.parallel.numa_bind_cpus or ())),
        ("cluster", "topology", "nodes"): sum(cpu_count(n.cpus) for n in topology.nodes) if topology else 0,
    }
    if sum(counts.values()) <= MAX_NAMED_CPUS:
        return []
    path = max(counts, key=lambda key: counts[key])
    return [Issue(path, merged.where(path), "schema.too_many_cpus",
                  f"the CPU lists name {sum(counts.values())} CPUs in all, more than {MAX_NAMED_CPUS}",
                  "list each GPU's or node's own CPUs; no host has that many")]


def target_profile(tree: dict[str, Any]) -> Profile:
    """The profile the tree's ``vllm_version`` names; the default one when it names none (the field's hook then
    reports a bad value, at its location)."""
    named = tree.get("vllm_version")
    found = lookup(named) if isinstance(named, str) else None
    return found or PROFILES[DEFAULT]


#: A hook: the raw value (and the field's type, unused) to the structured value; a refusal is a SchemaError.
Hook = Callable[[Any, Any], Any]


class Invalid(Exception):
    """A table (or a list of tables) that did not structure: each failure with the key path below the table it
    happened at (a SchemaError of a hook, UNKNOWN for a key not in the format, REQUIRED for a missing one)."""

    def __init__(self, failures: list[tuple[KeyPath, BaseException]]) -> None:
        super().__init__(f"{len(failures)} failures")
        self.failures = failures


class _Unknown(Exception):
    """A key the table does not have."""


class _Required(Exception):
    """A key without a default that the table does not set."""


class Structurer:
    """The strict structurer of one release: for each table class, its fields in order with their hooks."""

    def __init__(self, profile: Profile) -> None:
        self.fields: dict[type[Any], tuple[tuple[str, str, bool, Hook], ...]] = {}
        self.names: dict[type[Any], frozenset[str]] = {}
        for cls, prefix in class_paths().items():
            fields = attrs.fields(cls)
            self.fields[cls] = tuple((a.name, a.alias, a.default is attrs.NOTHING,
                                      _field_hook(a, self, profile, prefix + a.name)) for a in fields)
            self.names[cls] = frozenset(a.name for a in fields)

    def structure(self, value: dict[str, Any], cls: type[Any]) -> Any:
        """``value`` (a table) as an instance of ``cls``; Invalid listing every failure, keys in field order and
        then the unknown keys."""
        failures: list[tuple[KeyPath, BaseException]] = []
        kwargs: dict[str, Any] = {}
        for name, alias, required, hook in self.fields[cls]:
            if name in value:
                try:
                    kwargs[alias] = hook(value[name], None)
                except SchemaError as exc:
                    failures.append(((name,), exc))
                except Invalid as exc:  # a table below: its failures, under this key
                    failures += [((name, *path), found) for path, found in exc.failures]
            elif required:
                failures.append(((name,), _Required()))
        failures += [((key,), _Unknown()) for key in sorted(value.keys() - self.names[cls], key=str)]
        if failures:
            raise Invalid(failures)
        return cls(**kwargs)


@functools.cache
def make_structurer(profile: Profile | None = None) -> Structurer:
    """The structurer of one release (the default one without ``profile``): strict hooks per field from that
    release's field facts, all errors collected, unknown keys refused."""
    return Structurer(profile or PROFILES[DEFAULT])


def _with_profile_defaults(obj: Any, raw: Any, profile: Profile, prefix: str) -> Any:
    """``obj`` with the release's own defaults for the keys the tree does not set (the classes hold the seed's)."""
    if not any(path.startswith(prefix) for path in profile.default_changes):
        return obj
    changes: dict[str, Any] = {}
    for a in attrs.fields(type(obj)):
        path, written = prefix + a.name, isinstance(raw, dict) and a.name in raw
        value = getattr(obj, a.name)
        fs = shape(a)
        if fs.table is not None and not fs.is_list and value is not None:
            inner = _with_profile_defaults(value, raw.get(a.name) if written else None, profile, path + ".")
            if inner is not value:
                changes[a.name] = inner
        elif not written and path in profile.default_changes:
            changes[a.name] = profile.default(a, path)
    return attrs.evolve(obj, **changes) if changes else obj


# -- field hooks ------------------------------------------------------------------------------------------


def _field_hook(a: attrs.Attribute[Any], structurer: Structurer, profile: Profile, path: str) -> Hook:
    """Build the strict hook of one field from its annotation and its facts in ``profile``."""
    meta = profile.info(a, path)
    if path == "vllm_version":
        return _structure_version
    if not profile.has(meta):
        return functools.partial(_other_release, name=a.name, meta=meta, profile=profile)
    base, _, table, is_list = shape(a)
    optional = bool(meta.nullable)
    if table is not None and not is_list:
        nested: type[Any] = table

        def structure_table(value: Any, _: Any) -> Any:
            if value is None and optional:
                return None
            if not isinstance(value, dict):
                raise refusal("schema.type", "must be a table", f"write [{a.name}] with its keys", value)
            structured = structurer.structure(value, nested)
            if meta.check is not None:  # a check across the table's keys (the release's own validator)
                meta.check.run(structured)
            return structured

        return structure_table
    if table is not None:
        return functools.partial(_structure_table_list, cls=table, structurer=structurer)
    check_type = _type_check(base, meta)
    extra = meta.check.run if meta.check else None

    def hook(value: Any, _: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise refusal("schema.type", f"must be {_describe(base, meta)}, not null",
                          "remove the key to use the default", value)
        value = check_type(value)
        _check_bounds(value, meta)
        if extra is not None:
            extra(value)
        return value

    return hook


def _describe(base: Any, meta: FieldInfo) -> str:
    if base is bool:
        return "true or false"
    if typing.get_origin(base) in (typing.Union, types.UnionType):  # bool | Literal["auto"]
        return "true, false or " + ", ".join(f'"{c}"' for c in meta.choices)
    if base is int:
        return "an integer"
    if typing.get_origin(base) is Literal or meta.choices:
        return "one of " + ", ".join(f'"{c}"' for c in meta.choices)
    if typing.get_origin(base) is tuple:
        return "a list"
    if typing.get_origin(base) is dict:
        return "a table"
    return "a string"


def _type_check(base: Any, meta: FieldInfo) -> Callable[[Any], Any]:
    """A function that returns the value (lists as tuples) or refuses a wrong type."""
    if base is int:
        return _strict_int
    if base is bool:
        return _strict_bool
    if base is str and not meta.choices:
        return _strict_str
    if base is str or typing.get_origin(base) is Literal:
        return functools.partial(_strict_choice, meta=meta)
    origin = typing.get_origin(base)
    if origin in (typing.Union, types.UnionType):  # bool | Literal["auto"]
        return functools.partial(_bool_or_choice, meta=meta)
    if origin is tuple:
        item = typing.get_args(base)[0]
        return functools.partial(_strict_list, item=_strict_int if item is int else _strict_str)
    if origin is dict:
        return _strict_table
    raise TypeError(f"no strict hook for {base!r}")  # a schema bug, found when the converter is built


def _strict_int(value: Any) -> int:
    if type(value) is int:
        return value
    hint = "write a whole number"
    if isinstance(value, bool):
        hint = "true and false are not integers in pconf; write a number"
    elif isinstance(value, float) and value.is_integer():
        hint = f"write {int(value)} without a decimal point"
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        hint = f"write {value.strip()} without quotes" if len(value.strip()) <= 20 else "write it without quotes"
    raise refusal("schema.type", "must be an integer", hint, value)


def _strict_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    hint = "write true or false"
    if isinstance(value, str):
        hint = "write true or false without quotes"
    elif isinstance(value, int | float):
        hint = "write true or false, not a number"
    raise refusal("schema.type", "must be true or false", hint, value)


def _strict_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise refusal("schema.type", "must be a string", "quote the value", value)


def _strict_choice(value: Any, meta: FieldInfo) -> str:
    if isinstance(value, str) and (value in meta.choices or (meta.open_choices and _DOTTED_CLASS.match(value))):
        return value
    if meta.open_choices and not isinstance(value, str):
        raise refusal("schema.type", "must be a string", "quote the value", value)
    choices = ", ".join(f'"{c}"' for c in meta.choices)
    alternative = " or the import path of a class (package.module.Class)" if meta.open_choices else ""
    if isinstance(value, str):
        hint = did_you_mean(value, meta.choices) or f"choose one of {choices}"
    else:
        hint = "write one of the names, quoted"
    raise refusal("schema.choice", f"must be one of {choices}{alternative}", hint, value)


def _bool_or_choice(value: Any, meta: FieldInfo) -> Any:
    if type(value) is bool or (isinstance(value, str) and value in meta.choices):
        return value
    options = ", ".join(f'"{c}"' for c in meta.choices)
    hint = (did_you_mean(value, meta.choices) if isinstance(value, str) else "") or f"write true, false or {options}"
    raise refusal("schema.choice", f"must be true, false or {options}", hint, value)


def _strict_list(value: Any, item: Callable[[Any], Any]) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise refusal("schema.type", "must be a list", "write [a, b, ...]", value)
    _check_length(value)
    out = []
    for i, element in enumerate(value):
        try:
            out.append(item(element))
        except SchemaError as exc:
            raise SchemaError([replace(found, path=(i, *found.path)) for found in exc.issues]) from None
    return tuple(out)


def _structure_table_list(value: Any, _: Any, cls: type[Any], structurer: Structurer) -> tuple[Any, ...]:
    """A list of tables (``nodes = [{ id = 0, cpus = "0-3" }, ...]``): every element structured strictly, every
    element's problems reported with its index."""
    if not isinstance(value, list):
        raise refusal("schema.type", "must be a list of tables", "write [{ key = value, ... }, ...]", value)
    _check_length(value)
    out: list[Any] = []
    failures: list[tuple[KeyPath, BaseException]] = []
    for i, element in enumerate(value):
        if not isinstance(element, dict):
            failures.append(((), SchemaError([problem((i,), "schema.type", "must be a table",
                                                      "write { key = value, ... }", element)])))
            continue
        try:
            out.append(structurer.structure(element, cls))
        except Invalid as exc:
            failures += [((i, *path), found) for path, found in exc.failures]
    if failures:
        raise Invalid(failures)
    return tuple(out)


def _check_length(value: list[Any]) -> None:
    if len(value) > MAX_LIST_ITEMS:
        raise refusal("schema.too_many_items", f"has {len(value)} entries, more than {MAX_LIST_ITEMS}",
                      "list one entry per GPU or NUMA node; no host has that many", value)


def _strict_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refusal("schema.type", "must be a table", "write a table of keys and values", value)
    _check_plain(value)
    return value


def _check_plain(value: Any) -> None:
    """A free-form table (ray_runtime_env) holds JSON data only: no dates, no NaN or infinities."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            bad_key = next((k for k in node if not isinstance(k, str)), None)
            if bad_key is not None:  # only a compile_dict caller can write one
                raise refusal("schema.type", "must hold JSON data: keys must be strings", "quote the key",
                              repr(bad_key))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise refusal("schema.type", "must hold JSON data: NaN and infinities are not allowed",
                          "write a finite number", str(node))
        elif node is not None and not isinstance(node, str | int | float):
            raise refusal("schema.type", f"must hold JSON data: a {type(node).__name__} is not allowed",
                          "quote dates and times as strings", str(node))


def _check_bounds(value: Any, meta: FieldInfo) -> None:
    if type(value) is not int:
        return
    if meta.ge is not None and value < meta.ge:
        raise refusal("schema.bound", f"must be >= {meta.ge}", f"use {meta.ge} or more", value)
    if meta.gt is not None and value <= meta.gt:
        raise refusal("schema.bound", f"must be > {meta.gt}", f"use {meta.gt + 1} or more", value)
    if meta.le is not None and value > meta.le:
        raise refusal("schema.bound", f"must be <= {meta.le}", f"use {meta.le} or less", value)


def _structure_version(value: Any, _: Any) -> str:
    """``vllm_version``: a supported release, normalised to its profile's name."""
    found = lookup(value) if isinstance(value, str) else None
    if found is None:
        raise refusal("schema.vllm_version", "not a vLLM release pconf models", f"use one of {supported()}",
                      value)
    return found.name


def _other_release(value: Any, _: Any, name: str, meta: FieldInfo, profile: Profile) -> Any:
    """A key of another vLLM release than the file's."""
    if meta.since is not None and version_key(meta.since) > profile.key:
        hint = f"it was added in vLLM {meta.since}: set vllm_version = \"{meta.since}\" or later, or remove it"
    else:
        hint = f"vLLM {meta.until} removed it: remove it, or set vllm_version to an earlier release"
    raise refusal("schema.other_release", f"`{name}` is not a field of {profile.label}", hint, value)


# -- error translation ------------------------------------------------------------------------------------


def _layout_issues(tree: dict[str, Any], merged: Merged) -> list[Issue]:
    """Issues for keys that must not be written: derived and runtime-internal fields."""
    issues = []
    parallel = tree.get("parallel")
    if isinstance(parallel, dict):
        for key in parallel:
            path: KeyPath = ("parallel", key)
            if key in DERIVED_FIELDS:
                issues.append(Issue(path, merged.where(path), "schema.derived_key",
                                    f"`{key}` is derived ({DERIVED_FIELDS[key].how}) and cannot be set",
                                    hint="remove it; `pconf compile` prints the derived value",
                                    got=parallel[key]))
            elif key in INTERNAL_FIELDS:
                issues.append(Issue(path, merged.where(path), "schema.internal_key",
                                    f"`{key}` is vLLM-internal ({INTERNAL_FIELDS[key]}), not part of the file "
                                    "format", hint="remove it; vLLM sets it at run time"))
    return issues


def _reset_issues(merged: Merged, profile: Profile) -> list[Issue]:
    """A ``reset`` (or ``--set ~key``) names a key of the format, like any key: a misspelt one is an error with
    the same "did you mean" (it would otherwise reset nothing, silently)."""
    if not merged.resets:  # the common case: nothing to look up
        return []
    known = {tuple(path.split(".")) for path in profile.fields()}
    issues = []
    for path, where in merged.resets:
        if path not in known:
            unknown = _unknown_key(path, merged)
            issues.append(Issue(path, where, unknown.rule, f"{unknown.message} (named by a reset)", unknown.hint))
    return issues


def _without_reported(tree: dict[str, Any]) -> dict[str, Any]:
    parallel = tree.get("parallel")
    if not isinstance(parallel, dict) or not any(k in DERIVED_FIELDS or k in INTERNAL_FIELDS for k in parallel):
        return tree
    cleaned = {k: v for k, v in parallel.items() if k not in DERIVED_FIELDS and k not in INTERNAL_FIELDS}
    return {**tree, "parallel": cleaned}


def _issues(failures: list[tuple[KeyPath, BaseException]], merged: Merged) -> list[Issue]:
    """One Issue per failure, placed at the file:line that set the key (a hook's refusal at its field, below it
    for a list index)."""
    issues: list[Issue] = []
    for here, failure in failures:
        if isinstance(failure, SchemaError):
            issues.extend(found.placed(merged.where((*here, *found.path)), here) for found in failure.issues)
        elif isinstance(failure, _Unknown):  # "did you mean" for the first ones: 50,000 keys answer in ms
            issues.append(_unknown_key(here, merged, suggest=len(issues) < MAX_SUGGESTIONS))
        else:  # _Required: a required key (a topology node's id or cpus) is missing
            name = here[-1]
            issues.append(Issue(here, merged.where(here), "schema.required", f"`{name}` is required",
                                f"add {name} = ... to this table"))
    return issues


def _unknown_key(path: KeyPath, merged: Merged, suggest: bool = True) -> Issue:
    """An unknown key, with a "did you mean" from its own table or the section it belongs to (unless not
    ``suggest``: past the first MAX_SUGGESTIONS problems of a document, matching names costs more than it helps)."""
    key = str(path[-1])
    table = _table_at(path[:-1])
    names = [a.name for a in attrs.fields(table)] if table and suggest else []
    hint = did_you_mean(key, names)
    if key in DERIVED_FIELDS:
        hint = f"`parallel.{key}` is derived; remove it"
    if not hint and suggest:
        for section, cls in _SECTIONS.items():
            fields = [a.name for a in attrs.fields(cls)]
            if key in fields and path[:-1] != (section,):
                hint = f"did you mean `{section}.{key}`?"
                break
            close = did_you_mean(key, fields) if len(path) == 1 else ""
            if close:
                hint = close.replace("`", f"`{section}.", 1)
                break

    where = "the document" if len(path) == 1 else f"[{format_path(path[:-1])}]"
    return Issue(path, merged.where(path), "schema.unknown_key", f"unknown key `{format_path((key,))}` in {where}",
                 hint or "remove it (`pconf compile` prints every key there is)")


def _table_at(path: KeyPath) -> type[Any] | None:
    cls: type[Any] = Document
    for part in path:
        if isinstance(part, int):  # an element of a list of tables: its class is the list's
            continue
        field = getattr(attrs.fields(cls), str(part), None)
        nested = shape(field).table if field is not None else None
        if nested is None:
            return None
        cls = nested
    return cls


__all__ = ["FIELD_RULES", "Invalid", "Structurer", "make_structurer", "structure"]
