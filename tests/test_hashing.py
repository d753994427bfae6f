"""The graph hash: vLLM's factor set, a canonical versioned encoding, locks and diffs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import tomli_w
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import pconf
from pconf.cli import main
from pconf.hashing import FACTOR_NAMES, SCHEME, Factor, diff_factors, encode_value, graph_hash
from pconf.schema import EPLBConfig, ParallelConfig, info
from pconf.versions import PROFILES
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).parent / "data" / "vllm-vectors.jsonl"
PAIRS = [r for r in map(json.loads, VECTORS.read_text().splitlines()) if r["kind"] == "pair"]
INTERNAL = ("_api_process_count", "_api_process_rank", "_coord_store_port", "_data_parallel_master_port_list")

#: vLLM's compute_hash factors (spec §9.1) minus `_coord_store_port` (vLLM-internal, not in the file format),
#: with the nested eplb_config spelled out field by field.
VLLM_FACTORS = (
    "all2all_backend", "cp_kv_cache_interleave_size", "cpu_distributed_timeout_seconds", "data_parallel_size",
    "dbo_decode_token_threshold", "dbo_prefill_token_threshold", "dcp_comm_backend", "dcp_kv_cache_interleave_size",
    "decode_context_parallel_size", "disable_nccl_for_dp_synchronization", "distributed_timeout_seconds",
    "enable_dbo", "enable_elastic_ep", "enable_ep_weight_filter", "enable_eplb", "enable_expert_parallel",
    "eplb_config.communicator", "eplb_config.log_balancedness", "eplb_config.log_balancedness_interval",
    "eplb_config.num_redundant_experts", "eplb_config.policy", "eplb_config.step_interval", "eplb_config.use_async",
    "eplb_config.window_size", "expert_placement_strategy", "is_moe_model", "pipeline_parallel_size",
    "prefill_context_parallel_size", "tensor_parallel_size", "ubatch_size", "world_size",
)

#: Golden hashes: an accidental change of the encoding or the factor set fails here (bump the scheme instead).
GOLDEN = {
    "default": "pconf1-xxh3_128:820f9d7cfcb50b0102ec7d85e98b9dc6",
    "examples/cluster.toml": "pconf1-xxh3_128:7190cb8c1900ab0f5fba6fba7f7c4019",
    "examples/tp8.toml": "pconf1-xxh3_128:84a0b144ab79335dcd18430c9e2ad0db",
    "examples/dp-ep-2node.toml": "pconf1-xxh3_128:a4778e0994e1207626f7ccf6bad2c263",
    "examples/pcp-dcp.toml": "pconf1-xxh3_128:f0651f8d5c667dc46a0fd39d0f26a3b9",
    "examples/layered/prod.toml": "pconf1-xxh3_128:37d923f30fd0a26250ada3101301c09e",
}


def cluster_of(platform: dict[str, Any]) -> dict[str, Any]:
    return {"device": platform["device_type"], "devices_per_node": platform["device_count"],
            "custom_all_reduce": platform["use_custom_allreduce"], "nixl_available": platform["nixl_available"],
            "ray_installed": platform["ray_available"], "ray_initialized": platform["ray_initialized"],
            "ray_placement_group": platform["ray_current_placement_group"]}


def hash_of(doc: dict[str, Any], env: dict[str, Any] | None = None) -> str:
    return str(pconf.compile_dict(doc, env=env).graph_hash)


class TestFactorSet:
    def test_factor_names_snapshot(self) -> None:
        """The factors are exactly vLLM's compute_hash factors (a snapshot: changing it needs a new scheme)."""
        assert FACTOR_NAMES == VLLM_FACTORS
        assert SCHEME == "pconf1-xxh3_128"

    def test_factors_come_from_metadata(self) -> None:
        """A field is a factor exactly when its metadata says graph=True (plus the derived world_size)."""
        seed = PROFILES["0.23"]
        from_meta = {a.name for a in attrs.fields(ParallelConfig)
                     if info(a).graph and a.name != "eplb_config" and seed.has(info(a))}
        from_meta |= {f"eplb_config.{a.name}" for a in attrs.fields(EPLBConfig) if info(a).graph and seed.has(info(a))}
        assert set(FACTOR_NAMES) == from_meta | {"world_size"}


class TestEncoding:
    @pytest.mark.parametrize(("value", "text"), [
        (None, "null"), (True, "true"), (False, "false"), (0, "0"), (-2, "-2"),
        (12345678901234567890, "12345678901234567890"),
        ("mp", '"mp"'), ('a"b', '"a\\"b"'), ("é", '"\\u00e9"'),
    ])
    def test_encode_value(self, value: object, text: str) -> None:
        """Each kind of factor value has one canonical spelling."""
        assert encode_value(value) == text

    @pytest.mark.parametrize("value", [1.0, [1], {"a": 1}, (1,)])
    def test_encode_refuses_other_kinds(self, value: object) -> None:
        """Only None, bool, int and str are factor values."""
        with pytest.raises(TypeError):
            encode_value(value)

    def test_printed_form(self) -> None:
        """The printed hash names the scheme and carries 32 hex digits."""
        printed = hash_of({})
        scheme, _, digest = printed.partition(":")
        assert (scheme, len(digest), int(digest, 16) >= 0) == (SCHEME, 32, True)

    def test_factor_digest(self) -> None:
        """Each factor has its own digest of its canonical line (for naming what differs between ranks)."""
        factor = Factor("tensor_parallel_size", 4)
        assert factor.line == "tensor_parallel_size=4"
        assert factor.digest == Factor("tensor_parallel_size", 4).digest != Factor("tensor_parallel_size", 8).digest
        assert len(factor.digest) == 16


class TestGolden:
    @pytest.mark.parametrize("name", sorted(GOLDEN))
    def test_golden(self, name: str) -> None:
        """The examples hash to their pinned values."""
        got = hash_of({}) if name == "default" else str(pconf.compile_files([ROOT / name]).graph_hash)
        assert got == GOLDEN[name]


    def test_reference_encoding(self) -> None:
        """The digest is xxh3-128 of the documented encoding, rebuilt here from the module docstring."""
        import xxhash

        compiled = pconf.compile_files([ROOT / "examples" / "cluster.toml"])
        doc = compiled.to_dict()["parallel"]
        values = [doc["eplb_config"][n.split(".")[1]] if n.startswith("eplb_config.") else doc[n]
                  for n in VLLM_FACTORS]
        payload = "pconf1\n" + ",".join(VLLM_FACTORS) + "\n" + json.dumps(values)
        assert str(compiled.graph_hash) == f"{SCHEME}:{xxhash.xxh3_128_hexdigest(payload.encode())}"


class TestStability:
    def test_across_processes_and_hash_seeds(self) -> None:
        """The hash is the same in fresh processes with different PYTHONHASHSEED values."""
        cmd = [sys.executable, "-m", "pconf", "hash", str(ROOT / "examples" / "cluster.toml")]
        outs = {subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60,
                               env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "4242")}
        assert outs == {GOLDEN["examples/cluster.toml"] + "\n"}

    def test_toml_yaml_and_key_order(self, tmp_path: Path) -> None:
        """TOML and YAML spellings, in any key order, hash the same."""
        doc = {"parallel": {"tensor_parallel_size": 4, "data_parallel_size": 2, "enable_expert_parallel": True,
                            "eplb_config": {"window_size": 10, "step_interval": 20}}}
        reordered = {"parallel": {"eplb_config": {"step_interval": 20, "window_size": 10},
                                  "enable_expert_parallel": True, "data_parallel_size": 2, "tensor_parallel_size": 4}}
        (tmp_path / "a.toml").write_text(tomli_w.dumps(doc))
        (tmp_path / "b.yaml").write_text(yaml.safe_dump(reordered, sort_keys=False))
        hashes = {str(pconf.compile_files([tmp_path / f]).graph_hash) for f in ("a.toml", "b.yaml")}
        assert hashes == {hash_of(doc)}

    def test_defaults_written_or_omitted(self) -> None:
        """Writing every default explicitly hashes like writing nothing."""
        seed = PROFILES["0.23"]
        explicit = {a.name: a.default for a in attrs.fields(ParallelConfig)
                    if a.default is not None and not isinstance(a.default, attrs.Factory)  # type: ignore[arg-type]
                    and seed.has(info(a))}
        explicit["eplb_config"] = attrs.asdict(EPLBConfig(), filter=lambda a, v: v is not None and seed.has(info(a)))
        assert hash_of({"parallel": explicit}) == hash_of({})

    @pytest.mark.parametrize("per_rank", [
        {"node_rank": 1}, {"data_parallel_rank": 1}, {"rank": 5}, {"data_parallel_rank_local": 1},
        {"master_port": 1234}, {"data_parallel_master_port": 4321},
    ])
    def test_every_rank_of_a_deployment_agrees(self, per_rank: dict[str, int]) -> None:
        """Per-rank and per-process fields are not factors: every rank of one deployment gets the same hash."""
        base = {"tensor_parallel_size": 2, "data_parallel_size": 2, "nnodes": 2, "enable_expert_parallel": True}
        assert hash_of({"parallel": {**base, **per_rank}}) == hash_of({"parallel": base})


# -- vLLM's one-field pairs ---------------------------------------------------------------------------------------

#: Pairs one side of which pconf refuses on purpose (a stricter rule): both sides get these extra settings, which
#: leave the one-field change in place and keep both sides valid.
PAIR_CONTEXT: dict[str, tuple[dict[str, Any], str]] = {
    "p0020": ({"all2all_backend": "deepep_low_latency"}, "micro-batching needs a DeepEP backend"),
    "p0021": ({"all2all_backend": "deepep_low_latency"}, "micro-batching needs a DeepEP backend"),
    "p0070": ({"all2all_backend": "deepep_low_latency"}, "micro-batching needs a DeepEP backend"),
    "p0171": ({"all2all_backend": "deepep_low_latency"}, "micro-batching needs a DeepEP backend"),
    "p0032": ({"nnodes": 2, "tensor_parallel_size": 2}, "node_rank must be below nnodes"),
    "p0033": ({"tensor_parallel_size": 2}, "DP × PP × TP must be divisible by nnodes"),
    "p0182": ({"nnodes": 2}, "node_rank must be below nnodes"),
    "p0150": ({"tensor_parallel_size": 1, "prefill_context_parallel_size": 1, "decode_context_parallel_size": 1},
              "numa_bind_nodes must cover the GPU indices the workers use"),
    "p0151": ({"tensor_parallel_size": 1, "pipeline_parallel_size": 1, "prefill_context_parallel_size": 1,
               "decode_context_parallel_size": 1}, "numa_bind_cpus must cover the GPU indices the workers use"),
}


def pair_docs(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    extra = PAIR_CONTEXT.get(record["id"], ({}, ""))[0]
    cluster = cluster_of(record["platform"])
    a = {"parallel": {**record["kwargs_a"], **extra}, "cluster": cluster}
    b = {"parallel": {**record["kwargs_b"], **extra}, "cluster": cluster}
    if record["field"] == "disable_nccl_for_dp_synchronization":
        # vLLM hashed the raw None before VllmConfig resolves it; pconf hashes the resolved value, so the pair
        # runs with async scheduling off, where None resolves to false and vLLM's resolved hashes differ too.
        a["scheduler"] = b["scheduler"] = {"async_scheduling": False}
    return a, b


IN_SCOPE = [r for r in PAIRS if not any(k in INTERNAL for k in r["kwargs_b"])]


@pytest.mark.parametrize("record", IN_SCOPE, ids=[f"{r['id']}-{r['field']}" for r in IN_SCOPE])
def test_vllm_pair(record: dict[str, Any]) -> None:
    """pconf's hashes of the two sides differ exactly when vLLM's digests do."""
    a, b = pair_docs(record)
    ha, hb = hash_of(a, record["env"]), hash_of(b, record["env"])
    assert (ha != hb) == record["hash_differs"], f"vLLM changed factors: {record['changed_factors']}"


def test_pair_scope() -> None:
    """Only pairs that change a vLLM-internal field are left out, and the context table names real pairs."""
    left_out = {r["field"] for r in PAIRS if r not in IN_SCOPE}
    assert left_out == set(INTERNAL)
    assert set(PAIR_CONTEXT) <= {r["id"] for r in IN_SCOPE}


# -- property: factors change the hash, non-factors do not ---------------------------------------------------------

#: A valid base document where each field below can take another valid value.
BASE: dict[str, Any] = {
    "parallel": {"tensor_parallel_size": 4, "data_parallel_size": 2, "is_moe_model": True,
                 "enable_expert_parallel": True, "enable_eplb": True, "all2all_backend": "deepep_low_latency",
                 "decode_context_parallel_size": 2, "numa_bind": True},
    "cluster": {"devices_per_node": 16},
}

#: field -> other valid values in BASE.
ALTERNATIVES: dict[str, list[Any]] = {
    "pipeline_parallel_size": [2], "tensor_parallel_size": [2, 8], "prefill_context_parallel_size": [2],
    "data_parallel_size": [4], "data_parallel_size_local": [2], "data_parallel_rank": [1],
    "data_parallel_rank_local": [0, 1], "data_parallel_master_ip": ["10.0.0.9"], "data_parallel_rpc_port": [1],
    "data_parallel_master_port": [2], "data_parallel_backend": ["ray"], "data_parallel_external_lb": [True],
    "data_parallel_hybrid_lb": [True], "is_moe_model": [False, None], "enable_expert_parallel": [],
    "enable_ep_weight_filter": [True], "enable_eplb": [], "expert_placement_strategy": ["round_robin"],
    "all2all_backend": ["deepep_high_throughput", "allgather_reducescatter", "nixl_ep", "deepep_v2"],
    "max_parallel_loading_workers": [3], "disable_custom_all_reduce": [True], "enable_elastic_ep": [True],
    "enable_dbo": [True], "ubatch_size": [2, 3], "dbo_decode_token_threshold": [0], "dbo_prefill_token_threshold": [1],
    "disable_nccl_for_dp_synchronization": [False], "ray_workers_use_nsight": [], "ray_runtime_env": [{"a": 1}],
    "placement_group": ["pg"], "distributed_executor_backend": ["mp", "my.pkg.Exec"], "worker_cls": ["w.W"],
    "sd_worker_cls": ["s.S"], "worker_extension_cls": ["e.E"], "master_addr": ["10.1.1.1"], "master_port": [5],
    "node_rank": [1], "nnodes": [2], "numa_bind": [False], "numa_bind_nodes": [[0, 1]], "numa_bind_cpus": [["0-3"]],
    "distributed_timeout_seconds": [60, 0], "cpu_distributed_timeout_seconds": [-1], "rank": [7],
    "dcp_kv_cache_interleave_size": [2, 8], "dcp_comm_backend": ["a2a"], "cp_kv_cache_interleave_size": [4],
    "decode_context_parallel_size": [1, 4],
    "eplb_config.window_size": [5], "eplb_config.step_interval": [6], "eplb_config.num_redundant_experts": [2],
    "eplb_config.log_balancedness": [True], "eplb_config.log_balancedness_interval": [9],
    "eplb_config.use_async": [False], "eplb_config.policy": [], "eplb_config.communicator": ["torch_nccl", "pynccl"],
}

#: Non-factor inputs whose change reaches a factor through resolution (as in vLLM: spec §9.1).
REACHES_A_FACTOR = {
    "cluster.nixl_available": "NIXL availability picks the auto EPLB communicator, which is hashed",
    "scheduler.async_scheduling": "async scheduling resolves disable_nccl_for_dp_synchronization, which is hashed",
    "parallel.distributed_executor_backend": "external_launcher multiplies world_size; async support of the "
                                             "executor resolves disable_nccl_for_dp_synchronization",
}


def _set(doc: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    new: dict[str, Any] = json.loads(json.dumps(doc))
    node = new.setdefault("parallel", {})
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return new


def test_every_field_has_alternatives_listed() -> None:
    """The property below covers every ParallelConfig and EPLBConfig field of the seed's release (the later
    releases' fields: tests/test_versions.py)."""
    seed = PROFILES["0.23"]
    fields = {a.name for a in attrs.fields(ParallelConfig) if seed.has(info(a))} - {"eplb_config"}
    fields |= {f"eplb_config.{a.name}" for a in attrs.fields(EPLBConfig) if seed.has(info(a))}
    assert set(ALTERNATIVES) == fields


@settings(max_examples=examples(300), deadline=None)
@given(st.sampled_from(sorted(ALTERNATIVES)), st.data())
def test_one_field_changes(key: str, data: st.DataObject) -> None:
    """Changing one factor changes the hash; changing one non-factor leaves it (unless resolution feeds it in)."""
    if not ALTERNATIVES[key]:
        return  # booleans BASE needs as they are (e.g. EP for EPLB): covered by the vLLM pairs
    value = data.draw(st.sampled_from(ALTERNATIVES[key]))
    before = pconf.compile_dict(BASE)
    try:
        after = pconf.compile_dict(_set(BASE, key, value))
    except pconf.ConfigError:
        return  # that value is invalid in BASE; the alternatives list is wide on purpose
    factors_changed = graph_hash(before.resolved).values() != graph_hash(after.resolved).values()
    assert (str(before.graph_hash) != str(after.graph_hash)) == factors_changed
    if key in FACTOR_NAMES:
        assert factors_changed, f"{key} -> {value!r} did not change the hash"
    elif f"parallel.{key}" not in REACHES_A_FACTOR:
        assert not factors_changed, f"non-factor {key} -> {value!r} changed the hash"


def test_each_factor_field_can_change_the_hash() -> None:
    """Every factor has at least one alternative value that is valid in BASE and changes the hash."""
    base = str(pconf.compile_dict(BASE).graph_hash)
    unreached = []
    for key in FACTOR_NAMES:
        if key == "world_size":
            continue
        changed = False
        for value in ALTERNATIVES.get(key, []):
            try:
                changed |= str(pconf.compile_dict(_set(BASE, key, value)).graph_hash) != base
            except pconf.ConfigError:
                continue
        if not changed and ALTERNATIVES.get(key):
            unreached.append(key)
    assert unreached == []


def test_non_factor_cluster_facts() -> None:
    """Cluster facts that resolution does not turn into factor values leave the hash alone."""
    base = hash_of(BASE)
    for key, value in (("custom_all_reduce", False), ("ray_installed", True), ("ray_initialized", True)):
        assert hash_of({**BASE, "cluster": {**BASE["cluster"], key: value}}) == base, key
    assert hash_of({**BASE, "cluster": {**BASE["cluster"], "nixl_available": True}}) != base


class TestDiffFactors:
    def test_changes_sorted(self) -> None:
        """diff_factors lists each differing factor once, by name, with absent ones marked."""
        changes = diff_factors({"b": 1, "a": 2, "c": 3}, {"a": 2, "b": 5, "d": None})
        assert (changes[0].name, changes[0].old, changes[0].new) == ("b", 1, 5)
        assert [c.name for c in changes] == ["b", "c", "d"]
        assert repr(changes[1].new) == "(absent)"
        assert changes[2].new is None


# -- CLI: hash, locks, diff ------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "c.toml"
    path.write_text("[parallel]\ntensor_parallel_size = 4\nmaster_port = 1234\n")
    return path


@pytest.mark.usefixtures("cluster")
class TestHashCommand:
    def test_prints_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """pconf hash prints the printed form and nothing else."""
        assert run(capsys, "hash", "c.toml") == (0, f"{pconf.compile_files(['c.toml']).graph_hash}\n", "")

    def test_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json lists every factor with its value and digest."""
        code, out, _ = run(capsys, "hash", "c.toml", "--json")
        doc = json.loads(out)
        assert code == 0
        assert [f["name"] for f in doc["factors"]] == list(FACTOR_NAMES)
        tp = next(f for f in doc["factors"] if f["name"] == "tensor_parallel_size")
        assert tp == {"name": "tensor_parallel_size", "value": 4, "digest": Factor("tensor_parallel_size", 4).digest}
        assert doc["graph_hash"] == str(pconf.compile_files(["c.toml"]).graph_hash)

    def test_compile_output_carries_the_hash(self) -> None:
        """compile's document starts with graph_hash, the printed form."""
        compiled = pconf.compile_files(["c.toml"])
        assert next(iter(compiled.to_dict().items())) == ("graph_hash", str(compiled.graph_hash))


@pytest.mark.usefixtures("cluster")
class TestLock:
    def test_write_then_check_unchanged(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A lock written from a config checks clean against it, even after a non-factor change."""
        code, out, _ = run(capsys, "hash", "c.toml", "--write-lock", "pconf.lock")
        gh = out.strip()
        lock = json.loads(Path("pconf.lock").read_text())
        assert (code, lock["scheme"], lock["graph_hash"]) == (0, SCHEME, gh)
        assert lock["factors"]["tensor_parallel_size"] == 4
        assert run(capsys, "hash", "c.toml", "--check", "pconf.lock", "--set", "parallel.master_port=99") == (
            0, f"{gh}: unchanged\n", "")

    def test_check_lists_changes(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A factor change fails the gate (exit 1) and lists each changed factor as key: old -> new."""
        run(capsys, "hash", "c.toml", "--write-lock", "pconf.lock")
        old = json.loads(Path("pconf.lock").read_text())["graph_hash"]
        new = str(pconf.compile_files(["c.toml"], overrides=["parallel.tensor_parallel_size=8"]).graph_hash)
        assert run(capsys, "hash", "c.toml", "--check", "pconf.lock", "--set", "parallel.tensor_parallel_size=8") == (
            1, f"graph changed: {old} -> {new}\n  tensor_parallel_size: 4 -> 8\n  world_size: 4 -> 8\n", "")

    def test_older_scheme_is_named_not_a_false_change(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A lock from another scheme with the same factor values is not reported as a change."""
        run(capsys, "hash", "c.toml", "--write-lock", "pconf.lock")
        lock = json.loads(Path("pconf.lock").read_text())
        lock.update(scheme="pconf0-sha256", graph_hash="pconf0-sha256:abc")
        Path("pconf.lock").write_text(json.dumps(lock))
        code, out, err = run(capsys, "hash", "c.toml", "--check", "pconf.lock")
        assert (code, out) == (0, f"{pconf.compile_files(['c.toml']).graph_hash}: unchanged\n")
        assert err == ("note: pconf.lock was written with hash scheme pconf0-sha256; this pconf uses "
                       f"{SCHEME}. Factor values are compared instead; rewrite the lock with --write-lock.\n")

    @pytest.mark.parametrize(("text", "problem"), [
        ("not json", "the lock is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ("[]", "a lock file is a JSON object"),
        ('{"scheme": "x", "graph_hash": "y"}', "the lock has no valid `factors` (dict)"),
    ])
    def test_malformed_lock(self, capsys: pytest.CaptureFixture[str], text: str, problem: str) -> None:
        """A lock that cannot be read is a config error (exit 2) naming the file."""
        Path("pconf.lock").write_text(text)
        assert run(capsys, "hash", "c.toml", "--check", "pconf.lock") == (
            2, "", f"pconf.lock: <document>: {problem}; write it with `pconf hash FILE --write-lock PATH` "
                   "[hash.lock_file]\npconf: 1 error\n")


@pytest.mark.usefixtures("cluster")
class TestDiffCommand:
    def test_marks_graph_changes(self, capsys: pytest.CaptureFixture[str]) -> None:
        """diff lists every changed key, marks graph factors, and says whether the hash changes."""
        Path("d.toml").write_text("[parallel]\ntensor_parallel_size = 2\nmaster_port = 1\n")
        ha = pconf.compile_files(["c.toml"]).graph_hash
        hb = pconf.compile_files(["d.toml"]).graph_hash
        assert run(capsys, "diff", "c.toml", "d.toml") == (1, (
            "parallel.tensor_parallel_size: 4 -> 2  [graph]\n"
            "parallel.master_port: 1234 -> 1\n"
            "parallel.world_size: 4 -> 2            [graph]\n"
            f"graph hash: changes ({ha} -> {hb})\n"), "")

    def test_identical(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Two configs that resolve the same: no lines, exit 0, hash unchanged."""
        Path("d.yaml").write_text("parallel:\n  master_port: 1234\n  tensor_parallel_size: 4\n")
        gh = pconf.compile_files(["c.toml"]).graph_hash
        assert run(capsys, "diff", "c.toml", "d.yaml") == (0, f"graph hash: unchanged ({gh})\n", "")

    def test_non_graph_change_only(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A launch-only change is listed unmarked and leaves the hash unchanged (exit 1: the configs differ)."""
        Path("d.toml").write_text("[parallel]\ntensor_parallel_size = 4\nmaster_port = 4321\n")
        code, out, _ = run(capsys, "diff", "c.toml", "d.toml", "--json")
        doc = json.loads(out)
        assert code == 1
        assert doc["changes"] == [{"key": "parallel.master_port", "old": 1234, "new": 4321, "graph": False}]
        assert doc["graph_hash"]["changes"] is False
