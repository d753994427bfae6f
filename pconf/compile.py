"""The whole compile pipeline in one place: load -> merge -> structure -> resolve -> rules.

``compile_files`` and ``compile_dict`` return a ``Compiled``; a config problem raises ``ConfigError``
(``LoadError``, ``SchemaError`` or ``RuleError``) carrying every issue found at that stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import attrs

from pconf.errors import Issue, LoadError, Location, RuleError, did_you_mean, issue_order
from pconf.keypath import KeyPath, format_path, parse_dotted
from pconf.load import Layer, load_layers
from pconf.load.overrides import overrides_layer
from pconf.merge import Merged, Setting, merge
from pconf.resolve import ResolvedConfig, platform_custom_all_reduce, read_env, resolve
from pconf.rules import check_all
from pconf.schema import DERIVED_FIELDS
from pconf.structure import structure
from pconf.tree import leaf_paths, plain

if TYPE_CHECKING:
    from pconf.hashing import GraphHash
    from pconf.plan import Plan


@dataclass(frozen=True, slots=True)
class Explanation:
    """Where a key's value came from: the layers that set it (last wins) and the final source."""

    key: str
    value: Any
    chain: tuple[Setting, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled document: the resolved configuration, where each value came from, and any warnings."""

    resolved: ResolvedConfig
    merged: Merged
    warnings: tuple[Issue, ...]

    def to_dict(self) -> dict[str, Any]:
        """The document ``pconf compile --format json`` prints: ``{graph_hash, parallel, scheduler, cluster, serve,
        derived, sources}``, keys in schema order (the derived fields at their place in vLLM's order)."""
        r = self.resolved
        parallel: dict[str, Any] = {}
        derived_values = {"world_size": r.world_size, "data_parallel_index": r.data_parallel_index}
        after = {derived.after: name for name, derived in DERIVED_FIELDS.items()}
        for key, value in plain(attrs.asdict(r.parallel)).items():
            parallel[key] = value
            if key in after:
                parallel[after[key]] = derived_values[after[key]]
        doc = {
            "graph_hash": str(self.graph_hash),
            "parallel": parallel,
            "scheduler": {"async_scheduling": r.async_scheduling},
            "cluster": {**plain(attrs.asdict(r.document.cluster)),  # plain: the topology holds tuples of tables
                        "custom_all_reduce": platform_custom_all_reduce(r.document.cluster.custom_all_reduce,
                                                                        r.document.cluster.device)},
            "serve": plain(attrs.asdict(r.document.serve)),
            "derived": attrs.asdict(r.derived),
        }
        sources: dict[str, str] = {}
        for path in leaf_paths({k: v for k, v in doc.items() if k != "graph_hash"}):
            sources[format_path(path)] = "derived" if _is_derived(path) else self.source(path)
        doc["sources"] = sources
        return doc

    @property
    def graph_hash(self) -> GraphHash:
        """The graph hash of the resolved configuration (``str()`` gives ``pconf1-xxh3_128:<hex>``)."""
        from pconf.hashing import graph_hash

        return graph_hash(self.resolved)

    def plan(self) -> Plan:
        """The per-rank plan of this configuration (RuleError for layouts and ports that cannot work)."""
        from pconf.plan import make_plan

        return make_plan(self.resolved, str(self.graph_hash), self.rule_location)

    def where(self, path: KeyPath) -> Location:
        """Where the value at ``path`` came from: resolution, a layer, or the default."""
        origin = self.resolved.origins.get(path)
        return origin if origin is not None else self.merged.where(path)

    def rule_location(self, path: KeyPath) -> Location:
        """Where a rule's finding about ``path`` points: the file line the user wrote it on, or (for values
        the user did not write, and values taken from the environment) where resolution took it from."""
        if path[0] == "env":
            return Location.env(str(path[1]))
        origin = self.resolved.origins.get(path)
        written = self.merged.chains.get(path)
        if origin is not None and (not written or written[-1].is_reset or origin.kind == "env"):
            return origin
        return self.merged.where(path)

    def source(self, path: KeyPath) -> str:
        """The ``sources`` entry of a key: ``file:line:col``, ``--set ...``, ``env:NAME``, ``derived: ...``."""
        origin = self.resolved.origins.get(path)
        if origin is not None:
            return str(origin)
        chain = self.merged.chains.get(path)
        if chain and chain[-1].is_reset:
            return f"default (reset at {chain[-1].where})"
        return str(self.merged.where(path)) if chain else "default"

    def explain(self, key: str) -> Explanation:
        """The value of a dotted key and every layer that set it; ConfigError for an unknown key."""
        doc = self.to_dict()
        path = parse_dotted(key) or ()
        node: Any = doc
        for part in path:
            if not isinstance(node, dict) or part not in node or part == "sources":
                path = ()
                break
            node = node[part]
        if not path:
            known = [*doc["sources"], *(f"derived.{k}" for k in doc["derived"])]
            hint = did_you_mean(key, known) or "see `pconf compile` for the keys there are"
            raise LoadError([Issue(parse_dotted(key) or (key,), Location.argument("<command line>"),
                                   "explain.unknown_key", "unknown key", hint)])
        chain = self.merged.chains.get(path, ())
        source = "derived" if _is_derived(path) else self.source(path)
        return Explanation(format_path(path), node, chain, source)


def _is_derived(path: KeyPath) -> bool:
    """Whether a key of the compiled document is computed (``derived.*``, ``parallel.world_size``, ...); a table
    (``parallel``) is not."""
    if path[:1] in (("derived",), ("graph_hash",)):
        return True
    return path[:1] == ("parallel",) and len(path) > 1 and path[1] in DERIVED_FIELDS


def compile_files(
    paths: Sequence[str | os.PathLike[str]],
    overrides: Iterable[str] = (),
    env: Mapping[str, object] | None = None,
    *,
    probe_topology: bool | str | os.PathLike[str] = False,
) -> Compiled:
    """Compile cluster files (merged left to right, each after its ``extends``), then ``--set`` overrides.

    ``env``: None for declarative mode (nothing read from the environment); a mapping such as
    ``os.environ`` for vLLM-environment mode (vLLM's ``VLLM_DP_*``, ``RANK``... read from it only).
    ``probe_topology``: True (this host, ``/``) or the root of a recorded sysfs tree: replace
    ``cluster.topology`` with what sysfs says (see ``topology_layer``). False: nothing is probed.
    """
    return _compile(_with_probe(load_layers(paths, overrides), probe_topology), env)


def plan_files(
    paths: Sequence[str | os.PathLike[str]],
    overrides: Iterable[str] = (),
    env: Mapping[str, object] | None = None,
    *,
    probe_topology: bool | str | os.PathLike[str] = False,
) -> Plan:
    """Compile cluster files and return the deployment's per-rank plan (see ``compile_files``)."""
    return compile_files(paths, overrides, env, probe_topology=probe_topology).plan()


def topology_layer(root: str | os.PathLike[str] = "/") -> Layer:
    """This host's NUMA topology, read from sysfs under ``root``, as a layer that replaces ``cluster.topology``
    (earlier layers' topology is reset first, so probed and declared facts never mix). Its provenance is
    ``probe:/sys`` (``probe:<root>/sys`` for a recorded tree)."""
    from pconf.numa.sysfs import read_host_topology

    host = read_host_topology(root)
    where = Location.probe(os.path.join(host.root, "sys"))
    path: KeyPath = ("cluster", "topology")
    return Layer(host.source, {"cluster": {"topology": host.topology_data()}}, {}, ((path, where),), where)


def _with_probe(layers: Sequence[Layer], probe: bool | str | os.PathLike[str]) -> tuple[Layer, ...]:
    """Insert the probed topology after the files and before the ``--set`` overrides (which may still change it)."""
    if probe is False:
        return tuple(layers)
    probed = topology_layer("/" if probe is True else probe)
    files = [layer for layer in layers if layer.name != "--set"]
    return (*files, probed, *(layer for layer in layers if layer.name == "--set"))


def compile_dict(
    data: Mapping[str, Any],
    env: Mapping[str, object] | None = None,
    overrides: Iterable[str] = (),
) -> Compiled:
    """Compile a document given as a mapping ``{"parallel": {...}, "scheduler": {...}, "cluster": {...}}``."""
    source = Location.argument("<dict>")
    if not isinstance(data, Mapping):
        raise LoadError([Issue((), source, "load.not_a_table", "the document must be a mapping",
                               hint="pass {\"parallel\": {...}, ...}")])
    copied: dict[str, Any] = plain(data)
    for key in ("extends", "reset"):
        if key in copied:
            raise LoadError([Issue((key,), source, "load.layer_key", f"`{key}` only works in files",
                                   hint="use compile_files, or merge the documents yourself")])
    layers = [Layer("<dict>", copied, {}, (), source)]
    extra, issues = overrides_layer(overrides)
    if issues:
        raise LoadError(issues)
    if extra.data or extra.resets:
        layers.append(extra)
    return _compile(layers, env)


def _compile(layers: Sequence[Layer], env: Mapping[str, object] | None) -> Compiled:
    merged = merge(layers)
    document = structure(merged)
    written = frozenset(path for path, chain in merged.chains.items() if not chain[-1].is_reset)
    resolved = resolve(document, read_env(env) if env is not None else None, written.__contains__)
    compiled = Compiled(resolved, merged, ())
    issues = check_all(resolved, compiled.rule_location)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise RuleError(sorted(errors, key=issue_order))
    return Compiled(resolved, merged, tuple(i for i in issues if i.severity == "warning"))



__all__ = ["Compiled", "Explanation", "compile_dict", "compile_files", "plan_files", "topology_layer"]
