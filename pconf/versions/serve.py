"""What a release's ``vllm serve`` (and ``vllm.EngineArgs``) is told: the settings a file changes from the
release's defaults, and the layout arguments placed per node.

Read by ``emit.vllm`` (the serve lines), ``Compiled.engine_kwargs`` (the same settings as typed keyword
arguments) and ``pconf docs KEY`` (a key's flag).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import attrs

from pconf.schema import ParallelConfig
from pconf.versions.profile import Profile


class LayoutArg(NamedTuple):
    """A layout argument of ``vllm serve``: its flag and its ``EngineArgs`` field (the serve line sets it per node,
    not from the file's value alone)."""

    flag: str
    engine_arg: str


#: ParallelConfig field (and EngineArgs' ``data_parallel_start_rank``) -> the layout argument the serve lines
#: carry for it (every release pconf models; ``pconf.plan.serve_layout`` decides which, node by node).
LAYOUT_ARGS: dict[str, LayoutArg] = {
    "nnodes": LayoutArg("--nnodes", "nnodes"),
    "node_rank": LayoutArg("--node-rank", "node_rank"),
    "master_addr": LayoutArg("--master-addr", "master_addr"),
    "master_port": LayoutArg("--master-port", "master_port"),
    "data_parallel_size_local": LayoutArg("--data-parallel-size-local", "data_parallel_size_local"),
    "data_parallel_master_ip": LayoutArg("--data-parallel-address", "data_parallel_address"),
    "data_parallel_rpc_port": LayoutArg("--data-parallel-rpc-port", "data_parallel_rpc_port"),
    "data_parallel_rank": LayoutArg("--data-parallel-rank", "data_parallel_rank"),
    "data_parallel_start_rank": LayoutArg("--data-parallel-start-rank", "data_parallel_start_rank"),
}


def changed_settings(p: ParallelConfig, profile: Profile | None = None) -> dict[str, Any]:
    """Every setting ``vllm serve`` takes a flag for that differs from the release's default (the default
    release's without ``profile``), in flag order: field -> value (a table: its changed keys, as a dict)."""
    if profile is None:
        from pconf.versions import DEFAULT, PROFILES

        profile = PROFILES[DEFAULT]
    fields = attrs.fields_dict(ParallelConfig)
    out: dict[str, Any] = {}
    for field in profile.serve_flags:
        value, default = getattr(p, field), release_default(profile, fields[field], f"parallel.{field}")
        if value == default:
            continue
        if attrs.has(type(value)):  # a table: its changed keys
            out[field] = {k.name: getattr(value, k.name) for k in attrs.fields(type(value))
                          if getattr(value, k.name) != release_default(profile, k, f"parallel.{field}.{k.name}")
                          and profile.has(profile.info(k, f"parallel.{field}.{k.name}"))}
        elif value is not None:
            out[field] = value
    return out


def release_default(profile: Profile, a: attrs.Attribute[Any], path: str) -> Any:
    """A field's default in the release (a table's: its class with the release's defaults)."""
    factory: Any = a.default
    if isinstance(factory, attrs.Factory):  # type: ignore[arg-type]  # attrs.Factory is a class at run time
        table = factory.factory()
        changes = {k.name: profile.default(k, f"{path}.{k.name}") for k in attrs.fields(type(table))}
        return attrs.evolve(table, **changes)
    return profile.default(a, path)


def parallel_default(profile: Profile, name: str) -> Any:
    """The release's default of ``[parallel]`` field ``name``."""
    return release_default(profile, attrs.fields_dict(ParallelConfig)[name], f"parallel.{name}")


__all__ = ["LAYOUT_ARGS", "LayoutArg", "changed_settings", "parallel_default", "release_default"]
