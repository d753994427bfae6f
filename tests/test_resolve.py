"""Resolution (pconf.resolve): every derived and defaulted value, with exact results, in both modes (spec §6-§10).

Declarative mode (``env=None``) never reads the environment; vLLM-environment mode (``env=`` a mapping) follows
ParallelConfig's construction: the SPMD branch takes ``VLLM_DP_*`` when DP = 1, the DP branch ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pconf.compile import compile_dict
from pconf.errors import RuleError

A2A_ALL = (
    "naive", "pplx", "deepep_high_throughput", "deepep_low_latency", "deepep_v2", "mori_high_throughput",
    "mori_low_latency", "nixl_ep", "allgather_reducescatter", "flashinfer_all2allv", "flashinfer_nvlink_two_sided",
    "flashinfer_nvlink_one_sided",
)


def out(doc: Mapping[str, Any], env: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The compiled document as ``pconf compile`` prints it."""
    result: dict[str, Any] = compile_dict(doc, env=env).to_dict()
    return result


def resolved(doc: Mapping[str, Any], env: Mapping[str, object] | None = None) -> dict[str, Any]:
    """What resolution alone makes of a document, printed as ``pconf compile`` prints it: no rule runs, so a
    document pconf's deployment checks refuse (more ranks than one node's devices) still shows its resolution."""
    from pconf.compile import Compiled
    from pconf.errors import Location
    from pconf.load import Layer
    from pconf.merge import merge
    from pconf.resolve import read_env, resolve
    from pconf.structure import structure

    merged = merge([Layer("<dict>", dict(doc), {}, (), Location.argument("<dict>"))])
    written = frozenset(merged.chains)
    result = resolve(structure(merged), read_env(env) if env is not None else None,
                     written=written.__contains__)
    return Compiled(result, merged, ()).to_dict()


def par(**fields: Any) -> dict[str, Any]:
    """A document with only a [parallel] table."""
    return {"parallel": fields}


# -- world size -------------------------------------------------------------------------------------------------


class TestWorldSize:
    @pytest.mark.parametrize(
        ("fields", "world", "across"),
        [
            pytest.param({}, 1, 1, id="default"),
            pytest.param({"tensor_parallel_size": 4}, 4, 4, id="tp"),
            pytest.param({"pipeline_parallel_size": 2, "tensor_parallel_size": 2, "prefill_context_parallel_size": 2},
                         8, 8, id="pp-tp-pcp"),
            pytest.param({"tensor_parallel_size": 2, "prefill_context_parallel_size": 2, "data_parallel_size": 2},
                         4, 8, id="pcp-dp"),
            pytest.param({"data_parallel_size": 4}, 1, 4, id="dp-only"),
            pytest.param({"tensor_parallel_size": 4, "decode_context_parallel_size": 2}, 4, 4,
                         id="dcp-uses-no-devices"),
        ],
    )
    def test_world_size(self, fields: dict[str, Any], world: int, across: int) -> None:
        """world_size is PP × TP × PCP and world_size_across_dp multiplies DP in."""
        result = out(par(**fields))
        assert (result["parallel"]["world_size"], result["derived"]["world_size_across_dp"]) == (world, across)

    def test_external_launcher_counts_dp_twice(self) -> None:
        """With external_launcher, world_size includes DP and world_size_across_dp counts DP a second time."""
        result = out(par(tensor_parallel_size=2, data_parallel_size=4,
                         distributed_executor_backend="external_launcher"))
        assert (result["parallel"]["world_size"], result["derived"]["world_size_across_dp"]) == (8, 32)

    def test_external_launcher_dp1(self) -> None:
        """With external_launcher and DP = 1 the world size is just PP × TP × PCP."""
        result = out(par(tensor_parallel_size=2, pipeline_parallel_size=2,
                         distributed_executor_backend="external_launcher"))
        assert (result["parallel"]["world_size"], result["derived"]["world_size_across_dp"]) == (4, 4)

    def test_external_launcher_env_rank(self) -> None:
        """In vLLM-environment mode external_launcher takes the DP rank from RANK // (PP × TP × PCP)."""
        result = out(par(tensor_parallel_size=2, data_parallel_size=4,
                         distributed_executor_backend="external_launcher"), env={"RANK": "5"})
        p = result["parallel"]
        assert (p["world_size"], p["data_parallel_rank"], p["data_parallel_index"]) == (8, 2, 2)
        assert result["sources"]["parallel.data_parallel_rank"] == \
            "env:RANK (RANK // (PP × TP × PCP) with external_launcher)"

    def test_external_launcher_env_rank_with_pcp(self) -> None:
        """The RANK divisor includes PCP: RANK 7 with TP 2 × PCP 2 is DP rank 1."""
        result = out(par(tensor_parallel_size=2, prefill_context_parallel_size=2, data_parallel_size=2,
                         distributed_executor_backend="external_launcher"), env={"RANK": "7"})
        assert (result["parallel"]["world_size"], result["parallel"]["data_parallel_rank"]) == (8, 1)


# -- executor backend ---------------------------------------------------------------------------------------------


class TestBackendAutoSelection:
    @pytest.mark.parametrize(
        ("doc", "env", "backend", "why"),
        [
            pytest.param({}, None, "uni", "a single worker (world_size_across_dp == 1)", id="world-1-uni"),
            pytest.param(par(tensor_parallel_size=2), None, "mp", "more than one worker, no Ray placement group",
                         id="tp-mp"),
            pytest.param(par(data_parallel_size=4), None, "mp", "more than one worker, no Ray placement group",
                         id="dp-only-mp"),
            pytest.param({"parallel": {"tensor_parallel_size": 4}, "cluster": {"device": "tpu"}},
                         {"VLLM_XLA_USE_SPMD": "1"}, "uni", "TPU with VLLM_XLA_USE_SPMD", id="tpu-spmd-uni"),
            pytest.param({"parallel": {"tensor_parallel_size": 4, "data_parallel_backend": "ray"},
                          "cluster": {"device": "tpu", "ray_installed": True}},
                         {"VLLM_XLA_USE_SPMD": "1"}, "uni", "TPU with VLLM_XLA_USE_SPMD", id="tpu-spmd-before-ray"),
            pytest.param({"parallel": {"tensor_parallel_size": 4}, "cluster": {"device": "tpu"}},
                         {"VLLM_XLA_USE_SPMD": "0"}, "mp", "more than one worker, no Ray placement group",
                         id="tpu-spmd-0"),
            pytest.param({"parallel": {"tensor_parallel_size": 4}, "cluster": {"device": "tpu"}},
                         {}, "mp", "more than one worker, no Ray placement group", id="tpu-no-spmd"),
            pytest.param({"parallel": {"tensor_parallel_size": 4}, "cluster": {"device": "cuda"}},
                         {"VLLM_XLA_USE_SPMD": "1"}, "mp", "more than one worker, no Ray placement group",
                         id="spmd-not-tpu"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "nnodes": 2, "placement_group": "pg"},
                          "cluster": {"ray_installed": True}}, None, "mp", "CUDA, multi-node (nnodes > 1)",
                         id="cuda-multinode-before-ray"),
            pytest.param({"parallel": {"tensor_parallel_size": 32, "nnodes": 2}}, None, "mp",
                         "CUDA, multi-node (nnodes > 1)", id="cuda-multinode-no-gpu-check"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "data_parallel_backend": "ray"},
                          "cluster": {"ray_installed": True}}, None, "ray", "data_parallel_backend = ray",
                         id="dp-backend-ray"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "data_parallel_backend": "ray",
                                       "placement_group": "pg"},
                          "cluster": {"ray_installed": True}}, None, "ray", "data_parallel_backend = ray",
                         id="dp-backend-ray-before-placement-group"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "placement_group": "pg"},
                          "cluster": {"ray_installed": True}}, None, "ray",
                         "Ray is installed and a placement group is named", id="placement-group-ray"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "placement_group": "pg"}}, None, "mp",
                         "more than one worker, no Ray placement group", id="placement-group-without-ray"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "placement_group": ""},
                          "cluster": {"ray_installed": True}}, None, "mp",
                         "more than one worker, no Ray placement group", id="empty-placement-group"),
            pytest.param({"parallel": {"tensor_parallel_size": 2},
                          "cluster": {"ray_installed": True, "ray_initialized": True, "ray_placement_group": True}},
                         None, "ray", "Ray is initialised inside a placement group", id="ray-initialized-pg"),
            pytest.param({"parallel": {"tensor_parallel_size": 2},
                          "cluster": {"ray_installed": True, "ray_initialized": True}},
                         None, "mp", "more than one worker, no Ray placement group", id="ray-initialized-no-pg"),
            pytest.param({"parallel": {"tensor_parallel_size": 2},
                          "cluster": {"ray_installed": True, "ray_placement_group": True}},
                         None, "mp", "more than one worker, no Ray placement group", id="ray-pg-not-initialized"),
            pytest.param({"parallel": {"tensor_parallel_size": 2},
                          "cluster": {"ray_initialized": True, "ray_placement_group": True}},
                         None, "mp", "more than one worker, no Ray placement group", id="ray-not-installed"),
            pytest.param({"parallel": {"tensor_parallel_size": 16}, "cluster": {"device": "rocm"}}, None, "mp",
                         "more than one worker, no Ray placement group", id="rocm-skips-gpu-check"),
            pytest.param({"parallel": {"tensor_parallel_size": 16}, "cluster": {"device": "cpu"}}, None, "mp",
                         "more than one worker, no Ray placement group", id="cpu-skips-gpu-check"),
            pytest.param({"parallel": {"tensor_parallel_size": 8, "data_parallel_size": 2}}, None, "mp",
                         "more than one worker, no Ray placement group", id="gpu-check-uses-world-not-across"),
        ],
    )
    def test_auto_backend(self, doc: dict[str, Any], env: dict[str, str] | None, backend: str, why: str) -> None:
        """An unset backend resolves by vLLM's first matching rule, and the source names that rule."""
        result = resolved(doc, env)
        assert result["parallel"]["distributed_executor_backend"] == backend
        assert result["sources"]["parallel.distributed_executor_backend"] == f"derived: {why}"
        assert result["derived"]["use_ray"] is (backend == "ray")

    def test_tpu_spmd_ignored_in_declarative_mode(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Declarative mode does not read VLLM_XLA_USE_SPMD from the process environment."""
        monkeypatch.setenv("VLLM_XLA_USE_SPMD", "1")
        result = out({"parallel": {"tensor_parallel_size": 4}, "cluster": {"device": "tpu"}})
        assert result["parallel"]["distributed_executor_backend"] == "mp"

    def test_rocm_multinode_is_not_the_cuda_branch(self) -> None:
        """On ROCm the multi-node branch does not apply, so a Ray placement group picks ray (then nnodes fails)."""
        with pytest.raises(RuleError) as caught:
            compile_dict({"parallel": {"tensor_parallel_size": 2, "nnodes": 2, "placement_group": "pg",
                                       "master_addr": "10.0.0.1"},
                          "cluster": {"device": "rocm", "ray_installed": True}})
        assert [i.rule for i in caught.value.issues] == ["nnodes.backend"]


class TestExplicitBackend:
    @pytest.mark.parametrize(
        ("doc", "backend"),
        [
            pytest.param(par(distributed_executor_backend="mp"), "mp", id="mp-world-1"),
            pytest.param(par(tensor_parallel_size=4, distributed_executor_backend="uni"), "uni", id="uni-world-4"),
            pytest.param({"parallel": {"distributed_executor_backend": "ray"}, "cluster": {"ray_installed": True}},
                         "ray", id="ray-world-1"),
            pytest.param(par(distributed_executor_backend="external_launcher"), "external_launcher",
                         id="external_launcher"),
            pytest.param(par(tensor_parallel_size=2, distributed_executor_backend="my.pkg.Executor",
                             data_parallel_backend="ray"), "my.pkg.Executor", id="custom-class"),
            pytest.param({"parallel": {"tensor_parallel_size": 2, "distributed_executor_backend": "mp",
                                       "placement_group": "pg"}, "cluster": {"ray_installed": True}}, "mp",
                         id="mp-despite-placement-group"),
        ],
    )
    def test_explicit_backend_kept(self, doc: dict[str, Any], backend: str) -> None:
        """A backend written in the document is kept as written, sourced from the document."""
        result = out(doc)
        assert result["parallel"]["distributed_executor_backend"] == backend
        assert result["sources"]["parallel.distributed_executor_backend"] == "<dict>"
        assert result["derived"]["use_ray"] is (backend == "ray")


# -- value rewrites -----------------------------------------------------------------------------------------------


class TestAll2AllRewrite:
    @pytest.mark.parametrize("written", ["naive", "pplx"])
    def test_deprecated_rewritten(self, written: str) -> None:
        """naive and pplx resolve to allgather_reducescatter, sourced from the deprecation rule."""
        result = out(par(all2all_backend=written))
        assert result["parallel"]["all2all_backend"] == "allgather_reducescatter"
        assert result["sources"]["parallel.all2all_backend"] == f"derived: {written} is a deprecated alias"

    def test_flashinfer_all2allv_kept(self) -> None:
        """flashinfer_all2allv is deprecated but kept as written."""
        result = out(par(all2all_backend="flashinfer_all2allv"))
        assert result["parallel"]["all2all_backend"] == "flashinfer_all2allv"
        assert result["sources"]["parallel.all2all_backend"] == "<dict>"

    @pytest.mark.parametrize("written", [a for a in A2A_ALL if a not in ("naive", "pplx")])
    def test_others_kept(self, written: str) -> None:
        """Every other all2all backend is kept as written."""
        assert out(par(all2all_backend=written))["parallel"]["all2all_backend"] == written


EPLB_ON: dict[str, Any] = {"tensor_parallel_size": 2, "enable_expert_parallel": True, "enable_eplb": True}


class TestEplbCommunicator:
    @pytest.mark.parametrize(
        ("parallel", "cluster", "communicator", "source"),
        [
            pytest.param({**EPLB_ON, "enable_elastic_ep": True}, {}, "pynccl", "derived: elastic EP", id="elastic"),
            pytest.param({**EPLB_ON, "enable_elastic_ep": True}, {"nixl_available": True}, "pynccl",
                         "derived: elastic EP", id="elastic-before-nixl"),
            pytest.param(EPLB_ON, {"nixl_available": True}, "nixl",
                         "derived: NIXL is available (cluster.nixl_available)", id="nixl"),
            pytest.param(EPLB_ON, {}, "torch_gloo", "derived: EPLB on, no elastic EP, no NIXL", id="torch_gloo"),
            pytest.param({**EPLB_ON, "eplb_config": {"use_async": False}}, {}, "torch_gloo",
                         "derived: EPLB on, no elastic EP, no NIXL", id="use_async-plays-no-part"),
            pytest.param({**EPLB_ON, "eplb_config": {"communicator": "torch_nccl"}}, {"nixl_available": True},
                         "torch_nccl", "<dict>", id="explicit-kept"),
            pytest.param({**EPLB_ON, "enable_elastic_ep": True, "eplb_config": {"communicator": "nixl"}}, {},
                         "nixl", "<dict>", id="explicit-kept-elastic"),
            pytest.param({"enable_expert_parallel": True}, {"nixl_available": True}, None, "default", id="eplb-off"),
            pytest.param({"eplb_config": {"communicator": "pynccl"}}, {}, "pynccl", "<dict>",
                         id="eplb-off-explicit-kept"),
        ],
    )
    def test_communicator(self, parallel: dict[str, Any], cluster: dict[str, Any], communicator: str | None,
                          source: str) -> None:
        """The EPLB communicator is auto-selected only with EPLB on and none given: pynccl, nixl, torch_gloo."""
        result = out({"parallel": parallel, "cluster": cluster})
        assert result["parallel"]["eplb_config"]["communicator"] == communicator
        assert result["sources"]["parallel.eplb_config.communicator"] == source


class TestCustomAllReduce:
    @pytest.mark.parametrize(
        ("doc", "env", "disabled", "source"),
        [
            pytest.param({}, None, False, "default", id="default"),
            pytest.param({}, {}, False, "default", id="env-mode-unset"),
            pytest.param({}, {"VLLM_BATCH_INVARIANT": "1"}, True, "env:VLLM_BATCH_INVARIANT", id="batch-invariant"),
            pytest.param({}, {"VLLM_BATCH_INVARIANT": "0"}, False, "default", id="batch-invariant-0"),
            pytest.param({"cluster": {"custom_all_reduce": False}}, None, True,
                         "derived: the cuda platform has no custom all-reduce kernel (cluster.custom_all_reduce)",
                         id="platform"),
            pytest.param({"cluster": {"device": "cpu"}}, None, True,
                         "derived: the cpu platform has no custom all-reduce kernel", id="cpu-platform"),
            pytest.param({"cluster": {"device": "tpu"}}, None, True,
                         "derived: the tpu platform has no custom all-reduce kernel", id="tpu-platform"),
            pytest.param({"cluster": {"device": "cpu", "custom_all_reduce": True}}, None, False, "default",
                         id="cpu-declared"),
            pytest.param(par(tensor_parallel_size=2, nnodes=2, master_addr="10.0.0.1"), None, True,
                         "derived: multi-node (nnodes > 1)", id="multinode"),
            pytest.param(par(disable_custom_all_reduce=True), {"VLLM_BATCH_INVARIANT": "1"}, True, "<dict>",
                         id="written-true"),
        ],
    )
    def test_forced(self, doc: dict[str, Any], env: dict[str, str] | None, disabled: bool, source: str) -> None:
        """disable_custom_all_reduce is forced on by VLLM_BATCH_INVARIANT (env mode), the platform, or nnodes > 1."""
        result = out(doc, env)
        assert result["parallel"]["disable_custom_all_reduce"] is disabled
        assert result["sources"]["parallel.disable_custom_all_reduce"] == source

    def test_batch_invariant_ignored_in_declarative_mode(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Declarative mode does not read VLLM_BATCH_INVARIANT from the process environment."""
        monkeypatch.setenv("VLLM_BATCH_INVARIANT", "1")
        assert out({})["parallel"]["disable_custom_all_reduce"] is False


class TestAsyncScheduling:
    @pytest.mark.parametrize(
        ("doc", "env", "on", "backend"),
        [
            pytest.param(par(tensor_parallel_size=2), None, True, "mp", id="mp"),
            pytest.param({}, None, True, "uni", id="uni"),
            pytest.param(par(distributed_executor_backend="external_launcher"), None, True, "external_launcher",
                         id="external_launcher"),
            pytest.param({"parallel": {"distributed_executor_backend": "ray"}, "cluster": {"ray_installed": True}},
                         None, True, "ray", id="ray"),
            pytest.param({"parallel": {"distributed_executor_backend": "ray"}, "cluster": {"ray_installed": True}},
                         {}, True, "ray", id="ray-env-default-v2"),
            pytest.param({"parallel": {"distributed_executor_backend": "ray"}, "cluster": {"ray_installed": True}},
                         {"VLLM_USE_RAY_V2_EXECUTOR_BACKEND": "0"}, False, "ray", id="ray-v1"),
            pytest.param(par(distributed_executor_backend="my.pkg.Executor"), None, False, "my.pkg.Executor",
                         id="custom-class"),
        ],
    )
    def test_auto(self, doc: dict[str, Any], env: dict[str, str] | None, on: bool, backend: str) -> None:
        """"auto" async scheduling is on exactly when the executor supports it; the DP-sync flag follows it."""
        result = out(doc, env)
        assert result["scheduler"]["async_scheduling"] is on
        verb = "supports" if on else "does not support"
        assert result["sources"]["scheduler.async_scheduling"] == f"derived: auto: the {backend} executor {verb} it"
        assert result["parallel"]["disable_nccl_for_dp_synchronization"] is on
        assert result["sources"]["parallel.disable_nccl_for_dp_synchronization"] == \
            f"derived: async scheduling is {'on' if on else 'off'}"

    def test_custom_class_warns(self) -> None:
        """A custom executor class with "auto" async scheduling compiles with a warning and async off."""
        compiled = compile_dict(par(distributed_executor_backend="my.pkg.Executor"))
        assert [w.rule for w in compiled.warnings] == ["scheduler.custom_executor_async"]
        assert compiled.resolved.async_scheduling is False

    def test_ray_v1_ignored_in_declarative_mode(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Declarative mode does not read VLLM_USE_RAY_V2_EXECUTOR_BACKEND from the process environment."""
        monkeypatch.setenv("VLLM_USE_RAY_V2_EXECUTOR_BACKEND", "0")
        result = out({"parallel": {"distributed_executor_backend": "ray"}, "cluster": {"ray_installed": True}})
        assert result["scheduler"]["async_scheduling"] is True

    @pytest.mark.parametrize(
        ("setting", "flag", "expected_flag"),
        [
            pytest.param(True, None, True, id="on-unset"),
            pytest.param(False, None, False, id="off-unset"),
            pytest.param(True, False, False, id="on-written-false"),
            pytest.param(False, True, True, id="off-written-true"),
            pytest.param("auto", False, False, id="auto-written-false"),
        ],
    )
    def test_dp_sync_flag(self, setting: bool | str, flag: bool | None, expected_flag: bool) -> None:
        """disable_nccl_for_dp_synchronization follows async scheduling unless it is written."""
        parallel: dict[str, Any] = {"tensor_parallel_size": 2}
        if flag is not None:
            parallel["disable_nccl_for_dp_synchronization"] = flag
        result = out({"parallel": parallel, "scheduler": {"async_scheduling": setting}})
        assert result["scheduler"]["async_scheduling"] is (setting if isinstance(setting, bool) else True)
        assert result["parallel"]["disable_nccl_for_dp_synchronization"] is expected_flag
        expected_source = "<dict>" if flag is not None else f"derived: async scheduling is {'on' if setting else 'off'}"
        assert result["sources"]["parallel.disable_nccl_for_dp_synchronization"] == expected_source


class TestInterleaveOverride:
    @pytest.mark.parametrize(
        ("fields", "cp"),
        [
            pytest.param({"tensor_parallel_size": 2, "decode_context_parallel_size": 2,
                          "dcp_kv_cache_interleave_size": 16}, 16, id="dcp-overrides-default"),
            pytest.param({"tensor_parallel_size": 2, "decode_context_parallel_size": 2,
                          "dcp_kv_cache_interleave_size": 16, "cp_kv_cache_interleave_size": 4}, 16,
                         id="dcp-overrides-written"),
            pytest.param({"tensor_parallel_size": 2, "decode_context_parallel_size": 1,
                          "dcp_kv_cache_interleave_size": 16, "cp_kv_cache_interleave_size": 4}, 4, id="dcp-1"),
            pytest.param({"tensor_parallel_size": 2, "decode_context_parallel_size": 2,
                          "dcp_kv_cache_interleave_size": 1, "cp_kv_cache_interleave_size": 4}, 4,
                         id="dcp-interleave-1"),
            pytest.param({"tensor_parallel_size": 2, "decode_context_parallel_size": 2,
                          "dcp_kv_cache_interleave_size": 0, "cp_kv_cache_interleave_size": 8}, 8,
                         id="dcp-interleave-0"),
            pytest.param({"tensor_parallel_size": 2, "decode_context_parallel_size": 2,
                          "dcp_kv_cache_interleave_size": 8, "cp_kv_cache_interleave_size": 8}, 8, id="same"),
        ],
    )
    def test_override(self, fields: dict[str, Any], cp: int) -> None:
        """With DCP > 1, a dcp_kv_cache_interleave_size > 1 that differs replaces cp_kv_cache_interleave_size."""
        result = out(par(**fields))
        assert result["parallel"]["cp_kv_cache_interleave_size"] == cp
        assert result["parallel"]["dcp_kv_cache_interleave_size"] == fields["dcp_kv_cache_interleave_size"]
        overridden = cp != fields.get("cp_kv_cache_interleave_size", 1)
        assert (result["sources"]["parallel.cp_kv_cache_interleave_size"]
                == "derived: dcp_kv_cache_interleave_size > 1 overrides it when DCP > 1") is overridden


# -- derived properties ------------------------------------------------------------------------------------------

SEQUENCE_PARALLEL = {"naive", "pplx", "allgather_reducescatter", "deepep_high_throughput", "deepep_low_latency",
                     "mori_high_throughput", "mori_low_latency", "nixl_ep"}
BATCHED = {"deepep_low_latency", "nixl_ep"}


class TestSequenceParallelMoe:
    @pytest.mark.parametrize("a2a", A2A_ALL)
    def test_every_backend(self, a2a: str) -> None:
        """With EP, TP 2 and DP 2, use_sequence_parallel_moe is on exactly for vLLM's backend set (after rewrite)."""
        result = out(par(all2all_backend=a2a, enable_expert_parallel=True, tensor_parallel_size=2,
                         data_parallel_size=2))
        assert result["derived"]["use_sequence_parallel_moe"] is (a2a in SEQUENCE_PARALLEL)

    @pytest.mark.parametrize(
        "fields",
        [
            pytest.param({"enable_expert_parallel": False, "tensor_parallel_size": 2, "data_parallel_size": 2},
                         id="no-ep"),
            pytest.param({"enable_expert_parallel": True, "tensor_parallel_size": 1, "data_parallel_size": 2},
                         id="tp-1"),
            pytest.param({"enable_expert_parallel": True, "tensor_parallel_size": 2, "data_parallel_size": 1},
                         id="dp-1"),
        ],
    )
    def test_needs_ep_tp_dp(self, fields: dict[str, Any]) -> None:
        """use_sequence_parallel_moe needs EP, TP > 1 and DP > 1."""
        assert out(par(**fields))["derived"]["use_sequence_parallel_moe"] is False

    def test_env_dp_counts(self) -> None:
        """In the SPMD branch the DP size from VLLM_DP_SIZE counts."""
        result = out(par(enable_expert_parallel=True, tensor_parallel_size=2), env={"VLLM_DP_SIZE": "2"})
        assert result["derived"]["use_sequence_parallel_moe"] is True


class TestBatchedDpMoe:
    @pytest.mark.parametrize("a2a", A2A_ALL)
    def test_every_backend(self, a2a: str) -> None:
        """With EP and DP 2 (TP 1), use_batched_dp_moe is on exactly for deepep_low_latency and nixl_ep."""
        result = out(par(all2all_backend=a2a, enable_expert_parallel=True, data_parallel_size=2))
        assert result["derived"]["use_batched_dp_moe"] is (a2a in BATCHED)

    @pytest.mark.parametrize(
        "fields",
        [
            pytest.param({"enable_expert_parallel": False, "data_parallel_size": 2}, id="no-ep"),
            pytest.param({"enable_expert_parallel": True, "data_parallel_size": 1}, id="dp-1"),
        ],
    )
    def test_needs_ep_and_dp(self, fields: dict[str, Any]) -> None:
        """use_batched_dp_moe needs EP and DP > 1."""
        assert out(par(all2all_backend="deepep_low_latency", **fields))["derived"]["use_batched_dp_moe"] is False


class TestUseAll2All:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param({"enable_expert_parallel": True, "data_parallel_size": 2}, True, id="ep-dp"),
            pytest.param({"enable_expert_parallel": True, "data_parallel_size": 2, "is_moe_model": True}, True,
                         id="ep-dp-moe"),
            pytest.param({"enable_expert_parallel": True, "data_parallel_size": 2, "is_moe_model": False}, True,
                         id="dense"),
            pytest.param({"enable_expert_parallel": False, "data_parallel_size": 2}, False, id="no-ep"),
            pytest.param({"enable_expert_parallel": True, "tensor_parallel_size": 2}, False, id="dp-1"),
        ],
    )
    def test_use_all2all(self, fields: dict[str, Any], expected: bool) -> None:
        """use_all2all is on exactly with EP on and DP > 1 (the device communicator's rule)."""
        assert out(par(**fields))["derived"]["use_all2all"] is expected


class TestNodeLayout:
    @pytest.mark.parametrize(
        ("fields", "within", "node_rank", "local_world"),
        [
            pytest.param({"tensor_parallel_size": 4}, 1, 0, 4, id="single-node"),
            pytest.param({"tensor_parallel_size": 8, "data_parallel_size": 2, "nnodes": 4, "node_rank": 3}, 2, 1, 4,
                         id="dp-span-two-nodes"),
            pytest.param({"tensor_parallel_size": 2, "data_parallel_size": 4, "data_parallel_size_local": 2,
                          "nnodes": 2, "node_rank": 1}, 1, 0, 2, id="dp-per-node"),
            pytest.param({"tensor_parallel_size": 16, "nnodes": 2, "node_rank": 1}, 2, 1, 8, id="tp-span"),
            pytest.param({"tensor_parallel_size": 2, "data_parallel_size": 4, "data_parallel_size_local": 4,
                          "nnodes": 2, "node_rank": 1}, 2, 1, 1, id="local-equals-dp"),
        ],
    )
    def test_layout(self, fields: dict[str, Any], within: int, node_rank: int, local_world: int) -> None:
        """nnodes_within_dp, node_rank_within_dp and local_world_size follow vLLM's integer arithmetic."""
        derived = resolved(par(**fields))["derived"]
        assert (derived["nnodes_within_dp"], derived["node_rank_within_dp"], derived["local_world_size"]) == (
            within, node_rank, local_world)


class TestUbatching:
    @pytest.mark.parametrize(
        ("fields", "use", "count"),
        [
            pytest.param({}, False, 0, id="off"),
            pytest.param({"ubatch_size": 1}, False, 1, id="ubatch-1"),
            pytest.param({"ubatch_size": 2}, True, 2, id="ubatch-2"),
            pytest.param({"ubatch_size": 3}, True, 3, id="ubatch-3"),
            pytest.param({"enable_dbo": True}, True, 2, id="dbo"),
            pytest.param({"enable_dbo": True, "ubatch_size": 3}, True, 2, id="dbo-wins-over-ubatch-3"),
        ],
    )
    def test_ubatching(self, fields: dict[str, Any], use: bool, count: int) -> None:
        """use_ubatching is enable_dbo or ubatch_size > 1; num_ubatches is 2 with DBO, else ubatch_size."""
        derived = out(par(all2all_backend="deepep_high_throughput", **fields))["derived"]
        assert (derived["use_ubatching"], derived["num_ubatches"]) == (use, count)


class TestLocalEnginesOnly:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param({}, False, id="none"),
            pytest.param({"data_parallel_size": 2, "data_parallel_external_lb": True}, True, id="external"),
            pytest.param({"data_parallel_size": 2, "data_parallel_size_local": 2, "data_parallel_hybrid_lb": True},
                         True, id="hybrid"),
        ],
    )
    def test_local_engines_only(self, fields: dict[str, Any], expected: bool) -> None:
        """local_engines_only is on with external or hybrid DP load balancing."""
        assert out(par(**fields))["derived"]["local_engines_only"] is expected


# -- vLLM-environment mode --------------------------------------------------------------------------------------

DP_FIELDS = ("data_parallel_size", "data_parallel_rank", "data_parallel_rank_local", "data_parallel_master_ip",
             "data_parallel_master_port")
WRITTEN_DP: dict[str, Any] = {"data_parallel_rank": 0, "data_parallel_rank_local": 7,
                              "data_parallel_master_ip": "10.9.9.9", "data_parallel_master_port": 7777}


def _dp(result: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(result["parallel"][k] for k in DP_FIELDS)


class TestSpmdEnvBranch:
    def test_env_replaces_fields(self) -> None:
        """With DP = 1 the five DP fields come from VLLM_DP_* and the user's values are replaced."""
        env = {"VLLM_DP_SIZE": "4", "VLLM_DP_RANK": "3", "VLLM_DP_RANK_LOCAL": "1", "VLLM_DP_MASTER_IP": "10.0.0.5",
               "VLLM_DP_MASTER_PORT": "4242"}
        result = out(par(is_moe_model=True, **WRITTEN_DP), env)
        assert _dp(result) == (4, 3, 1, "10.0.0.5", 4242)
        assert result["parallel"]["data_parallel_index"] == 3
        assert result["derived"]["world_size_across_dp"] == 4
        assert {k: result["sources"][f"parallel.{k}"] for k in DP_FIELDS} == {
            "data_parallel_size": "env:VLLM_DP_SIZE",
            "data_parallel_rank": "env:VLLM_DP_RANK",
            "data_parallel_rank_local": "env:VLLM_DP_RANK_LOCAL",
            "data_parallel_master_ip": "env:VLLM_DP_MASTER_IP",
            "data_parallel_master_port": "env:VLLM_DP_MASTER_PORT",
        }

    def test_defaults_when_unset(self) -> None:
        """Unset VLLM_DP_* give vLLM's defaults: size 1, rank 0, rank_local 0 (not null), 127.0.0.1, port 0."""
        result = out(par(**WRITTEN_DP), env={})
        assert _dp(result) == (1, 0, 0, "127.0.0.1", 0)
        assert {k: result["sources"][f"parallel.{k}"] for k in DP_FIELDS} == {
            "data_parallel_size": "env:VLLM_DP_SIZE (unset: vLLM's default 1)",
            "data_parallel_rank": "env:VLLM_DP_RANK (unset: vLLM's default 0)",
            "data_parallel_rank_local": "env:VLLM_DP_RANK_LOCAL (unset: VLLM_DP_RANK's value)",
            "data_parallel_master_ip": "env:VLLM_DP_MASTER_IP (unset: vLLM's default '127.0.0.1')",
            "data_parallel_master_port": "env:VLLM_DP_MASTER_PORT (unset: vLLM's default 0)",
        }

    def test_rank_local_defaults_to_rank(self) -> None:
        """An unset VLLM_DP_RANK_LOCAL takes VLLM_DP_RANK's value."""
        result = out({}, env={"VLLM_DP_SIZE": "4", "VLLM_DP_RANK": "2"})
        assert (result["parallel"]["data_parallel_rank"], result["parallel"]["data_parallel_rank_local"]) == (2, 2)

    def test_written_rank_replaced_without_error(self) -> None:
        """A written data_parallel_rank of 5 with DP = 1 silently becomes 0 in vLLM-environment mode."""
        assert out(par(data_parallel_rank=5), env={})["parallel"]["data_parallel_rank"] == 0

    def test_port_not_picked_at_runtime(self) -> None:
        """In the SPMD branch the master port is the env value, not a runtime pick."""
        assert out({}, env={})["derived"]["dp_master_port_picked_at_runtime"] is False


class TestDpEnvBranch:
    @pytest.mark.parametrize(
        "fields",
        [
            pytest.param({"data_parallel_size": 2, "data_parallel_rank": 1}, id="dp-2"),
            pytest.param({"data_parallel_size_local": 0}, id="local-zero"),
        ],
    )
    def test_env_ignored(self, fields: dict[str, Any]) -> None:
        """In the DP branch (DP > 1 or DP-local 0) VLLM_DP_* are ignored and the written values stay."""
        env = {"VLLM_DP_SIZE": "8", "VLLM_DP_RANK": "5", "VLLM_DP_RANK_LOCAL": "3", "VLLM_DP_MASTER_IP": "10.0.0.5",
               "VLLM_DP_MASTER_PORT": "4242"}
        doc = {"parallel": {**WRITTEN_DP, **fields}}
        declarative = out(doc)
        env_mode = out(doc, env)
        assert _dp(env_mode) == _dp(declarative)
        assert env_mode["parallel"]["data_parallel_master_port"] == 7777

    def test_port_picked_at_runtime(self) -> None:
        """In the DP branch vLLM picks the master port at start-up: flagged, and the source says so."""
        result = out(par(data_parallel_size=2, data_parallel_master_port=7777), env={})
        assert result["derived"]["dp_master_port_picked_at_runtime"] is True
        assert result["sources"]["parallel.data_parallel_master_port"] == \
            "derived: vLLM replaces it with a free port at start-up (DP branch)"

    def test_port_kept_with_elastic_ep(self) -> None:
        """With elastic EP the DP branch leaves the master port alone."""
        result = out(par(data_parallel_size=2, data_parallel_master_port=7777, enable_expert_parallel=True,
                         enable_eplb=True, enable_elastic_ep=True), env={})
        assert result["derived"]["dp_master_port_picked_at_runtime"] is False
        assert result["parallel"]["data_parallel_master_port"] == 7777
        assert result["sources"]["parallel.data_parallel_master_port"] == "<dict>"

    def test_declarative_never_flags_port(self) -> None:
        """Declarative mode keeps the written port and does not flag a runtime pick."""
        result = out(par(data_parallel_size=2, data_parallel_master_port=7777))
        assert result["derived"]["dp_master_port_picked_at_runtime"] is False
        assert result["sources"]["parallel.data_parallel_master_port"] == "<dict>"


VLLM_VARS = {"VLLM_DP_SIZE": "4", "VLLM_DP_RANK": "3", "VLLM_DP_RANK_LOCAL": "1", "VLLM_DP_MASTER_IP": "10.0.0.5",
             "VLLM_DP_MASTER_PORT": "4242", "RANK": "9", "VLLM_BATCH_INVARIANT": "1", "VLLM_XLA_USE_SPMD": "1",
             "VLLM_USE_RAY_V2_EXECUTOR_BACKEND": "0"}


class TestDeclarativeIgnoresEnvironment:
    @pytest.mark.parametrize(
        "doc",
        [
            pytest.param(par(data_parallel_rank=0, data_parallel_master_port=7777), id="spmd-shape"),
            pytest.param({"parallel": {"tensor_parallel_size": 4, "distributed_executor_backend": "ray"},
                          "cluster": {"device": "tpu", "ray_installed": True}}, id="ray-tpu"),
            pytest.param(par(data_parallel_size=2, distributed_executor_backend="external_launcher"),
                         id="external-launcher-dp"),
        ],
    )
    def test_process_env_not_read(self, doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        """With every vLLM variable set in the process environment, declarative output does not change."""
        before = out(doc)
        for name, value in VLLM_VARS.items():
            monkeypatch.setenv(name, value)
        assert out(doc) == before

    def test_env_mode_differs(self) -> None:
        """The same variables passed as env= do change the result (the comparison above is not vacuous)."""
        doc = par(data_parallel_rank=0, data_parallel_master_port=7777, is_moe_model=True)
        assert _dp(out(doc)) == (1, 0, None, "127.0.0.1", 7777)
        assert _dp(out(doc, env=VLLM_VARS)) == (4, 3, 1, "10.0.0.5", 4242)

    def test_declarative_spmd_values_kept(self) -> None:
        """Declarative mode keeps the written DP rank_local, master ip and port with DP = 1."""
        result = out(par(**WRITTEN_DP))
        assert _dp(result) == (1, 0, 7, "10.9.9.9", 7777)
        assert result["sources"]["parallel.data_parallel_master_port"] == "<dict>"


class TestEnvNotInteger:
    @pytest.mark.parametrize(
        ("name", "doc"),
        [
            pytest.param("VLLM_DP_SIZE", {}, id="VLLM_DP_SIZE"),
            pytest.param("VLLM_DP_RANK", {}, id="VLLM_DP_RANK"),
            pytest.param("VLLM_DP_RANK_LOCAL", {}, id="VLLM_DP_RANK_LOCAL"),
            pytest.param("VLLM_DP_MASTER_PORT", {}, id="VLLM_DP_MASTER_PORT"),
            pytest.param("RANK", par(data_parallel_size=2, distributed_executor_backend="external_launcher"),
                         id="RANK"),
            pytest.param("VLLM_BATCH_INVARIANT", {}, id="VLLM_BATCH_INVARIANT"),
            pytest.param("VLLM_XLA_USE_SPMD", {"parallel": {"tensor_parallel_size": 2}, "cluster": {"device": "tpu"}},
                         id="VLLM_XLA_USE_SPMD"),
            pytest.param("VLLM_USE_RAY_V2_EXECUTOR_BACKEND",
                         {"parallel": {"distributed_executor_backend": "ray"}, "cluster": {"ray_installed": True}},
                         id="VLLM_USE_RAY_V2_EXECUTOR_BACKEND"),
        ],
    )
    def test_not_integer(self, name: str, doc: dict[str, Any]) -> None:
        """A vLLM variable that int() cannot parse, where vLLM reads it, is a rule error located at env:NAME."""
        with pytest.raises(RuleError) as caught:
            compile_dict(doc, env={name: "x1"})
        assert [i.render() for i in caught.value.issues] == [
            f'env:{name}: env.{name}: not an integer (got "x1"); vLLM reads it with int(): set a whole number, '
            "or unset it [env.not_an_integer]"]

    @pytest.mark.parametrize(
        ("name", "doc"),
        [
            pytest.param("VLLM_DP_SIZE", par(data_parallel_size=2), id="dp-branch-ignores-VLLM_DP_SIZE"),
            pytest.param("RANK", {}, id="RANK-without-external-launcher"),
            pytest.param("VLLM_XLA_USE_SPMD", par(tensor_parallel_size=2), id="cuda-ignores-VLLM_XLA_USE_SPMD"),
            pytest.param("VLLM_USE_RAY_V2_EXECUTOR_BACKEND", par(tensor_parallel_size=2), id="mp-ignores-ray-v2"),
        ],
    )
    def test_unread_variables_may_hold_anything(self, name: str, doc: dict[str, Any]) -> None:
        """Like vLLM's lazily evaluated envs, a variable matters only where it is read."""
        assert out(doc, env={name: "x1"})["parallel"] == out(doc, env={})["parallel"]

    def test_all_reported_sorted(self) -> None:
        """Several bad variables are reported together, sorted by name."""
        with pytest.raises(RuleError) as caught:
            compile_dict({}, env={"VLLM_DP_SIZE": "two", "VLLM_BATCH_INVARIANT": "1.5"})
        assert [str(i.where) for i in caught.value.issues] == ["env:VLLM_BATCH_INVARIANT", "env:VLLM_DP_SIZE"]

    def test_master_ip_any_text(self) -> None:
        """VLLM_DP_MASTER_IP is text: any value is taken as is."""
        assert out({}, env={"VLLM_DP_MASTER_IP": "node-7"})["parallel"]["data_parallel_master_ip"] == "node-7"

    def test_unrelated_variables_ignored(self) -> None:
        """Variables pconf does not read may hold anything."""
        assert out({}, env={"PATH": "/bin", "VLLM_OTHER": "x"}) == out({}, env={})


class TestDeterminism:
    @pytest.mark.parametrize(
        ("doc", "env"),
        [
            pytest.param({}, None, id="empty"),
            pytest.param({"parallel": {**EPLB_ON, "data_parallel_size": 2, "all2all_backend": "pplx",
                                       "numa_bind": True, "numa_bind_nodes": [0, 0, 1, 1]},
                          "cluster": {"nixl_available": True}}, None, id="eplb"),
            pytest.param(par(data_parallel_size=2, distributed_executor_backend="external_launcher"), {"RANK": "1"},
                         id="env"),
        ],
    )
    def test_same_output(self, doc: dict[str, Any], env: dict[str, str] | None) -> None:
        """Compiling the same dict twice gives identical to_dict() output, key order included."""
        first, second = out(doc, env), out(doc, env)
        assert first == second
        assert list(first["sources"]) == list(second["sources"])

    def test_input_not_mutated(self) -> None:
        """Compiling does not change the caller's dict."""
        doc: dict[str, Any] = {"parallel": {"numa_bind": True, "numa_bind_nodes": [0, 1], "all2all_backend": "naive"}}
        out(doc)
        assert doc == {"parallel": {"numa_bind": True, "numa_bind_nodes": [0, 1], "all2all_backend": "naive"}}
