"""Documents (the compiled document, a plan, a topology) as JSON, TOML or YAML text."""

from __future__ import annotations

import json
from typing import Any

from pconf.errors import ConfigError, Issue, Location
from pconf.keypath import KeyPath

FORMATS = ("json", "toml", "yaml")


#: The comment ``pconf compile`` puts on a ``[cluster]`` value nobody set: a fact about the hosts pconf assumed.
ASSUMED = "default: assumed, the files do not say (pconf docs cluster.{})"


def render(doc: dict[str, Any], fmt: str, notes: dict[tuple[str, str], str] | None = None) -> str:
    """Render a document as json (2-space indent, schema key order), toml or yaml. ``notes``: comments to put
    after values of the top-level tables, (table, key) -> text (TOML and YAML; JSON has no comments)."""
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "toml":
        import tomli_w

        return _annotate(tomli_w.dumps(_drop_none(doc)), notes, "[{}]", "{} = ")
    if fmt == "yaml":
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text: str = yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return _annotate(text, notes, "{}:", "  {}: ")
    raise ValueError(f"unknown format {fmt!r}")


def assumed_notes(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The notes of a compiled document (``Compiled.to_dict()``): each ``[cluster]`` value from its default is a
    fact about the hosts that pconf assumed."""
    sources = doc.get("sources", {})
    return {("cluster", key): ASSUMED.format(key) for key in doc.get("cluster", {})
            if sources.get(f"cluster.{key}") == "default"}


def _annotate(text: str, notes: dict[tuple[str, str], str] | None, header: str, entry: str) -> str:
    """``text`` with ``# note`` after each one-line value ``notes`` names. ``header`` is how the format opens a
    top-level table (``[{}]``, ``{}:``), ``entry`` how it writes a key of one (``{} = ``, ``  {}: ``)."""
    if not notes:
        return text
    lines = text.split("\n")
    table: str | None = None
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and (line.startswith("[") or header.startswith("{")):
            table = next((t for t, _ in notes if line == header.format(t)), None)  # a new table begins
            continue
        if table is None:
            continue
        for (t, key), note in notes.items():
            prefix = entry.format(key)
            value = line[len(prefix):].strip() if t == table and line.startswith(prefix) else ""
            if value and value not in ("[", "{"):  # one line: not the start of a multi-line list
                lines[i] = f"{line}  # {note}"
    return "\n".join(lines)


def _drop_none(value: Any, path: KeyPath = ()) -> Any:
    """TOML has no null: keys whose value is null are left out of TOML output; a null in a list cannot be
    written at all (a ConfigError naming the key)."""
    if isinstance(value, dict):
        return {k: _drop_none(v, (*path, k)) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if any(v is None for v in value):
            raise ConfigError([Issue(path, Location.argument("--format toml"), "emit.toml_null",
                                     "a list holding null cannot be written as TOML",
                                     hint="use --format json or yaml")])
        return [_drop_none(v, (*path, i)) for i, v in enumerate(value)]
    return value
