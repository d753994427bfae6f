"""Output: the compiled document as plain data, and its JSON, TOML and YAML renderings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from pconf.errors import ConfigError, Issue, Location, shorten
from pconf.hashing import graph_hash
from pconf.keypath import KeyPath, format_path
from pconf.schema.parallel import DERIVED_FIELDS

if TYPE_CHECKING:
    from pconf.compile import Compiled
    from pconf.plan import Plan

FORMATS = ("json", "toml", "yaml")


def document_dict(compiled: Compiled) -> dict[str, Any]:
    """``{graph_hash, parallel, scheduler, cluster, derived, sources}`` with keys in schema order."""
    r = compiled.resolved
    parallel: dict[str, Any] = {}
    derived_values = {"world_size": r.world_size, "data_parallel_index": r.data_parallel_index}
    after = {derived.after: name for name, derived in DERIVED_FIELDS.items()}
    for key, value in plain(attrs.asdict(r.parallel)).items():
        parallel[key] = value
        if key in after:
            parallel[after[key]] = derived_values[after[key]]
    doc = {
        "graph_hash": str(graph_hash(r)),
        "parallel": parallel,
        "scheduler": {"async_scheduling": r.async_scheduling},
        "cluster": plain(attrs.asdict(r.document.cluster)),  # plain: the topology holds tuples of tables
        "derived": attrs.asdict(r.derived),
    }
    sources: dict[str, str] = {}
    for path in _leaf_paths({k: v for k, v in doc.items() if k != "graph_hash"}, ()):
        if path[0] == "derived" or (path[0] == "parallel" and path[1] in DERIVED_FIELDS):
            sources[format_path(path)] = "derived"
        else:
            sources[format_path(path)] = compiled.source(path)
    doc["sources"] = sources
    return doc


def plain(value: Any) -> Any:
    """A fresh copy as plain dicts and lists: mappings become dicts, tuples (the schema's immutable lists)
    become lists, so every output format can write it and no caller's data is shared."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _leaf_paths(node: dict[str, Any], path: KeyPath) -> list[KeyPath]:
    out: list[KeyPath] = []
    for key, value in node.items():
        here = (*path, key)
        if isinstance(value, dict) and here != ("parallel", "ray_runtime_env"):
            out.extend(_leaf_paths(value, here))
        else:
            out.append(here)
    return out


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


# -- plans -------------------------------------------------------------------------------------------------


def env_lines(env: dict[str, str]) -> str:
    """``NAME=value`` lines, values shell-quoted where needed, ready for ``source`` or ``env -S``."""
    import shlex

    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in env.items())


def plan_table(plan: Plan, node: int | None = None) -> str:
    """The plan for people: a header, one aligned row per rank, then each group kind summarised."""
    from pconf.plan import GROUP_KINDS

    ranks = plan.ranks if node is None else [plan.rank(r) for r in plan.node_ranks(node)]
    sizes = f"DP={plan.dp} PP={plan.pp} PCP={plan.pcp} TP={plan.tp} DCP={plan.dcp}"
    where = f"{plan.nnodes} node{'s' if plan.nnodes > 1 else ''} ({plan.per_node} per node)"
    lines = [f"{plan.world_size} ranks on {where}; {sizes}; {plan.graph_hash}"]
    columns = ("rank", "node", "local", "dp", "pp", "pcp", "tp", "dcp", "ep")
    rows = [[str(v) if v is not None else "-" for v in row] for row in ranks]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    lines.append("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    lines.append("groups:")
    for kind in GROUP_KINDS:
        groups = plan.groups(kind)
        if not groups:
            lines.append(f"  {kind:<4} none (the model is dense: no expert-parallel group)")
            continue
        shown = " ".join(_span(g) for g in groups[:4]) + (" ..." if len(groups) > 4 else "")
        lines.append(f"  {kind:<4} {len(groups)} of {len(groups[0])}: {shown}")
    ports = plan.ports
    world = f"{ports.world_addr}:{ports.world_port}" if ports.world_port is not None else "picked at run time"
    text = f"ports: world rendezvous {world}"
    if plan.dp > 1:
        group = (f"{ports.dp_master_ip}:{ports.dp_init_ports[0]}" if ports.dp_init_ports
                 else f"{ports.dp_master_ip}, port picked at run time")
        text += f"; DP group {group}; DP RPC {ports.dp_rpc_port}"
    lines.append(text)
    lines += numa_lines(plan, [row.rank for row in ranks])
    return "\n".join(lines) + "\n"


def numa_lines(plan: Plan, ranks: list[int]) -> list[str]:
    """The NUMA binding of ``ranks`` for people (nothing when numa_bind is off): each worker's GPU index, node,
    CPUs and numactl prefix, then each DP rank's EngineCore."""
    numa = plan.numa
    if numa.mode == "off":
        return []
    if numa.mode == "runtime":
        return [f"numa: left to vLLM's auto-detection at run time ({numa.reason})"]
    lines = [f"numa: planned from {numa.reason}"]
    columns = ("rank", "gpu", "numa", "cpus", "numactl")
    rows, engines, seen = [], [], set()
    for r in ranks:
        b = plan.binding(r)
        if b is None:
            continue
        cpus = b.cpus if b.cpus is not None else b.as_dict()["allowed_cpus"]
        rows.append([str(r), str(b.gpu_index), ",".join(map(str, b.nodes)), shorten(cpus or "?", 40),
                     b.numactl_command])
        dp = plan.rank(r).dp
        if dp not in seen:
            seen.add(dp)
            engine = plan.binding(r, "EngineCore")
            if engine is not None:
                engines.append(f"  EngineCore of DP rank {dp}: {engine.numactl_command}")
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(columns)]
    lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines + engines


def _span(group: list[int]) -> str:
    """``[0-3]`` for a run of consecutive ranks, ``[0,4,8]`` otherwise."""
    if len(group) > 2 and group == list(range(group[0], group[-1] + 1)):
        return f"[{group[0]}-{group[-1]}]"
    return "[" + ",".join(map(str, group)) + "]"
