"""A plan as JSON, YAML or TOML, written as it is made: rank by rank and group by group, never whole in memory.

``plan_chunks(plan, fmt, node)`` gives the text of ``document.render(plan.to_dict(node), fmt)`` byte for byte, in
pieces: the same keys in the same order, each value spelt as ``json.dumps(indent=2, ensure_ascii=False)``,
PyYAML's safe dumper (block style, keys unsorted, unicode) and ``tomli_w`` spell it. The big lists of a plan --
its rank rows, every kind's groups, the NUMA bindings -- are made one item at a time (``Lazy``) and written in
blocks; everything else is small and is written by the library itself (a top-level key on its own is spelt the
same as within the whole document). Each writer follows its library's layout rules for the shapes a plan has:

- JSON: two-space indentation, ``"key": value``, items separated by ``,`` and a newline, ``[]``/``{}`` when empty;
- YAML: a mapping's keys at its indentation, a sequence under a key at the key's own indentation (``- item``), a
  sequence in a sequence on the same line (``- - 0``), ``[]`` when empty; a string is spelt by PyYAML itself in
  the same place (a skeleton document with the same keys above it), once per distinct string;
- TOML: a table's plain values first, then its tables, each after a blank line; arrays one item per line with a
  trailing comma; a list of tables inline (``{ a = 1 }``, every one of them at most 100 characters wide, on one
  line) or else as ``[[name]]`` tables; nulls left out.

The tests compare every writer with its library on many plans.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

from pconf.errors import ConfigError, Issue, Location
from pconf.plan import GROUP_KINDS, RankInfo

if TYPE_CHECKING:
    from pconf.plan import Plan

#: Items joined into one piece of output.
BLOCK = 256
STREAMED = ("json", "yaml", "toml")


class Lazy:
    """A list made one item at a time: ``count`` items from ``make()`` (called once per pass over them);
    ``shape``: ``rows`` (RankInfo rows, written as tables), ``groups`` (lists of ranks) or ``tables`` (dicts)."""

    def __init__(self, count: int, make: Callable[[], Iterable[Any]], shape: str) -> None:
        self.count = count
        self.make = make
        self.shape = shape

    def __iter__(self) -> Iterator[Any]:
        return iter(self.make())


def plan_document(plan: Plan, node: int | None = None) -> list[tuple[str, Any]]:
    """``plan.to_dict(node)`` with its big lists left to be made (``Lazy``): the same keys, in the same order."""
    ranks = plan.ranks if node is None else [plan.rank(r) for r in plan.node_ranks(node)]
    doc: list[tuple[str, Any]] = [
        ("world_size", plan.world_size),
        ("nnodes", plan.nnodes),
        ("ranks_per_node", plan.per_node),
        ("graph_hash", plan.graph_hash),
        ("sizes", {"dp": plan.dp, "pp": plan.pp, "pcp": plan.pcp, "tp": plan.tp, "dcp": plan.dcp}),
        ("ports", plan.ports.as_dict()),
        ("ranks", Lazy(len(ranks), lambda: ranks, "rows")),
        ("groups", {kind: Lazy(plan.group_count(kind), functools.partial(plan.iter_groups, kind), "groups")
                    for kind in GROUP_KINDS}),
    ]
    if plan.resolved.parallel.numa_bind:
        doc.append(("numa", _numa(plan, [row.rank for row in ranks])))
    if plan.resolved.model is not None:
        from pconf.model.placement import plan_placement

        doc.append(("model", plan_placement(plan.resolved.parallel, plan.resolved.model)))
    return doc


def _numa(plan: Plan, chosen: list[int]) -> dict[str, Any]:
    """``plan.numa_dict(chosen)`` with the workers and the EngineCores made one at a time."""
    numa = plan.numa

    def workers() -> Iterator[dict[str, Any]]:
        for r in chosen:
            b = plan.binding(r)
            yield {"rank": r, **(b.as_dict() if b is not None else {})}

    def engines() -> Iterator[dict[str, Any]]:
        seen: set[int] = set()
        for r in chosen:
            info = plan.rank(r)
            if info.dp not in seen:
                seen.add(info.dp)
                e = plan.binding(r, "EngineCore")
                yield {"dp_rank": info.dp, "node": info.node, **(e.as_dict() if e is not None else {})}

    dp_ranks = len({plan.rank(r).dp for r in chosen}) if len(chosen) != plan.world_size else plan.dp
    return {"mode": numa.mode, "source": numa.reason, "workers": Lazy(len(chosen), workers, "tables"),
            "engine_cores": Lazy(dp_ranks, engines, "tables")}


def plan_chunks(plan: Plan, fmt: str, node: int | None = None) -> Iterator[str]:
    """The plan (or node ``node``'s ranks) in ``fmt`` (json, yaml or toml), in pieces; see the module docstring."""
    doc = plan_document(plan, node)
    if fmt == "json":
        return _json_document(doc)
    if fmt == "yaml":
        return _yaml_document(doc)
    if fmt == "toml":
        return _toml_document(doc)
    raise ValueError(f"not a streamed format: {fmt!r}")


def _blocks(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces joined BLOCK at a time."""
    it = iter(pieces)
    while block := "".join(islice(it, BLOCK)):
        yield block


# -- JSON ---------------------------------------------------------------------------------------------------


def _json_document(doc: list[tuple[str, Any]]) -> Iterator[str]:
    yield "{"
    for i, (key, value) in enumerate(doc):
        yield ("\n  " if i == 0 else ",\n  ") + json.dumps(key, ensure_ascii=False) + ": "
        yield from _json(value, 1)
    yield "\n}\n" if doc else "}\n"


def _json(value: Any, level: int) -> Iterator[str]:
    """``value`` as json.dumps(indent=2) spells it ``level`` levels deep (its first line already indented)."""
    if isinstance(value, Lazy):
        if not value.count:
            yield "[]"
            return
        inner = "  " * (level + 1)
        item: Callable[[Any], str]
        if value.shape == "rows":
            template = inner + "{\n" + ",\n".join(f'{inner}  "{k}": %s' for k in RankInfo._fields) + f"\n{inner}}}"
            item = functools.partial(_json_row, template)
        elif value.shape == "groups":
            item = functools.partial(_json_group, inner, inner + "  ")
        else:
            item = functools.partial(_json_table, inner, level + 1)
        yield "[\n"
        yield from _blocks(_joined(map(item, value), ",\n"))
        yield "\n" + "  " * level + "]"
    elif isinstance(value, dict) and any(isinstance(v, Lazy) for v in value.values()):
        inner = "  " * (level + 1)
        for i, (key, v) in enumerate(value.items()):
            yield ("{\n" if i == 0 else ",\n") + inner + json.dumps(key, ensure_ascii=False) + ": "
            yield from _json(v, level + 1)
        yield "\n" + "  " * level + "}"
    else:
        yield json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * level)


def _joined(items: Iterable[str], separator: str) -> Iterator[str]:
    """The items with ``separator`` between them (as pieces: ``_blocks`` joins them)."""
    first = True
    for text in items:
        if first:
            first = False
            yield text
        else:
            yield separator + text


def _json_row(template: str, row: RankInfo) -> str:
    return template % tuple("null" if v is None else v for v in row)


def _json_group(indent: str, inner: str, group: list[int]) -> str:
    return f"{indent}[\n{inner}" + f",\n{inner}".join(map(str, group)) + f"\n{indent}]"


def _json_table(indent: str, level: int, table: dict[str, Any]) -> str:
    return indent + _json_plain(table, level)


def _json_plain(value: Any, level: int) -> str:
    """``value`` as json.dumps(indent=2) spells it ``level`` levels deep, laid out here and each scalar spelt by
    json (json's own indented encoder makes a knot of closures per call: garbage for the collector, which the
    command runs without; see ``pconf.cli.main``)."""
    if isinstance(value, dict) and all(type(k) is str for k in value):
        if not value:
            return "{}"
        inner = "  " * (level + 1)
        return "{\n" + ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json_plain(v, level + 1)}"
                                  for k, v in value.items()) + "\n" + "  " * level + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = "  " * (level + 1)
        return "[\n" + ",\n".join(inner + _json_plain(v, level + 1) for v in value) + "\n" + "  " * level + "]"
    if value is None or isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * level)


# -- YAML ---------------------------------------------------------------------------------------------------


@functools.cache
def _yaml_dumper() -> Any:
    import yaml

    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml_dump(doc: Any) -> str:
    import yaml

    text: str = yaml.dump(doc, Dumper=_yaml_dumper(), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text


def _yaml_document(doc: list[tuple[str, Any]]) -> Iterator[str]:
    for key, value in doc:
        if isinstance(value, Lazy) or _has_lazy(value):
            yield from _yaml(key, value, ())
        else:  # a top-level key is spelt the same alone as in the whole document
            yield _yaml_dump({key: value})


def _has_lazy(value: Any) -> bool:
    return isinstance(value, dict) and any(isinstance(v, Lazy) for v in value.values())


def _yaml(key: str, value: Any, above: tuple[str, ...]) -> Iterator[str]:
    """``key: value`` in a block mapping ``len(above)`` levels deep (the keys of the mappings above it)."""
    indent = "  " * len(above)
    if isinstance(value, Lazy):
        if not value.count:
            yield f"{indent}{key}: []\n"
            return
        yield f"{indent}{key}:\n"
        item: Callable[[Any], str]
        if value.shape == "rows":  # a sequence under a key sits at the key's indentation
            template = indent + "- " + f"\n{indent}  ".join(f"{k}: %s" for k in RankInfo._fields) + "\n"
            item = functools.partial(_yaml_row, template)
        elif value.shape == "groups":
            item = functools.partial(_yaml_group, indent + "- - ", indent + "  - ")
        else:
            item = functools.partial(_yaml_table, (*above, key))
        yield from _blocks(map(item, value))
    elif _has_lazy(value):
        yield f"{indent}{key}:\n"
        for k, v in value.items():
            yield from _yaml(k, v, (*above, key))
    else:  # spelt by PyYAML at the same place
        yield _yaml_at(above, key, value)


def _yaml_row(template: str, row: RankInfo) -> str:
    return template % tuple("null" if v is None else v for v in row)


def _yaml_group(first: str, rest: str, group: list[int]) -> str:
    return first + str(group[0]) + "\n" + "".join(f"{rest}{r}\n" for r in group[1:])


def _yaml_table(above: tuple[str, ...], table: dict[str, Any]) -> str:
    """A table as an item of the sequence under the keys ``above``: its first key on the ``- `` line, the others
    below it, each value spelt by PyYAML in that place (looked up once per distinct value)."""
    indent = "  " * (len(above) - 1)
    lines = []
    for i, (k, v) in enumerate(table.items()):
        if v is None or type(v) is int:  # spelt the same everywhere (a key of the plan is a plain word)
            text = f"{k}: {'null' if v is None else v}\n"
        else:
            text = _yaml_item_value(above, k, _hashable(v))
        lines.append(f"{indent}{'- ' if i == 0 else '  '}{text}")
    return "".join(lines) if lines else f"{indent}- {{}}\n"


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _hashable(v)) for k, v in value.items()))
    return value


def _unhashable(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("list", "dict"):
        kind, items = value
        if kind == "list":
            return [_unhashable(v) for v in items]
        return {k: _unhashable(v) for k, v in items}
    return value


@functools.lru_cache(maxsize=4096)
def _yaml_item_value(above: tuple[str, ...], key: str, value: Any) -> str:
    """``key: value`` as PyYAML spells it as the first key of an item of the sequence under ``above`` (the same as
    a later key of the item: the same column, the same indentation), without the ``- `` and what comes before."""
    skeleton: Any = [{key: _unhashable(value)}]
    for name in reversed(above):
        skeleton = {name: skeleton}
    text = _yaml_dump(skeleton)
    head = "".join(f"{'  ' * i}{name}:\n" for i, name in enumerate(above)) + "  " * (len(above) - 1) + "- "
    if not text.startswith(head):
        raise AssertionError(f"unexpected YAML layout for {above}: {text[:200]!r}")
    return text[len(head):]


def _yaml_at(above: tuple[str, ...], key: str, value: Any) -> str:
    """``key: value`` in the mapping under the keys ``above``, as PyYAML spells it there."""
    skeleton: Any = {key: value}
    for name in reversed(above):
        skeleton = {name: skeleton}
    text = _yaml_dump(skeleton)
    head = "".join(f"{'  ' * i}{name}:\n" for i, name in enumerate(above))
    if not text.startswith(head):
        raise AssertionError(f"unexpected YAML layout for {above}: {text[:200]!r}")
    return text[len(head):]


# -- TOML ---------------------------------------------------------------------------------------------------

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
MAX_LINE_LENGTH = 100  # tomli_w's: a table goes inline only if its line fits


def _toml_document(doc: list[tuple[str, Any]]) -> Iterator[str]:
    return _toml_table(doc, "", inside_aot=False, path=())


def _toml_table(table: Iterable[tuple[str, Any]] | Mapping[str, Any], name: str, *, inside_aot: bool,
                path: tuple[str | int, ...]) -> Iterator[str]:
    """tomli_w's ``gen_table_chunks`` over a table whose lists may be ``Lazy``: plain values first, then tables."""
    items = table.items() if isinstance(table, Mapping) else table
    literals: list[tuple[str, Any]] = []
    tables: list[tuple[str, Any, bool]] = []
    for k, v in items:
        if v is None:  # TOML has no null: the key is left out
            continue
        if isinstance(v, Mapping):
            tables.append((k, v, False))
        elif _is_aot(v) and not _all_inline(v):
            tables.append((k, v, True))
        else:
            literals.append((k, v))
    yielded = False
    if inside_aot or (name and (literals or not tables)):
        yielded = True
        yield f"[[{name}]]\n" if inside_aot else f"[{name}]\n"
    for k, v in literals:
        yielded = True
        yield f"{_toml_key(k)} = "
        yield from _toml_literal(v, (*path, k))
        yield "\n"
    for k, v, in_aot in tables:
        display = f"{name}.{_toml_key(k)}" if name else _toml_key(k)
        if in_aot and isinstance(v, Lazy) and v.shape == "rows":  # rank rows: one template per row
            yield from _blocks(("\n" if yielded or i else "") + _toml_row(f"[[{display}]]\n", "{} = %s\n", "", row)
                               for i, row in enumerate(v))
            yielded = True
        elif in_aot:
            for i, t in enumerate(v):
                if yielded:
                    yield "\n"
                yielded = True
                yield "".join(_toml_table(_as_table(t), display, inside_aot=True,
                                          path=(*path, k, i)))
        else:
            if yielded:
                yield "\n"
            yielded = True
            yield from _toml_table(v, display, inside_aot=False, path=(*path, k))


@functools.lru_cache(maxsize=64)
def _row_template(head: str, field: str, separator: str, present: tuple[bool, ...]) -> str:
    """A rank row's text: ``head``, then ``field`` for each field that is not null (``{}`` the name, ``%s`` the
    value), joined by ``separator``."""
    return head + separator.join(field.format(k) for k, here in zip(RankInfo._fields, present, strict=True) if here)


def _toml_row(head: str, field: str, separator: str, row: RankInfo) -> str:
    present = tuple(v is not None for v in row)
    values = tuple(v for v in row if v is not None)
    return _row_template(head, field, separator, present) % values


def _toml_inline_row(row: RankInfo) -> str:
    return _toml_row("{ ", "{} = %s", ", ", row) + " }"


def _as_table(item: Any) -> Mapping[str, Any]:
    """A list item as a table: a rank row as its fields."""
    return item._asdict() if isinstance(item, RankInfo) else item


def _is_aot(value: Any) -> bool:
    """tomli_w's ``is_aot``: a non-empty list of tables."""
    if isinstance(value, Lazy):
        return value.count > 0 and value.shape in ("rows", "tables")
    return bool(isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value))


def _all_inline(value: Any) -> bool:
    """Whether every table of the list fits inline on one line (one pass over a Lazy list, stopping at the
    first that does not)."""
    inline = _toml_inline_row if isinstance(value, Lazy) and value.shape == "rows" else _toml_inline_table
    for t in value:
        rendered = "    " + inline(t) + ","
        if len(rendered) > MAX_LINE_LENGTH or "\n" in rendered:
            return False
    return True


def _toml_literal(value: Any, path: tuple[str | int, ...], nest: int = 0) -> Iterator[str]:
    """tomli_w's ``format_literal`` (arrays one item per line, inline tables), Lazy lists made as they go."""
    if isinstance(value, Lazy):
        if not value.count:
            yield "[]"
            return
        indent = "    " * (nest + 1)
        yield "[\n"
        if value.shape == "groups":
            item_indent = "    " * (nest + 2)
            close = "    " * (nest + 1)
            yield from _blocks(f"{indent}[\n{item_indent}" + f",\n{item_indent}".join(map(str, group))
                               + f",\n{close}],\n" for group in value)
        else:
            inline = _toml_inline_row if value.shape == "rows" else _toml_inline_table
            yield from _blocks(f"{indent}{inline(t)},\n" for t in value)
        yield "    " * nest + "]"
        return
    yield _toml_value(value, path, nest)


def _toml_value(value: Any, path: tuple[str | int, ...], nest: int = 0) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if any(v is None for v in value):
            raise ConfigError([Issue(path, Location.argument("--format toml"), "emit.toml_null",
                                     "a list holding null cannot be written as TOML",
                                     hint="use --format json or yaml")])
        indent = "    " * (nest + 1)
        return "[\n" + ",\n".join(indent + _toml_value(v, (*path, i), nest + 1) for i, v in enumerate(value)) + \
            ",\n" + "    " * nest + "]"
    if isinstance(value, Mapping):
        return _toml_inline_table(value)
    return _toml_other(value)


def _toml_inline_table(table: Mapping[str, Any]) -> str:
    items = [(k, v) for k, v in table.items() if v is not None]
    if not items:
        return "{}"
    return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v, ())}" for k, v in items) + " }"


@functools.lru_cache(maxsize=4096)
def _toml_string(text: str) -> str:
    import tomli_w

    rendered: str = tomli_w.dumps({"s": text})
    return rendered[len("s = "):-1]


@functools.lru_cache(maxsize=256)
def _toml_key(key: str) -> str:
    if key and _BARE.issuperset(key):
        return key
    return _toml_string(key)


def _toml_other(value: Any) -> str:
    """A value of a kind plans do not hold (a float, a date): spelt by tomli_w."""
    import tomli_w

    rendered: str = tomli_w.dumps({"v": value})
    return rendered[len("v = "):-1]


__all__ = ["BLOCK", "STREAMED", "Lazy", "plan_chunks", "plan_document"]
