"""Move a cluster file to a newer vLLM release, keeping what it means: ``pconf migrate FILE --to 0.34``.

The edits come from the release profiles: a key whose default changes and that the file leaves unset is written
out with the value it had (when the new default would resolve differently); a key the new release removed is
dropped when it holds its default, and refused otherwise; each profile adds the edits only it knows
(``Profile.migration``). The edited document must compile under the new release; where it does not, the file
has no equivalent there and nothing is written (ConfigError, exit 2). Comments and layout are kept: TOML through
tomlkit, YAML through ruamel.yaml, the two well-kept round-trip editors of those formats.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pconf.compile import Compiled, compile_files
from pconf.errors import ConfigError, Issue, LoadError, Location
from pconf.keypath import KeyPath, format_path
from pconf.schema import shape
from pconf.versions import PROFILES, Profile, lookup, supported, version_key
from pconf.versions.profile import UNCHANGED, Edit, walk_fields


@dataclass(frozen=True, slots=True)
class Migration:
    """What migrating a file does: its edits (in order), its text afterwards, and its hash before and after."""

    path: str
    old_release: str
    new_release: str
    edits: tuple[Edit, ...]
    text: str
    old_hash: str
    new_hash: str

    @property
    def changed(self) -> bool:
        return bool(self.edits)


def migrate_file(path: str | os.PathLike[str], to: str, overrides: Sequence[str] = ()) -> Migration:
    """Migrate one cluster file to release ``to`` (its ``extends`` files are read, not changed). ConfigError when
    the file does not compile, ``to`` is not a newer release, or a setting has no equivalent there."""
    shown = os.fspath(path)
    target = lookup(to)
    if target is None:
        raise LoadError([Issue(("vllm_version",), Location.argument("--to"), "migrate.release",
                               "not a vLLM release pconf models",
                               f"use one of {supported()}", to)])
    before = compile_files([shown], overrides)
    source = before.resolved.profile
    if target.key < source.key:
        raise LoadError([Issue(("vllm_version",), before.where(("vllm_version",)), "migrate.release",
                               f"the file targets vLLM {source.name}; migrate moves a file to a newer release",
                               f"use --to {source.name} or later", to)])
    edits: list[Edit] = [] if target is source else [Edit(("vllm_version",), "set", target.name,
                                                          f"vLLM {source.name} -> {target.name}")]
    step = source
    for profile in PROFILES.values():
        if source.key < profile.key <= target.key:
            try:  # the file as the new release reads it, nothing pinned: what each unset key would become
                moved: Compiled | None = compile_files([shown], overrides, vllm_version=profile.name)
            except ConfigError:
                moved = None
            done = {edit.path for edit in edits}
            edits += [edit for edit in _step_edits(before, moved, step, profile) if edit.path not in done]
            step = profile
    text = Path(shown).read_text(encoding="utf-8")
    new_text = _apply(text, Path(shown).suffix, edits) if edits else text
    after = _compile_text(shown, new_text, overrides, before, target.name)
    return Migration(shown, source.name, target.name, tuple(edits), new_text, str(before.graph_hash),
                     str(after.graph_hash))


def _step_edits(before: Compiled, moved: Compiled | None, old: Profile, new: Profile) -> list[Edit]:
    """The edits one release step needs. ``moved``: the file compiled under the new release as it is (None when it
    does not compile there): every key the file leaves unset that resolves to another value there is written out
    with its value; a key the new release removed is dropped when it holds its default, refused otherwise."""
    edits: list[Edit] = []
    written = {path for path, chain in before.merged.chains.items() if chain and not chain[-1].is_reset}
    lists = {dotted for dotted, a in walk_fields() if shape(a).is_list}
    for dotted, a in walk_fields():
        path: KeyPath = tuple(dotted.split("."))
        meta_old, meta_new = old.info(a, dotted), new.info(a, dotted)
        inside_list = any(dotted.startswith(f"{items}.") for items in lists)  # keys of a list of tables
        fs = shape(a)
        if path == ("vllm_version",) or (fs.table is not None and not fs.is_list) or inside_list \
                or not old.has(meta_old):
            continue
        value = _value(before, path)
        if not new.has(meta_new):
            if path not in written:
                continue
            if value != old.default(a, dotted):
                raise ConfigError([Issue(path, before.where(path), "migrate.no_equivalent",
                                         f"vLLM {new.name} removed `{a.name}`: it has no equivalent there",
                                         "remove it, or stay on this release", value)])
            edits.append(Edit(path, "remove", None, f"vLLM {new.name} removed it (it held the default)"))
            continue
        if path in written:
            continue
        change = new.changes.get(dotted)
        if moved is not None:
            differs = _value(moved, path) != value
        else:  # the file does not compile there as it is: pin what the release changes the default of
            differs = change is not None and change.default is not UNCHANGED and change.default != value
        if differs:
            why = change.why if change is not None else new.notes.get(dotted, f"resolves otherwise in vLLM {new.name}")
            edits.append(Edit(path, "set", value, f"{new.name}: {why}"))
    return edits


def _value(compiled: Compiled, path: KeyPath) -> Any:
    """The value at ``path`` of a compiled document: resolved for ``[parallel]``, as written (after defaults) for
    the other tables."""
    node: Any = compiled.resolved if path[0] == "parallel" else compiled.resolved.document
    for part in path:
        if node is None:  # an unset table (cluster.topology)
            return None
        node = getattr(node, str(part))
    return node


def _compile_text(shown: str, text: str, overrides: Sequence[str], before: Compiled, release: str) -> Compiled:
    """Compile the edited text where the file lies (its ``extends`` resolve the same); a refusal means the file
    has no equivalent in the new release."""
    directory = os.path.dirname(os.path.abspath(shown))
    probe = os.path.join(directory, f".pconf-migrate-{os.getpid()}{Path(shown).suffix}")
    try:
        with open(probe, "w", encoding="utf-8") as f:
            f.write(text)
        return compile_files([probe], overrides)
    except ConfigError as exc:
        raise ConfigError([_no_equivalent(issue, probe, before, release) for issue in exc.issues]) from None
    finally:
        if os.path.exists(probe):
            os.unlink(probe)


def _no_equivalent(issue: Issue, probe: str, before: Compiled, release: str) -> Issue:
    """A refusal of the migrated text, said of the original file."""
    where = before.where(issue.path) if issue.where.source == probe else issue.where
    return Issue(issue.path, where, "migrate.no_equivalent", f"has no equivalent in vLLM {release}: "
                 f"{issue.message} [{issue.rule}]", issue.hint, issue.got)


# -- round-trip editing -------------------------------------------------------------------------------------


def _apply(text: str, suffix: str, edits: Sequence[Edit]) -> str:
    """The file's text with the edits made, comments and layout kept."""
    if suffix == ".toml":
        import tomlkit

        doc: Any = tomlkit.parse(text)
        for edit in edits:
            _edit(doc, edit, tomlkit.table)
        return tomlkit.dumps(doc)
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(text) or CommentedMap()
    for edit in edits:
        if edit.path == ("vllm_version",) and "vllm_version" not in data:
            data.insert(0, "vllm_version", edit.value)
            continue
        _edit(data, edit, CommentedMap)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _edit(doc: Any, edit: Edit, table: Any) -> None:
    node = doc
    for part in edit.path[:-1]:
        if part not in node:
            node[part] = table()
        node = node[part]
    key = edit.path[-1]
    if edit.action == "remove":
        node.pop(key, None)
    elif edit.action == "set":
        node[key] = list(edit.value) if isinstance(edit.value, tuple) else edit.value


def describe(edit: Edit) -> str:
    """An edit in words: ``set parallel.numa_bind = false: why``."""
    import json

    what = {"set": f"set {format_path(edit.path)} = {json.dumps(edit.value)}",
            "remove": f"remove {format_path(edit.path)}", "note": f"note {format_path(edit.path)}"}[edit.action]
    return f"{what}: {edit.why}"


__all__ = ["Edit", "Migration", "describe", "migrate_file", "version_key"]
