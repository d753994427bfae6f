"""Field metadata -> generated artefacts: the JSON Schema of cluster files and the Markdown field reference.

Everything here is read from the attrs classes and their ``FieldInfo`` (``pconf.schema``), the rule registry
(``pconf.rules``) and the hash factor list (``pconf.hashing``); nothing about a field is written twice. Both
outputs are deterministic (declaration order, stable key order, a trailing newline), so the committed copies
(``schemas/pconf.schema.json``, ``docs/reference.md``) can be checked to be current.

The schema is as strict as one key at a time can be, and never stricter than pconf: whatever it refuses,
``pconf validate`` refuses too. pconf refuses more: ``2.0`` for an integer (JSON Schema counts it as one),
descending CPU ranges, CPU numbers beyond any machine, and every rule across keys.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, Literal

import attrs

from pconf.schema import DERIVED_FIELDS, INTERNAL_FIELDS, LAYER_KEYS, Document, FieldInfo, info

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = "schemas/pconf.schema.json"
REFERENCE_PATH = "docs/reference.md"

#: A superset of pconf's import-path check (``package.module.Class``) under both Python's and ECMA-262's
#: regular expressions: ``[^.\s]`` covers ``\w`` in either, so an editor never refuses a path pconf takes.
IMPORT_PATH_PATTERN = r"^[A-Za-z_][^.\s]*(?:\.[A-Za-z_][^.\s]*)+$"
#: numactl CPU-list syntax (vLLM's ``numa_bind_cpus`` grammar; pconf also requires ascending ranges).
CPU_LIST_PATTERN = r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$"
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")

#: The JSON Schema constraints of each extra value check (``FieldInfo.check``), merged into the field's schema,
#: and the same constraints in words for the reference. A check missing here adds no constraint (the schema
#: stays looser than pconf, never stricter); tests/test_introspect.py asserts every check has its entry.
CHECK_SCHEMAS: dict[str, dict[str, Any]] = {
    "numa_nodes": {"minItems": 1, "items": {"type": "integer", "minimum": 0}},
    "cpu_lists": {"minItems": 1, "items": {"type": "string", "pattern": CPU_LIST_PATTERN}},
    "node_cpus": {"pattern": f"^(?:{CPU_LIST_PATTERN[1:-1]})?$"},
    "gpu_nodes": {"items": {"type": "integer", "minimum": -1}},
}
_CHECK_TEXT = {
    "numa_nodes": "non-empty; every node >= 0",
    "cpu_lists": "non-empty; numactl CPU lists such as `0-3` or `0,2,4-7`, ranges ascending",
    "node_cpus": "a numactl CPU list such as `0-31,64-95`, or `\"\"` for a node without CPUs",
    "gpu_nodes": "NUMA node numbers, `-1` for unknown",
}

#: The rule ids of pconf's per-key checks (``pconf.structure``), with what each refuses.
FIELD_CHECK_RULES: dict[str, str] = {
    "schema.type": "The value has the wrong type: pconf does not coerce (`\"2\"`, `2.0` and `true` are not `2`; "
    "`1` and `\"yes\"` are not `true`); null is allowed only where a key may be unset.",
    "schema.bound": "An integer is outside its range (e.g. a parallel size below 1).",
    "schema.choice": "A string is not one of the key's accepted values (for distributed_executor_backend: a "
    "backend name or the dotted import path of an executor class).",
    "schema.required": "A key that has no default is missing from its table.",
    "schema.unknown_key": "The key is not part of the format; the message suggests the closest key.",
    "schema.derived_key": "The key is derived (`world_size`, `data_parallel_index`) and cannot be set.",
    "schema.internal_key": "The key is one of vLLM's runtime-internal fields, not part of the file format.",
    "schema.too_many_items": "A list has more than 1024 entries (the NUMA lists: one per GPU or NUMA node).",
    "schema.too_many_cpus": "The CPU lists of a document name more than 1048576 CPUs in all.",
    "numa.nodes_empty": "`numa_bind_nodes` is an empty list.",
    "numa.nodes_negative": "A NUMA node number in `numa_bind_nodes` is negative.",
    "numa.cpus_empty": "`numa_bind_cpus` is an empty list.",
    "numa.cpus_syntax": "A CPU list is empty where it may not be, not numactl CPU-list syntax, has a descending "
    "range, or names a CPU beyond any machine.",
    "numa.gpu_node": "A GPU's NUMA node is neither a node number nor -1 (unknown).",
}


# -- reading a field --------------------------------------------------------------------------------------


@attrs.frozen
class _Shape:
    """What a field's annotation says: the type of its values, whether it may be unset (null), and, for a
    table or a list of tables, the table's attrs class."""

    base: Any
    optional: bool
    table: type[Any] | None
    is_list: bool


def _shape(a: attrs.Attribute[Any]) -> _Shape:
    tp = a.type
    args = typing.get_args(tp)
    optional = type(None) in args and typing.get_origin(tp) in (typing.Union, types.UnionType)
    base = next((t for t in args if t is not type(None)), tp) if optional else tp
    if isinstance(base, type) and attrs.has(base):
        return _Shape(base, optional, base, False)
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        if isinstance(item, type) and attrs.has(item):
            return _Shape(base, optional, item, True)
    return _Shape(base, optional, None, False)


def _fields(cls: type[Any]) -> tuple[attrs.Attribute[Any], ...]:
    result: tuple[attrs.Attribute[Any], ...] = attrs.fields(cls)
    return result


def _required(a: attrs.Attribute[Any]) -> bool:
    return a.default is attrs.NOTHING


def _default(a: attrs.Attribute[Any]) -> Any:
    """The field's default; ``attrs.NOTHING`` when it has none or when it is a table of its keys' defaults."""
    if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]  # attrs.Factory is a class at run time
        return attrs.NOTHING
    return a.default


def _class_doc(cls: type[Any]) -> str:
    """The first paragraph of a class's docstring: what its table is for."""
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


def _sections() -> list[tuple[str, type[Any], bool]]:
    """Every table of the format, each followed by its own nested tables: (dotted name, class, is a list)."""
    out: list[tuple[str, type[Any], bool]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        for a in _fields(cls):
            shape = _shape(a)
            if shape.table is not None:
                out.append((prefix + a.name, shape.table, shape.is_list))
                walk(shape.table, f"{prefix}{a.name}.")

    walk(Document, "")
    return out


# -- JSON Schema ------------------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a cluster file, generated from the field metadata."""
    properties: dict[str, Any] = {}
    for key, text in LAYER_KEYS.items():
        description = _sentence(text)
        properties[key] = {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": description,
            "markdownDescription": f"{description}\n\nA string or a list of strings. Applied while loading; "
            "not part of the compiled document.",
        }
    for a in _fields(Document):
        properties[a.name] = field_schema(a)
    return {
        "$schema": DIALECT,
        "title": "pconf cluster file",
        "description": "A cluster file compiled by pconf: [parallel] (vLLM's ParallelConfig), [scheduler] and "
        "[cluster]. Generated by `pconf schema`; `pconf validate` also checks the rules across keys.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The schema as committed under ``schemas/``: two-space JSON, keys in declaration order, newline-ended."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def field_schema(a: attrs.Attribute[Any]) -> dict[str, Any]:
    """The JSON Schema of one field: type, bounds, choices, default and descriptions (tables recursively)."""
    meta, shape = info(a), _shape(a)
    if shape.table is not None and not shape.is_list:
        out = _object_schema(shape.table)
        if shape.optional:
            out["type"] = ["object", "null"]
        return out
    if shape.table is not None:
        out = {"type": "array", "items": _object_schema(shape.table)}
    else:
        out = _value_schema(shape.base, meta)
    if meta.check is not None:
        out.update(CHECK_SCHEMAS.get(meta.check, {}))
    if shape.optional:
        _allow_null(out)
    default = _default(a)
    if default is not attrs.NOTHING and default is not None:  # unset is written by leaving the key out
        out["default"] = list(default) if isinstance(default, tuple) else default
    out["description"] = meta.doc
    out["markdownDescription"] = _markdown_description(a)
    return out


def _object_schema(cls: type[Any]) -> dict[str, Any]:
    """A table: its keys (nested tables recursively), the keys it requires, no other keys."""
    fields = _fields(cls)
    out: dict[str, Any] = {
        "type": "object",
        "description": _class_doc(cls),
        "properties": {a.name: field_schema(a) for a in fields},
    }
    required = [a.name for a in fields if _required(a)]
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _value_schema(base: Any, meta: FieldInfo) -> dict[str, Any]:
    """The schema of a (non-table) field's non-null values."""
    origin = typing.get_origin(base)
    if base is int:
        out: dict[str, Any] = {"type": "integer"}
        if meta.ge is not None:
            out["minimum"] = meta.ge
        if meta.gt is not None:
            out["exclusiveMinimum"] = meta.gt
        if meta.le is not None:
            out["maximum"] = meta.le
        return out
    if base is bool:
        return {"type": "boolean"}
    if origin in (typing.Union, types.UnionType):  # bool | Literal["auto"]
        return {"type": ["boolean", "string"], "enum": [True, False, *meta.choices]}
    if base is str or origin is Literal:
        if not meta.choices:
            return {"type": "string"}
        names: dict[str, Any] = {"type": "string", "enum": list(meta.choices)}
        if meta.open_choices:
            return {"anyOf": [names, {"type": "string", "pattern": IMPORT_PATH_PATTERN}]}
        return names
    if origin is tuple:
        item = typing.get_args(base)[0]
        return {"type": "array", "items": {"type": "integer" if item is int else "string"}}
    if origin is dict:
        return {"type": "object"}
    raise TypeError(f"no JSON Schema for {base!r}")  # a new kind of field: decide its schema here


def _allow_null(out: dict[str, Any]) -> None:
    if "anyOf" in out:
        out["anyOf"].append({"type": "null"})
        return
    kinds = out["type"] if isinstance(out["type"], list) else [out["type"]]
    out["type"] = [*kinds, "null"]
    if "enum" in out:
        out["enum"].append(None)


def _markdown_description(a: attrs.Attribute[Any]) -> str:
    meta = info(a)
    facts = ["Required." if _required(a) else f"Default: {_show_default(a)}."]
    allowed = _allowed(a)
    if allowed:
        facts.append(f"Allowed: {allowed}.")
    facts.append("Changes the graph hash." if meta.graph else "Not part of the graph hash.")
    return f"{_markdown(meta.doc)}\n\n{' '.join(facts)}"


# -- Markdown reference -----------------------------------------------------------------------------------


def reference_markdown() -> str:
    """``docs/reference.md``: every key, derived value, graph-hash factor and rule, from the metadata."""
    from pconf.hashing import FACTOR_NAMES
    from pconf.rules import RULES

    sections = _sections()
    lines = [
        "# Field reference",
        "",
        "<!-- Generated by `pconf docs` from pconf's field metadata and rule registry; do not edit by hand. -->",
        "",
        "Every key a cluster file may set. Keys are optional unless marked *required*; the defaults of "
        "`[parallel]` and `[scheduler]` are vLLM's. Values are typed strictly: pconf converts nothing "
        "(`\"2\"` and `2.0` are not `2`, `1` is not `true`). *Unset* means the key is absent (or `null` in "
        "YAML); where vLLM fills such a value in, `pconf compile` prints what it chose and why.",
        "",
        "Columns: **graph** says whether the key is a factor of the [graph hash](graph-hash.md); **scope** says "
        "what kind of fact it is: `graph` (the same on every rank), `rank` (differs per process), `launch` (how "
        "processes start and connect) or `host` (about the machines).",
        "",
        "The same facts drive pconf's own checks and the JSON Schema for editors (`pconf schema`, committed as "
        f"[`{SCHEMA_PATH}`](../{SCHEMA_PATH})).",
        "",
        "- [Top-level keys](#top-level-keys)",
        *(f"- [{_heading(name, is_list)}](#{_anchor(name)})" for name, _, is_list in sections),
        "- [Derived values](#derived-values)",
        "- [Not part of the format](#not-part-of-the-format)",
        "- [Graph-hash factors](#graph-hash-factors)",
        "- [Rules](#rules)",
        "",
        "## Top-level keys",
        "",
        "| key | type | meaning |",
        "| --- | --- | --- |",
        *(f"| `{key}` | string or list of strings | {_cell(_sentence(text))} |" for key, text in LAYER_KEYS.items()),
        "",
        "See [layering and overrides](layering.md).",
    ]
    for name, cls, is_list in sections:
        lines += ["", f"## {_heading(name, is_list)}", "", _class_doc(cls), "",
                  "| key | type | default | allowed | graph | scope | description |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [_reference_row(a, name) for a in _fields(cls)]
    lines += [
        "",
        "## Derived values",
        "",
        "`pconf compile` prints these in `[parallel]`; a file cannot set them (`schema.derived_key`).",
        "",
        "| key | derived as |",
        "| --- | --- |",
        *(f"| `{key}` | {_cell(how)} |" for key, how in DERIVED_FIELDS.items()),
        "",
        "## Not part of the format",
        "",
        "vLLM's runtime-internal fields: only vLLM's own processes write them, so a file cannot "
        "(`schema.internal_key`).",
        "",
        "| key | what vLLM keeps in it |",
        "| --- | --- |",
        *(f"| `{key}` | {_cell(what)} |" for key, what in INTERNAL_FIELDS.items()),
        "",
        "## Graph-hash factors",
        "",
        f"The {len(FACTOR_NAMES)} values `pconf hash` digests (all under `[parallel]`, taken after resolution), "
        "in the order the encoding lists them:",
        "",
        *(f"- `{name}`" + (" (derived)" if name in DERIVED_FIELDS else "") for name in FACTOR_NAMES),
        "",
        "## Rules",
        "",
        "Every error and warning ends with its rule id in brackets; see [error messages](errors.md) for the "
        "format, the exit codes and the ids of loading and planning problems.",
        "",
        "### Checks of single keys",
        "",
        "Run on every key before any rule across keys. The JSON Schema encodes the same checks, except the ones "
        "a schema cannot state (integers written as `2.0`, ascending CPU ranges).",
        "",
        "| rule | what it refuses |",
        "| --- | --- |",
        *(f"| `{rid}` | {_cell(text)} |" for rid, text in FIELD_CHECK_RULES.items()),
        "",
        "### Rules across keys",
        "",
        "vLLM's checks on these fields, wherever vLLM makes them, run on the resolved values. pconf runs all of "
        "them and reports every failure at once; warnings do not stop a compile.",
        "",
        "| rule | severity | where vLLM checks it | what it requires |",
        "| --- | --- | --- | --- |",
        *(f"| `{r.id}` | {r.severity} | {_source(r.source)} | {_cell(r.doc)} |" for r in RULES),
    ]
    return "\n".join(lines) + "\n"


def _reference_row(a: attrs.Attribute[Any], section: str) -> str:
    meta, shape = info(a), _shape(a)
    graph = "yes" if meta.graph else "no"
    if shape.table is not None:
        name = f"{section}.{a.name}"
        see = f"see [{_heading(name, shape.is_list)}](#{_anchor(name)})"
        return f"| `{a.name}` | {_type_name(a)} | {_show_default(a)} | {see} | {graph} | {meta.scope} | " \
               f"{_cell(meta.doc)} |"
    return f"| `{a.name}` | {_type_name(a)} | {_show_default(a)} | {_cell(_allowed(a))} | {graph} | " \
           f"{meta.scope} | {_cell(meta.doc)} |"


# -- shared formatting ------------------------------------------------------------------------------------


def _type_name(a: attrs.Attribute[Any]) -> str:
    shape = _shape(a)
    base, origin = shape.base, typing.get_origin(shape.base)
    if shape.table is not None:
        name = "list of tables" if shape.is_list else "table"
    elif base is int:
        name = "integer"
    elif base is bool:
        name = "boolean"
    elif origin in (typing.Union, types.UnionType):
        name = "boolean or string"
    elif origin is tuple:
        name = "list of integers" if typing.get_args(base)[0] is int else "list of strings"
    elif origin is dict:
        name = "table"
    else:
        name = "string"
    return f"{name} or unset" if shape.optional else name


def _allowed(a: attrs.Attribute[Any]) -> str:
    """The accepted values in words: bounds, choices, list checks; empty when any value of the type goes."""
    meta = info(a)
    parts: list[str] = []
    if meta.ge is not None:
        parts.append(f">= {meta.ge}")
    if meta.gt is not None:
        parts.append(f"> {meta.gt}")
    if meta.le is not None:
        parts.append(f"<= {meta.le}")
    if meta.choices:
        names = [_toml(c) for c in meta.choices]
        if typing.get_origin(_shape(a).base) in (typing.Union, types.UnionType):
            names = ["`true`", "`false`", *names]
        text = ", ".join(names)
        if meta.open_choices:
            text += ", or an import path `package.module.Class`"
        if meta.deprecated:
            text += " (deprecated: " + ", ".join(
                f"{_toml(old)} → {_toml(new)}" for old, new in meta.deprecated.items()) + ")"
        parts.append(text)
    if meta.check is not None and meta.check in _CHECK_TEXT:
        parts.append(_CHECK_TEXT[meta.check])
    return "; ".join(parts)


def _show_default(a: attrs.Attribute[Any]) -> str:
    if _required(a):
        return "*required*"
    default = _default(a)
    if default is attrs.NOTHING:
        return "its keys' defaults"
    if default is None:
        return "unset"
    return _toml(default)


def _toml(value: Any) -> str:
    """A value as written in a TOML file, in backticks."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    if isinstance(value, tuple | list):
        return f"`{json.dumps(list(value), ensure_ascii=False)}`"
    return f"`{value!r}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return _markdown(text).replace("|", "\\|").replace("\n", " ")


def _markdown(text: str) -> str:
    """Plain text safe as Markdown: ``node<id>`` must not read as an HTML tag."""
    return _TAG_START.sub("&lt;", text)


def _source(text: str) -> str:
    """Where vLLM makes a check, its code name in backticks: ``vLLM X.y (detail)`` -> ```X.y` (detail)``."""
    name, _, detail = text.removeprefix("vLLM ").partition(" ")
    return f"`{name}`" + (f" {_cell(detail)}" if detail else "")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _heading(name: str, is_list: bool) -> str:
    """A table's name as TOML writes its header: ``[name]``, or ``[[name]]`` for a list of tables."""
    return f"`[[{name}]]`" if is_list else f"`[{name}]`"


def _anchor(name: str) -> str:
    """GitHub's anchor of a table's heading: lower case, punctuation other than ``-`` and ``_`` dropped."""
    return "".join(c for c in name.lower() if c.isalnum() or c in "-_")


__all__ = [
    "CHECK_SCHEMAS",
    "CPU_LIST_PATTERN",
    "DIALECT",
    "FIELD_CHECK_RULES",
    "IMPORT_PATH_PATTERN",
    "REFERENCE_PATH",
    "SCHEMA_PATH",
    "field_schema",
    "json_schema",
    "reference_markdown",
    "schema_text",
]
