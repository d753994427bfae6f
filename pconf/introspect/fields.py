"""How the generators read the format: each field's facts in one vLLM release, and the words they share."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

import attrs

from pconf.schema import Document, FieldInfo, FieldShape, shape
from pconf.versions import DEFAULT, PROFILES, Profile

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


class View(NamedTuple):
    """A field as one release has it: its attribute, dotted key, facts, default and shape."""

    a: attrs.Attribute[Any]
    path: str
    meta: FieldInfo
    default: Any
    shape: FieldShape

    @property
    def optional(self) -> bool:
        """Whether null may be written (a table: whether it may be unset)."""
        return self.shape.optional if self.shape.table is not None else bool(self.meta.nullable)

    @property
    def required(self) -> bool:
        return self.a.default is attrs.NOTHING


def profile_of(profile: Profile | None) -> Profile:
    return profile or PROFILES[DEFAULT]


def views(cls: type[Any], prefix: str, profile: Profile) -> list[View]:
    """The fields of table class ``cls`` (at ``prefix``) that ``profile`` has, in declaration order."""
    out = []
    for a in attrs.fields(cls):
        path = prefix + a.name
        meta = profile.info(a, path)
        if profile.has(meta):
            default = attrs.NOTHING if isinstance(a.default, attrs.Factory) else profile.default(a, path)  # type: ignore[arg-type]
            out.append(View(a, path, meta, default, shape(a)))
    return out


def class_doc(cls: type[Any]) -> str:
    """The first paragraph of a class's docstring: what its table is for."""
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


def sections(fields: Callable[[type[Any], str], list[View]]) -> list[tuple[str, type[Any], bool]]:
    """Every table of the format, each followed by its own nested tables: (dotted name, class, is a list);
    ``fields(cls, prefix)`` lists a table's fields (one release's, or every release's)."""
    out: list[tuple[str, type[Any], bool]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        for v in fields(cls, prefix):
            if v.shape.table is not None:
                out.append((v.path, v.shape.table, v.shape.is_list))
                walk(v.shape.table, v.path + ".")

    walk(Document, "")
    return out


# -- words ------------------------------------------------------------------------------------------------


def type_name(v: View) -> str:
    base, origin = v.shape.base, typing.get_origin(v.shape.base)
    if v.shape.table is not None:
        name = "list of tables" if v.shape.is_list else "table"
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
    return f"{name} or unset" if v.optional else name


def allowed(v: View) -> str:
    """The accepted values in words: bounds, choices, list checks; empty when any value of the type goes."""
    meta = v.meta
    parts: list[str] = []
    if meta.ge is not None:
        parts.append(f">= {meta.ge}")
    if meta.gt is not None:
        parts.append(f"> {meta.gt}")
    if meta.le is not None:
        parts.append(f"<= {meta.le}")
    if meta.choices:
        names = [toml(c) for c in meta.choices]
        if typing.get_origin(v.shape.base) in (typing.Union, types.UnionType):
            names = ["`true`", "`false`", *names]
        text = ", ".join(names)
        if meta.open_choices:
            text += ", or an import path `package.module.Class`"
        if meta.deprecated:
            text += " (deprecated: " + ", ".join(
                f"{toml(old)} → {toml(new.instead)}" for old, new in meta.deprecated.items()) + ")"
        parts.append(text)
    if meta.check is not None:
        parts.append(meta.check.text)
    return "; ".join(parts)


def show_default(v: View) -> str:
    if v.required:
        return "*required*"
    if v.default is attrs.NOTHING:
        return "its keys' defaults"
    if v.default is None:
        return "unset"
    return toml(v.default)


def toml(value: Any) -> str:
    """A value as written in a TOML file, in backticks."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    if isinstance(value, tuple | list):
        return f"`{json.dumps(list(value), ensure_ascii=False)}`"
    return f"`{value!r}`"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return markdown(text).replace("|", "\\|").replace("\n", " ")


def markdown(text: str) -> str:
    """Plain text safe as Markdown: ``node<id>`` must not read as an HTML tag."""
    return _TAG_START.sub("&lt;", text)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
