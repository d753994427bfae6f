"""vLLM release profiles: choosing a release, each release's field facts against the versions spec, hashes that
name their release, serve flags per release, per-release schemas, and ``pconf migrate``.

The field tables below are taken from the shared spec's ``vllm-versions.md`` §2 (generated from each release's
own classes): a profile whose field set, default, bound, nullability or literals drift from it fails here.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

import pconf
from pconf.cli import main
from pconf.emit.vllm import serve_commands
from pconf.hashing import factor_names
from pconf.introspect import json_schema, schema_path, schema_text
from pconf.migrate import migrate_file
from pconf.versions import DEFAULT, PROFILES, lookup
from pconf.versions.profile import walk_fields
from tests.helpers import call, write
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("in_tmp")


# -- each release's fields, as the versions spec lists them -----------------------------------------------------

#: Keys 0.28 adds to the seed's, and 0.34 to 0.28's; keys 0.34 removes (vllm-versions.md §2, §6).
ADDED = {
    "0.28": {"parallel.enable_fault_tolerance", "parallel.fault_tolerance_config",
             "parallel.fault_tolerance_config.engine_recovery_timeout_sec", "parallel.assigned_physical_gpu_ids"},
    "0.34": {"parallel.dp_sync_interval", "parallel.enable_hc_sp", "parallel.enable_batch_sharded_sampling",
             "parallel.mori_ep_v2", "parallel.enable_shm_tensor_arena", "parallel.elastic_ep_max_dp_size",
             "parallel.dcp_q_replicate", "parallel.eplb_config.enable_migration_batching"},
}
REMOVED = {"0.34": {"parallel.sd_worker_cls"}}

#: (default, nullable, ge, le) of keys whose facts a later release changes or that it adds.
FACTS: dict[str, dict[str, tuple[Any, bool, int | None, int | None]]] = {
    "0.23": {
        # vLLM 0.23 leaves the port unbounded; pconf bounds every port key in every release (pconf.rules.deploy).
        "parallel.data_parallel_rpc_port": (29550, False, 1, 65535),
        "parallel.numa_bind": (False, False, None, None),
        "parallel.dcp_comm_backend": ("ag_rs", False, None, None),
        "parallel.eplb_config.num_redundant_experts": (0, False, 0, None),
    },
    "0.28": {
        "parallel.data_parallel_rpc_port": (29550, False, 1, 65535),
        "parallel.numa_bind": (False, False, None, None),
        "parallel.enable_fault_tolerance": (False, False, None, None),
        "parallel.fault_tolerance_config.engine_recovery_timeout_sec": (120, False, None, None),
        "parallel.assigned_physical_gpu_ids": (None, True, None, None),
    },
    "0.34": {
        "parallel.data_parallel_rpc_port": (29550, False, 1, 65535),
        "parallel.numa_bind": (None, True, None, None),
        "parallel.dcp_comm_backend": (None, True, None, None),
        "parallel.eplb_config.num_redundant_experts": (None, False, 0, None),
        "parallel.dp_sync_interval": (16, False, 1, None),
        "parallel.enable_hc_sp": (False, False, None, None),
        "parallel.enable_batch_sharded_sampling": (None, True, None, None),
        "parallel.mori_ep_v2": (None, True, None, None),
        "parallel.enable_shm_tensor_arena": (False, False, None, None),
        "parallel.elastic_ep_max_dp_size": (None, True, 1, None),
        "parallel.dcp_q_replicate": (None, True, None, None),
        "parallel.eplb_config.enable_migration_batching": (False, False, None, None),
    },
}

#: The literal sets that change (vllm-versions.md, "Literal sets").
LITERALS = {
    "0.28": {
        "parallel.all2all_backend": ("naive", "pplx", "deepep_high_throughput", "deepep_low_latency", "deepep_v2",
                                     "mori_high_throughput", "mori_low_latency", "nixl_ep", "allgather_reducescatter",
                                     "flashinfer_all2allv", "flashinfer_nvlink_two_sided",
                                     "flashinfer_nvlink_one_sided"),
        "parallel.eplb_config.communicator": ("torch_nccl", "torch_gloo", "nixl", "pynccl"),
    },
    "0.34": {
        "parallel.all2all_backend": ("naive", "pplx", "deepep_high_throughput", "deepep_low_latency", "deepep_v2",
                                     "mori_high_throughput", "mori_low_latency", "moonep", "mori", "nixl_ep",
                                     "allgather_reducescatter", "flashinfer_all2allv", "flashinfer_nvlink_two_sided",
                                     "flashinfer_nvlink_one_sided", "passthrough"),
        "parallel.eplb_config.communicator": ("torch_nccl", "torch_gloo", "torch_xccl", "nixl", "pynccl",
                                              "symm_mem"),
    },
}


class TestFieldFacts:
    @pytest.mark.parametrize(("older", "newer"), [("0.23", "0.28"), ("0.28", "0.34")])
    def test_field_sets(self, older: str, newer: str) -> None:
        """Each release has the keys of the one before, plus its own, minus the ones it drops."""
        before, after = set(PROFILES[older].fields()), set(PROFILES[newer].fields())
        assert after - before == ADDED[newer]
        assert before - after == REMOVED.get(newer, set())

    @pytest.mark.parametrize("release", sorted(FACTS))
    def test_defaults_nullability_and_bounds(self, release: str) -> None:
        profile = PROFILES[release]
        attrs_by_path = dict(walk_fields())
        for path, (default, nullable, ge, le) in FACTS[release].items():
            a = attrs_by_path[path]
            meta = profile.info(a, path)
            assert (profile.default(a, path), meta.nullable, meta.ge, meta.le) == (default, nullable, ge, le), path

    @pytest.mark.parametrize("release", sorted(LITERALS))
    def test_literals(self, release: str) -> None:
        profile = PROFILES[release]
        attrs_by_path = dict(walk_fields())
        for path, literals in LITERALS[release].items():
            assert profile.info(attrs_by_path[path], path).choices == literals, path

    def test_factor_counts(self) -> None:
        """The factor sets grow as vLLM's do: 0.28 adds fault tolerance, 0.34 seven fields and migration batching
        (pconf counts eplb_config and fault_tolerance_config key by key, and omits vLLM's _coord_store_port)."""
        seed, v28, v34 = (set(factor_names(PROFILES[n])) for n in ("0.23", "0.28", "0.34"))
        assert v28 - seed == {"enable_fault_tolerance", "fault_tolerance_config.engine_recovery_timeout_sec"}
        assert v34 - v28 == {"dp_sync_interval", "enable_hc_sp", "enable_batch_sharded_sampling", "mori_ep_v2",
                             "elastic_ep_max_dp_size", "dcp_q_replicate", "_allow_auto_resolve_cp_interleave_size",
                             "eplb_config.enable_migration_batching"}
        assert not seed - v28
        assert not v28 - v34


# -- choosing a release ------------------------------------------------------------------------------------------


class TestChoosing:
    @pytest.mark.parametrize(("text", "name"), [("0.34", "0.34"), ("0.34.0", "0.34"), ("0.28.0", "0.28"),
                                                ("0.23", "0.23"), ("0.23.0-seed", "0.23")])
    def test_spellings(self, text: str, name: str) -> None:
        found = lookup(text)
        assert found is not None
        assert found.name == name
        assert pconf.compile_dict({"vllm_version": text}).to_dict()["vllm_version"] == name

    def test_default_is_the_seed(self) -> None:
        doc = pconf.compile_dict({}).to_dict()
        assert (DEFAULT, doc["vllm_version"], doc["sources"]["vllm_version"]) == ("0.23", "0.23", "default")

    def test_unsupported(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", 'vllm_version = "0.30"\n')
        assert call(capsys, "validate", "c.toml") == (2, "", (
            'c.toml:1:1: vllm_version: not a vLLM release pconf models (got "0.30"); use one of "0.23", "0.28", '
            '"0.34" [schema.vllm_version]\npconf: 1 error\n'))

    def test_layered_and_overridden(self, capsys: pytest.CaptureFixture[str]) -> None:
        """vllm_version layers like any key; --vllm-version wins over every file and is the source."""
        write("base.toml", 'vllm_version = "0.28"\n')
        write("c.toml", 'extends = ["base.toml"]\n[parallel]\ntensor_parallel_size = 2\n')
        assert pconf.compile_files(["c.toml"]).to_dict()["vllm_version"] == "0.28"
        code, out, _ = call(capsys, "compile", "c.toml", "--vllm-version", "0.34")
        doc = json.loads(out)
        assert (code, doc["vllm_version"], doc["sources"]["vllm_version"]) == (0, "0.34", "--vllm-version")

    def test_key_of_another_release(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", "[parallel]\nenable_fault_tolerance = true\n")
        assert call(capsys, "validate", "c.toml") == (2, "", (
            "c.toml:2:1: parallel.enable_fault_tolerance: `enable_fault_tolerance` is not a field of vLLM 0.23.0 + "
            'deepep_v2 (the seed) (got true); it was added in vLLM 0.28: set vllm_version = "0.28" or later, or '
            "remove it [schema.other_release]\npconf: 1 error\n"))
        write("d.toml", 'vllm_version = "0.34"\n[parallel]\nsd_worker_cls = "auto"\n')
        code, _, err = call(capsys, "validate", "d.toml")
        assert code == 2
        assert "vLLM 0.34 removed it: remove it, or set vllm_version to an earlier release [schema.other_release]" \
            in err

    def test_version_output(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["--version"])
        out = capsys.readouterr().out
        assert exited.value.code == 0
        assert out == (f"pconf {pconf.__version__} (distribution pconf-vllm)\nvLLM releases: 0.23 (vLLM 0.23.0 + "
                       "deepep_v2 (the seed), the default), 0.28 (vLLM 0.28.0), 0.34 (vLLM 0.34.0)\ngraph hash "
                       "scheme: pconf1-xxh3_128\n")


# -- what changes between releases ---------------------------------------------------------------------------


def compiled(release: str, parallel: dict[str, Any], **cluster: Any) -> pconf.Compiled:
    return pconf.compile_dict({"vllm_version": release, "parallel": parallel, "cluster": cluster})


class TestBehaviour:
    def test_custom_all_reduce_multinode(self) -> None:
        """0.23 turns custom all-reduce off for nnodes > 1 at config time; 0.28 and 0.34 leave it."""
        two = {"tensor_parallel_size": 8, "nnodes": 2, "pipeline_parallel_size": 2, "master_addr": "10.0.0.1"}
        assert [compiled(r, two).resolved.parallel.disable_custom_all_reduce for r in PROFILES] == [True, False,
                                                                                                    False]

    def test_eplb_communicator_order(self) -> None:
        """Elastic EP with NIXL: 0.23 picks pynccl first, 0.28 and 0.34 nixl first."""
        p = {"tensor_parallel_size": 2, "enable_expert_parallel": True, "enable_eplb": True,
             "enable_elastic_ep": True}
        picks = [compiled(r, p, nixl_available=True).resolved.parallel.eplb_config.communicator for r in PROFILES]
        assert picks == ["pynccl", "nixl", "nixl"]

    def test_numa_unset_in_034(self) -> None:
        """0.34's numa_bind is null unless set (vLLM decides at worker launch); a list turns it on."""
        assert compiled("0.34", {}).to_dict()["parallel"]["numa_bind"] is None
        on = compiled("0.34", {"numa_bind_nodes": [0]}).to_dict()
        assert (on["parallel"]["numa_bind"], on["sources"]["parallel.numa_bind"]) == (
            True, "derived: a NUMA list is set and numa_bind is unset")

    def test_redundant_experts_034(self) -> None:
        """0.34: num_redundant_experts unset is 0 without EPLB and stays unset (the model fills it) with EPLB."""
        assert compiled("0.34", {}).resolved.parallel.eplb_config.num_redundant_experts == 0
        with_eplb = {"tensor_parallel_size": 2, "enable_expert_parallel": True, "enable_eplb": True}
        assert compiled("0.34", with_eplb).resolved.parallel.eplb_config.num_redundant_experts is None

    def test_eplb_async_communicator_028(self, capsys: pytest.CaptureFixture[str]) -> None:
        """0.28's EPLBConfig refuses pynccl with async EPLB; 0.23 accepts it."""
        text = "[parallel]\ntensor_parallel_size = 2\nenable_expert_parallel = true\nenable_eplb = true\n\n" \
               '[parallel.eplb_config]\ncommunicator = "pynccl"\n'
        write("c.toml", 'vllm_version = "0.28"\n' + text)
        assert call(capsys, "validate", "c.toml") == (2, "", (
            "c.toml:8:1: parallel.eplb_config.communicator: is incompatible with async EPLB (NCCL multi-stream "
            'conflicts) (got "pynccl"); use "torch_gloo" or "nixl", leave it unset, or set use_async = false '
            "[eplb.async_communicator]\npconf: 1 error\n"))
        write("d.toml", text)
        assert call(capsys, "validate", "d.toml")[0] == 0

    def test_fault_tolerance_forces_gloo_sync_034(self) -> None:
        ft = {"enable_fault_tolerance": True, "disable_nccl_for_dp_synchronization": False}
        assert compiled("0.28", ft).resolved.parallel.disable_nccl_for_dp_synchronization is False
        assert compiled("0.34", ft).resolved.parallel.disable_nccl_for_dp_synchronization is True


class TestHash:
    def test_releases_never_share_a_hash(self) -> None:
        hashes = {str(pconf.compile_dict({"vllm_version": r}).graph_hash) for r in PROFILES}
        assert len(hashes) == 3

    def test_seed_hash_unchanged_by_profiles(self) -> None:
        """Files without vllm_version keep the hash they had before profiles (the seed's encoding is unchanged)."""
        assert str(pconf.compile_dict({"parallel": {"tensor_parallel_size": 2}}).graph_hash) == \
            "pconf1-xxh3_128:122421cb1f3aabdf28c4d08e747067ad"

    def test_lock_names_the_release(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", 'vllm_version = "0.28"\n')
        assert call(capsys, "hash", "c.toml", "--write-lock", "l.json")[0] == 0
        lock = json.loads(Path("l.json").read_text())
        assert lock["vllm_version"] == "0.28"
        write("c.toml", 'vllm_version = "0.34"\n')
        code, out, _ = call(capsys, "hash", "c.toml", "--check", "l.json")
        assert code == 1
        assert '  vllm_version: "0.28" -> "0.34"\n' in out

    @pytest.mark.parametrize("release", ["0.28", "0.34"])
    def test_vllm_pairs(self, release: str) -> None:
        """Every recorded one-field pair of the release: pconf's hashes differ exactly when vLLM's do (pairs
        that one side refuses on purpose, or that need VllmConfig's view of the DP-sync flag, are skipped)."""
        name = {"0.28": "vllm-vectors-0.28.jsonl", "0.34": "vllm-vectors-0.34.jsonl"}[release]
        records = [json.loads(line) for line in (ROOT / "tests" / "data" / name).read_text().splitlines()]
        agreed = 0
        for record in (r for r in records if r["kind"] == "pair"):
            if any(k.startswith("_") or k == "placement_group" for k in {**record["kwargs_a"], **record["kwargs_b"]}):
                continue
            if record["field"] == "disable_nccl_for_dp_synchronization":  # None resolves through VllmConfig
                continue
            sides = []
            for kwargs in (record["kwargs_a"], record["kwargs_b"]):
                try:
                    parallel = {"master_addr": "10.0.0.1", **kwargs}  # a multi-node side needs node 0's address
                    sides.append(str(pconf.compile_dict({"vllm_version": release, "parallel": parallel,
                                                         "cluster": {"devices_per_node": 16}}).graph_hash))
                except pconf.ConfigError:
                    break
            if len(sides) == 2:
                assert (sides[0] != sides[1]) == record["hash_differs"], record["id"]
                agreed += 1
        assert agreed >= 70


# -- serve lines per release --------------------------------------------------------------------------------


class TestServeLines:
    def test_flags_of_the_release(self) -> None:
        p = {"tensor_parallel_size": 2, "enable_fault_tolerance": True, "assigned_physical_gpu_ids": [2, 3],
             "fault_tolerance_config": {"engine_recovery_timeout_sec": 60}}
        argv = serve_commands(compiled("0.28", p).plan(), 0)[0]
        assert shlex.join(argv) == ("vllm serve '$MODEL' --tensor-parallel-size 2 --enable-fault-tolerance "
                                    "--fault-tolerance-config '{\"engine_recovery_timeout_sec\":60}' --device-ids 2,3")

    def test_defaults_of_the_release_are_not_written(self) -> None:
        """0.34's own defaults (numa_bind unset, dcp_comm_backend unset, dp_sync_interval 16) give no flags;
        an explicit false for numa_bind does."""
        assert serve_commands(compiled("0.34", {"tensor_parallel_size": 2}).plan(), 0) == [
            ["vllm", "serve", "$MODEL", "--tensor-parallel-size", "2"]]
        argv = serve_commands(compiled("0.34", {"numa_bind": False, "dp_sync_interval": 8}).plan(), 0)[0]
        assert argv[3:] == ["--no-numa-bind", "--dp-sync-interval", "8"]

    def test_deepep_v2_warned_on_the_seed(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", '[parallel]\nall2all_backend = "deepep_v2"\nenable_expert_parallel = true\n')
        code, out, err = call(capsys, "plan", "c.toml", "--format", "vllm")
        assert (code, out) == (0, "vllm serve $MODEL --enable-expert-parallel --all2all-backend deepep_v2\n")
        assert err == ('warning: c.toml:2:1: parallel.all2all_backend: vLLM 0.23.0 as released does not know '
                       'deepep_v2: its `vllm serve` refuses this line (got "deepep_v2"); set vllm_version to a release '
                       "that has it, or change the value [serve.unreleased_value]\n")
        assert call(capsys, "plan", "c.toml", "--format", "vllm", "--vllm-version", "0.28")[2] == ""


# -- schemas and the reference ------------------------------------------------------------------------------


class TestSchemas:
    @pytest.mark.parametrize("release", list(PROFILES))
    def test_committed_schema_is_current(self, release: str) -> None:
        path = ROOT / schema_path(PROFILES[release])
        assert path.read_text(encoding="utf-8") == schema_text(PROFILES[release]), f"run pconf schema " \
            f"--vllm-version {release} -o {schema_path(PROFILES[release])}"

    def test_schema_of_a_release_has_its_keys(self) -> None:
        v34 = json_schema(PROFILES["0.34"])
        parallel = v34["properties"]["parallel"]["properties"]
        assert "dp_sync_interval" in parallel
        assert "sd_worker_cls" not in parallel
        assert v34["required"] == ["vllm_version"]
        assert v34["properties"]["vllm_version"]["enum"] == ["0.34", "0.34.0"]
        assert parallel["numa_bind"]["type"] == ["boolean", "null"]
        assert "required" not in json_schema()

    @pytest.mark.parametrize("release", ["0.28", "0.34"])
    def test_examples_of_the_release_validate(self, release: str) -> None:
        """Every example compiled for the release, its file plus vllm_version, passes the release's schema."""
        import jsonschema

        validator = jsonschema.Draft202012Validator(json_schema(PROFILES[release]))
        for path in sorted((ROOT / "examples").glob("*.toml")):
            text = f'vllm_version = "{release}"\n' + path.read_text(encoding="utf-8")
            doc = tomllib.loads(text)
            if "extends" in doc:
                continue
            try:
                pconf.compile_dict(doc)
            except pconf.ConfigError:
                continue  # a file of the seed's that the release refuses (migrate says why)
            assert not list(validator.iter_errors(doc)), path.name


# -- pconf migrate ------------------------------------------------------------------------------------------


TP_PP_2NODE = """# two nodes
[parallel]
tensor_parallel_size = 8   # inside a node
pipeline_parallel_size = 2
nnodes = 2
master_addr = "10.0.0.1"
"""


class TestMigrate:
    def test_toml_keeps_comments_and_meaning(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", TP_PP_2NODE)
        before = pconf.compile_files(["c.toml"])
        code, out, _ = call(capsys, "migrate", "c.toml", "--to", "0.34")
        after = pconf.compile_files(["c.toml"])
        assert code == 0
        assert Path("c.toml").read_text() == TP_PP_2NODE.replace("# two nodes\n", '# two nodes\nvllm_version = "0.34"'
                                                                 "\n\n") + (
            "disable_custom_all_reduce = true\nnuma_bind = false\ndcp_comm_backend = \"ag_rs\"\n")
        assert out.splitlines()[0] == "c.toml: vLLM 0.23 -> 0.34"
        assert out.splitlines()[-1] == f"graph hash: {before.graph_hash} -> {after.graph_hash}"
        keep = ("disable_custom_all_reduce", "numa_bind", "dcp_comm_backend", "tensor_parallel_size")
        assert {k: getattr(after.resolved.parallel, k) for k in keep} == {
            k: getattr(before.resolved.parallel, k) for k in keep}

    def test_yaml_keeps_comments(self) -> None:
        write("c.yaml", "# a comment\nparallel:\n  tensor_parallel_size: 2  # two\n")
        migration = migrate_file("c.yaml", "0.34")
        assert migration.text == ("# a comment\nvllm_version: '0.34'\nparallel:\n  tensor_parallel_size: 2  # two\n"
                                  "  numa_bind: false\n  dcp_comm_backend: ag_rs\n")
        assert yaml.safe_load(migration.text)["vllm_version"] == "0.34"

    def test_check(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", TP_PP_2NODE)
        code, _, err = call(capsys, "migrate", "c.toml", "--to", "0.28", "--check")
        assert code == 1
        assert "needs these changes" in err
        assert Path("c.toml").read_text() == TP_PP_2NODE
        write("d.toml", 'vllm_version = "0.28"\n')
        assert call(capsys, "migrate", "d.toml", "--to", "0.28", "--check")[:2] == (
            0, "d.toml: already vLLM 0.28; nothing to change\n")

    def test_no_equivalent(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", "[parallel]\nprefill_context_parallel_size = 2\ndata_parallel_size = 2\n")
        assert call(capsys, "migrate", "c.toml", "--to", "0.28") == (2, "", (
            "c.toml:2:1: parallel.prefill_context_parallel_size: has no equivalent in vLLM 0.28: PCP does not support "
            "data parallelism in this release [pcp.no_dp] (got 2); use data_parallel_size = 1, or vLLM 0.34 "
            '(vllm_version = "0.34") [migrate.no_equivalent]\npconf: 1 error\n'))
        assert Path("c.toml").read_text().startswith("[parallel]")
        write("d.toml", '[parallel]\nsd_worker_cls = "my.pkg.Worker"\n')
        code, _, err = call(capsys, "migrate", "d.toml", "--to", "0.34")
        assert code == 2
        assert "vLLM 0.34 removed `sd_worker_cls`: it has no equivalent there" in err

    def test_only_forward(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", 'vllm_version = "0.34"\n')
        assert call(capsys, "migrate", "c.toml", "--to", "0.28")[0] == 2


#: Documents valid under the seed's release: small, exercising what changes between releases.
_DOCS = st.fixed_dictionaries({}, optional={
    "tensor_parallel_size": st.sampled_from([1, 2, 4]),
    "prefill_context_parallel_size": st.sampled_from([1, 2]),
    "decode_context_parallel_size": st.sampled_from([1, 2, 4]),
    "data_parallel_size": st.sampled_from([1, 2]),
    "enable_expert_parallel": st.booleans(),
    "enable_eplb": st.booleans(),
    "nnodes": st.sampled_from([1, 2]),
    "numa_bind": st.booleans(),
    "dcp_comm_backend": st.sampled_from(["ag_rs", "a2a"]),
    "data_parallel_rpc_port": st.sampled_from([29550, 70000]),
})


@settings(max_examples=examples(60), deadline=None)
@given(_DOCS, st.sampled_from(["0.28", "0.34"]))
def test_a_valid_file_compiles_or_migrate_says_why(parallel: dict[str, Any], target: str) -> None:
    """A file valid under the seed's release either migrates to a newer one (and then compiles there) or migrate
    refuses it naming what has no equivalent."""
    text = "[parallel]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in parallel.items())
    write("c.toml", text)
    try:
        pconf.compile_files(["c.toml"])
    except pconf.ConfigError:
        return  # not valid under the seed's release
    refused: set[str] = set()
    try:
        migration = migrate_file("c.toml", target)
    except pconf.ConfigError as exc:
        refused = {i.rule for i in exc.issues}
    if refused:
        assert refused == {"migrate.no_equivalent"}
        return
    write("m.toml", migration.text)
    assert pconf.compile_files(["m.toml"]).to_dict()["vllm_version"] == target
