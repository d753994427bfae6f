"""Documents (the compiled document, a plan, a topology) as JSON, TOML or YAML text."""

from __future__ import annotations

import json
from typing import Any

from pconf.errors import ConfigError, Issue, Location
from pconf.keypath import KeyPath

FORMATS = ("json", "toml", "yaml")


def render(doc: dict[str, Any], fmt: str) -> str:
    """Render a document as json (2-space indent, schema key order), toml or yaml."""
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(_drop_none(doc))
    if fmt == "yaml":
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        text: str = yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return text
    raise ValueError(f"unknown format {fmt!r}")


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
