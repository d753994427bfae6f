"""The generated artefacts (JSON Schema, field reference), their committed copies, and schema/pconf agreement.

Agreement is one-sided on purpose: pconf may refuse more than the schema (rules across keys, ``2.0`` for an
integer), never less. So for every document, "the schema refuses it" implies "pconf refuses it"; equivalently,
whatever pconf accepts the schema accepts.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tempfile
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pconf.cli import main
from pconf.compile import compile_dict, compile_files
from pconf.errors import ConfigError
from pconf.hashing import FACTOR_NAMES
from pconf.introspect import (
    DIALECT,
    IMPORT_PATH_PATTERN,
    field_check_rules,
    json_schema,
    reference_markdown,
    schema_text,
)
from pconf.rules import RULES
from pconf.schema import DERIVED_FIELDS, INTERNAL_FIELDS, Document, EPLBConfig, ParallelConfig, info
from pconf.schema.checks import CHECKS, CPU_LIST_PATTERN
from pconf.versions import DEFAULT, PROFILES
from tests.profiles import examples

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "pconf.schema.json"
REFERENCE_FILE = ROOT / "docs" / "reference.md"
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*") if p.suffix in (".toml", ".yaml", ".yml"))

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_accepts(doc: Any) -> bool:
    return bool(VALIDATOR.is_valid(doc))


def pconf_rules(doc: Any) -> set[str] | None:
    """The rule ids pconf reports for a document; None when it compiles (warnings allowed).

    Documents with ``extends`` or ``reset`` go through a file (``compile_dict`` refuses those keys), written as
    JSON, which YAML reads as it is; an ``extends`` entry may name ``base.yaml``, an empty file next to it.
    """
    try:
        if isinstance(doc, dict) and ("extends" in doc or "reset" in doc):
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "base.yaml").write_text("{}\n")
                path = Path(tmp) / "doc.yaml"
                path.write_text(json.dumps(doc))
                compile_files([path])
        else:
            compile_dict(doc)
    except ConfigError as exc:
        return {i.rule for i in exc.issues}
    return None


def par(**keys: Any) -> dict[str, Any]:
    return {"parallel": keys}


def at(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A document setting one dotted key."""
    doc: Any = value
    for part in reversed(path):
        doc = {part: doc}
    result: dict[str, Any] = doc
    return result


def leaf_fields() -> Iterator[tuple[tuple[str, ...], attrs.Attribute[Any]]]:
    """Every key that holds a value (not a table), with its path, nested tables included: the keys of the default
    release, which the default schema describes (each release's own schema: tests/test_versions.py)."""

    def walk(cls: type[Any], prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], attrs.Attribute[Any]]]:
        for a in attrs.fields(cls):
            if not PROFILES[DEFAULT].has(info(a)):
                continue
            union = typing.get_origin(a.type) in (typing.Union, types.UnionType)
            options = (a.type, *typing.get_args(a.type)) if union else (a.type,)
            nested = [t for t in options if isinstance(t, type) and attrs.has(t)]
            if nested:
                yield from walk(nested[0], (*prefix, a.name))
            elif not any(isinstance(t, type) and attrs.has(t) for t in _tuple_items(a.type)):
                yield (*prefix, a.name), a

    return walk(Document, ())


def _tuple_items(tp: Any) -> list[Any]:
    """The element types of ``tuple[T, ...]`` inside a field's annotation (lists of tables are skipped)."""
    out: list[Any] = []
    for t in (tp, *typing.get_args(tp)):
        if typing.get_origin(t) is tuple:
            out.extend(typing.get_args(t))
    return out


LEAVES = dict(leaf_fields())


# -- the schema itself ----------------------------------------------------------------------------------------


class TestSchemaContent:
    def test_is_a_valid_draft_2020_12_schema(self) -> None:
        """The generated schema is itself valid under the draft 2020-12 metaschema."""
        assert SCHEMA["$schema"] == DIALECT == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(SCHEMA)

    def test_top_level(self) -> None:
        """The document allows the layer keys, the release and the six sections, nothing else."""
        assert list(SCHEMA["properties"]) == ["extends", "reset", "vllm_version", "parallel", "scheduler", "cluster",
                                              "model", "serve", "deploy"]
        assert SCHEMA["type"] == "object"
        assert SCHEMA["additionalProperties"] is False
        assert {k: v for k, v in SCHEMA["properties"]["extends"].items() if "escription" not in k} == {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

    def test_every_table_is_closed(self) -> None:
        """Every table refuses keys it does not declare."""

        def tables(node: Any) -> Iterator[dict[str, Any]]:
            if isinstance(node, dict):
                if "properties" in node:
                    yield node
                for value in node.values():
                    yield from tables(value)
            elif isinstance(node, list):
                for value in node:
                    yield from tables(value)

        found = list(tables(SCHEMA))
        assert len(found) >= 5
        assert all(t["additionalProperties"] is False for t in found)

    def test_derived_and_internal_keys_are_absent(self) -> None:
        """world_size, data_parallel_index and vLLM's internal fields are not declared, so they are refused."""
        declared = SCHEMA["properties"]["parallel"]["properties"]
        assert not (set(DERIVED_FIELDS) | set(INTERNAL_FIELDS)) & set(declared)
        assert list(declared) == [a.name for a in attrs.fields(ParallelConfig) if PROFILES[DEFAULT].has(info(a))]

    def test_integer_with_bound(self) -> None:
        """tensor_parallel_size: an integer from 1 to 65536, default 1, with both descriptions."""
        doc = info(attrs.fields(ParallelConfig).tensor_parallel_size).doc
        assert SCHEMA["properties"]["parallel"]["properties"]["tensor_parallel_size"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 65536,
            "default": 1,
            "description": doc,
            "markdownDescription": f"{doc}\n\nDefault: `1`. Allowed: >= 1; <= 65536. Changes the graph hash.",
        }

    def test_exclusive_bound_in_nested_table(self) -> None:
        """eplb_config.window_size: gt=0 becomes exclusiveMinimum."""
        field = SCHEMA["properties"]["parallel"]["properties"]["eplb_config"]["properties"]["window_size"]
        assert {k: v for k, v in field.items() if "escription" not in k} == {
            "type": "integer", "exclusiveMinimum": 0, "default": 1000}
        assert field["description"] == info(attrs.fields(EPLBConfig).window_size).doc

    def test_executor_backend_names_or_import_path(self) -> None:
        """distributed_executor_backend: one of the four names, a dotted import path, or null."""
        field = SCHEMA["properties"]["parallel"]["properties"]["distributed_executor_backend"]
        assert {k: v for k, v in field.items() if "escription" not in k} == {
            "anyOf": [
                {"type": "string", "enum": ["ray", "mp", "uni", "external_launcher"]},
                {"type": "string", "pattern": r"^[A-Za-z_][^.\s]*(?:\.[A-Za-z_][^.\s]*)+$"},
                {"type": "null"},
            ],
        }
        assert field["anyOf"][1]["pattern"] == IMPORT_PATH_PATTERN
        assert "Default: unset." in field["markdownDescription"]  # unset: no "default" keyword (TOML has no null)

    def test_async_scheduling(self) -> None:
        """async_scheduling: true, false or "auto"; default "auto"."""
        field = SCHEMA["properties"]["scheduler"]["properties"]["async_scheduling"]
        assert {k: v for k, v in field.items() if "escription" not in k} == {
            "type": ["boolean", "string"], "enum": [True, False, "auto"], "default": "auto"}

    def test_numa_bind_cpus(self) -> None:
        """numa_bind_cpus: null or a non-empty list of numactl CPU lists."""
        field = SCHEMA["properties"]["parallel"]["properties"]["numa_bind_cpus"]
        assert {k: v for k, v in field.items() if "escription" not in k} == {
            "type": ["array", "null"],
            "items": {"type": "string", "pattern": r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$"},
            "minItems": 1,
        }
        assert CPU_LIST_PATTERN == r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$"

    def test_numa_bind_nodes(self) -> None:
        """numa_bind_nodes: null or a non-empty list of node numbers >= 0."""
        field = SCHEMA["properties"]["parallel"]["properties"]["numa_bind_nodes"]
        assert {k: v for k, v in field.items() if "escription" not in k} == {
            "type": ["array", "null"], "items": {"type": "integer", "minimum": 0}, "minItems": 1}

    def test_free_form_table_and_optional_bool(self) -> None:
        """ray_runtime_env is any object or null; is_moe_model a boolean or null."""
        props = SCHEMA["properties"]["parallel"]["properties"]
        assert {k: v for k, v in props["ray_runtime_env"].items() if "escription" not in k} == {
            "type": ["object", "null"]}
        assert {k: v for k, v in props["is_moe_model"].items() if "escription" not in k} == {
            "type": ["boolean", "null"]}

    def test_optional_choice(self) -> None:
        """eplb_config.communicator: one of the four communicators or null."""
        field = SCHEMA["properties"]["parallel"]["properties"]["eplb_config"]["properties"]["communicator"]
        assert {k: v for k, v in field.items() if "escription" not in k} == {
            "type": ["string", "null"], "enum": ["torch_nccl", "torch_gloo", "nixl", "pynccl", None]}

    def test_every_extra_check_has_a_schema(self) -> None:
        """Every FieldInfo.check used by the schema classes has its JSON Schema constraints, and is listed."""
        checks: list[Any] = []

        def walk(cls: type[Any]) -> None:
            for a in attrs.fields(cls):
                if info(a).check:
                    checks.append(info(a).check)
                for t in (a.type, *typing.get_args(a.type), *_tuple_items(a.type)):
                    if isinstance(t, type) and attrs.has(t):
                        walk(t)

        walk(Document)
        assert checks
        for check in checks:
            assert check.schema
            assert check.text
            assert check.rules
            assert check in CHECKS

    def test_deterministic_text(self) -> None:
        """The schema text is the same on every call and ends with one newline."""
        assert schema_text() == schema_text()
        assert schema_text().endswith("}\n")
        assert json.loads(schema_text()) == SCHEMA


# -- committed files ---------------------------------------------------------------------------------------


class TestCommittedFilesAreCurrent:
    def test_schema_file(self) -> None:
        """schemas/pconf.schema.json is what `pconf schema` prints (regenerate: pconf schema -o ...)."""
        assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), \
            "schemas/pconf.schema.json is stale: run `pconf schema -o schemas/pconf.schema.json`"

    def test_reference_file(self) -> None:
        """docs/reference.md is what `pconf docs` writes (regenerate: pconf docs)."""
        assert REFERENCE_FILE.read_text(encoding="utf-8") == reference_markdown(), \
            "docs/reference.md is stale: run `pconf docs`"


class TestCli:
    def test_schema_stdout(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`pconf schema` prints the schema text."""
        assert main(["schema"]) == 0
        assert capsys.readouterr().out == schema_text()

    def test_schema_output(self, tmp_path: Path) -> None:
        """`pconf schema -o PATH` writes it."""
        out = tmp_path / "s.json"
        assert main(["schema", "--output", str(out)]) == 0
        assert out.read_text(encoding="utf-8") == schema_text()

    def test_docs_write_then_check(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`pconf docs -o PATH` writes the reference; `--check` then passes."""
        out = tmp_path / "reference.md"
        assert main(["docs", "--output", str(out)]) == 0
        assert out.read_text(encoding="utf-8") == reference_markdown()
        assert main(["docs", "--output", str(out), "--check"]) == 0
        captured = capsys.readouterr()
        assert (captured.out, captured.err) == (f"{out}: up to date\n", f"{out}: written\n")

    def test_docs_check_stale(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`pconf docs --check` exits 1 naming a stale file, and leaves it alone."""
        out = tmp_path / "reference.md"
        out.write_text("old\n")
        assert main(["docs", "--output", str(out), "--check"]) == 1
        assert capsys.readouterr().err == \
            f"pconf docs: {out} is out of date; run `pconf docs -o {out}` to regenerate it\n"
        assert out.read_text() == "old\n"

    def test_docs_check_missing(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`pconf docs --check` exits 1 when the file does not exist."""
        out = tmp_path / "nope.md"
        assert main(["docs", "--output", str(out), "--check"]) == 1
        assert "cannot read" in capsys.readouterr().err

    def test_docs_default_path(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --output, `pconf docs --check` checks docs/reference.md (of the current directory)."""
        monkeypatch.chdir(ROOT)
        assert main(["docs", "--check"]) == 0


# -- the reference -----------------------------------------------------------------------------------------


class TestReference:
    TEXT = reference_markdown()

    def test_every_key(self) -> None:
        """Every key of every table has a row."""
        for path in LEAVES:
            assert f"| `{path[-1]}` |" in self.TEXT, path

    def test_every_table(self) -> None:
        """Every table has a heading."""
        for name in ("parallel", "parallel.eplb_config", "scheduler", "cluster"):
            assert f"\n## `[{name}]`\n" in self.TEXT

    def test_every_rule(self) -> None:
        """Every rule across keys has a row with its severity, vLLM's place and its requirement."""
        for r in RULES:
            if r.source.startswith("pconf: "):
                assert f"| `{r.id}` | {r.severity} | pconf's own: {r.source.removeprefix('pconf: ')} |" in self.TEXT
                continue
            name, _, detail = r.source.removeprefix("vLLM ").partition(" ")
            assert f"| `{r.id}` | {r.severity} | `{name}`{' ' + detail if detail else ''} |" in self.TEXT, r.id
            assert r.doc.replace("|", "\\|") in self.TEXT

    def test_every_factor(self) -> None:
        """The graph-hash factor list is FACTOR_NAMES."""
        for name in FACTOR_NAMES:
            assert f"\n- `{name}`" in self.TEXT

    def test_row(self) -> None:
        """A row shows type, default, bounds, graph factor, scope and description."""
        doc = info(attrs.fields(ParallelConfig).data_parallel_size_local).doc
        assert f"| `data_parallel_size_local` | integer | `1` | >= 0 | no | launch | {doc} |" in self.TEXT
        assert "| `communicator` | string or unset | unset | `\"torch_nccl\"`, `\"torch_gloo\"`, `\"nixl\"`, " \
               "`\"pynccl\"` | yes | graph |" in self.TEXT

    def test_field_check_rules_are_the_structure_ids(self) -> None:
        """field_check_rules() lists exactly the rule ids pconf.structure and the value checks report."""
        ids = set()
        for module in ("structure.py", "schema/checks.py"):
            tree = ast.parse((ROOT / "pconf" / module).read_text())
            ids |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    and re.fullmatch(r"(schema|numa|eplb|network|deploy)\.[a-z_]+", n.value)}
        assert ids == set(field_check_rules())


# -- examples against the schema ------------------------------------------------------------------------------


def load_example(path: Path) -> Any:
    if path.suffix == ".toml":
        return tomllib.loads(path.read_text(encoding="utf-8"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.relative_to(ROOT).as_posix() for p in EXAMPLES])
def test_example_validates_against_schema(path: Path) -> None:
    """Every example is valid under the schema, and compiles."""
    errors = [e.message for e in VALIDATOR.iter_errors(load_example(path))]
    assert errors == []
    compile_files([path], target="lws" if path.parent.name == "deploy" else None)  # deploy/: for a cluster manager


# -- agreement corpus -----------------------------------------------------------------------------------------

#: Documents pconf accepts; the schema must accept every one.
VALID: list[Any] = [
    {},
    {"parallel": {}, "scheduler": {}, "cluster": {}},
    par(tensor_parallel_size=8),
    par(tensor_parallel_size=4, data_parallel_size=2, is_moe_model=True, enable_expert_parallel=True,
        enable_eplb=True, eplb_config={"num_redundant_experts": 16, "window_size": 1000, "step_interval": 3000}),
    par(tensor_parallel_size=4, pipeline_parallel_size=2),
    par(tensor_parallel_size=4, decode_context_parallel_size=2, dcp_comm_backend="a2a"),
    par(tensor_parallel_size=4, prefill_context_parallel_size=2, cp_kv_cache_interleave_size=16),
    par(data_parallel_size=2, is_moe_model=True, enable_expert_parallel=True, all2all_backend="deepep_low_latency",
        enable_dbo=True),
    par(data_parallel_size=2, is_moe_model=True, enable_expert_parallel=True,
        all2all_backend="deepep_high_throughput", ubatch_size=2),
    par(all2all_backend="pplx"),  # deprecated: a warning, not an error
    par(distributed_executor_backend="uni"),
    par(tensor_parallel_size=2, data_parallel_size=2, distributed_executor_backend="external_launcher"),
    {"parallel": {"tensor_parallel_size": 2, "distributed_executor_backend": "ray"},
     "cluster": {"ray_installed": True}},
    {"parallel": {"tensor_parallel_size": 2, "distributed_executor_backend": "my_pkg.executors.MyExecutor"},
     "scheduler": {"async_scheduling": False}},
    {"scheduler": {"async_scheduling": True}},
    {"scheduler": {"async_scheduling": False}},
    {"scheduler": {"async_scheduling": "auto"}},
    par(is_moe_model=None),
    par(data_parallel_size=2, disable_nccl_for_dp_synchronization=True),
    par(data_parallel_size=2, disable_nccl_for_dp_synchronization=None),
    par(data_parallel_size=2, is_moe_model=True, enable_expert_parallel=True, enable_eplb=True,
        eplb_config={"communicator": "torch_nccl", "use_async": False, "log_balancedness": True,
                     "log_balancedness_interval": 10, "policy": "default"}),
    par(eplb_config={"communicator": None}),
    par(numa_bind=True, numa_bind_nodes=[0, 0, 1, 1]),
    par(numa_bind=True, numa_bind_cpus=["0-3", "4-7", "8,10,12-15", "1-1", "00-03", "2-10"]),
    par(numa_bind=True),
    par(numa_bind_nodes=None, numa_bind_cpus=None),
    par(ray_runtime_env={"env_vars": {"NCCL_DEBUG": "WARN"}, "pip": ["x"], "n": 1.5, "v": None}),
    par(ray_runtime_env=None),
    {"parallel": {"placement_group": "pg"}, "cluster": {"ray_installed": True}},
    {"parallel": {"tensor_parallel_size": 2, "data_parallel_size": 2},
     "cluster": {"device": "cpu", "devices_per_node": 4, "custom_all_reduce": False}},
    {"cluster": {"device": "rocm", "nixl_available": True}},
    {"cluster": {"device": "tpu", "devices_per_node": 4, "ray_initialized": False, "ray_placement_group": False}},
    par(tensor_parallel_size=8, pipeline_parallel_size=2, nnodes=2, node_rank=1, master_addr="10.0.0.1",
        master_port=29501),
    par(data_parallel_size=16, data_parallel_size_local=8, nnodes=2, node_rank=0, is_moe_model=True,
        enable_expert_parallel=True, master_addr="10.0.0.1"),
    par(data_parallel_size=4, data_parallel_size_local=2, nnodes=2, data_parallel_hybrid_lb=True,
        is_moe_model=True, master_addr="fd00::1"),
    {"parallel": {"data_parallel_size": 4, "data_parallel_size_local": 2},
     "cluster": {"network": {"node_addresses": ["10.0.0.1", "10.0.0.2"], "socket_ifname": "eth0",
                             "ib_hca": "mlx5_0,mlx5_1"}}},
    {"serve": {"host": "0.0.0.0", "port": 8080, "api_server_count": 2}},
    par(data_parallel_size=4, data_parallel_external_lb=True, data_parallel_rank=3, is_moe_model=True),
    par(data_parallel_rank_local=0),
    par(data_parallel_rank_local=None),
    par(max_parallel_loading_workers=4),  # ignored by vLLM: a warning
    par(worker_cls="my.Worker", sd_worker_cls="auto", worker_extension_cls="my.Extension"),
    par(distributed_timeout_seconds=60, cpu_distributed_timeout_seconds=120),
    par(distributed_timeout_seconds=None),
    par(data_parallel_size=2, is_moe_model=True, enable_expert_parallel=True, enable_ep_weight_filter=True,
        expert_placement_strategy="round_robin"),
    par(data_parallel_master_ip="10.1.2.3", data_parallel_master_port=31000, data_parallel_rpc_port=32000,
        master_port=30000, data_parallel_backend="mp"),
    par(rank=3, dcp_kv_cache_interleave_size=1, dbo_decode_token_threshold=0, dbo_prefill_token_threshold=0),
    par(disable_custom_all_reduce=True, ray_workers_use_nsight=False, enable_elastic_ep=False),
    {"extends": "base.yaml", "parallel": {"tensor_parallel_size": 2}},
    {"extends": ["base.yaml"], "reset": ["parallel.tensor_parallel_size"]},
    {"reset": "parallel.enable_expert_parallel"},
    {"extends": [], "reset": []},
]

#: Documents the schema refuses, each with the rule pconf must (also) report.
INVALID: list[tuple[Any, str]] = [
    # types
    (par(tensor_parallel_size="8"), "schema.type"),
    (par(tensor_parallel_size=True), "schema.type"),
    (par(tensor_parallel_size=8.5), "schema.type"),
    (par(tensor_parallel_size=None), "schema.type"),
    (par(enable_eplb=1), "schema.type"),
    (par(enable_eplb="true"), "schema.type"),
    (par(is_moe_model="yes"), "schema.type"),
    (par(master_addr=127), "schema.type"),
    (par(master_port="29501"), "schema.type"),
    (par(numa_bind=True, numa_bind_nodes="0,1"), "schema.type"),
    (par(numa_bind=True, numa_bind_nodes=[0, "1"]), "schema.type"),
    (par(numa_bind=True, numa_bind_nodes=[True]), "schema.type"),
    (par(numa_bind=True, numa_bind_cpus=[0]), "schema.type"),
    (par(ray_runtime_env="x"), "schema.type"),
    (par(ray_runtime_env=[]), "schema.type"),
    (par(distributed_executor_backend=1), "schema.type"),
    (par(eplb_config=[]), "schema.type"),
    (par(eplb_config=None), "schema.type"),
    ({"parallel": 3}, "schema.type"),
    ({"scheduler": None}, "schema.type"),
    ({"cluster": "cuda"}, "schema.type"),
    ({"scheduler": {"async_scheduling": 1}}, "schema.choice"),
    ({"extends": 3}, "load.extends_type"),
    ({"reset": [1]}, "load.reset_type"),
    ([], "load.not_a_table"),
    # bounds
    (par(tensor_parallel_size=0), "schema.bound"),
    (par(pipeline_parallel_size=-1), "schema.bound"),
    (par(data_parallel_size=0), "schema.bound"),
    (par(decode_context_parallel_size=0), "schema.bound"),
    (par(prefill_context_parallel_size=0), "schema.bound"),
    (par(data_parallel_size_local=-1), "schema.bound"),
    (par(data_parallel_rank=-1), "schema.bound"),
    (par(node_rank=-1), "schema.bound"),
    (par(nnodes=0), "schema.bound"),
    (par(ubatch_size=-1), "schema.bound"),
    (par(dbo_decode_token_threshold=-1), "schema.bound"),
    (par(max_parallel_loading_workers=0), "schema.bound"),
    (par(eplb_config={"window_size": 0}), "schema.bound"),
    (par(eplb_config={"step_interval": -5}), "schema.bound"),
    (par(eplb_config={"log_balancedness_interval": 0}), "schema.bound"),
    (par(eplb_config={"num_redundant_experts": -1}), "schema.bound"),
    ({"cluster": {"devices_per_node": -1}}, "schema.bound"),
    # choices
    (par(data_parallel_backend="slurm"), "schema.choice"),
    (par(expert_placement_strategy="random"), "schema.choice"),
    (par(all2all_backend="nccl"), "schema.choice"),
    (par(dcp_comm_backend="ring"), "schema.choice"),
    (par(eplb_config={"communicator": "nccl"}), "schema.choice"),
    (par(eplb_config={"policy": "greedy"}), "schema.choice"),
    ({"scheduler": {"async_scheduling": "on"}}, "schema.choice"),
    ({"cluster": {"device": "gpu"}}, "schema.choice"),
    (par(distributed_executor_backend="multiprocessing"), "schema.choice"),
    (par(distributed_executor_backend="1pkg.Executor"), "schema.choice"),
    (par(distributed_executor_backend="my pkg.Executor"), "schema.choice"),
    (par(distributed_executor_backend="pkg..Executor"), "schema.choice"),
    (par(distributed_executor_backend=""), "schema.choice"),
    # NUMA lists
    (par(numa_bind=True, numa_bind_nodes=[]), "numa.nodes_empty"),
    (par(numa_bind=True, numa_bind_nodes=[0, -1]), "numa.nodes_negative"),
    (par(numa_bind=True, numa_bind_cpus=[]), "numa.cpus_empty"),
    (par(numa_bind=True, numa_bind_cpus=["0-"]), "numa.cpus_syntax"),
    (par(numa_bind=True, numa_bind_cpus=["a"]), "numa.cpus_syntax"),
    (par(numa_bind=True, numa_bind_cpus=[""]), "numa.cpus_syntax"),
    (par(numa_bind=True, numa_bind_cpus=[" 0-3"]), "numa.cpus_syntax"),
    (par(numa_bind=True, numa_bind_cpus=["0-3,"]), "numa.cpus_syntax"),
    (par(numa_bind=True, numa_bind_cpus=["1,,2"]), "numa.cpus_syntax"),
    (par(numa_bind=True, numa_bind_cpus=["0:3"]), "numa.cpus_syntax"),
    # unknown keys
    (par(tensor_parallel=8), "schema.unknown_key"),
    ({"paralel": {}}, "schema.unknown_key"),
    ({"$schema": "schemas/pconf.schema.json"}, "schema.unknown_key"),
    (par(eplb_config={"window": 10}), "schema.unknown_key"),
    ({"cluster": {"gpus": 8}}, "schema.unknown_key"),
    ({"scheduler": {"async": True}}, "schema.unknown_key"),
    (par(Tensor_Parallel_Size=2), "schema.unknown_key"),
    # derived and internal keys
    (par(world_size=8), "schema.derived_key"),
    (par(data_parallel_index=0), "schema.derived_key"),
    (par(_coord_store_port=1234), "schema.internal_key"),
    (par(_data_parallel_master_port_list=[]), "schema.internal_key"),
]

#: Documents the schema accepts and pconf refuses: pconf is stricter here, by design.
STRICTER_IN_PCONF: list[tuple[Any, str]] = [
    (par(tensor_parallel_size=2.0), "schema.type"),  # JSON Schema counts 2.0 as an integer
    (par(numa_bind=True, numa_bind_cpus=["3-0"]), "numa.cpus_syntax"),  # ranges must ascend
    (par(numa_bind_nodes=[0]), "numa.requires_bind"),  # rules across keys
    (par(enable_eplb=True), "eplb.requires_ep"),
    (par(tensor_parallel_size=6, decode_context_parallel_size=4), "dcp.tp_divisible"),
    ({"cluster": {"devices_per_node": 0}}, "plan.devices"),  # the deployment checks (pconf.rules.deploy)
    (par(tensor_parallel_size=16, nnodes=2), "network.loopback"),
    (par(data_parallel_size=2, data_parallel_rpc_port=8000), "plan.port_collision"),
    ({"extends": "missing.yaml"}, "load.file"),
]


def test_corpus_sizes() -> None:
    """The corpus holds at least 40 valid and 40 invalid documents."""
    assert len(VALID) >= 40
    assert len(INVALID) >= 40


@pytest.mark.parametrize("doc", VALID, ids=[f"valid{i}" for i in range(len(VALID))])
def test_valid_documents(doc: Any) -> None:
    """pconf accepts the document, and so does the schema."""
    assert pconf_rules(doc) is None
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []


@pytest.mark.parametrize(("doc", "rule"), INVALID, ids=[f"{r}-{i}" for i, (_, r) in enumerate(INVALID)])
def test_invalid_documents(doc: Any, rule: str) -> None:
    """The schema refuses the document, and pconf refuses it with the expected rule."""
    assert not schema_accepts(doc)
    found = pconf_rules(doc) or set()
    assert rule in found, found


@pytest.mark.parametrize(("doc", "rule"), STRICTER_IN_PCONF, ids=[r for _, r in STRICTER_IN_PCONF])
def test_pconf_may_refuse_more(doc: Any, rule: str) -> None:
    """The schema lets these through; pconf refuses them (the allowed direction of disagreement)."""
    assert schema_accepts(doc)
    found = pconf_rules(doc) or set()
    assert rule in found, found


# -- generated agreement cases: every key, from the metadata ---------------------------------------------------


def _wrong_type(a: attrs.Attribute[Any]) -> Any:
    """A value of the wrong type for the field."""
    tp = a.type
    base = next((t for t in typing.get_args(tp) if t is not type(None)), tp) \
        if type(None) in typing.get_args(tp) else tp
    if base is int:
        return "1"
    if base is bool or typing.get_origin(base) in (typing.Union, typing.Literal):
        return 1
    if base is str:
        return 1
    if typing.get_origin(base) is tuple:
        return "0"
    return "x"


def _below_bound(a: attrs.Attribute[Any]) -> int | None:
    meta = info(a)
    if meta.ge is not None:
        return meta.ge - 1
    if meta.gt is not None:
        return meta.gt
    return None


@pytest.mark.parametrize("path", list(LEAVES), ids=[".".join(p) for p in LEAVES])
def test_every_key_wrong_type(path: tuple[str, ...]) -> None:
    """For every key, a value of the wrong type is refused by the schema and by pconf."""
    doc = at(path, _wrong_type(LEAVES[path]))
    assert not schema_accepts(doc)
    assert pconf_rules(doc) is not None


BOUNDED = [p for p, a in LEAVES.items() if _below_bound(a) is not None]


@pytest.mark.parametrize("path", BOUNDED, ids=[".".join(p) for p in BOUNDED])
def test_every_bound(path: tuple[str, ...]) -> None:
    """For every bounded key, the first value outside the bound is refused by both, the bound itself by neither
    check of single keys."""
    a = LEAVES[path]
    low = _below_bound(a)
    assert low is not None
    assert not schema_accepts(at(path, low))
    assert "schema.bound" in (pconf_rules(at(path, low)) or set())
    assert schema_accepts(at(path, low + 1))


@pytest.mark.parametrize("path", list(LEAVES), ids=[".".join(p) for p in LEAVES])
def test_every_key_unknown_neighbour(path: tuple[str, ...]) -> None:
    """A misspelt key next to every key is refused by both."""
    doc = at((*path[:-1], path[-1] + "_x"), 1)
    assert not schema_accepts(doc)
    assert "schema.unknown_key" in (pconf_rules(doc) or set())


# -- property: the schema never refuses what pconf accepts ------------------------------------------------------

_LEAF_PATHS = list(LEAVES)
_UNKNOWN_PATHS = [("parallel", "world_size"), ("parallel", "tensor_parallel"), ("cluster", "gpus"), ("bogus",),
                  ("parallel", "eplb_config", "window")]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=20),
    st.sampled_from([0.0, 1.0, 2.0, 2.5, -1.0]),
    st.sampled_from(["", "auto", "mp", "ray", "uni", "external_launcher", "a.b", "pkg.mod.Cls", "x y.z", "1.x",
                     "linear", "a2a", "ag_rs", "pplx", "deepep_low_latency", "torch_nccl", "default", "cpu",
                     "cuda", "0-3", "3-0", "0,2,4-7", "a", "true", "8"]),
    st.lists(st.one_of(st.integers(-1, 3), st.sampled_from(["0-3", "4-7", "x", ""])), max_size=3),
    st.dictionaries(st.sampled_from(["env_vars", "pip", "a"]), st.one_of(st.integers(), st.text(max_size=3)),
                    max_size=2),
)


def plausible(a: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    """Values a user might write for one key: mostly of its type and near its bounds and choices."""
    meta = info(a)
    args = typing.get_args(a.type)
    optional = type(None) in args and typing.get_origin(a.type) in (typing.Union, types.UnionType)
    base = next(t for t in args if t is not type(None)) if optional else a.type
    origin = typing.get_origin(base)
    values: st.SearchStrategy[Any]
    if base is int:
        low = meta.ge if meta.ge is not None else (meta.gt + 1 if meta.gt is not None else 0)
        values = st.integers(low - 1, low + 8)
    elif base is bool:
        values = st.booleans()
    elif meta.choices:
        values = st.sampled_from([*meta.choices, "bogus", "pkg.mod.Executor", *(
            [True, False] if origin in (typing.Union, types.UnionType) else [])])
    elif base is str:
        values = st.sampled_from(["", "10.0.0.1", "auto", "my.pkg.Worker"])
    elif origin is tuple and typing.get_args(base)[0] is int:
        values = st.lists(st.integers(-1, 3), max_size=4)
    elif origin is tuple:
        values = st.lists(st.sampled_from(["0-3", "4-7", "8,10", "3-0", "", "x"]), max_size=4)
    else:
        values = st.dictionaries(st.sampled_from(["env_vars", "pip"]), st.integers(), max_size=2)
    return st.one_of(values, st.none()) if optional else values


_PLAUSIBLE = {path: plausible(a) for path, a in LEAVES.items()}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Documents of a few keys, each written with a plausible value or, one time in four, any value."""
    doc: dict[str, Any] = {}
    paths = draw(st.lists(st.sampled_from(_LEAF_PATHS + _UNKNOWN_PATHS), max_size=5, unique=True))
    for path in paths:
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        strategy = _PLAUSIBLE.get(path, _VALUES)
        node[path[-1]] = draw(st.one_of(strategy, strategy, strategy, _VALUES))
    return doc


@settings(max_examples=examples(400), deadline=None)
@given(documents())
def test_schema_never_refuses_what_pconf_accepts(doc: dict[str, Any]) -> None:
    """Whenever the schema refuses a document, pconf refuses it too."""
    if not schema_accepts(doc):
        assert pconf_rules(doc) is not None, doc
