"""Where every value came from: ``sources`` in the compiled document, ``Compiled.source/where/explain``, and
TOML/YAML equivalence of the same document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pconf
from pconf.emit.document import render
from pconf.errors import DEFAULT, LoadError, Location
from pconf.keypath import KeyPath, format_path, parse_dotted
from pconf.netaddr import address_problem
from tests.helpers import write
from tests.profiles import examples

pytestmark = pytest.mark.usefixtures("in_tmp")


def set_sources(compiled: pconf.Compiled) -> dict[str, str]:
    """The sources that are neither a plain default nor a derived property."""
    return {k: v for k, v in compiled.to_dict()["sources"].items() if v not in ("default", "derived")}


#: cluster.custom_all_reduce left unset: the device's answer, said as derived.
CUDA_KERNEL = {"cluster.custom_all_reduce": "derived: the cuda platform has a custom all-reduce kernel"}
AUTO_SINGLE = {
    **CUDA_KERNEL,
    "parallel.disable_nccl_for_dp_synchronization": "derived: async scheduling is on",
    "parallel.distributed_executor_backend": "derived: a single worker (world_size_across_dp == 1)",
    "scheduler.async_scheduling": "derived: auto: the uni executor supports it",
}
AUTO_MP = {
    **CUDA_KERNEL,
    "parallel.disable_nccl_for_dp_synchronization": "derived: async scheduling is on",
    "parallel.distributed_executor_backend": "derived: more than one worker, no Ray placement group",
    "scheduler.async_scheduling": "derived: auto: the mp executor supports it",
}


class TestFileSources:
    def test_toml_keys(self) -> None:
        """Keys written in a TOML file point at their line and column."""
        write("c.toml", "# cluster\n[parallel]\ntensor_parallel_size = 2\n  nnodes = 1\n\n[parallel.eplb_config]\n"
                        'window_size = 10\n\n[cluster]\ndevice = "cuda"\n')
        assert set_sources(pconf.compile_files(["c.toml"])) == {
            "parallel.tensor_parallel_size": "c.toml:3:1",
            "parallel.nnodes": "c.toml:4:3",
            "parallel.eplb_config.window_size": "c.toml:7:1",
            "cluster.device": "c.toml:10:1",
            **AUTO_MP,
        }

    def test_yaml_keys(self) -> None:
        """Keys written in a YAML file point at their line and column."""
        write("c.yaml", "parallel:\n  tensor_parallel_size: 2\n  numa_bind: true\n  numa_bind_nodes: [0, 1]\n"
                        "cluster: {devices_per_node: 4}\n")
        assert set_sources(pconf.compile_files(["c.yaml"])) == {
            "parallel.tensor_parallel_size": "c.yaml:2:3",
            "parallel.numa_bind": "c.yaml:3:3",
            "parallel.numa_bind_nodes": "c.yaml:4:3",
            "cluster.devices_per_node": "c.yaml:5:11",
            **AUTO_MP,
        }

    def test_inline_table_keys(self) -> None:
        """Keys inside a TOML inline table point inside the table."""
        write("c.toml", "[parallel]\neplb_config = { window_size = 10, step_interval = 20 }\n")
        sources = pconf.compile_files(["c.toml"]).to_dict()["sources"]
        assert (sources["parallel.eplb_config.window_size"], sources["parallel.eplb_config.step_interval"]) == (
            "c.toml:2:17", "c.toml:2:35"
        )

    def test_open_table_is_one_source(self) -> None:
        """A free-form table (ray_runtime_env) has one source entry, where the table was written."""
        write("c.toml", '[parallel.ray_runtime_env]\npip = ["x"]\n')
        compiled = pconf.compile_files(["c.toml"])
        assert compiled.to_dict()["sources"]["parallel.ray_runtime_env"] == "c.toml:1:11"
        assert "parallel.ray_runtime_env.pip" not in compiled.to_dict()["sources"]

    def test_extends_file_keeps_its_own_name(self) -> None:
        """A value from an extended file points into that file, as named relative to the extending one."""
        Path("base").mkdir()
        write("base/common.toml", "[parallel]\npipeline_parallel_size = 2\n")
        write("c.toml", 'extends = "base/common.toml"\n')
        assert pconf.compile_files(["c.toml"]).source(("parallel", "pipeline_parallel_size")) == (
            "base/common.toml:2:1"
        )

    def test_sources_cover_every_key_in_order(self) -> None:
        """`sources` has one entry per leaf of parallel, scheduler, cluster and derived, in document order, then
        vllm_version."""
        doc = pconf.compile_files([write("c.toml", "")]).to_dict()
        expected = [f"parallel.{k}" for k, v in doc["parallel"].items() if not isinstance(v, dict)
                    or k == "ray_runtime_env"]
        expected[expected.index("parallel.expert_placement_strategy"):0] = [
            f"parallel.eplb_config.{k}" for k in doc["parallel"]["eplb_config"]
        ]
        expected += [f"scheduler.{k}" for k in doc["scheduler"]]
        for k, v in doc["cluster"].items():
            expected += [f"cluster.{k}.{sub}" for sub in v] if k == "network" else [f"cluster.{k}"]
        expected += [f"serve.{k}" for k in doc["serve"]] + [f"derived.{k}" for k in doc["derived"]]
        assert list(doc["sources"]) == [*expected, "vllm_version"]
        assert doc["sources"]["vllm_version"] == "default"


class TestSetSources:
    def test_set_override(self) -> None:
        """A --set value's source is the override text."""
        write("c.toml", "[parallel]\ntensor_parallel_size = 4\n")
        compiled = pconf.compile_files(["c.toml"], overrides=["parallel.tensor_parallel_size=2",
                                                              'cluster.device="rocm"'])
        sources = compiled.to_dict()["sources"]
        assert (sources["parallel.tensor_parallel_size"], sources["cluster.device"]) == (
            "--set parallel.tensor_parallel_size=2", '--set cluster.device="rocm"'
        )

    def test_set_inline_table(self) -> None:
        """Keys set through an inline-table override point at that override."""
        compiled = pconf.compile_files([write("c.toml", "")], overrides=["parallel.eplb_config={window_size = 7}"])
        assert compiled.source(("parallel", "eplb_config", "window_size")) == (
            "--set parallel.eplb_config={window_size = 7}"
        )

    def test_compile_dict_source(self) -> None:
        """A value from compile_dict points at `<dict>`; its overrides at --set."""
        compiled = pconf.compile_dict({"parallel": {"tensor_parallel_size": 2}}, overrides=["parallel.nnodes=1"])
        assert set_sources(compiled) == {
            "parallel.tensor_parallel_size": "<dict>", "parallel.nnodes": "--set parallel.nnodes=1", **AUTO_MP,
        }


class TestDefaultSources:
    def test_empty_file(self) -> None:
        """Every key an empty file leaves alone is `default`, apart from resolution's choices."""
        compiled = pconf.compile_files([write("c.toml", "")])
        assert set_sources(compiled) == AUTO_SINGLE
        assert compiled.source(("parallel", "nnodes")) == "default"
        assert compiled.where(("parallel", "nnodes")) == DEFAULT

    def test_derived_fields_and_properties(self) -> None:
        """world_size, data_parallel_index and the derived properties are `derived`."""
        sources = pconf.compile_files([write("c.toml", "")]).to_dict()["sources"]
        assert (sources["parallel.world_size"], sources["parallel.data_parallel_index"],
                sources["derived.world_size_across_dp"]) == ("derived", "derived", "derived")


class TestDerivedSources:
    @pytest.mark.parametrize(("text", "reason"), [
        ("[parallel]\ntensor_parallel_size = 2\n", "more than one worker, no Ray placement group"),
        ("[parallel]\ntensor_parallel_size = 1\n", "a single worker (world_size_across_dp == 1)"),
        ('[parallel]\ntensor_parallel_size = 2\nplacement_group = "pg"\n[cluster]\nray_installed = true\n',
         "Ray is installed and a placement group is named"),
        ("[parallel]\ntensor_parallel_size = 2\n[cluster]\nray_installed = true\nray_initialized = true\n"
         "ray_placement_group = true\n", "Ray is initialised inside a placement group"),
        ('[parallel]\ndata_parallel_size = 2\ndata_parallel_backend = "ray"\n[cluster]\nray_installed = true\n',
         "data_parallel_backend = ray"),
        ("[parallel]\ntensor_parallel_size = 2\nnnodes = 2\nmaster_addr = \"10.0.0.1\"\n",
         "CUDA, multi-node (nnodes > 1)"),
    ])
    def test_executor_backend(self, text: str, reason: str) -> None:
        """An unset executor backend is chosen by vLLM's rule, which the source names."""
        compiled = pconf.compile_files([write("c.toml", text)])
        assert compiled.to_dict()["sources"]["parallel.distributed_executor_backend"] == f"derived: {reason}"

    def test_tp2_backend(self) -> None:
        """With TP=2 the backend is mp, derived because there is more than one worker."""
        compiled = pconf.compile_files([write("c.toml", "[parallel]\ntensor_parallel_size = 2\n")])
        assert compiled.to_dict()["parallel"]["distributed_executor_backend"] == "mp"
        assert compiled.where(("parallel", "distributed_executor_backend")) == Location.derived(
            "more than one worker, no Ray placement group"
        )

    def test_written_backend_is_the_files(self) -> None:
        """A backend written in the file keeps the file as its source."""
        compiled = pconf.compile_files([write("c.toml", '[parallel]\ndistributed_executor_backend = "mp"\n')])
        assert compiled.source(("parallel", "distributed_executor_backend")) == "c.toml:2:1"

    def test_deprecated_alias_rewritten(self) -> None:
        """A deprecated all2all backend is rewritten, and the source says why."""
        compiled = pconf.compile_files([write("c.toml", '[parallel]\nall2all_backend = "pplx"\n')])
        assert compiled.to_dict()["parallel"]["all2all_backend"] == "allgather_reducescatter"
        assert compiled.source(("parallel", "all2all_backend")) == "derived: pplx is a deprecated alias"

    @pytest.mark.parametrize(("cluster", "reason", "value"), [
        ("", "EPLB on, no elastic EP, no NIXL", "torch_gloo"),
        ("nixl_available = true\n", "NIXL is available (cluster.nixl_available)", "nixl"),
    ])
    def test_eplb_communicator(self, cluster: str, reason: str, value: str) -> None:
        """An unset EPLB communicator is chosen when EPLB is on."""
        compiled = pconf.compile_files([write("c.toml", "[parallel]\ntensor_parallel_size = 2\nis_moe_model = true\n"
                                                        "enable_expert_parallel = true\nenable_eplb = true\n"
                                                        f"[cluster]\n{cluster}")])
        assert compiled.to_dict()["parallel"]["eplb_config"]["communicator"] == value
        assert compiled.source(("parallel", "eplb_config", "communicator")) == f"derived: {reason}"

    def test_custom_all_reduce(self) -> None:
        """A platform without the kernel forces disable_custom_all_reduce, over the file's false."""
        compiled = pconf.compile_files([write("c.toml", "[parallel]\ndisable_custom_all_reduce = false\n"
                                                        "[cluster]\ncustom_all_reduce = false\n")])
        assert compiled.to_dict()["parallel"]["disable_custom_all_reduce"] is True
        assert compiled.source(("parallel", "disable_custom_all_reduce")) == (
            "derived: the cuda platform has no custom all-reduce kernel (cluster.custom_all_reduce)"
        )

    def test_async_scheduling_off(self) -> None:
        """An explicit async_scheduling keeps the file's source and drives the DP-sync flag."""
        compiled = pconf.compile_files([write("c.yaml", "scheduler:\n  async_scheduling: false\n")])
        assert (compiled.source(("scheduler", "async_scheduling")),
                compiled.source(("parallel", "disable_nccl_for_dp_synchronization"))) == (
            "c.yaml:2:3", "derived: async scheduling is off"
        )


class TestEnvSources:
    def test_dp_size_from_env(self) -> None:
        """In vLLM-environment mode VLLM_DP_SIZE sets data_parallel_size; unset variables say so."""
        compiled = pconf.compile_files([write("c.toml", "[parallel]\ntensor_parallel_size = 2\n")],
                                       env={"VLLM_DP_SIZE": "2"})
        assert compiled.to_dict()["parallel"]["data_parallel_size"] == 2
        assert set_sources(compiled) == {
            "parallel.tensor_parallel_size": "c.toml:2:1",
            "parallel.data_parallel_size": "env:VLLM_DP_SIZE",
            "parallel.data_parallel_rank": "env:VLLM_DP_RANK (unset: vLLM's default 0)",
            "parallel.data_parallel_rank_local": "env:VLLM_DP_RANK_LOCAL (unset: VLLM_DP_RANK's value)",
            "parallel.data_parallel_master_ip": "env:VLLM_DP_MASTER_IP (unset: vLLM's default '127.0.0.1')",
            "parallel.data_parallel_master_port": "env:VLLM_DP_MASTER_PORT (unset: vLLM's default 0)",
            **AUTO_MP,
        }

    def test_every_dp_variable(self) -> None:
        """Each VLLM_DP_* variable that is set is the source of its field."""
        compiled = pconf.compile_files([write("c.toml", "")], env={
            "VLLM_DP_SIZE": "2", "VLLM_DP_RANK": "1", "VLLM_DP_RANK_LOCAL": "1", "VLLM_DP_MASTER_IP": "10.0.0.1",
            "VLLM_DP_MASTER_PORT": "1234",
        })
        parallel = compiled.to_dict()["parallel"]
        assert [parallel[k] for k in ("data_parallel_size", "data_parallel_rank", "data_parallel_rank_local",
                                      "data_parallel_master_ip", "data_parallel_master_port",
                                      "data_parallel_index")] == [2, 1, 1, "10.0.0.1", 1234, 1]
        assert {k: v for k, v in set_sources(compiled).items() if v.startswith("env:")} == {
            "parallel.data_parallel_size": "env:VLLM_DP_SIZE",
            "parallel.data_parallel_rank": "env:VLLM_DP_RANK",
            "parallel.data_parallel_rank_local": "env:VLLM_DP_RANK_LOCAL",
            "parallel.data_parallel_master_ip": "env:VLLM_DP_MASTER_IP",
            "parallel.data_parallel_master_port": "env:VLLM_DP_MASTER_PORT",
        }

    def test_env_beats_the_file(self) -> None:
        """In the SPMD branch the environment wins over a value the file wrote; explain shows both."""
        compiled = pconf.compile_files([write("c.toml", "[parallel]\ndata_parallel_size = 1\n")],
                                       env={"VLLM_DP_SIZE": "2"})
        explanation = compiled.explain("parallel.data_parallel_size")
        assert (explanation.value, explanation.source) == (2, "env:VLLM_DP_SIZE")
        assert [(str(s.where), s.value) for s in explanation.chain] == [("c.toml:2:1", 1)]

    def test_dp_branch(self) -> None:
        """With DP > 1 in the file, the master port is picked at start-up, and the source says so."""
        compiled = pconf.compile_files([write("c.toml", "[parallel]\ndata_parallel_size = 2\n")], env={})
        assert compiled.source(("parallel", "data_parallel_size")) == "c.toml:2:1"
        assert compiled.source(("parallel", "data_parallel_master_port")) == (
            "derived: vLLM replaces it with a free port at start-up (DP branch)"
        )

    def test_rank_with_external_launcher(self) -> None:
        """With external_launcher the DP rank comes from RANK."""
        compiled = pconf.compile_files([write("c.toml", '[parallel]\ntensor_parallel_size = 2\ndata_parallel_size = 2\n'
                                                        'distributed_executor_backend = "external_launcher"\n')],
                                       env={"RANK": "3"})
        assert compiled.to_dict()["parallel"]["data_parallel_rank"] == 1
        assert compiled.source(("parallel", "data_parallel_rank")) == (
            "env:RANK (RANK // (PP × TP × PCP) with external_launcher)"
        )

    def test_batch_invariant(self) -> None:
        """VLLM_BATCH_INVARIANT=1 turns custom all-reduce off, with the variable as the source."""
        compiled = pconf.compile_files([write("c.toml", "")], env={"VLLM_BATCH_INVARIANT": "1"})
        assert compiled.to_dict()["parallel"]["disable_custom_all_reduce"] is True
        assert compiled.source(("parallel", "disable_custom_all_reduce")) == "env:VLLM_BATCH_INVARIANT"

    def test_declarative_mode_ignores_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without env, nothing is read from the process environment."""
        monkeypatch.setenv("VLLM_DP_SIZE", "4")
        compiled = pconf.compile_files([write("c.toml", "")])
        assert compiled.to_dict()["parallel"]["data_parallel_size"] == 1
        assert compiled.source(("parallel", "data_parallel_size")) == "default"

    def test_bad_env_values(self) -> None:
        """Every variable vLLM would read that is not an integer is reported, by name; unread ones are not."""
        with pytest.raises(pconf.ConfigError) as info:
            pconf.compile_files([write("c.toml", "")], env={"VLLM_DP_SIZE": "x", "VLLM_DP_RANK": "z", "RANK": "y"})
        assert str(info.value) == (
            'env:VLLM_DP_RANK: env.VLLM_DP_RANK: not an integer (got "z"); vLLM reads it with int(): set a whole '
            "number, or unset it [env.not_an_integer]\n"
            'env:VLLM_DP_SIZE: env.VLLM_DP_SIZE: not an integer (got "x"); vLLM reads it with int(): set a whole '
            "number, or unset it [env.not_an_integer]"
        )


class TestExplain:
    def _compiled(self) -> pconf.Compiled:
        write("base.toml", "[parallel]\ntensor_parallel_size = 4\nenable_expert_parallel = true\nis_moe_model = true\n")
        write("dev.toml", 'extends = ["base.toml"]\nreset = ["parallel.enable_expert_parallel"]\n'
                          "[parallel]\ntensor_parallel_size = 2\n")
        return pconf.compile_files(["dev.toml"], overrides=["parallel.tensor_parallel_size=8",
                                                            "cluster.devices_per_node=8"])

    def test_chain_of_settings(self) -> None:
        """explain gives the value, its source and every layer that set it, in order."""
        explanation = self._compiled().explain("parallel.tensor_parallel_size")
        assert (explanation.key, explanation.value, explanation.source) == (
            "parallel.tensor_parallel_size", 8, "--set parallel.tensor_parallel_size=8"
        )
        assert [(str(s.where), s.value) for s in explanation.chain] == [
            ("base.toml:2:1", 4), ("dev.toml:4:1", 2), ("--set parallel.tensor_parallel_size=8", 8)
        ]

    def test_reset_in_chain(self) -> None:
        """A reset shows up in the chain and in the source."""
        explanation = self._compiled().explain("parallel.enable_expert_parallel")
        assert (explanation.value, explanation.source) == (False, "default (reset at dev.toml:2:1)")
        assert [(str(s.where), s.is_reset) for s in explanation.chain] == [
            ("base.toml:3:1", False), ("dev.toml:2:1", True)
        ]

    def test_default_key(self) -> None:
        """A key nobody set has an empty chain and the default source."""
        explanation = self._compiled().explain("parallel.nnodes")
        assert (explanation.value, explanation.chain, explanation.source) == (1, (), "default")

    def test_derived_value_with_a_written_one(self) -> None:
        """A rewritten value shows the written setting and the derivation as the source."""
        compiled = pconf.compile_files([write("c.toml", '[parallel]\nall2all_backend = "naive"\n')])
        explanation = compiled.explain("parallel.all2all_backend")
        assert (explanation.value, explanation.source) == (
            "allgather_reducescatter", "derived: naive is a deprecated alias"
        )
        assert [(str(s.where), s.value) for s in explanation.chain] == [("c.toml:2:1", "naive")]

    def test_derived_property(self) -> None:
        """A derived property explains as `derived`, with no chain."""
        explanation = self._compiled().explain("derived.world_size_across_dp")
        assert (explanation.key, explanation.value, explanation.chain, explanation.source) == (
            "derived.world_size_across_dp", 8, (), "derived"
        )

    def test_table(self) -> None:
        """A table explains as its whole value, sourced where it was written."""
        explanation = self._compiled().explain("cluster")
        assert explanation.value["devices_per_node"] == 8
        assert explanation.source == "--set cluster.devices_per_node=8"

    def test_source_matches_the_sources_entry(self) -> None:
        """For every key but the derived parallel fields, explain's source is the key's `sources` entry."""
        compiled = self._compiled()
        sources = compiled.to_dict()["sources"]
        derived_fields = {"parallel.world_size", "parallel.data_parallel_index"}
        assert {k: compiled.explain(k).source for k in sources if k not in derived_fields} == {
            k: v for k, v in sources.items() if k not in derived_fields}

    @pytest.mark.parametrize("key", ["parallel.world_size", "parallel.data_parallel_index"])
    def test_derived_field_source(self, key: str) -> None:
        """A derived parallel field explains as `derived`, as its `sources` entry says."""
        compiled = self._compiled()
        assert (compiled.explain(key).source, compiled.to_dict()["sources"][key]) == ("derived", "derived")

    @pytest.mark.parametrize(("key", "hint"), [
        ("parallel.tensor_paralel_size", "did you mean `parallel.tensor_parallel_size`?"),
        ("derived.use_rayy", "did you mean `derived.use_ray`?"),
        ("sources", "see `pconf compile` for the keys there are"),
        ("parallel.nnodes.x", "did you mean `parallel.nnodes`?"),
        ("bad key", "see `pconf compile` for the keys there are"),
    ])
    def test_unknown_key(self, key: str, hint: str) -> None:
        """An unknown key is a LoadError with a did-you-mean when one is close."""
        with pytest.raises(LoadError) as info:
            self._compiled().explain(key)
        shown = format_path(parse_dotted(key) or (key,))
        assert str(info.value) == f"<command line>: {shown}: unknown key; {hint} [explain.unknown_key]"


# -- TOML and YAML spell the same document the same way -----------------------------------------------------

TEXT = st.text(st.characters(exclude_characters="\x00"), max_size=12)  # a NUL is refused (load.nul)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid document: a dozen fields drawn from their valid ranges, each possibly left out."""
    parallel = draw(st.fixed_dictionaries({}, optional={
        "pipeline_parallel_size": st.integers(1, 2),
        "tensor_parallel_size": st.integers(1, 4),
        "is_moe_model": st.booleans(),
        "enable_expert_parallel": st.booleans(),
        "expert_placement_strategy": st.sampled_from(["linear", "round_robin"]),
        "all2all_backend": st.sampled_from(["allgather_reducescatter", "deepep_low_latency", "nixl_ep",
                                            "flashinfer_nvlink_one_sided"]),
        "data_parallel_master_ip": TEXT.filter(lambda text: address_problem(text) is None),
        "worker_extension_cls": TEXT,
        "master_port": st.integers(1, 65535),
        "distributed_timeout_seconds": st.integers(1, 10_000),
        "disable_custom_all_reduce": st.booleans(),
        "eplb_config": st.fixed_dictionaries({}, optional={
            "window_size": st.integers(1, 5000), "use_async": st.booleans(), "log_balancedness": st.booleans(),
        }),
    }))
    if draw(st.booleans()):
        parallel["numa_bind"] = True
        parallel.update(draw(st.fixed_dictionaries({}, optional={  # one entry per GPU: PP × TP uses up to 8
            "numa_bind_nodes": st.lists(st.integers(0, 3), min_size=8, max_size=8),
            "numa_bind_cpus": st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)).map(
                lambda t: f"{min(t)}-{max(t)}"), min_size=8, max_size=8),
        })))
    write_empty_table = draw(st.booleans())
    doc: dict[str, Any] = {"parallel": parallel} if parallel or write_empty_table else {}
    sections: dict[str, st.SearchStrategy[Any]] = {
        "scheduler": st.fixed_dictionaries({"async_scheduling": st.sampled_from([True, False, "auto"])}),
        "cluster": st.fixed_dictionaries({}, optional={
            "device": st.sampled_from(["cuda", "rocm"]),
            "custom_all_reduce": st.booleans(),
            "nixl_available": st.booleans(),
        }),
    }
    doc.update(draw(st.fixed_dictionaries({}, optional=sections)))
    return doc


def leaves(node: dict[str, Any], path: KeyPath = ()) -> list[KeyPath]:
    out: list[KeyPath] = []
    for key, value in node.items():
        here = (*path, key)
        out.extend(leaves(value, here) if isinstance(value, dict) else [here])
    return out


def points_at_key(text: str, source: str, name: str, key: str) -> bool:
    """Whether ``source`` is ``name:LINE:COL`` and the file has ``key`` written at that position."""
    file, line, col = source.rsplit(":", 2)
    return file == name and text.split("\n")[int(line) - 1][int(col) - 1:].startswith(key)


class TestTomlYamlEquivalence:
    @settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(documents())
    def test_same_document_same_result(self, doc: dict[str, Any]) -> None:
        """A document written as TOML and as YAML compiles to the same result, with sources at the keys."""
        toml_text, yaml_text = tomli_w.dumps(doc), yaml.safe_dump(doc, sort_keys=False)
        write("c.toml", toml_text)
        write("c.yaml", yaml_text)
        from_toml = pconf.compile_files(["c.toml"]).to_dict()
        from_yaml = pconf.compile_files(["c.yaml"]).to_dict()
        toml_sources, yaml_sources = from_toml.pop("sources"), from_yaml.pop("sources")
        assert from_toml == from_yaml
        assert render(from_toml, "json") == render(from_yaml, "json")
        assert {k for k, v in toml_sources.items() if ":" not in v} == {
            k for k, v in yaml_sources.items() if ":" not in v}
        for path in leaves(doc):
            key = format_path(path)
            toml_source, yaml_source = toml_sources[key], yaml_sources[key]
            if toml_source.startswith("derived: ") or yaml_source.startswith("derived: "):
                assert toml_source == yaml_source  # resolution overrode what the file wrote, the same way
                continue
            assert points_at_key(toml_text, toml_source, "c.toml", str(path[-1])), (key, toml_source, toml_text)
            assert points_at_key(yaml_text, yaml_source, "c.yaml", str(path[-1])), (key, yaml_source, yaml_text)
