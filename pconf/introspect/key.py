"""``pconf docs KEY``: one key of the format, from the same field facts, profiles and rule registry as the
reference: what it means, its type, default and allowed values, the rules that read it, and its vLLM flag."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import attrs

from pconf.errors import Issue, LoadError, Location, did_you_mean
from pconf.introspect.fields import View, allowed, sentence, show_default, type_name
from pconf.schema import DERIVED_FIELDS, INTERNAL_FIELDS, LAYER_KEYS, shape
from pconf.versions import DEFAULT, PROFILES, Profile
from pconf.versions.profile import walk_fields
from pconf.versions.serve import LAYOUT_ARGS


@dataclass(frozen=True, slots=True)
class KeyDoc:
    """One key as ``pconf docs KEY`` shows it; ``kind``: ``key`` (a value), ``table``, ``derived`` (computed, not
    settable), ``internal`` (vLLM's own, not part of the format) or ``layer`` (``extends``, ``reset``)."""

    key: str
    kind: str
    doc: str
    release: str = ""
    type: str = ""
    default: str = ""
    allowed: str = ""
    graph: bool = False
    scope: str = ""
    releases: str = ""
    flag: str = ""
    rules: tuple[tuple[str, str], ...] = ()  # (rule id, what it requires)
    keys: tuple[str, ...] = ()  # a table's keys

    def text(self) -> str:
        """The plain-text page ``pconf docs KEY`` prints."""
        head = f"{self.key}" + (f"  (vLLM {self.release})" if self.release else "")
        lines = [head, "", _wrap(self.doc), ""]
        facts = [("type", self.type), ("default", self.default), ("allowed", self.allowed),
                 ("graph hash", ("yes: a factor of the graph hash" if self.graph else "no")
                  if self.kind in ("key", "table") else ""),
                 ("scope", self.scope), ("releases", self.releases), ("vLLM flag", self.flag)]
        lines += [_wrap(f"{name + ':':<12} {value}", "", " " * 13) for name, value in facts if value]
        if self.keys:
            lines += ["", "keys:", *(f"  {k}" for k in self.keys)]
        if self.rules:
            lines += ["", "rules:", *(_wrap(f"{rid}: {what}", "  ", "    ") for rid, what in self.rules)]
        return "\n".join(lines) + "\n"


def describe_key(key: str, profile: Profile | None = None) -> KeyDoc:
    """The documentation of a dotted key (``parallel.tensor_parallel_size``) or of a key's own name when it is the
    only key so named (``tensor_parallel_size``), in ``profile`` (the default release without it; a key the
    release lacks is shown as the first release that has it has it). LoadError (``docs.unknown_key``) otherwise."""
    profile = profile or PROFILES[DEFAULT]
    fields = dict(walk_fields())
    path = _find(key)
    if path in LAYER_KEYS:
        return KeyDoc(path, "layer", sentence(LAYER_KEYS[path]), type="string or list of strings",
                      flag="none: handled while loading (see docs/layering.md)")
    name = path.rsplit(".", 1)[-1]
    if path.startswith("parallel.") and name in DERIVED_FIELDS:
        return KeyDoc(path, "derived", f"Derived, not settable: {DERIVED_FIELDS[name].how}. `pconf compile` "
                      "prints it; a file that sets it is refused (schema.derived_key), except in a compiled "
                      "document, where it is checked (compiled.mismatch).", type="integer")
    if path.startswith("parallel.") and name in INTERNAL_FIELDS:
        return KeyDoc(path, "internal", f"vLLM's runtime-internal field: {INTERNAL_FIELDS[name]}. Not part of the "
                      "format (schema.internal_key).")
    a = fields[path]
    owner = next((p for p in PROFILES.values() if p.has(p.info(a, path))), profile)
    shown = profile if profile.has(profile.info(a, path)) else owner
    default = attrs.NOTHING if isinstance(a.default, attrs.Factory) else shown.default(a, path)  # type: ignore[arg-type]
    v = View(a, path, shown.info(a, path), default, shape(a))
    keys: tuple[str, ...] = ()
    if v.shape.table is not None:
        keys = tuple(f"{path}.{k.name}" for k in attrs.fields(v.shape.table)
                     if shown.has(shown.info(k, f"{path}.{k.name}")))
    return KeyDoc(
        key=path,
        kind="table" if v.shape.table is not None else "key",
        doc=sentence(v.meta.doc),
        release=shown.name,
        type=type_name(v),
        default=_plain(show_default(v)),
        allowed=_plain(allowed(v)),
        graph=v.meta.graph,
        scope=v.meta.scope,
        releases=_releases(a, path) + ("" if shown is profile else f" (not in vLLM {profile.name})"),
        flag=_flag(path, v, shown),
        rules=_rules(path, v),
        keys=keys,
    )


def known_keys() -> list[str]:
    """Every key ``describe_key`` knows, dotted."""
    return [*LAYER_KEYS, *(path for path, _ in walk_fields()),
            *(f"parallel.{name}" for name in (*DERIVED_FIELDS, *INTERNAL_FIELDS))]


def _find(key: str) -> str:
    known = known_keys()
    if key in known:
        return key
    named = [k for k in known if k.rsplit(".", 1)[-1] == key]
    if len(named) == 1:
        return named[0]
    where = Location.argument("<command line>")
    if named:
        raise LoadError([Issue((key,), where, "docs.unknown_key", f"`{key}` names {len(named)} keys",
                               "give the dotted key: " + ", ".join(named))])
    hint = did_you_mean(key, known) or did_you_mean(key, [k.rsplit(".", 1)[-1] for k in known])
    raise LoadError([Issue((key,), where, "docs.unknown_key", "not a key of the format",
                           hint or "`pconf docs` lists every key")])


def _releases(a: attrs.Attribute[Any], path: str) -> str:
    names = list(PROFILES)
    has = [p.name for p in PROFILES.values() if p.has(p.info(a, path))]
    text = "every release pconf models" if len(has) == len(names) else \
        f"{has[0]} and later" if has[-1] == names[-1] else f"{has[0]} to {has[-1]}"
    changes: dict[str, str] = {}  # why -> the first release that says it (later ones inherit the change)
    for p in PROFILES.values():
        if path in p.changes:
            changes.setdefault(p.changes[path].why, p.name)
    return "; ".join([text, *(f"{name}: {why}" for why, name in changes.items())])


def _flag(path: str, v: View, profile: Profile) -> str:
    section, _, name = path.partition(".")
    if section == "cluster":
        return "none: a fact about the hosts, which vLLM finds out itself"
    if path == "scheduler.async_scheduling":
        return "--async-scheduling / --no-async-scheduling (when true or false; \"auto\" is vLLM's default)"
    if section != "parallel" or "." in name:
        return "none" if section != "parallel" else "none: part of its table's flag"
    serve = profile.serve_flags.get(name)
    if serve is not None:
        if v.shape.base is bool:
            return f"{serve.flag} / --no-{serve.flag[2:]}; EngineArgs {name}"
        how = " JSON (the changed keys)" if v.shape.table is not None else \
            " A,B,... (one comma-separated value)" if serve.comma else ""
        return f"{serve.flag}{how}; EngineArgs {name}"
    layout = LAYOUT_ARGS.get(name)
    if layout is not None:
        return f"{layout.flag}; EngineArgs {layout.engine_arg} (set per node: pconf plan --format vllm --node K)"
    return f"none: vLLM {profile.name}'s `vllm serve` has no flag for it"


def _rules(path: str, v: View) -> tuple[tuple[str, str], ...]:
    """The rules across keys that read the key or name it in their documentation, then its value checks."""
    from pconf.rules import RULES

    name = path.rsplit(".", 1)[-1]
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    out = [(r.id, r.doc) for r in RULES if word.search(r.doc) or _reads(r.check, name)]
    if v.meta.check is not None:
        out += list(v.meta.check.rules.items())
    return tuple(out)


def _reads(function: Any, name: str) -> bool:
    """Whether a rule's code reads an attribute or names a key ``name`` (its own code, not the helpers it calls)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    stack = [code]
    while stack:
        c = stack.pop()
        if name in c.co_names or name in c.co_consts:
            return True
        stack += [k for k in c.co_consts if hasattr(k, "co_names")]
    return False


def _plain(text: str) -> str:
    """Reference text for a terminal: no Markdown backticks."""
    return text.replace("`", "")


def _wrap(text: str, first: str = "", rest: str = "") -> str:
    import textwrap

    return textwrap.fill(text, 100, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False) or first


__all__ = ["KeyDoc", "describe_key", "known_keys"]
