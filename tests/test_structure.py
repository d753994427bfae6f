"""Per-field structure checks, driven by the schema metadata: defaults, bounds, choices, strict types, keys.

Every field of ParallelConfig, EPLBConfig, SchedulerConfig and ClusterFacts is enumerated from the attrs
classes; hard-coded tables taken from the spec (§2, §3, §4, §7.3) pin the metadata itself, so a field whose
default, bound, choices or type drifts from vLLM fails here rather than being tested against itself.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from pconf.compile import compile_dict, compile_files
from pconf.errors import ConfigError, Issue, SchemaError
from pconf.keypath import KeyPath, format_path
from pconf.schema import ClusterFacts, EPLBConfig, NetworkFacts, ParallelConfig, SchedulerConfig, ServeConfig, info
from pconf.schema.parallel import MAX_PARALLEL_SIZE, MAX_TIMEOUT
from pconf.schema.serve import MAX_PORT
from pconf.versions import PROFILES, Profile
from pconf.versions.profile import walk_fields

# -- the schema, enumerated -----------------------------------------------------------------------------------

SECTIONS: tuple[tuple[KeyPath, type[Any]], ...] = (
    (("parallel",), ParallelConfig),
    (("parallel", "eplb_config"), EPLBConfig),
    (("scheduler",), SchedulerConfig),
    (("cluster",), ClusterFacts),
    (("cluster", "network"), NetworkFacts),
    (("serve",), ServeConfig),
)


SEED = PROFILES["0.23"]


def schema_fields() -> Iterator[tuple[KeyPath, attrs.Attribute[Any]]]:
    """Every leaf field of the six classes that the seed's release has, with its key path (the nested eplb_config
    table is not a leaf; the fields of later releases are tested in test_versions)."""
    for prefix, cls in SECTIONS:
        for a in attrs.fields(cls):
            if any(isinstance(t, type) and attrs.has(t) for t in (a.type, *typing.get_args(a.type))):
                continue  # a nested table (eplb_config, cluster.topology), not a leaf
            if SEED.has(info(a)):
                yield (*prefix, a.name), a


FIELDS: dict[str, attrs.Attribute[Any]] = {format_path(path): a for path, a in schema_fields()}
PATHS: dict[str, KeyPath] = {format_path(path): path for path, _ in schema_fields()}


def kind_of(a: attrs.Attribute[Any], profile: Profile = SEED) -> str:
    """The type kind of a field in a release: int, bool, str, choice, list[int], list[str], table, bool|choice;
    a trailing ``?`` when null is allowed."""
    tp = a.type
    args = typing.get_args(tp)
    is_union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    optional = is_union and type(None) in args
    base = next(t for t in args if t is not type(None)) if optional else tp
    path = next(p for p, attr in walk_fields() if attr is a)
    suffix = "?" if profile.info(a, path).nullable else ""
    if base is int:
        return "int" + suffix
    if base is bool:
        return "bool" + suffix
    if info(a).choices and typing.get_origin(base) in (typing.Union, types.UnionType):
        return "bool|choice" + suffix
    if info(a).choices:
        return "choice" + suffix
    if base is str:
        return "str" + suffix
    if typing.get_origin(base) is tuple:
        return f"list[{typing.get_args(base)[0].__name__}]" + suffix
    if typing.get_origin(base) is dict:
        return "table" + suffix
    raise AssertionError(f"no kind for {a.name}: {tp!r}")


def nest(path: KeyPath, value: Any) -> dict[str, Any]:
    """A document holding ``value`` at ``path``."""
    doc: Any = value
    for part in reversed(path):
        doc = {part: doc}
    result: dict[str, Any] = doc
    return result


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, table by table."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def lookup(doc: Mapping[str, Any], path: KeyPath) -> Any:
    """The value at ``path`` of a compiled ``to_dict()``."""
    node: Any = doc
    for part in path:
        node = node[part]
    return node


def schema_issues(doc: Mapping[str, Any]) -> tuple[Issue, ...]:
    """The issues of a document that must fail structuring."""
    with pytest.raises(SchemaError) as caught:
        compile_dict(doc)
    return caught.value.issues


def only_issue(doc: Mapping[str, Any]) -> Issue:
    """The single issue of a document with exactly one schema mistake."""
    issues = schema_issues(doc)
    assert len(issues) == 1, [i.render() for i in issues]
    return issues[0]


# -- spec tables (vLLM 0.23.0, spec §2-§4) -----------------------------------------------------------------

#: Every field's default as the spec lists it (spec §2 and §3; cluster and scheduler facts from the README).
SPEC_DEFAULTS: dict[str, Any] = {
    "parallel.pipeline_parallel_size": 1,
    "parallel.tensor_parallel_size": 1,
    "parallel.prefill_context_parallel_size": 1,
    "parallel.data_parallel_size": 1,
    "parallel.data_parallel_size_local": 1,
    "parallel.data_parallel_rank": 0,
    "parallel.data_parallel_rank_local": None,
    "parallel.data_parallel_master_ip": "127.0.0.1",
    "parallel.data_parallel_rpc_port": 29550,
    "parallel.data_parallel_master_port": 29500,
    "parallel.data_parallel_backend": "mp",
    "parallel.data_parallel_external_lb": False,
    "parallel.data_parallel_hybrid_lb": False,
    "parallel.is_moe_model": None,
    "parallel.enable_expert_parallel": False,
    "parallel.enable_ep_weight_filter": False,
    "parallel.enable_eplb": False,
    "parallel.eplb_config.window_size": 1000,
    "parallel.eplb_config.step_interval": 3000,
    "parallel.eplb_config.num_redundant_experts": 0,
    "parallel.eplb_config.log_balancedness": False,
    "parallel.eplb_config.log_balancedness_interval": 1,
    "parallel.eplb_config.use_async": True,
    "parallel.eplb_config.policy": "default",
    "parallel.eplb_config.communicator": None,
    "parallel.expert_placement_strategy": "linear",
    "parallel.all2all_backend": "allgather_reducescatter",
    "parallel.max_parallel_loading_workers": None,
    "parallel.disable_custom_all_reduce": False,
    "parallel.enable_elastic_ep": False,
    "parallel.enable_dbo": False,
    "parallel.ubatch_size": 0,
    "parallel.dbo_decode_token_threshold": 32,
    "parallel.dbo_prefill_token_threshold": 512,
    "parallel.disable_nccl_for_dp_synchronization": None,
    "parallel.ray_workers_use_nsight": False,
    "parallel.ray_runtime_env": None,
    "parallel.placement_group": None,
    "parallel.distributed_executor_backend": None,
    "parallel.worker_cls": "auto",
    "parallel.sd_worker_cls": "auto",
    "parallel.worker_extension_cls": "",
    "parallel.master_addr": "127.0.0.1",
    "parallel.master_port": 29501,
    "parallel.node_rank": 0,
    "parallel.nnodes": 1,
    "parallel.numa_bind": False,
    "parallel.numa_bind_nodes": None,
    "parallel.numa_bind_cpus": None,
    "parallel.distributed_timeout_seconds": None,
    "parallel.cpu_distributed_timeout_seconds": None,
    "parallel.rank": 0,
    "parallel.decode_context_parallel_size": 1,
    "parallel.dcp_kv_cache_interleave_size": 1,
    "parallel.dcp_comm_backend": "ag_rs",
    "parallel.cp_kv_cache_interleave_size": 1,
    "scheduler.async_scheduling": "auto",
    "cluster.device": "cuda",
    "cluster.devices_per_node": 8,
    "cluster.custom_all_reduce": None,
    "cluster.nixl_available": False,
    "cluster.ray_installed": False,
    "cluster.ray_initialized": False,
    "cluster.ray_placement_group": False,
    # pconf's own tables: [cluster.network] and [serve] (vllm serve's --host, --port, --api-server-count)
    "cluster.network.node_addresses": None,
    "cluster.network.socket_ifname": None,
    "cluster.network.ib_hca": None,
    "serve.host": None,
    "serve.port": 8000,
    "serve.api_server_count": None,
}

#: Defaults that resolution replaces even in an empty document, with the value and the reason.
RESOLVED_DEFAULTS: dict[str, tuple[Any, str]] = {
    "parallel.distributed_executor_backend": ("uni", "a single worker resolves an unset backend to uni (§6 step 8)"),
    "parallel.disable_nccl_for_dp_synchronization": (True, "unset follows async scheduling, which is on (§10.1)"),
    "scheduler.async_scheduling": (True, '"auto" resolves to on for the uni executor (§10.1)'),
    "cluster.custom_all_reduce": (True, "unset follows the device: cuda has vLLM's custom all-reduce kernel"),
}

#: Every type kind (spec §2-§3 types; pconf's strict spelling).
SPEC_KINDS: dict[str, str] = {
    "parallel.pipeline_parallel_size": "int",
    "parallel.tensor_parallel_size": "int",
    "parallel.prefill_context_parallel_size": "int",
    "parallel.data_parallel_size": "int",
    "parallel.data_parallel_size_local": "int",
    "parallel.data_parallel_rank": "int",
    "parallel.data_parallel_rank_local": "int?",
    "parallel.data_parallel_master_ip": "str",
    "parallel.data_parallel_rpc_port": "int",
    "parallel.data_parallel_master_port": "int",
    "parallel.data_parallel_backend": "choice",
    "parallel.data_parallel_external_lb": "bool",
    "parallel.data_parallel_hybrid_lb": "bool",
    "parallel.is_moe_model": "bool?",
    "parallel.enable_expert_parallel": "bool",
    "parallel.enable_ep_weight_filter": "bool",
    "parallel.enable_eplb": "bool",
    "parallel.eplb_config.window_size": "int",
    "parallel.eplb_config.step_interval": "int",
    "parallel.eplb_config.num_redundant_experts": "int",
    "parallel.eplb_config.log_balancedness": "bool",
    "parallel.eplb_config.log_balancedness_interval": "int",
    "parallel.eplb_config.use_async": "bool",
    "parallel.eplb_config.policy": "choice",
    "parallel.eplb_config.communicator": "choice?",
    "parallel.expert_placement_strategy": "choice",
    "parallel.all2all_backend": "choice",
    "parallel.max_parallel_loading_workers": "int?",
    "parallel.disable_custom_all_reduce": "bool",
    "parallel.enable_elastic_ep": "bool",
    "parallel.enable_dbo": "bool",
    "parallel.ubatch_size": "int",
    "parallel.dbo_decode_token_threshold": "int",
    "parallel.dbo_prefill_token_threshold": "int",
    "parallel.disable_nccl_for_dp_synchronization": "bool?",
    "parallel.ray_workers_use_nsight": "bool",
    "parallel.ray_runtime_env": "table?",
    "parallel.placement_group": "str?",
    "parallel.distributed_executor_backend": "choice?",
    "parallel.worker_cls": "str",
    "parallel.sd_worker_cls": "str",
    "parallel.worker_extension_cls": "str",
    "parallel.master_addr": "str",
    "parallel.master_port": "int",
    "parallel.node_rank": "int",
    "parallel.nnodes": "int",
    "parallel.numa_bind": "bool",
    "parallel.numa_bind_nodes": "list[int]?",
    "parallel.numa_bind_cpus": "list[str]?",
    "parallel.distributed_timeout_seconds": "int?",
    "parallel.cpu_distributed_timeout_seconds": "int?",
    "parallel.rank": "int",
    "parallel.decode_context_parallel_size": "int",
    "parallel.dcp_kv_cache_interleave_size": "int",
    "parallel.dcp_comm_backend": "choice",
    "parallel.cp_kv_cache_interleave_size": "int",
    "scheduler.async_scheduling": "bool|choice",
    "cluster.device": "choice",
    "cluster.devices_per_node": "int",
    "cluster.custom_all_reduce": "bool?",
    "cluster.nixl_available": "bool",
    "cluster.ray_installed": "bool",
    "cluster.ray_initialized": "bool",
    "cluster.ray_placement_group": "bool",
    "cluster.network.node_addresses": "list[str]?",
    "cluster.network.socket_ifname": "str?",
    "cluster.network.ib_hca": "str?",
    "serve.host": "str?",
    "serve.port": "int",
    "serve.api_server_count": "int?",
}

#: Every bound (spec §2, §3): ("ge" | "gt", limit). Fields not listed have no bound.
SPEC_BOUNDS: dict[str, tuple[str, int]] = {
    "parallel.pipeline_parallel_size": ("ge", 1),
    "parallel.tensor_parallel_size": ("ge", 1),
    "parallel.prefill_context_parallel_size": ("ge", 1),
    "parallel.data_parallel_size": ("ge", 1),
    "parallel.data_parallel_size_local": ("ge", 0),
    "parallel.data_parallel_rank": ("ge", 0),
    "parallel.eplb_config.window_size": ("gt", 0),
    "parallel.eplb_config.step_interval": ("gt", 0),
    "parallel.eplb_config.num_redundant_experts": ("ge", 0),
    "parallel.eplb_config.log_balancedness_interval": ("gt", 0),
    "parallel.max_parallel_loading_workers": ("ge", 1),
    "parallel.ubatch_size": ("ge", 0),
    "parallel.dbo_decode_token_threshold": ("ge", 0),
    "parallel.dbo_prefill_token_threshold": ("ge", 0),
    "parallel.node_rank": ("ge", 0),
    "parallel.nnodes": ("ge", 1),
    "parallel.decode_context_parallel_size": ("ge", 1),
    "cluster.devices_per_node": ("ge", 0),
    # pconf's own (docs/errors.md, "Limits"; README, "stricter than vLLM"): ports are ports, timeouts positive
    "parallel.master_port": ("ge", 1),
    "parallel.data_parallel_rpc_port": ("ge", 1),
    "parallel.data_parallel_master_port": ("ge", 0),
    "parallel.distributed_timeout_seconds": ("gt", 0),
    "parallel.cpu_distributed_timeout_seconds": ("gt", 0),
    "serve.port": ("ge", 1),
    "serve.api_server_count": ("ge", 1),
}

#: pconf's own upper bound (docs/errors.md, "Limits"), on the parallel sizes and nnodes only: no vLLM limit.
SIZE_BOUNDED = {
    "parallel.pipeline_parallel_size", "parallel.tensor_parallel_size", "parallel.prefill_context_parallel_size",
    "parallel.data_parallel_size", "parallel.nnodes", "parallel.decode_context_parallel_size",
}
#: pconf's other upper bounds: ports (65535), timeouts (MAX_TIMEOUT seconds), API servers (1024).
OTHER_UPPER_BOUNDS = {
    "parallel.master_port": MAX_PORT, "parallel.data_parallel_rpc_port": MAX_PORT,
    "parallel.data_parallel_master_port": MAX_PORT, "serve.port": MAX_PORT,
    "parallel.distributed_timeout_seconds": MAX_TIMEOUT, "parallel.cpu_distributed_timeout_seconds": MAX_TIMEOUT,
    "serve.api_server_count": 1024,
}

#: Every literal set (spec §4; the executor backend also takes a dotted import path).
SPEC_CHOICES: dict[str, tuple[str, ...]] = {
    "parallel.data_parallel_backend": ("ray", "mp"),
    "parallel.eplb_config.policy": ("default",),
    "parallel.eplb_config.communicator": ("torch_nccl", "torch_gloo", "nixl", "pynccl"),
    "parallel.expert_placement_strategy": ("linear", "round_robin"),
    "parallel.all2all_backend": (
        "naive", "pplx", "deepep_high_throughput", "deepep_low_latency", "deepep_v2", "mori_high_throughput",
        "mori_low_latency", "nixl_ep", "allgather_reducescatter", "flashinfer_all2allv",
        "flashinfer_nvlink_two_sided", "flashinfer_nvlink_one_sided",
    ),
    "parallel.distributed_executor_backend": ("ray", "mp", "uni", "external_launcher"),
    "parallel.dcp_comm_backend": ("ag_rs", "a2a"),
    "scheduler.async_scheduling": ("auto",),
    "cluster.device": ("cuda", "rocm", "cpu", "tpu"),
}

#: Extra document a valid choice needs to pass the cross-field rules, by (field, value).
CHOICE_CONTEXT: dict[tuple[str, str], dict[str, Any]] = {
    ("parallel.distributed_executor_backend", "ray"): {"cluster": {"ray_installed": True}},
    ("parallel.dcp_comm_backend", "a2a"): {"parallel": {"tensor_parallel_size": 2, "decode_context_parallel_size": 2}},
}

#: Choices resolution rewrites (spec §4: naive and pplx become allgather_reducescatter).
CHOICE_RESOLVES_TO: dict[tuple[str, str], str] = {
    ("parallel.all2all_backend", "naive"): "allgather_reducescatter",
    ("parallel.all2all_backend", "pplx"): "allgather_reducescatter",
}

INT_FIELDS = sorted(k for k, v in SPEC_KINDS.items() if v.rstrip("?") == "int")
BOOL_FIELDS = sorted(k for k, v in SPEC_KINDS.items() if v.rstrip("?") == "bool")
STR_FIELDS = sorted(k for k, v in SPEC_KINDS.items() if v.rstrip("?") == "str")
CHOICE_FIELDS = sorted(k for k, v in SPEC_KINDS.items() if v.rstrip("?") == "choice")
OPTIONAL_FIELDS = sorted(k for k, v in SPEC_KINDS.items() if v.endswith("?"))
REQUIRED_FIELDS = sorted(k for k, v in SPEC_KINDS.items() if not v.endswith("?"))

#: How the "not null" message describes each non-optional kind.
NULL_DESCRIPTION: dict[str, str] = {"int": "an integer", "bool": "true or false", "str": "a string"}


def _choice_text(key: str) -> str:
    return ", ".join(f'"{c}"' for c in SPEC_CHOICES[key])


# -- the metadata matches the spec ------------------------------------------------------------------------------


class TestSchemaMatchesSpec:
    def test_field_set(self) -> None:
        """The schema has exactly the fields the spec lists, in the four sections."""
        assert set(FIELDS) == set(SPEC_DEFAULTS)

    def test_kinds(self) -> None:
        """Every field's annotation has the type kind the spec gives it."""
        assert {key: kind_of(a) for key, a in FIELDS.items()} == SPEC_KINDS

    def test_defaults(self) -> None:
        """Every field's schema default is vLLM's default."""
        defaults = {key: a.default for key, a in FIELDS.items()}
        assert defaults == SPEC_DEFAULTS

    def test_bounds(self) -> None:
        """Exactly the spec's bounded fields carry a ge/gt bound, with vLLM's limit (and pconf's own on ports,
        timeouts and API servers); the sizes, ports, timeouts and API servers have le."""
        assert {key for key, a in FIELDS.items() if info(a).le is not None} == SIZE_BOUNDED | set(OTHER_UPPER_BOUNDS)
        assert {info(FIELDS[key]).le for key in SIZE_BOUNDED} == {MAX_PARALLEL_SIZE}
        assert {key: info(FIELDS[key]).le for key in OTHER_UPPER_BOUNDS} == OTHER_UPPER_BOUNDS
        found: dict[str, tuple[str, int]] = {}
        for key, a in FIELDS.items():
            meta = info(a)
            if meta.ge is not None:
                found[key] = ("ge", meta.ge)
            if meta.gt is not None:
                found[key] = ("gt", meta.gt)
        assert found == SPEC_BOUNDS

    def test_choices(self) -> None:
        """Exactly the spec's literal fields carry choices, in vLLM's order; only the executor is open."""
        assert {key: info(a).choices for key, a in FIELDS.items() if info(a).choices} == SPEC_CHOICES
        assert [key for key, a in FIELDS.items() if info(a).open_choices] == ["parallel.distributed_executor_backend"]


# -- (a) defaults ---------------------------------------------------------------------------------------------


class TestDefaultsCompile:
    @pytest.mark.parametrize("key", sorted(FIELDS), ids=str)
    def test_default_compiles_to_schema_default(self, key: str) -> None:
        """An empty document compiles every field to its schema default, or to the listed resolved value."""
        out = compile_dict({}).to_dict()
        default = FIELDS[key].default
        if key in RESOLVED_DEFAULTS:
            assert lookup(out, PATHS[key]) == RESOLVED_DEFAULTS[key][0]
        else:
            assert lookup(out, PATHS[key]) == default

    def test_resolved_defaults_differ_from_schema(self) -> None:
        """The fields listed as changed by resolution really start from another schema default."""
        out = compile_dict({}).to_dict()
        for key, (value, _reason) in RESOLVED_DEFAULTS.items():
            assert FIELDS[key].default != value
            assert out["sources"][key].startswith("derived: ")

    def test_output_has_every_field(self) -> None:
        """The compiled sections hold exactly the schema fields (plus parallel's two derived fields)."""
        out = compile_dict({}).to_dict()
        parallel = {k for k in FIELDS if k.startswith("parallel.") and not k.startswith("parallel.eplb_config.")}
        assert {f"parallel.{k}" for k in out["parallel"]} == {
            *parallel, "parallel.eplb_config", "parallel.world_size", "parallel.data_parallel_index"}
        assert {f"parallel.eplb_config.{k}" for k in out["parallel"]["eplb_config"]} == {
            k for k in FIELDS if k.startswith("parallel.eplb_config.")}
        assert {f"scheduler.{k}" for k in out["scheduler"]} == {k for k in FIELDS if k.startswith("scheduler.")}
        assert {f"cluster.{k}" for k in out["cluster"]} == {
            *(k for k in FIELDS if k.startswith("cluster.") and not k.startswith("cluster.network.")),
            "cluster.topology", "cluster.network"}
        assert {f"cluster.network.{k}" for k in out["cluster"]["network"]} == {
            k for k in FIELDS if k.startswith("cluster.network.")}
        assert {f"serve.{k}" for k in out["serve"]} == {k for k in FIELDS if k.startswith("serve.")}

    def test_default_sources(self) -> None:
        """Unset fields that resolution leaves alone are sourced from `default`."""
        sources = compile_dict({}).to_dict()["sources"]
        assert {k for k in FIELDS if sources[k] == "default"} == set(FIELDS) - set(RESOLVED_DEFAULTS)


# -- (b) bounds -------------------------------------------------------------------------------------------------


def _boundary(key: str) -> int:
    op, limit = SPEC_BOUNDS[key]
    return limit if op == "ge" else limit + 1


class TestBounds:
    @pytest.mark.parametrize("key", sorted(SPEC_BOUNDS), ids=str)
    def test_boundary_accepted(self, key: str) -> None:
        """The smallest allowed value compiles and is kept (devices_per_node = 0 passes the key's own check; the
        deployment check plan.devices refuses a node without devices)."""
        value = _boundary(key)
        if key == "cluster.devices_per_node":
            with pytest.raises(ConfigError) as caught:
                compile_dict(nest(PATHS[key], value))
            assert [i.rule for i in caught.value.issues] == ["plan.devices"]
            return
        assert lookup(compile_dict(nest(PATHS[key], value)).to_dict(), PATHS[key]) == value

    @pytest.mark.parametrize("key", sorted(SPEC_BOUNDS), ids=str)
    def test_below_boundary_refused(self, key: str) -> None:
        """One below the smallest allowed value is refused with schema.bound and the bound in the message."""
        op, limit = SPEC_BOUNDS[key]
        bad = _boundary(key) - 1
        issue = only_issue(nest(PATHS[key], bad))
        assert (issue.rule, issue.path, issue.got) == ("schema.bound", PATHS[key], bad)
        sign = ">=" if op == "ge" else ">"
        assert issue.render() == f"<dict>: {key}: must be {sign} {limit} (got {bad}); use {_boundary(key)} or more " \
            "[schema.bound]"

    @pytest.mark.parametrize("key", sorted(SIZE_BOUNDED), ids=str)
    def test_size_limit(self, key: str) -> None:
        """A size of MAX_PARALLEL_SIZE passes the key checks; one more is refused with schema.bound."""
        try:
            compile_dict(nest(PATHS[key], MAX_PARALLEL_SIZE))
        except SchemaError as exc:
            raise AssertionError(str(exc)) from None
        except ConfigError:  # a rule across keys (e.g. too few GPUs) may refuse it: the size itself is fine
            pass
        issue = only_issue(nest(PATHS[key], MAX_PARALLEL_SIZE + 1))
        assert issue.render() == f"<dict>: {key}: must be <= {MAX_PARALLEL_SIZE} (got {MAX_PARALLEL_SIZE + 1}); " \
            f"use {MAX_PARALLEL_SIZE} or less [schema.bound]"

    @pytest.mark.parametrize(
        ("doc", "rendered"),
        [
            pytest.param({"parallel": {"tensor_parallel_size": 0}},
                         "<dict>: parallel.tensor_parallel_size: must be >= 1 (got 0); use 1 or more [schema.bound]",
                         id="ge"),
            pytest.param({"parallel": {"eplb_config": {"window_size": 0}}},
                         "<dict>: parallel.eplb_config.window_size: must be > 0 (got 0); use 1 or more [schema.bound]",
                         id="gt"),
            pytest.param({"parallel": {"data_parallel_rank": -1}},
                         "<dict>: parallel.data_parallel_rank: must be >= 0 (got -1); use 0 or more [schema.bound]",
                         id="ge-zero"),
        ],
    )
    def test_full_text(self, doc: dict[str, Any], rendered: str) -> None:
        """A bound violation renders as the whole documented line."""
        assert only_issue(doc).render() == rendered

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            pytest.param("parallel.rank", -1, id="rank"),
            pytest.param("parallel.dcp_kv_cache_interleave_size", -2, id="dcp_interleave"),
            pytest.param("parallel.cp_kv_cache_interleave_size", 0, id="cp_interleave"),
            pytest.param("parallel.data_parallel_rank_local", -3, id="rank_local"),
        ],
    )
    def test_unbounded_fields_take_any_integer(self, key: str, value: int) -> None:
        """Fields vLLM does not bound accept zero and negative integers unchanged."""
        assert lookup(compile_dict(nest(PATHS[key], value)).to_dict(), PATHS[key]) == value


# -- (c) choices ----------------------------------------------------------------------------------------------

ALL_CHOICES = [
    pytest.param(key, value, id=f"{key}={value}") for key in sorted(SPEC_CHOICES) for value in SPEC_CHOICES[key]
]

#: Near misses: the key, the misspelt value, the choice the hint must name.
NEAR_MISSES = [
    pytest.param("parallel.data_parallel_backend", "rayy", "ray", id="data_parallel_backend"),
    pytest.param("parallel.eplb_config.policy", "defualt", "default", id="policy"),
    pytest.param("parallel.eplb_config.communicator", "torch_ncl", "torch_nccl", id="communicator"),
    pytest.param("parallel.expert_placement_strategy", "round-robin", "round_robin", id="placement"),
    pytest.param("parallel.all2all_backend", "deepep_low_latenc", "deepep_low_latency", id="all2all"),
    pytest.param("parallel.distributed_executor_backend", "external-launcher", "external_launcher", id="executor"),
    pytest.param("parallel.dcp_comm_backend", "ag_rss", "ag_rs", id="dcp_comm_backend"),
    pytest.param("cluster.device", "cudaa", "cuda", id="device"),
    pytest.param("scheduler.async_scheduling", "aut", "auto", id="async_scheduling"),
]


class TestChoices:
    @pytest.mark.parametrize(("key", "value"), ALL_CHOICES)
    def test_every_choice_accepted(self, key: str, value: str) -> None:
        """Each literal value of a field compiles (to itself, or to vLLM's rewrite of a deprecated alias)."""
        doc = deep_merge(nest(PATHS[key], value), CHOICE_CONTEXT.get((key, value), {}))
        compiled = compile_dict(doc)
        expected: Any = CHOICE_RESOLVES_TO.get((key, value), value)
        if key == "scheduler.async_scheduling":
            expected = True  # "auto" resolves; uni supports async scheduling
        assert lookup(compiled.to_dict(), PATHS[key]) == expected

    @pytest.mark.parametrize(("key", "value", "meant"), NEAR_MISSES)
    def test_near_miss_refused_with_did_you_mean(self, key: str, value: str, meant: str) -> None:
        """A misspelt choice is refused with schema.choice and a hint naming the intended value."""
        issue = only_issue(nest(PATHS[key], value))
        assert (issue.rule, issue.path, issue.got) == ("schema.choice", PATHS[key], value)
        assert issue.hint == f"did you mean `{meant}`?"

    @pytest.mark.parametrize("key", [k for k in CHOICE_FIELDS if k != "parallel.distributed_executor_backend"],
                             ids=str)
    def test_far_miss_lists_choices(self, key: str) -> None:
        """A string far from every choice is refused with the list of choices as the hint."""
        issue = only_issue(nest(PATHS[key], "zzzz"))
        assert issue.render() == (f'<dict>: {key}: must be one of {_choice_text(key)} (got "zzzz"); '
                                  f"choose one of {_choice_text(key)} [schema.choice]")

    def test_full_text_near_miss(self) -> None:
        """A near miss renders as the whole line with the literal set and the did-you-mean."""
        issue = only_issue({"parallel": {"data_parallel_backend": "rayy"}})
        assert issue.render() == ('<dict>: parallel.data_parallel_backend: must be one of "ray", "mp" (got "rayy"); '
                                  "did you mean `ray`? [schema.choice]")

    def test_choices_are_case_sensitive(self) -> None:
        """Literal values match exactly: "MP" is not "mp"."""
        issue = only_issue({"parallel": {"data_parallel_backend": "MP"}})
        assert (issue.rule, issue.got) == ("schema.choice", "MP")

    def test_old_mori_name_refused(self) -> None:
        """The old all2all name "mori" is refused (spec §4)."""
        issue = only_issue({"parallel": {"all2all_backend": "mori"}})
        assert issue.rule == "schema.choice"

    def test_choice_refuses_non_string(self) -> None:
        """A number for a literal field is refused with a hint to quote a name."""
        issue = only_issue({"parallel": {"data_parallel_backend": 3}})
        assert issue.render() == ('<dict>: parallel.data_parallel_backend: must be one of "ray", "mp" (got 3); '
                                  "write one of the names, quoted [schema.choice]")

    @pytest.mark.parametrize("value", ["my.pkg.CustomExecutor", "a.B", "pkg_1.mod.Exec_2"])
    def test_executor_accepts_import_path(self, value: str) -> None:
        """The executor backend accepts the dotted import path of a class and keeps it."""
        out = compile_dict({"parallel": {"distributed_executor_backend": value}}).to_dict()
        assert out["parallel"]["distributed_executor_backend"] == value

    @pytest.mark.parametrize("value", ["", "Exec", "my..Exec", "1pkg.Exec", "pkg.Exec."])
    def test_executor_refuses_non_path(self, value: str) -> None:
        """The executor backend refuses a string that is neither a backend nor a dotted class path."""
        issue = only_issue({"parallel": {"distributed_executor_backend": value}})
        assert issue.render() == (
            '<dict>: parallel.distributed_executor_backend: must be one of "ray", "mp", "uni", "external_launcher" '
            f'or the import path of a class (package.module.Class) (got "{value}"); '
            'choose one of "ray", "mp", "uni", "external_launcher" [schema.choice]'
        )

    def test_executor_refuses_number_as_type(self) -> None:
        """A number for the open executor field is a type error, not a choice error."""
        issue = only_issue({"parallel": {"distributed_executor_backend": 5}})
        assert issue.render() == ("<dict>: parallel.distributed_executor_backend: must be a string (got 5); "
                                  "quote the value [schema.type]")

    @pytest.mark.parametrize("value", [True, False, "auto"])
    def test_async_scheduling_values(self, value: bool | str) -> None:
        """scheduler.async_scheduling takes true, false and "auto"."""
        out = compile_dict({"scheduler": {"async_scheduling": value}}).to_dict()
        assert out["scheduler"]["async_scheduling"] is (True if value == "auto" else value)

    @pytest.mark.parametrize(("value", "shown"), [(1, "1"), ("true", '"true"'), ("on", '"on"')])
    def test_async_scheduling_refuses_other(self, value: object, shown: str) -> None:
        """scheduler.async_scheduling refuses numbers and quoted booleans."""
        issue = only_issue({"scheduler": {"async_scheduling": value}})
        assert issue.render() == (f'<dict>: scheduler.async_scheduling: must be true, false or "auto" (got {shown}); '
                                  'write true, false or "auto" [schema.choice]')


# -- (d) strict types -------------------------------------------------------------------------------------------

INT_BAD = [
    pytest.param(True, "true", "true and false are not integers in pconf; write a number", id="true"),
    pytest.param(False, "false", "true and false are not integers in pconf; write a number", id="false"),
    pytest.param(2.0, "2.0", "write 2 without a decimal point", id="float"),
    pytest.param("2", '"2"', "write 2 without quotes", id="quoted"),
    pytest.param(2.5, "2.5", "write a whole number", id="fraction"),
    pytest.param("two", '"two"', "write a whole number", id="word"),
]


class TestStrictInt:
    @pytest.mark.parametrize("key", INT_FIELDS, ids=str)
    @pytest.mark.parametrize(("value", "shown", "hint"), INT_BAD)
    def test_int_field_refuses(self, key: str, value: object, shown: str, hint: str) -> None:
        """An integer field refuses booleans, floats and quoted numbers, each with its own hint."""
        issue = only_issue(nest(PATHS[key], value))
        assert issue.render() == f"<dict>: {key}: must be an integer (got {shown}); {hint} [schema.type]"

    def test_full_text(self) -> None:
        """The quoted-number refusal renders as the whole line."""
        issue = only_issue({"parallel": {"tensor_parallel_size": "2"}})
        assert issue.render() == ('<dict>: parallel.tensor_parallel_size: must be an integer (got "2"); '
                                  "write 2 without quotes [schema.type]")


class TestStrictBool:
    @pytest.mark.parametrize("key", BOOL_FIELDS, ids=str)
    @pytest.mark.parametrize(
        ("value", "shown", "hint"),
        [
            pytest.param(1, "1", "write true or false, not a number", id="one"),
            pytest.param(0, "0", "write true or false, not a number", id="zero"),
            pytest.param("true", '"true"', "write true or false without quotes", id="quoted"),
            pytest.param("yes", '"yes"', "write true or false without quotes", id="yes"),
        ],
    )
    def test_bool_field_refuses(self, key: str, value: object, shown: str, hint: str) -> None:
        """A boolean field refuses numbers and strings, each with its own hint."""
        issue = only_issue(nest(PATHS[key], value))
        assert issue.render() == f"<dict>: {key}: must be true or false (got {shown}); {hint} [schema.type]"


class TestStrictStr:
    @pytest.mark.parametrize("key", STR_FIELDS, ids=str)
    @pytest.mark.parametrize(("value", "shown"),
                             [pytest.param(3, "3", id="int"), pytest.param(True, "true", id="bool")])
    def test_str_field_refuses(self, key: str, value: object, shown: str) -> None:
        """A string field refuses numbers and booleans."""
        issue = only_issue(nest(PATHS[key], value))
        assert issue.render() == f"<dict>: {key}: must be a string (got {shown}); quote the value [schema.type]"


class TestStrictList:
    @pytest.mark.parametrize("key", ["parallel.numa_bind_nodes", "parallel.numa_bind_cpus"], ids=str)
    @pytest.mark.parametrize(("value", "shown"), [pytest.param(3, "3", id="int"),
                                                  pytest.param("0-3", '"0-3"', id="str"),
                                                  pytest.param({"a": 1}, '{"a": 1}', id="table")])
    def test_list_field_refuses_scalar(self, key: str, value: object, shown: str) -> None:
        """A list field refuses a scalar or a table."""
        issue = only_issue({"parallel": {"numa_bind": True, PATHS[key][-1]: value}})
        assert issue.render() == f"<dict>: {key}: must be a list (got {shown}); write [a, b, ...] [schema.type]"

    @pytest.mark.parametrize(
        ("key", "value", "rendered"),
        [
            pytest.param("numa_bind_nodes", [0, "1"], '<dict>: parallel.numa_bind_nodes[1]: must be an integer '
                         '(got "1"); write 1 without quotes [schema.type]', id="nodes-quoted"),
            pytest.param("numa_bind_nodes", [True], "<dict>: parallel.numa_bind_nodes[0]: must be an integer "
                         "(got true); true and false are not integers in pconf; write a number [schema.type]",
                         id="nodes-bool"),
            pytest.param("numa_bind_nodes", [0, 1, 2.0], "<dict>: parallel.numa_bind_nodes[2]: must be an integer "
                         "(got 2.0); write 2 without a decimal point [schema.type]", id="nodes-float"),
            pytest.param("numa_bind_cpus", ["0-3", 4], "<dict>: parallel.numa_bind_cpus[1]: must be a string "
                         "(got 4); quote the value [schema.type]", id="cpus-int"),
            pytest.param("numa_bind_cpus", [["0"]], '<dict>: parallel.numa_bind_cpus[0]: must be a string '
                         '(got ["0"]); quote the value [schema.type]', id="cpus-nested"),
        ],
    )
    def test_wrong_element_type(self, key: str, value: list[Any], rendered: str) -> None:
        """A wrong element is reported at its index in the key path."""
        issue = only_issue({"parallel": {"numa_bind": True, key: value}})
        assert issue.path == ("parallel", key, int(rendered.split("[", 1)[1].split("]", 1)[0]))
        assert issue.render() == rendered

    def test_list_kept_in_order(self) -> None:
        """A valid list compiles to the same elements in the same order (duplicates kept)."""
        out = compile_dict({"parallel": {"numa_bind": True, "numa_bind_nodes": [1, 0, 1, 0]}}).to_dict()
        assert out["parallel"]["numa_bind_nodes"] == [1, 0, 1, 0]


class TestStrictTable:
    @pytest.mark.parametrize(
        ("doc", "rendered"),
        [
            pytest.param({"parallel": {"ray_runtime_env": 3}}, "<dict>: parallel.ray_runtime_env: must be a table "
                         "(got 3); write a table of keys and values [schema.type]", id="ray_runtime_env"),
            pytest.param({"parallel": {"ray_runtime_env": ["a"]}}, '<dict>: parallel.ray_runtime_env: must be a '
                         'table (got ["a"]); write a table of keys and values [schema.type]',
                         id="ray_runtime_env-list"),
            pytest.param({"parallel": {"eplb_config": 3}}, "<dict>: parallel.eplb_config: must be a table (got 3); "
                         "write [eplb_config] with its keys [schema.type]", id="eplb_config"),
            pytest.param({"parallel": 3}, "<dict>: parallel: must be a table (got 3); write [parallel] with its keys "
                         "[schema.type]", id="parallel"),
            pytest.param({"scheduler": "auto"}, '<dict>: scheduler: must be a table (got "auto"); write [scheduler] '
                         "with its keys [schema.type]", id="scheduler"),
            pytest.param({"cluster": [1]}, "<dict>: cluster: must be a table (got [1]); write [cluster] with its keys "
                         "[schema.type]", id="cluster"),
        ],
    )
    def test_table_refuses_scalar(self, doc: dict[str, Any], rendered: str) -> None:
        """Tables (sections, eplb_config, ray_runtime_env) refuse scalars and lists."""
        assert only_issue(doc).render() == rendered

    def test_ray_runtime_env_any_table(self) -> None:
        """ray_runtime_env takes any nested table and keeps it as written."""
        env = {"env_vars": {"A": "1"}, "pip": ["x"], "n": 3}
        out = compile_dict({"parallel": {"ray_runtime_env": env}}).to_dict()
        assert out["parallel"]["ray_runtime_env"] == env


class TestNull:
    @pytest.mark.parametrize("key", OPTIONAL_FIELDS, ids=str)
    def test_optional_accepts_null_in_dict(self, key: str) -> None:
        """An optional field accepts null in a dict and compiles as unset."""
        expected = RESOLVED_DEFAULTS[key][0] if key in RESOLVED_DEFAULTS else None
        assert lookup(compile_dict(nest(PATHS[key], None)).to_dict(), PATHS[key]) == expected

    def test_optional_accepts_null_in_yaml(self, tmp_path: Path) -> None:
        """Every optional field written as YAML null compiles, each sourced from its line in the file."""
        by_section: dict[KeyPath, list[str]] = {}
        for key in OPTIONAL_FIELDS:
            by_section.setdefault(PATHS[key][:-1], []).append(str(PATHS[key][-1]))
        lines = ["parallel:"]
        lines += [f"  {name}: null" for name in by_section.pop(("parallel",))]
        lines += ["  eplb_config:"] + [f"    {name}: null" for name in by_section.pop(("parallel", "eplb_config"))]
        lines += ["cluster:"] + [f"  {name}: null" for name in by_section.pop(("cluster",))]
        lines += ["  network:"] + [f"    {name}: null" for name in by_section.pop(("cluster", "network"))]
        lines += ["serve:"] + [f"  {name}: null" for name in by_section.pop(("serve",))]
        assert by_section == {}
        path = tmp_path / "nulls.yaml"
        path.write_text("\n".join(lines) + "\n")
        out = compile_files([path]).to_dict()
        for key in OPTIONAL_FIELDS:
            expected = RESOLVED_DEFAULTS[key][0] if key in RESOLVED_DEFAULTS else None
            assert lookup(out, PATHS[key]) == expected, key
        assert out["sources"]["parallel.numa_bind_nodes"] == f"{path}:{lines.index('  numa_bind_nodes: null') + 1}:3"

    @pytest.mark.parametrize(
        "key",
        [pytest.param(k, id=k) for k in REQUIRED_FIELDS],
    )
    def test_required_refuses_null(self, key: str) -> None:
        """A non-optional field refuses null and says what to write instead."""
        kind = SPEC_KINDS[key]
        if kind == "choice":
            what = f"one of {_choice_text(key)}"
        elif kind == "bool|choice":
            what = f"true, false or {_choice_text(key)}"
        else:
            what = NULL_DESCRIPTION[kind]
        issue = only_issue(nest(PATHS[key], None))
        assert issue.render() == (f"<dict>: {key}: must be {what}, not null (got null); "
                                  "remove the key to use the default [schema.type]")

    def test_null_eplb_table_refused(self) -> None:
        """A null eplb_config table is refused as not a table."""
        assert only_issue({"parallel": {"eplb_config": None}}).render() == (
            "<dict>: parallel.eplb_config: must be a table (got null); write [eplb_config] with its keys [schema.type]")


# -- (e) keys ---------------------------------------------------------------------------------------------------

UNKNOWN_KEYS = [
    pytest.param({"tensor_parallel_size": 2}, "<dict>: tensor_parallel_size: unknown key `tensor_parallel_size` in "
                 "the document; did you mean `parallel.tensor_parallel_size`? [schema.unknown_key]",
                 id="top-level-field-of-parallel"),
    pytest.param({"tensor_paralel_size": 2}, "<dict>: tensor_paralel_size: unknown key `tensor_paralel_size` in the "
                 "document; did you mean `parallel.tensor_parallel_size`? [schema.unknown_key]",
                 id="top-level-near-miss-of-parallel"),
    pytest.param({"devices_per_node": 8}, "<dict>: devices_per_node: unknown key `devices_per_node` in the document; "
                 "did you mean `cluster.devices_per_node`? [schema.unknown_key]", id="top-level-field-of-cluster"),
    pytest.param({"async_scheduling": True}, "<dict>: async_scheduling: unknown key `async_scheduling` in the "
                 "document; did you mean `scheduler.async_scheduling`? [schema.unknown_key]",
                 id="top-level-field-of-scheduler"),
    pytest.param({"eplb_config": {}}, "<dict>: eplb_config: unknown key `eplb_config` in the document; did you mean "
                 "`parallel.eplb_config`? [schema.unknown_key]", id="top-level-eplb-table"),
    pytest.param({"paralel": {}}, "<dict>: paralel: unknown key `paralel` in the document; did you mean `parallel`? "
                 "[schema.unknown_key]", id="top-level-section-typo"),
    pytest.param({"world_size": 4}, "<dict>: world_size: unknown key `world_size` in the document; "
                 "`parallel.world_size` is derived; remove it [schema.unknown_key]", id="top-level-world-size"),
    pytest.param({"data_parallel_index": 0}, "<dict>: data_parallel_index: unknown key `data_parallel_index` in the "
                 "document; `parallel.data_parallel_index` is derived; remove it [schema.unknown_key]",
                 id="top-level-data-parallel-index"),
    pytest.param({"zzz": 1}, "<dict>: zzz: unknown key `zzz` in the document; remove it (`pconf compile` prints every "
                 "key there is) [schema.unknown_key]", id="top-level-far"),
    pytest.param({"parallel": {"tensor_paralel_size": 2}}, "<dict>: parallel.tensor_paralel_size: unknown key "
                 "`tensor_paralel_size` in [parallel]; did you mean `tensor_parallel_size`? [schema.unknown_key]",
                 id="parallel-near-miss"),
    pytest.param({"parallel": {"device": "cuda"}}, "<dict>: parallel.device: unknown key `device` in [parallel]; did "
                 "you mean `cluster.device`? [schema.unknown_key]", id="parallel-cross-section"),
    pytest.param({"parallel": {"async_scheduling": True}}, "<dict>: parallel.async_scheduling: unknown key "
                 "`async_scheduling` in [parallel]; did you mean `scheduler.async_scheduling`? [schema.unknown_key]",
                 id="parallel-cross-section-scheduler"),
    pytest.param({"parallel": {"qqq": 1}}, "<dict>: parallel.qqq: unknown key `qqq` in [parallel]; remove it "
                 "(`pconf compile` prints every key there is) [schema.unknown_key]", id="parallel-far"),
    pytest.param({"parallel": {"eplb_config": {"windw_size": 5}}}, "<dict>: parallel.eplb_config.windw_size: unknown "
                 "key `windw_size` in [parallel.eplb_config]; did you mean `window_size`? [schema.unknown_key]",
                 id="eplb-near-miss"),
    pytest.param({"parallel": {"eplb_config": {"enable_eplb": True}}}, "<dict>: parallel.eplb_config.enable_eplb: "
                 "unknown key `enable_eplb` in [parallel.eplb_config]; did you mean `parallel.enable_eplb`? "
                 "[schema.unknown_key]", id="eplb-cross-section"),
    pytest.param({"scheduler": {"async_schedulng": True}}, "<dict>: scheduler.async_schedulng: unknown key "
                 "`async_schedulng` in [scheduler]; did you mean `async_scheduling`? [schema.unknown_key]",
                 id="scheduler-near-miss"),
    pytest.param({"scheduler": {"async": True}}, "<dict>: scheduler.async: unknown key `async` in [scheduler]; remove "
                 "it (`pconf compile` prints every key there is) [schema.unknown_key]", id="scheduler-far"),
    pytest.param({"cluster": {"devce": "cuda"}}, "<dict>: cluster.devce: unknown key `devce` in [cluster]; did you "
                 "mean `device`? [schema.unknown_key]", id="cluster-near-miss"),
    pytest.param({"cluster": {"tensor_parallel_size": 2}}, "<dict>: cluster.tensor_parallel_size: unknown key "
                 "`tensor_parallel_size` in [cluster]; did you mean `parallel.tensor_parallel_size`? "
                 "[schema.unknown_key]", id="cluster-cross-section"),
]

DERIVED_KEYS = [
    pytest.param("world_size", 4, "<dict>: parallel.world_size: `world_size` is derived (pipeline_parallel_size × "
                 "tensor_parallel_size × prefill_context_parallel_size (× data_parallel_size with the "
                 "external_launcher backend)) and cannot be set (got 4); remove it; `pconf compile` prints the "
                 "derived value [schema.derived_key]", id="world_size"),
    pytest.param("data_parallel_index", 1, "<dict>: parallel.data_parallel_index: `data_parallel_index` is derived "
                 "(data_parallel_rank after resolution) and cannot be set (got 1); remove it; `pconf compile` prints "
                 "the derived value [schema.derived_key]", id="data_parallel_index"),
]

INTERNAL_KEYS = [
    pytest.param("_api_process_count", 2, "the number of API server processes (API server scale-out)",
                 id="_api_process_count"),
    pytest.param("_api_process_rank", 0, "the rank of an API server process (API server scale-out)",
                 id="_api_process_rank"),
    pytest.param("_coord_store_port", 1234, "the coordination TCPStore port the API server hands to workers",
                 id="_coord_store_port"),
    pytest.param("_data_parallel_master_port_list", [1, 2], "the pool of free ports vLLM prepares for DP groups",
                 id="_data_parallel_master_port_list"),
]


class TestKeys:
    @pytest.mark.parametrize(("doc", "rendered"), UNKNOWN_KEYS)
    def test_unknown_key(self, doc: dict[str, Any], rendered: str) -> None:
        """An unknown key at any level is refused with the best hint: same table, other section, or none."""
        issue = only_issue(doc)
        assert issue.rule == "schema.unknown_key"
        assert issue.render() == rendered

    @pytest.mark.parametrize(("key", "value", "rendered"), DERIVED_KEYS)
    def test_derived_key(self, key: str, value: int, rendered: str) -> None:
        """Setting a derived field is refused with schema.derived_key and how it is derived."""
        issue = only_issue({"parallel": {key: value}})
        assert (issue.rule, issue.path) == ("schema.derived_key", ("parallel", key))
        assert issue.render() == rendered

    @pytest.mark.parametrize(("key", "value", "what"), INTERNAL_KEYS)
    def test_internal_key(self, key: str, value: object, what: str) -> None:
        """Setting a vLLM-internal field is refused with schema.internal_key."""
        issue = only_issue({"parallel": {key: value}})
        assert (issue.rule, issue.path) == ("schema.internal_key", ("parallel", key))
        assert issue.render() == (f"<dict>: parallel.{key}: `{key}` is vLLM-internal ({what}), not part of the file "
                                  "format; remove it; vLLM sets it at run time [schema.internal_key]")

    def test_derived_and_internal_with_other_errors(self) -> None:
        """Derived and internal keys are reported together with the document's other mistakes."""
        issues = schema_issues({"parallel": {"world_size": 2, "_coord_store_port": 1, "tensor_parallel_size": 0}})
        assert [(i.key, i.rule) for i in issues] == [
            ("parallel._coord_store_port", "schema.internal_key"),
            ("parallel.tensor_parallel_size", "schema.bound"),
            ("parallel.world_size", "schema.derived_key"),
        ]


# -- (f) NUMA lists ---------------------------------------------------------------------------------------------

CPU_ACCEPTED = ["0-3", "0,2,4-7", "1-1", "00-03", "1,2,3", "2-10"]

_SYNTAX = "CPU list entries must use numactl syntax, for example '0-3' or '0,2,4-7'"

CPU_REJECTED = [
    pytest.param("3-0", "CPU ranges must be ascending, but '3-0' is not", id="3-0"),
    pytest.param("10-2", "CPU ranges must be ascending, but '10-2' is not", id="10-2"),
    pytest.param("0-3,7-5", "CPU ranges must be ascending, but '7-5' is not", id="0-3,7-5"),
    pytest.param("4-1", "CPU ranges must be ascending, but '4-1' is not", id="4-1"),
    pytest.param("a", _SYNTAX, id="a"),
    pytest.param("abc", _SYNTAX, id="abc"),
    pytest.param("0-", _SYNTAX, id="0-"),
    pytest.param("1-", _SYNTAX, id="1-"),
    pytest.param("0--3", _SYNTAX, id="0--3"),
    pytest.param("0-3-5", _SYNTAX, id="0-3-5"),
    pytest.param("-1", _SYNTAX, id="-1"),
    pytest.param("0:3", _SYNTAX, id="0:3"),
    pytest.param("1:2", _SYNTAX, id="1:2"),
    pytest.param(" 0-3", _SYNTAX, id="leading-space"),
    pytest.param("0-3 ", _SYNTAX, id="trailing-space"),
    pytest.param("0-3,", _SYNTAX, id="trailing-comma"),
    pytest.param("1,,2", _SYNTAX, id="double-comma"),
    pytest.param("0-3\n", _SYNTAX, id="trailing-newline"),
    pytest.param("", "CPU list entries must not be empty", id="empty"),
]


class TestNumaLists:
    @pytest.mark.parametrize("entry", CPU_ACCEPTED)
    def test_cpu_list_accepted(self, entry: str) -> None:
        """Each CPU list vLLM accepts compiles and is kept as written."""
        out = compile_dict({"parallel": {"numa_bind": True, "numa_bind_cpus": [entry]}}).to_dict()
        assert out["parallel"]["numa_bind_cpus"] == [entry]

    def test_all_accepted_together(self) -> None:
        """All accepted CPU lists compile together, in order."""
        out = compile_dict({"parallel": {"numa_bind": True, "numa_bind_cpus": CPU_ACCEPTED}}).to_dict()
        assert out["parallel"]["numa_bind_cpus"] == CPU_ACCEPTED

    @pytest.mark.parametrize(("entry", "message"), CPU_REJECTED)
    def test_cpu_list_rejected(self, entry: str, message: str) -> None:
        """Each CPU list vLLM rejects is refused at its index with numa.cpus_syntax and the reason."""
        issue = only_issue({"parallel": {"numa_bind": True, "numa_bind_cpus": ["0-3", entry]}})
        assert (issue.rule, issue.path, issue.got) == ("numa.cpus_syntax", ("parallel", "numa_bind_cpus", 1), entry)
        assert issue.message == message

    def test_cpu_list_full_text(self) -> None:
        """A descending range renders as the whole line."""
        issue = only_issue({"parallel": {"numa_bind": True, "numa_bind_cpus": ["0-3", "3-0"]}})
        assert issue.render() == ("<dict>: parallel.numa_bind_cpus[1]: CPU ranges must be ascending, but '3-0' is "
                                  'not (got "3-0"); write e.g. "0-3" or "0,2,4-7" [numa.cpus_syntax]')

    def test_cpu_list_empty(self) -> None:
        """An empty numa_bind_cpus list is refused with numa.cpus_empty."""
        issue = only_issue({"parallel": {"numa_bind": True, "numa_bind_cpus": []}})
        assert issue.render() == ("<dict>: parallel.numa_bind_cpus: must not be empty (got []); list one CPU list per "
                                  "visible GPU, or remove the key [numa.cpus_empty]")

    def test_nodes_empty(self) -> None:
        """An empty numa_bind_nodes list is refused with numa.nodes_empty."""
        issue = only_issue({"parallel": {"numa_bind": True, "numa_bind_nodes": []}})
        assert issue.render() == ("<dict>: parallel.numa_bind_nodes: must not be empty (got []); list one NUMA node "
                                  "per visible GPU, or remove the key to detect them [numa.nodes_empty]")

    def test_nodes_negative(self) -> None:
        """A negative NUMA node is refused at its index with numa.nodes_negative."""
        issue = only_issue({"parallel": {"numa_bind": True, "numa_bind_nodes": [0, -1]}})
        assert issue.render() == ("<dict>: parallel.numa_bind_nodes[1]: NUMA nodes must be non-negative (got -1); "
                                  "use the node numbers numactl --hardware shows [numa.nodes_negative]")

    def test_nodes_accepted(self) -> None:
        """Large node numbers and duplicates are accepted (no upper bound, no count check)."""
        out = compile_dict({"parallel": {"numa_bind": True, "numa_bind_nodes": [0, 0, 7, 99]}}).to_dict()
        assert out["parallel"]["numa_bind_nodes"] == [0, 0, 7, 99]

    def test_list_error_precedes_bind_rule(self) -> None:
        """A bad list with numa_bind off reports the list error, not numa.requires_bind (spec §7.1 V5)."""
        issue = only_issue({"parallel": {"numa_bind_nodes": [-1]}})
        assert issue.rule == "numa.nodes_negative"


# -- (g) every error at once, located ---------------------------------------------------------------------------

FIVE_MISTAKES = """\
# five mistakes, in an order that differs from the schema's
[cluster]
devce = "cuda"

[parallel]
tensor_parallel_size = "2"
world_size = 8
  numa_bind_cpus = ["0-3", "3-0"]

[parallel.eplb_config]
window_size = 0
"""


class TestAllErrorsAtOnce:
    def test_five_mistakes_five_issues(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A TOML file with five mistakes yields five issues, sorted by line, each at its key's line:col."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "bad.toml").write_text(FIVE_MISTAKES)
        with pytest.raises(SchemaError) as caught:
            compile_files(["bad.toml"])
        assert [i.render() for i in caught.value.issues] == [
            "bad.toml:3:1: cluster.devce: unknown key `devce` in [cluster]; did you mean `device`? "
            "[schema.unknown_key]",
            'bad.toml:6:1: parallel.tensor_parallel_size: must be an integer (got "2"); write 2 without quotes '
            "[schema.type]",
            "bad.toml:7:1: parallel.world_size: `world_size` is derived (pipeline_parallel_size × "
            "tensor_parallel_size × prefill_context_parallel_size (× data_parallel_size with the external_launcher "
            "backend)) and cannot be set (got 8); remove it; `pconf compile` prints the derived value "
            "[schema.derived_key]",
            "bad.toml:8:3: parallel.numa_bind_cpus[1]: CPU ranges must be ascending, but '3-0' is not (got \"3-0\"); "
            'write e.g. "0-3" or "0,2,4-7" [numa.cpus_syntax]',
            "bad.toml:11:1: parallel.eplb_config.window_size: must be > 0 (got 0); use 1 or more [schema.bound]",
        ]
        assert str(caught.value) == "\n".join(i.render() for i in caught.value.issues)

    def test_yaml_locations(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """YAML mistakes are located at their key's line and column."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "bad.yaml").write_text(
            "parallel:\n"
            "  tensor_parallel_size: 2.0\n"
            "  eplb_config:\n"
            "    use_async: 'yes'\n"
            "cluster:\n"
            "  device: gpu\n"
        )
        with pytest.raises(SchemaError) as caught:
            compile_files(["bad.yaml"])
        assert [i.render() for i in caught.value.issues] == [
            "bad.yaml:2:3: parallel.tensor_parallel_size: must be an integer (got 2.0); write 2 without a decimal "
            "point [schema.type]",
            'bad.yaml:4:5: parallel.eplb_config.use_async: must be true or false (got "yes"); write true or false '
            "without quotes [schema.type]",
            'bad.yaml:6:3: cluster.device: must be one of "cuda", "rocm", "cpu", "tpu" (got "gpu"); did you mean '
            "`tpu`? [schema.choice]",
        ]

    def test_dict_errors_all_reported(self) -> None:
        """A dict with mistakes in every section reports each of them, sorted by key."""
        issues = schema_issues({
            "scheduler": {"async_scheduling": 1},
            "cluster": {"devices_per_node": -1},
            "parallel": {"nnodes": 0, "eplb_config": {"policy": "greedy"}, "_api_process_rank": 0},
        })
        assert [(i.key, i.rule) for i in issues] == [
            ("cluster.devices_per_node", "schema.bound"),
            ("parallel._api_process_rank", "schema.internal_key"),
            ("parallel.eplb_config.policy", "schema.choice"),
            ("parallel.nnodes", "schema.bound"),
            ("scheduler.async_scheduling", "schema.choice"),
        ]

    def test_schema_error_is_config_error(self) -> None:
        """Structure failures raise SchemaError, a ConfigError, before any rule runs."""
        with pytest.raises(ConfigError) as caught:
            compile_dict({"parallel": {"tensor_parallel_size": 0, "decode_context_parallel_size": 3}})
        assert type(caught.value) is SchemaError
        assert [i.rule for i in caught.value.issues] == ["schema.bound"]


class TestTomlLocations:
    def test_dotted_indented_and_quoted_keys(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Dotted keys point at their last segment, indented keys at their first character, quoted keys at the quote."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "loc.toml").write_text(
            "parallel.tensor_parallel_size = 0\n"
            "[parallel.eplb_config]\n"
            "  window_size = 0\n"
            "[cluster]\n"
            '"devices_per_node" = -1\n'
        )
        with pytest.raises(SchemaError) as caught:
            compile_files(["loc.toml"])
        assert [str(i.where) for i in caught.value.issues] == ["loc.toml:1:10", "loc.toml:3:3", "loc.toml:5:1"]
        assert [i.key for i in caught.value.issues] == [
            "parallel.tensor_parallel_size", "parallel.eplb_config.window_size", "cluster.devices_per_node"]

    def test_inline_table_and_multiline_list(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Keys inside an inline table are located at their own column; a list element at its list's key."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "loc.toml").write_text(
            "[parallel]\n"
            "eplb_config = { window_size = 0, step_interval = 0 }\n"
            "numa_bind = true\n"
            "numa_bind_cpus = [\n"
            '  "0-3",\n'
            '  "3-0",\n'
            "]\n"
        )
        with pytest.raises(SchemaError) as caught:
            compile_files(["loc.toml"])
        assert [(str(i.where), i.key, i.rule) for i in caught.value.issues] == [
            ("loc.toml:2:17", "parallel.eplb_config.window_size", "schema.bound"),
            ("loc.toml:2:34", "parallel.eplb_config.step_interval", "schema.bound"),
            ("loc.toml:4:1", "parallel.numa_bind_cpus[1]", "numa.cpus_syntax"),
        ]
