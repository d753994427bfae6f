"""The whole compile pipeline in one place: load -> merge -> structure -> (the model's config.json) -> resolve ->
rules.

``compile_files`` and ``compile_dict`` return a ``Compiled``; a config problem raises ``ConfigError``
(``LoadError``, ``SchemaError`` or ``RuleError``) carrying every issue found at that stage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import attrs

from pconf.errors import MISSING, Issue, LoadError, Location, RuleError, did_you_mean, issue_order, show_value
from pconf.keypath import KeyPath, format_path, parse_dotted
from pconf.load import Layer, load_layers
from pconf.load.compiled import take_compiled
from pconf.load.model import find_cached_config, read_model_config
from pconf.load.overrides import overrides_layer
from pconf.merge import Merged, Setting, merge
from pconf.model import FACT_NAMES, ModelFacts, model_facts
from pconf.resolve import ResolvedConfig, platform_custom_all_reduce, read_env, resolve
from pconf.rules import check_all
from pconf.schema import DERIVED_FIELDS, DeployConfig, Document, ModelSection
from pconf.structure import structure
from pconf.target import fixed_addresses, target_layers
from pconf.tree import leaf_paths, plain
from pconf.versions import PROFILES

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
    #: The deployment target compiled for (``lws``, ``slurm``, ``skypilot``): it supplies the head node's address
    #: at run time (``TARGET_HEAD`` in the resolved addresses); None: the files say everything.
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The document ``pconf compile --format json`` prints: ``{graph_hash, vllm_version, parallel, scheduler,
        cluster, serve, derived, [model], [deploy], sources}``, keys in schema order (the derived fields at their
        place in vLLM's order); the keys of the file's vLLM release only."""
        r = self.resolved
        keys = frozenset(r.profile.fields())
        parallel: dict[str, Any] = {}
        derived_values = {"world_size": r.world_size, "data_parallel_index": r.data_parallel_index}
        after = {derived.after: name for name, derived in DERIVED_FIELDS.items()}
        for key, value in _of_release(plain(attrs.asdict(r.parallel)), keys, "parallel.").items():
            parallel[key] = value
            if key in after:
                parallel[after[key]] = derived_values[after[key]]
        properties = attrs.asdict(r.derived)
        doc: dict[str, Any] = {
            "graph_hash": str(self.graph_hash),
            "vllm_version": r.profile.name,
            "parallel": parallel,
            "scheduler": {"async_scheduling": r.async_scheduling},
            "cluster": {**plain(attrs.asdict(r.document.cluster)),  # plain: the topology holds tuples of tables
                        "custom_all_reduce": platform_custom_all_reduce(r.document.cluster.custom_all_reduce,
                                                                        r.document.cluster.device)},
            "serve": plain(attrs.asdict(r.document.serve)),
            "derived": {name: properties[name] for name in r.profile.behaviour.derived_properties},
        }
        if r.model is not None:  # only with a [model] table: documents without one keep their shape
            doc["model"] = r.model.as_dict()
        if r.document.deploy != DeployConfig():  # only with a [deploy] table, likewise
            doc["deploy"] = plain(attrs.asdict(r.document.deploy))
        sources: dict[str, str] = {}
        for path in leaf_paths({k: v for k, v in doc.items() if k not in ("graph_hash", "vllm_version")}):
            sources[format_path(path)] = "derived" if _is_derived(path) else self.source(path)
        sources["vllm_version"] = self.source(("vllm_version",))
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

    def engine_kwargs(self, node: int | None = None, *, dp_rank: int | None = None) -> dict[str, Any]:
        """Keyword arguments for ``vllm.EngineArgs(**kw)`` / ``vllm.LLM(model, **kw)``: exactly the settings of
        the ``vllm serve`` line ``pconf plan --format vllm`` prints, typed (ints, bools, lists, ``eplb_config`` as
        a dict of its changed keys), in the file's vLLM release: each setting the file changes from the release's
        default, and ``async_scheduling`` when the file decides it.

        The layout is per node, as on the serve lines (``pconf.plan.serve_layout``): with several nodes, ``node``
        (required) adds vLLM's multi-node arguments (``nnodes``, ``node_rank``, ``master_addr``, ``master_port``;
        none in vLLM's DP-only form) and, with DP > 1, ``data_parallel_size_local``, ``data_parallel_address``,
        ``data_parallel_rpc_port`` and (nodes after the first) ``data_parallel_start_rank``. External DP load
        balancing runs one server per DP rank: ``dp_rank`` (required) adds ``data_parallel_rank`` and the DP
        address. What is not an EngineArgs field stays out: ``--headless`` and the API server's ``[serve]`` flags
        (``vllm serve`` options) and the environment (``CUDA_VISIBLE_DEVICES`` of an external-LB server,
        ``VLLM_PP_LAYER_PARTITION``, ``[cluster.network]``; ``pconf plan --format env``). With the
        external_launcher backend the layout comes from torchrun: the settings alone, as the script's ``LLM(...)``
        takes them.
        ValueError when ``node`` or ``dp_rank`` is missing where needed, or outside the plan.
        """
        from pconf.plan.serve_layout import node_dp_ranks, node_layout
        from pconf.versions.serve import LAYOUT_ARGS, changed_settings

        r = self.resolved
        doc = r.document
        p = doc.parallel
        kwargs: dict[str, Any] = {k: _kwarg(v) for k, v in changed_settings(p, r.profile).items()}
        if doc.scheduler.async_scheduling != "auto":
            kwargs["async_scheduling"] = doc.scheduler.async_scheduling
        if p.distributed_executor_backend == "external_launcher":
            return kwargs
        plan = self.plan()
        if node is None and plan.nnodes > 1:
            raise ValueError(f"the deployment runs on {plan.nnodes} nodes: pass node=K (0..{plan.nnodes - 1}) for "
                             "the layout of node K")
        node = 0 if node is None else node
        if not 0 <= node < plan.nnodes:
            raise ValueError(f"node {node} is outside 0..{plan.nnodes - 1}")
        dp_ranks = node_dp_ranks(plan, node)
        if p.data_parallel_external_lb:
            if dp_rank is None or dp_rank not in dp_ranks:
                raise ValueError(f"external DP load balancing runs one server per DP rank: pass dp_rank= one of "
                                 f"{dp_ranks} (the DP ranks of node {node})")
        elif dp_rank is not None:
            raise ValueError("dp_rank is for external DP load balancing (one server per DP rank); this deployment "
                             "runs one server per node")
        for field, value in node_layout(plan, node, dp_rank).items():
            kwargs[LAYOUT_ARGS[field].engine_arg] = value
        return kwargs

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
        """The ``sources`` entry of a key: ``file:line:col``, ``--set ...``, ``env:NAME``, ``derived: ...``; for a
        model fact read from config.json, where in it (``n_routed_experts in models/x/config.json``)."""
        model = self.resolved.model
        if model is not None and path[0] == "model" and len(path) == 2:
            return _model_source(model, self.merged, str(path[1]))
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


def _kwarg(value: Any) -> Any:
    """A setting as a Python keyword argument takes it: lists for tuples, tables as dicts, all the way down."""
    if isinstance(value, tuple | list):
        return [_kwarg(v) for v in value]
    if isinstance(value, dict):
        return {k: _kwarg(v) for k, v in value.items()}
    return value


def _of_release(table: dict[str, Any], keys: frozenset[str], prefix: str) -> dict[str, Any]:
    """A table's keys that the release has (``keys``: its dotted keys), nested tables too."""
    out = {}
    for key, value in table.items():
        path = prefix + key
        if path in keys:
            out[key] = _of_release(value, keys, path + ".") if isinstance(value, dict) and any(
                k.startswith(path + ".") for k in keys) else value
    return out


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
    vllm_version: str | None = None,
    model_config: str | os.PathLike[str] | None = None,
    stdin_format: str | None = None,
    target: str | None = None,
) -> Compiled:
    """Compile cluster files (merged left to right, each after its ``extends``), then ``--set`` overrides.

    The path ``-`` reads standard input: TOML or YAML (JSON too), as ``stdin_format`` (``"toml"``, ``"yaml"``)
    says, else as its content shows.

    ``env``: None for declarative mode (nothing read from the environment); a mapping such as
    ``os.environ`` for vLLM-environment mode (vLLM's ``VLLM_DP_*``, ``RANK``... read from it only).
    ``probe_topology``: True (this host, ``/``) or the root of a recorded sysfs tree: replace
    ``cluster.topology`` with what sysfs says (see ``topology_layer``). False: nothing is probed.
    ``vllm_version``: the vLLM release to compile for, over the files' ``vllm_version`` (``--vllm-version``).
    ``model_config``: a config.json (or model directory) to check the layout against, as ``[model] config``
    (``--model-config``; relative to the working directory), over the files' and under the ``--set`` overrides.
    ``target``: compile for a deployment target (``pconf.target.TARGETS``) that supplies the head node's address
    when it runs (``pconf.target``).
    """
    layers = _with_probe(load_layers(paths, overrides, stdin_format), probe_topology)
    if model_config is not None:
        layers = _before_overrides(layers, model_config_layer(os.fspath(model_config)))
    return _compile([*layers, *_version_layer(vllm_version)], env, target=target)


def plan_files(
    paths: Sequence[str | os.PathLike[str]],
    overrides: Iterable[str] = (),
    env: Mapping[str, object] | None = None,
    *,
    probe_topology: bool | str | os.PathLike[str] = False,
    vllm_version: str | None = None,
    model_config: str | os.PathLike[str] | None = None,
    stdin_format: str | None = None,
    target: str | None = None,
) -> Plan:
    """Compile cluster files and return the deployment's per-rank plan (see ``compile_files``)."""
    return compile_files(paths, overrides, env, probe_topology=probe_topology, vllm_version=vllm_version,
                         model_config=model_config, stdin_format=stdin_format, target=target).plan()


def _version_layer(vllm_version: str | None) -> tuple[Layer, ...]:
    """The layer ``--vllm-version`` makes: it sets ``vllm_version`` over every file."""
    if vllm_version is None:
        return ()
    where = Location.argument("--vllm-version")
    return (Layer("--vllm-version", {"vllm_version": vllm_version}, {("vllm_version",): where}, (), where),)


def model_config_layer(path: str) -> Layer:
    """``--model-config PATH`` as a layer: ``model.config = PATH`` (an ``hf_id`` from the files is reset)."""
    where = Location.argument("--model-config")
    key: KeyPath = ("model", "config")
    return Layer("--model-config", {"model": {"config": path}}, {key: where, ("model",): where},
                 ((("model", "hf_id"), where),), where)


def _before_overrides(layers: Sequence[Layer], extra: Layer) -> tuple[Layer, ...]:
    files = [layer for layer in layers if layer.name != "--set"]
    return (*files, extra, *(layer for layer in layers if layer.name == "--set"))


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
    return _before_overrides(layers, topology_layer("/" if probe is True else probe))


def compile_dict(
    data: Mapping[str, Any],
    env: Mapping[str, object] | None = None,
    overrides: Iterable[str] = (),
    *,
    vllm_version: str | None = None,
    model: ModelFacts | None = None,
    target: str | None = None,
) -> Compiled:
    """Compile a document given as a mapping ``{"parallel": {...}, "scheduler": {...}, "cluster": {...}}`` (and
    ``"vllm_version"``); see ``compile_files``.

    ``model``: the model's facts, already read (``pconf suggest`` reads the config.json once for every layout it
    tries); they stand in for the document's ``[model]`` table.
    """
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
    return _compile([*layers, *_version_layer(vllm_version)], env, model, target)


def _compile(layers: Sequence[Layer], env: Mapping[str, object] | None, model: ModelFacts | None = None,
             target: str | None = None) -> Compiled:
    """Compile layers (for a deployment ``target``: ``pconf.target``); a layer that is a compiled document
    (``graph_hash`` at its top) has its compiled values taken out (``pconf.load.compiled``) and checked against
    what it compiles to."""
    layers = list(layers)
    statements: list[tuple[int, dict[KeyPath, tuple[Any, Location]]]] = []
    for i, layer in enumerate(layers):
        stated = take_compiled(layer, tuple(DERIVED_FIELDS))
        if stated is not None:
            layers[i], values = stated
            statements.append((i, values))
    compiled = _compile_layers(target_layers(layers, env, target) if target else layers, env, model, target)
    issues: list[Issue] = []
    for i, values in statements:
        # What the compiled document says is checked against what it (with the files it extends) compiles to;
        # later files, --set and --vllm-version may still change the result.
        alone = compiled if i == len(layers) - 1 else _compile_layers(layers[: i + 1], env, model)
        issues += check_compiled(alone, values)
    if issues:
        raise RuleError(sorted(issues, key=issue_order))
    return compiled


def check_compiled(compiled: Compiled, values: Mapping[KeyPath, tuple[Any, Location]]) -> list[Issue]:
    """A ``compiled.mismatch`` issue for each value a compiled document states that differs from ``compiled``."""
    doc = compiled.to_dict()
    issues = []
    for path, (stated, where) in values.items():
        if path[0] == "model" and "model" not in doc:
            continue  # no model facts left to derive from: nothing to check
        actual: Any = doc
        for part in path:
            actual = actual.get(part, MISSING) if isinstance(actual, dict) else MISSING
        if _same(stated, actual):
            continue
        what = "not a compiled value" if actual is MISSING else f"it compiles to {show_value(actual)}"
        issues.append(Issue(path, where, "compiled.mismatch", f"the compiled document states {show_value(stated)}, "
                            f"but {what}", "the inputs changed since `pconf compile` printed it: remove the compiled "
                            "values (graph_hash, derived, sources, world_size, ...), or compile again"))
    return issues


def _same(a: Any, b: Any) -> bool:
    """Equal as documents say it (``true`` is not ``1``; a tuple is a list)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _compile_layers(layers: Sequence[Layer], env: Mapping[str, object] | None,
                    model: ModelFacts | None = None, target: str | None = None) -> Compiled:
    merged = merge(layers)
    if target is not None and (fixed := fixed_addresses(merged, target)):
        raise RuleError(fixed)
    document = structure(merged)
    if model is None:
        model = read_model(document, merged)
    written = frozenset(path for path, chain in merged.chains.items() if not chain[-1].is_reset)
    resolved = resolve(document, read_env(env) if env is not None else None, model, written.__contains__)
    compiled = Compiled(resolved, merged, (), target)
    issues = check_all(resolved, compiled.rule_location)
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise RuleError(sorted(errors, key=issue_order))
    return Compiled(resolved, merged, tuple(i for i in issues if i.severity == "warning"), target)


def read_model(document: Document, merged: Merged, environ: Mapping[str, str] | None = None) -> ModelFacts | None:
    """The facts of the document's ``[model]`` table (None without one): its config.json (``config``, relative to
    the file that set it; or ``hf_id`` in the Hugging Face cache that ``environ``, default this process's
    environment, names) under the facts the table writes. LoadError when the file cannot be found or read."""
    section = document.model
    if section == ModelSection():
        return None
    written = {key: merged.where(("model", key)) for key in attrs.fields_dict(ModelSection)
               if (chain := merged.chains.get(("model", key))) and not chain[-1].is_reset}
    data: dict[str, Any] | None = None
    source, where = "", Location.argument("[model]")
    if section.config is not None and section.hf_id is not None:
        where = merged.where(("model", "hf_id"))
        raise LoadError([Issue(("model", "hf_id"), where, "load.model_source", "model.config and model.hf_id are "
                               "both set", "name the model one way: a config.json, or a cached Hugging Face id")])
    if section.config is not None:
        where = merged.where(("model", "config"))
        found = read_model_config(_beside(where, section.config), where, ("model", "config"))
        if isinstance(found, Issue):
            raise LoadError([found])
        data, source = found.data, found.path
    elif section.hf_id is not None:
        where = merged.where(("model", "hf_id"))
        path = find_cached_config(section.hf_id, section.revision, os.environ if environ is None else environ, where,
                                  ("model", "hf_id"))
        cached = read_model_config(path, where, ("model", "hf_id")) if isinstance(path, str) else path
        if isinstance(cached, Issue):
            raise LoadError([cached])
        data, source = cached.data, cached.path
    facts = model_facts(section, data, source, written, where, PROFILES[document.vllm_version].model)
    if isinstance(facts, list):
        raise LoadError(facts)
    return facts


def model_from_file(path: str | os.PathLike[str]) -> ModelFacts:
    """The facts of a model's config.json (or model directory), read as ``--model-config PATH`` reads them, with no
    layout to check (LoadError when it cannot be read)."""
    merged = merge([model_config_layer(os.fspath(path))])
    facts = read_model(structure(merged), merged)
    assert facts is not None  # a [model] table naming a file always has facts
    return facts


def _beside(where: Location, path: str) -> str:
    """A path named in a file, relative to that file's directory (to the working directory elsewhere)."""
    path = os.path.expanduser(path)
    if where.kind != "file" or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(os.path.dirname(where.source), path))


def _model_source(model: ModelFacts, merged: Merged, key: str) -> str:
    """The ``sources`` entry of a key of the compiled ``model`` table."""
    chain = merged.chains.get(("model", key))
    if chain and not chain[-1].is_reset and key != "config":
        return str(chain[-1].where)
    if key == "config":
        for name in ("config", "hf_id"):
            named = merged.chains.get(("model", name))
            if named and not named[-1].is_reset:
                return str(named[-1].where)
        return "default"
    if key == "pp_layer_partition":
        return model.where["pp_partition"] if model.pp_partition is not None else "default"
    if key in ("model_type", "architecture"):
        return model.source or "default"
    if key in ("is_moe", "use_mla"):
        return model.where.get(key, "derived")
    if key in FACT_NAMES:
        return model.where.get(key, "unset")
    return "default"


__all__ = ["Compiled", "Explanation", "compile_dict", "compile_files", "model_from_file", "plan_files", "read_model",
           "topology_layer"]
