"""Cross-field rules (pconf.rules.RULES): each rule fires on a minimal TOML file and stays quiet on a close one.

Every case is written as a real TOML file and compiled with ``compile_files``, so the rendered line carries the
exact ``file:line:col`` of the key the rule is about (or the env variable / derivation that set the value).
``TestCoverage`` fails when a rule is added to RULES without a case here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pconf.compile import Compiled, compile_dict, compile_files
from pconf.errors import Issue, RuleError
from pconf.rules import RULES, rules_by_id

FILE = "c.toml"


@dataclass(frozen=True)
class Case:
    """A document that triggers ``rule`` (rendered as ``line``) and a close one (``passing``) that does not."""

    rule: str
    toml: str
    line: str
    passing: str
    env: Mapping[str, str] | None = None
    passing_env: Mapping[str, str] | None = None
    #: Other rules the close document is refused by (pconf's deployment checks where vLLM's rule is quiet).
    passing_refused: tuple[str, ...] = ()


def compile_text(tmp_path: Path, text: str, env: Mapping[str, str] | None) -> Compiled:
    """Compile ``text`` written to ``c.toml`` in the current directory (tests chdir into tmp_path)."""
    (tmp_path / FILE).write_text(text)
    return compile_files([FILE], env=env)


def rule_issues(tmp_path: Path, text: str, env: Mapping[str, str] | None = None) -> tuple[Issue, ...]:
    """The errors of a document that must fail the rules."""
    with pytest.raises(RuleError) as caught:
        compile_text(tmp_path, text, env)
    return caught.value.issues


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


EP2 = "tensor_parallel_size = 2\nenable_expert_parallel = true\nenable_eplb = true\n"
TWO_NODES = 'nodes = [{ id = 0, cpus = "0-3" }, { id = 1, cpus = "4-7" }]\n'
#: Node 0's address, for a multi-node [parallel] table (its last lines: the line numbers above stay).
TP2 = "tensor_parallel_size = 2\n"
NODE0 = 'master_addr = "10.0.0.1"\ndata_parallel_master_ip = "10.0.0.1"\n'

CASES: list[object] = [
    # -- ParallelConfig.__post_init__ -----------------------------------------------------------------------
    pytest.param(Case(
        "elastic_ep.requires_eplb",
        "[parallel]\nenable_elastic_ep = true\n",
        "c.toml:2:1: parallel.enable_elastic_ep: elastic EP needs enable_eplb = true (got true); set "
        "parallel.enable_eplb = true, or turn elastic EP off [elastic_ep.requires_eplb]",
        f"[parallel]\nenable_elastic_ep = true\n{EP2}",
    ), id="elastic_ep.requires_eplb"),
    pytest.param(Case(
        "elastic_ep.no_pipeline",
        f"[parallel]\npipeline_parallel_size = 2\nenable_elastic_ep = true\n{EP2}",
        "c.toml:2:1: parallel.pipeline_parallel_size: elastic EP does not support pipeline parallelism (got 2); use "
        "pipeline_parallel_size = 1 or turn elastic EP off [elastic_ep.no_pipeline]",
        f"[parallel]\npipeline_parallel_size = 1\nenable_elastic_ep = true\n{EP2}",
    ), id="elastic_ep.no_pipeline"),
    pytest.param(Case(
        "elastic_ep.no_lb_modes",
        f"[parallel]\ndata_parallel_size = 2\ndata_parallel_external_lb = true\nenable_elastic_ep = true\n{EP2}",
        "c.toml:3:1: parallel.data_parallel_external_lb: elastic EP cannot be combined with external or hybrid DP "
        "load balancing (got true); turn the load-balancing mode or elastic EP off [elastic_ep.no_lb_modes]",
        f"[parallel]\ndata_parallel_size = 2\ndata_parallel_external_lb = false\nenable_elastic_ep = true\n{EP2}",
    ), id="elastic_ep.no_lb_modes-external"),
    pytest.param(Case(
        "elastic_ep.no_lb_modes",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_size_local = 2\ndata_parallel_hybrid_lb = true\n"
        f"enable_elastic_ep = true\n{EP2}",
        "c.toml:4:1: parallel.data_parallel_hybrid_lb: elastic EP cannot be combined with external or hybrid DP "
        "load balancing (got true); turn the load-balancing mode or elastic EP off [elastic_ep.no_lb_modes]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_size_local = 2\ndata_parallel_hybrid_lb = true\n"
        f"enable_elastic_ep = false\n{EP2}",
    ), id="elastic_ep.no_lb_modes-hybrid"),
    pytest.param(Case(
        "env.not_an_integer",
        "[parallel]\ntensor_parallel_size = 2\n",
        'env:VLLM_DP_SIZE: env.VLLM_DP_SIZE: not an integer (got "2.0"); vLLM reads it with int(): set a whole '
        "number, or unset it [env.not_an_integer]",
        "[parallel]\ntensor_parallel_size = 2\n",
        env={"VLLM_DP_SIZE": "2.0"}, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="env.not_an_integer"),
    pytest.param(Case(
        "env.rank_required",
        '[parallel]\ndata_parallel_size = 2\ndistributed_executor_backend = "external_launcher"\n',
        'c.toml:3:1: parallel.distributed_executor_backend: external_launcher with data parallelism needs the RANK '
        'environment variable (got "external_launcher"); launch with torchrun (which sets RANK), or compile without '
        "--vllm-env [env.rank_required]",
        '[parallel]\ndata_parallel_size = 2\ndistributed_executor_backend = "external_launcher"\n',
        env={}, passing_env={"RANK": "1"},
    ), id="env.rank_required-env-mode"),
    pytest.param(Case(
        "env.rank_required",
        '[parallel]\ndata_parallel_size = 2\ndistributed_executor_backend = "external_launcher"\n',
        'c.toml:3:1: parallel.distributed_executor_backend: external_launcher with data parallelism needs the RANK '
        'environment variable (got "external_launcher"); launch with torchrun (which sets RANK), or compile without '
        "--vllm-env [env.rank_required]",
        '[parallel]\ndata_parallel_size = 2\ndistributed_executor_backend = "external_launcher"\n',
        env={}, passing_env=None,
    ), id="env.rank_required-declarative-passes"),
    pytest.param(Case(
        "env.rank_required",
        '[parallel]\ndata_parallel_size_local = 0\ndistributed_executor_backend = "external_launcher"\n',
        'c.toml:3:1: parallel.distributed_executor_backend: external_launcher with data parallelism needs the RANK '
        'environment variable (got "external_launcher"); launch with torchrun (which sets RANK), or compile without '
        "--vllm-env [env.rank_required]",
        '[parallel]\ndata_parallel_size_local = 1\ndistributed_executor_backend = "external_launcher"\n',
        env={}, passing_env={},
    ), id="env.rank_required-local-zero"),
    pytest.param(Case(
        "dp.rank_range",
        "[parallel]\ndata_parallel_rank = 1\n",
        "c.toml:2:1: parallel.data_parallel_rank: must be below data_parallel_size (1) (got 1); use a rank from 0 to 0 "
        "[dp.rank_range]",
        "[parallel]\ndata_parallel_rank = 1\n",
        env=None, passing_env={},
    ), id="dp.rank_range-declarative-vs-env-dp1"),
    pytest.param(Case(
        "dp.rank_range",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_rank = 2\n",
        "c.toml:3:1: parallel.data_parallel_rank: must be below data_parallel_size (2) (got 2); use a rank from 0 to 1 "
        "[dp.rank_range]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_rank = 1\n",
        env={}, passing_env={},
    ), id="dp.rank_range-env-dp-branch"),
    pytest.param(Case(
        "dp.rank_range",
        "[parallel]\ndata_parallel_size_local = 0\ndata_parallel_rank = 1\n",
        "c.toml:3:1: parallel.data_parallel_rank: must be below data_parallel_size (1) (got 1); use a rank from 0 to 0 "
        "[dp.rank_range]",
        "[parallel]\ndata_parallel_size_local = 1\ndata_parallel_rank = 1\n",
        env={}, passing_env={},
    ), id="dp.rank_range-env-local-zero"),
    pytest.param(Case(
        "dp.rank_range",
        '[parallel]\ndata_parallel_size = 2\ndistributed_executor_backend = "external_launcher"\n',
        "env:RANK (RANK // (PP × TP × PCP) with external_launcher): parallel.data_parallel_rank: must be below "
        "data_parallel_size (2) (got 2); use a rank from 0 to 1 [dp.rank_range]",
        '[parallel]\ndata_parallel_size = 2\ndistributed_executor_backend = "external_launcher"\n',
        env={"RANK": "2"}, passing_env={"RANK": "1"},
    ), id="dp.rank_range-env-rank"),
    pytest.param(Case(
        "dp.offline_dense",
        "[parallel]\nis_moe_model = false\n",
        "env:VLLM_DP_SIZE: parallel.data_parallel_size: offline data parallelism is not supported for dense models "
        "(got 2); unset VLLM_DP_SIZE, or run independent instances [dp.offline_dense]",
        "[parallel]\nis_moe_model = true\n",
        env={"VLLM_DP_SIZE": "2"}, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="dp.offline_dense-env"),
    pytest.param(Case(
        "dp.offline_dense",
        "[parallel]\nis_moe_model = false\n",
        "env:VLLM_DP_SIZE: parallel.data_parallel_size: offline data parallelism is not supported for dense models "
        "(got 2); unset VLLM_DP_SIZE, or run independent instances [dp.offline_dense]",
        "[parallel]\nis_moe_model = false\ndata_parallel_size = 2\n",
        env={"VLLM_DP_SIZE": "2"}, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="dp.offline_dense-dp-branch-passes"),
    pytest.param(Case(
        "dp.offline_dense",
        "[parallel]\nis_moe_model = false\n",
        "env:VLLM_DP_SIZE: parallel.data_parallel_size: offline data parallelism is not supported for dense models "
        "(got 2); unset VLLM_DP_SIZE, or run independent instances [dp.offline_dense]",
        "[parallel]\n",
        env={"VLLM_DP_SIZE": "2"}, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="dp.offline_dense-unknown-model-passes"),
    pytest.param(Case(
        "executor.gpu_count",
        "[parallel]\ntensor_parallel_size = 16\n",
        "c.toml:2:1: parallel.tensor_parallel_size: world_size 16 is larger than the 8 GPUs of a node (got 16); use "
        'fewer ranks, set parallel.nnodes for multi-node mp, or set parallel.distributed_executor_backend = "ray" '
        "[executor.gpu_count]",
        '[parallel]\ntensor_parallel_size = 16\ndistributed_executor_backend = "mp"\n',
        passing_refused=("plan.devices",),
    ), id="executor.gpu_count-explicit-backend-passes"),
    pytest.param(Case(
        "executor.gpu_count",
        "[parallel]\ntensor_parallel_size = 16\n",
        "c.toml:2:1: parallel.tensor_parallel_size: world_size 16 is larger than the 8 GPUs of a node (got 16); use "
        'fewer ranks, set parallel.nnodes for multi-node mp, or set parallel.distributed_executor_backend = "ray" '
        "[executor.gpu_count]",
        '[parallel]\ntensor_parallel_size = 16\n\n[cluster]\ndevice = "rocm"\n',
        passing_refused=("plan.devices",),
    ), id="executor.gpu_count-rocm-passes"),
    pytest.param(Case(
        "executor.gpu_count",
        "[parallel]\ntensor_parallel_size = 16\n",
        "c.toml:2:1: parallel.tensor_parallel_size: world_size 16 is larger than the 8 GPUs of a node (got 16); use "
        'fewer ranks, set parallel.nnodes for multi-node mp, or set parallel.distributed_executor_backend = "ray" '
        "[executor.gpu_count]",
        f"[parallel]\ntensor_parallel_size = 16\nnnodes = 2\n{NODE0}",
    ), id="executor.gpu_count-multinode-passes"),
    pytest.param(Case(
        "executor.gpu_count",
        "[parallel]\ntensor_parallel_size = 4\ndata_parallel_size = 2\n\n[cluster]\ndevices_per_node = 3\n",
        "c.toml:2:1: parallel.tensor_parallel_size: world_size 4 is larger than the 3 GPUs of a node (got 4); use "
        'fewer ranks, set parallel.nnodes for multi-node mp, or set parallel.distributed_executor_backend = "ray" '
        "[executor.gpu_count]",
        "[parallel]\ntensor_parallel_size = 4\ndata_parallel_size = 2\n\n[cluster]\ndevices_per_node = 4\n",
        passing_refused=("plan.devices",),
    ), id="executor.gpu_count-world-not-across-dp"),
    pytest.param(Case(
        "executor.gpu_count",
        "[parallel]\ndata_parallel_size = 2\n\n[cluster]\ndevices_per_node = 0\n",
        "c.toml:1:2: parallel.tensor_parallel_size: world_size 1 is larger than the 0 GPUs of a node (got 1); use "
        'fewer ranks, set parallel.nnodes for multi-node mp, or set parallel.distributed_executor_backend = "ray" '
        "[executor.gpu_count]",
        "[parallel]\ndata_parallel_size = 1\n\n[cluster]\ndevices_per_node = 1\n",
    ), id="executor.gpu_count-zero-devices"),
    pytest.param(Case(
        "nnodes.backend",
        f'[parallel]\ntensor_parallel_size = 2\nnnodes = 2\ndistributed_executor_backend = "ray"\n{NODE0}\n'
        "[cluster]\nray_installed = true\n",
        'c.toml:3:1: parallel.nnodes: nnodes > 1 needs the mp, uni or external_launcher backend, not ray (got 2); set '
        'distributed_executor_backend = "mp" [nnodes.backend]',
        f'[parallel]\ntensor_parallel_size = 2\nnnodes = 2\ndistributed_executor_backend = "uni"\n{NODE0}\n'
        "[cluster]\nray_installed = true\n",
    ), id="nnodes.backend"),
    pytest.param(Case(
        "nnodes.backend",
        f'[parallel]\ntensor_parallel_size = 2\nnnodes = 2\ndistributed_executor_backend = "my.pkg.Executor"\n{NODE0}',
        'c.toml:3:1: parallel.nnodes: nnodes > 1 needs the mp, uni or external_launcher backend, not my.pkg.Executor '
        '(got 2); set distributed_executor_backend = "mp" [nnodes.backend]',
        '[parallel]\ntensor_parallel_size = 2\nnnodes = 1\ndistributed_executor_backend = "my.pkg.Executor"\n',
    ), id="nnodes.backend-custom-class"),
    # -- ParallelConfig._validate_parallel_config --------------------------------------------------------------
    pytest.param(Case(
        "dp.local_size",
        "[parallel]\ndata_parallel_size_local = 2\n",
        "c.toml:2:1: parallel.data_parallel_size_local: must be <= data_parallel_size (1) (got 2); lower it, or raise "
        "data_parallel_size [dp.local_size]",
        "[parallel]\ndata_parallel_size_local = 2\n",
        env=None, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="dp.local_size-env-dp-passes"),
    pytest.param(Case(
        "dp.external_lb_needs_dp",
        "[parallel]\ndata_parallel_external_lb = true\n",
        "c.toml:2:1: parallel.data_parallel_external_lb: needs data_parallel_size > 1 (got true); raise "
        "data_parallel_size or turn external LB off [dp.external_lb_needs_dp]",
        "[parallel]\ndata_parallel_external_lb = true\n",
        env=None, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="dp.external_lb_needs_dp-env-dp-passes"),
    pytest.param(Case(
        "numa.requires_bind",
        "[parallel]\nnuma_bind_nodes = [0]\n",
        "c.toml:2:1: parallel.numa_bind_nodes: needs numa_bind = true; set parallel.numa_bind = true or remove the "
        "list [numa.requires_bind]",
        "[parallel]\nnuma_bind_nodes = [0]\nnuma_bind = true\n",
    ), id="numa.requires_bind-nodes"),
    pytest.param(Case(
        "numa.requires_bind",
        '[parallel]\nnuma_bind_cpus = ["0-3"]\n',
        "c.toml:2:1: parallel.numa_bind_cpus: needs numa_bind = true; set parallel.numa_bind = true or remove the "
        "list [numa.requires_bind]",
        '[parallel]\nnuma_bind_cpus = ["0-3"]\nnuma_bind = true\n',
    ), id="numa.requires_bind-cpus"),
    # -- NUMA binding (vLLM numa_utils: what fails when workers and EngineCores start) ----------------------
    pytest.param(Case(
        "numa.nodes_too_short",
        "[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0]\ntensor_parallel_size = 2\n",
        "c.toml:3:1: parallel.numa_bind_nodes: covers 1 GPU, but the workers of a node use GPU indices 0-1 (got [0]); "
        "list a NUMA node for each of the 2 GPUs (vLLM fails at worker start: GPU index 1 exceeds numa_bind_nodes "
        "size 1) [numa.nodes_too_short]",
        "[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\ntensor_parallel_size = 2\n",
    ), id="numa.nodes_too_short"),
    pytest.param(Case(
        "numa.cpus_too_short",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\nnuma_bind_cpus = ["0-3"]\ndata_parallel_size = 2\n',
        'c.toml:4:1: parallel.numa_bind_cpus: covers 1 GPU, but the workers of a node use GPU indices 0-1 (got '
        '["0-3"]); list a CPU list for each of the 2 GPUs (vLLM fails at worker start: GPU index 1 exceeds '
        "numa_bind_cpus size 1) [numa.cpus_too_short]",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\nnuma_bind_cpus = ["0-3", "4-7"]\n'
        "data_parallel_size = 2\n",
    ), id="numa.cpus_too_short-dp-offset"),
    pytest.param(Case(
        "numa.topology_gpus_too_short",
        f"[parallel]\nnuma_bind = true\ntensor_parallel_size = 4\n[cluster.topology]\n{TWO_NODES}gpus = [0, 1]\n",
        "c.toml:6:1: cluster.topology.gpus: covers 2 GPUs, but the workers of a node use GPU indices 0-3 (got [0, 1]); "
        "list the NUMA node for each of the 4 GPUs (vLLM fails at worker start: GPU index 2 exceeds gpus size 2) "
        "[numa.topology_gpus_too_short]",
        f"[parallel]\nnuma_bind = true\ntensor_parallel_size = 4\n[cluster.topology]\n{TWO_NODES}"
        "gpus = [0, 0, 1, 1, 0, 0, 1, 1]\n",
    ), id="numa.topology_gpus_too_short"),
    pytest.param(Case(
        "numa.auto_detection",
        '[parallel]\nnuma_bind = true\n[cluster.topology]\nnodes = [{ id = 0, cpus = "0-3" }]\ngpus = [0]\n',
        "c.toml:2:1: parallel.numa_bind: vLLM could not detect the GPU-to-NUMA-node mapping: vLLM's auto-detection "
        "needs at least two NUMA nodes (node1); the topology has 1 (got true); set parallel.numa_bind_nodes (one node "
        "per visible GPU), or turn numa_bind off [numa.auto_detection]",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0, 0, 0, 0, 0, 0, 0]\n[cluster.topology]\n'
        'nodes = [{ id = 0, cpus = "0-3" }]\ngpus = [0]\n',
    ), id="numa.auto_detection-single-node"),
    pytest.param(Case(
        "numa.runtime_detection",
        "[parallel]\nnuma_bind = true\n",
        "c.toml:2:1: parallel.numa_bind: the binding is left to vLLM's auto-detection at run time: no cluster.topology "
        "is declared or probed; to plan it, declare [cluster.topology], pass --probe-topology, or set "
        "parallel.numa_bind_nodes [numa.runtime_detection]",
        f"[parallel]\nnuma_bind = true\n[cluster.topology]\n{TWO_NODES}gpus = [0, 0, 0, 0, 1, 1, 1, 1]\n",
    ), id="numa.runtime_detection-no-topology"),
    pytest.param(Case(
        "numa.runtime_detection",
        f"[parallel]\nnuma_bind = true\n[cluster.topology]\n{TWO_NODES}gpus = [0, -1, 1, 1, 0, 0, 1, 1]\n",
        "c.toml:2:1: parallel.numa_bind: the binding is left to vLLM's auto-detection at run time: "
        "cluster.topology.gpus does not know the NUMA node of GPU 1 (-1); to plan it, declare [cluster.topology], "
        "pass --probe-topology, or set parallel.numa_bind_nodes [numa.runtime_detection]",
        f"[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0, 1, 1, 0, 0, 1, 1]\n[cluster.topology]\n{TWO_NODES}"
        "gpus = [0, -1, 1, 1, 0, 0, 1, 1]\n",
    ), id="numa.runtime_detection-unknown-gpu"),
    pytest.param(Case(
        "numa.list_length",
        "[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\ntensor_parallel_size = 2\n",
        "c.toml:3:1: parallel.numa_bind_nodes: has 2 entries but a node has 8 devices (cluster.devices_per_node) (got "
        "[0, 0]); list one entry per visible GPU [numa.list_length]",
        "[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\ntensor_parallel_size = 2\n[cluster]\n"
        "devices_per_node = 2\n",
    ), id="numa.list_length"),
    pytest.param(Case(
        "numa.unknown_node",
        f"[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 2]\n[cluster]\ndevices_per_node = 2\n"
        f"[cluster.topology]\n{TWO_NODES}",
        "c.toml:3:1: parallel.numa_bind_nodes[1]: the host has no NUMA node 2 (its nodes: 0, 1) (got 2); use a node "
        "of cluster.topology.nodes [numa.unknown_node]",
        f"[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 1]\n[cluster]\ndevices_per_node = 2\n"
        f"[cluster.topology]\n{TWO_NODES}",
    ), id="numa.unknown_node"),
    pytest.param(Case(
        "numa.unknown_cpu",
        f'[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 1]\nnuma_bind_cpus = ["0-3", "4-9"]\n{TP2}'
        f"[cluster]\ndevices_per_node = 2\n[cluster.topology]\n{TWO_NODES}",
        'c.toml:4:1: parallel.numa_bind_cpus[1]: the host has no CPUs 8-9 (its CPUs: 0-7) (got "4-9"); use CPUs of '
        "cluster.topology.nodes [numa.unknown_cpu]",
        f'[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 1]\nnuma_bind_cpus = ["0-3", "4-7"]\n{TP2}'
        f"[cluster]\ndevices_per_node = 2\n[cluster.topology]\n{TWO_NODES}",
    ), id="numa.unknown_cpu"),
    pytest.param(Case(
        "numa.cpus_off_node",
        f'[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 1]\nnuma_bind_cpus = ["0-3", "2-5"]\n{TP2}'
        f"[cluster]\ndevices_per_node = 2\n[cluster.topology]\n{TWO_NODES}",
        'c.toml:4:1: parallel.numa_bind_cpus[1]: CPUs 2-3 outside GPU 1\'s NUMA node 1 (got "2-5"); use CPUs of '
        "node 1 (4-7) [numa.cpus_off_node]",
        f'[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 1]\nnuma_bind_cpus = ["0-3", "4-5"]\n{TP2}'
        f"[cluster]\ndevices_per_node = 2\n[cluster.topology]\n{TWO_NODES}",
    ), id="numa.cpus_off_node"),
    pytest.param(Case(
        "numa.not_bound",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0]\ntensor_parallel_size = 2\n'
        'distributed_executor_backend = "ray"\n[cluster]\nray_installed = true\n',
        "c.toml:2:1: parallel.numa_bind: vLLM binds only the EngineCore processes under the ray executor (its "
        "workers are Ray actors) (got true); use the mp executor for bound workers, or bind those processes outside "
        "vLLM (numactl, taskset) [numa.not_bound]",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\ntensor_parallel_size = 2\n'
        'distributed_executor_backend = "mp"\n',
    ), id="numa.not_bound-ray"),
    pytest.param(Case(
        "numa.not_bound",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0]\ntensor_parallel_size = 2\n'
        'distributed_executor_backend = "external_launcher"\n',
        "c.toml:2:1: parallel.numa_bind: vLLM binds no process under external_launcher (torchrun starts them all) "
        "(got true); use the mp executor for bound workers, or bind those processes outside vLLM (numactl, taskset) "
        "[numa.not_bound]",
        '[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0]\n',
    ), id="numa.not_bound-external-launcher"),
    pytest.param(Case(
        "numa.topology_duplicate_node",
        '[cluster.topology]\nnodes = [{ id = 0, cpus = "0-3" }, { id = 0, cpus = "4-7" }]\n',
        "c.toml:2:38: cluster.topology.nodes[1].id: node declared twice (got 0); give each node its own id "
        "[numa.topology_duplicate_node]",
        f"[cluster.topology]\n{TWO_NODES}",
    ), id="numa.topology_duplicate_node"),
    pytest.param(Case(
        "numa.topology_cpu_overlap",
        '[cluster.topology]\nnodes = [{ id = 0, cpus = "0-3" }, { id = 1, cpus = "3-7" }]\n',
        'c.toml:2:46: cluster.topology.nodes[1].cpus: CPU 3 also listed on node 0 (got "3-7"); list each CPU on one '
        "node [numa.topology_cpu_overlap]",
        f"[cluster.topology]\n{TWO_NODES}",
    ), id="numa.topology_cpu_overlap"),
    pytest.param(Case(
        "numa.topology_unknown_node",
        f"[cluster.topology]\n{TWO_NODES}gpus = [0, 2]\n",
        "c.toml:3:1: cluster.topology.gpus[1]: no node 2 in cluster.topology.nodes (got 2); use a declared node, or -1 "
        "when unknown [numa.topology_unknown_node]",
        f"[cluster.topology]\n{TWO_NODES}gpus = [0, -1]\n",
    ), id="numa.topology_unknown_node"),
    pytest.param(Case(
        "eplb.platform",
        f'[parallel]\n{EP2}\n[cluster]\ndevice = "cpu"\n',
        "c.toml:4:1: parallel.enable_eplb: EPLB needs CUDA or ROCm devices, not cpu (got true); turn EPLB off or set "
        "cluster.device [eplb.platform]",
        f'[parallel]\n{EP2}\n[cluster]\ndevice = "rocm"\n',
    ), id="eplb.platform"),
    pytest.param(Case(
        "eplb.requires_ep",
        "[parallel]\ntensor_parallel_size = 2\nenable_eplb = true\n",
        "c.toml:3:1: parallel.enable_eplb: EPLB needs enable_expert_parallel = true (got true); set "
        "parallel.enable_expert_parallel = true [eplb.requires_ep]",
        "[parallel]\ntensor_parallel_size = 2\nenable_eplb = true\nenable_expert_parallel = true\n",
    ), id="eplb.requires_ep"),
    pytest.param(Case(
        "eplb.requires_tp_or_dp",
        "[parallel]\npipeline_parallel_size = 2\nprefill_context_parallel_size = 2\nenable_expert_parallel = true\n"
        "enable_eplb = true\n",
        "c.toml:5:1: parallel.enable_eplb: EPLB needs tensor_parallel_size or data_parallel_size above 1 (got true); "
        "raise one of them [eplb.requires_tp_or_dp]",
        "[parallel]\ndata_parallel_size = 2\nprefill_context_parallel_size = 2\nenable_expert_parallel = true\n"
        "enable_eplb = true\n",
    ), id="eplb.requires_tp_or_dp"),
    pytest.param(Case(
        "eplb.requires_tp_or_dp",
        "[parallel]\nenable_expert_parallel = true\nenable_eplb = true\n",
        "c.toml:3:1: parallel.enable_eplb: EPLB needs tensor_parallel_size or data_parallel_size above 1 (got true); "
        "raise one of them [eplb.requires_tp_or_dp]",
        "[parallel]\nenable_expert_parallel = true\nenable_eplb = true\n",
        env=None, passing_env={"VLLM_DP_SIZE": "2"},
    ), id="eplb.requires_tp_or_dp-env-dp-passes"),
    pytest.param(Case(
        "eplb.redundant_without_eplb",
        "[parallel.eplb_config]\nnum_redundant_experts = 1\n",
        "c.toml:2:1: parallel.eplb_config.num_redundant_experts: needs enable_eplb = true (got 1); enable EPLB, or "
        "remove num_redundant_experts [eplb.redundant_without_eplb]",
        '[parallel.eplb_config]\nnum_redundant_experts = 0\nwindow_size = 5\nuse_async = false\n'
        'communicator = "nixl"\n',
    ), id="eplb.redundant_without_eplb"),
    pytest.param(Case(
        "dcp.tp_divisible",
        "[parallel]\ntensor_parallel_size = 4\ndecode_context_parallel_size = 3\n",
        "c.toml:3:1: parallel.decode_context_parallel_size: tensor_parallel_size (4) is not divisible by it (got 3); "
        "use a divisor of tensor_parallel_size [dcp.tp_divisible]",
        "[parallel]\ntensor_parallel_size = 4\ndecode_context_parallel_size = 2\n",
    ), id="dcp.tp_divisible"),
    pytest.param(Case(
        "dcp.tp_divisible",
        "[parallel]\ntensor_parallel_size = 2\ndecode_context_parallel_size = 4\n",
        "c.toml:3:1: parallel.decode_context_parallel_size: tensor_parallel_size (2) is not divisible by it (got 4); "
        "use a divisor of tensor_parallel_size [dcp.tp_divisible]",
        "[parallel]\ntensor_parallel_size = 4\ndecode_context_parallel_size = 4\n",
    ), id="dcp.tp_divisible-dcp-above-tp"),
    pytest.param(Case(
        "dcp.a2a_requires_dcp",
        '[parallel]\ndcp_comm_backend = "a2a"\n',
        'c.toml:2:1: parallel.dcp_comm_backend: a2a needs decode_context_parallel_size > 1 (got "a2a"); use "ag_rs", '
        "or raise decode_context_parallel_size [dcp.a2a_requires_dcp]",
        '[parallel]\ndcp_comm_backend = "a2a"\ntensor_parallel_size = 2\ndecode_context_parallel_size = 2\n',
    ), id="dcp.a2a_requires_dcp"),
    # -- ParallelConfig._verify_args -------------------------------------------------------------------------
    pytest.param(Case(
        "ray.not_installed",
        '[parallel]\ndistributed_executor_backend = "ray"\n',
        'c.toml:2:1: parallel.distributed_executor_backend: the ray backend needs Ray installed (got "ray"); install '
        "Ray (pip install 'pconf-vllm[ray]') and set cluster.ray_installed = true, or use mp [ray.not_installed]",
        '[parallel]\ndistributed_executor_backend = "ray"\n\n[cluster]\nray_installed = true\n',
    ), id="ray.not_installed"),
    pytest.param(Case(
        "ray.not_installed",
        '[parallel]\ntensor_parallel_size = 2\ndata_parallel_backend = "ray"\n',
        "derived: data_parallel_backend = ray: parallel.distributed_executor_backend: the ray backend needs Ray "
        "installed (got \"ray\"); install Ray (pip install 'pconf-vllm[ray]') and set cluster.ray_installed = true, or "
        "use mp [ray.not_installed]",
        '[parallel]\ntensor_parallel_size = 1\ndata_parallel_backend = "ray"\n',
    ), id="ray.not_installed-auto-selected"),
    pytest.param(Case(
        "ray.nsight_requires_ray",
        "[parallel]\nray_workers_use_nsight = true\n",
        "c.toml:2:1: parallel.ray_workers_use_nsight: nsight profiling needs the ray executor backend (got true); set "
        'distributed_executor_backend = "ray" or turn it off [ray.nsight_requires_ray]',
        '[parallel]\nray_workers_use_nsight = true\ndistributed_executor_backend = "ray"\n\n'
        "[cluster]\nray_installed = true\n",
    ), id="ray.nsight_requires_ray"),
    # -- EngineArgs / VllmConfig --------------------------------------------------------------------------------
    pytest.param(Case(
        "engine.node_rank_range",
        "[parallel]\nnode_rank = 1\n",
        "c.toml:2:1: parallel.node_rank: must be below nnodes (1) (got 1); use a node rank from 0 to 0 "
        "[engine.node_rank_range]",
        f"[parallel]\nnode_rank = 1\nnnodes = 2\ntensor_parallel_size = 2\n{NODE0}",
    ), id="engine.node_rank_range"),
    pytest.param(Case(
        "engine.lb_modes_exclusive",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_external_lb = true\ndata_parallel_hybrid_lb = true\n",
        "c.toml:4:1: parallel.data_parallel_hybrid_lb: cannot be combined with data_parallel_external_lb (got true); "
        "turn one of them off [engine.lb_modes_exclusive]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_external_lb = true\ndata_parallel_hybrid_lb = false\n",
    ), id="engine.lb_modes_exclusive"),
    pytest.param(Case(
        "engine.nnodes_dp_backend",
        f'[parallel]\ntensor_parallel_size = 2\nnnodes = 2\ndata_parallel_backend = "ray"\n{NODE0}',
        'c.toml:4:1: parallel.data_parallel_backend: nnodes > 1 needs data_parallel_backend = "mp" (got "ray"); use '
        "mp, or nnodes = 1 with Ray placing the ranks [engine.nnodes_dp_backend]",
        f'[parallel]\ntensor_parallel_size = 2\nnnodes = 2\ndata_parallel_backend = "mp"\n{NODE0}',
    ), id="engine.nnodes_dp_backend"),
    pytest.param(Case(
        "engine.nnodes_divides_world",
        f"[parallel]\nprefill_context_parallel_size = 2\nnnodes = 2\n{NODE0}",
        "c.toml:3:1: parallel.nnodes: DP × PP × TP = 1 is not divisible by nnodes (got 2); use an nnodes that divides "
        "it [engine.nnodes_divides_world]",
        f"[parallel]\npipeline_parallel_size = 2\nnnodes = 2\n{NODE0}",
    ), id="engine.nnodes_divides_world-pcp-not-counted"),
    pytest.param(Case(
        "engine.external_lb_dense",
        "[parallel]\ndata_parallel_size = 2\nis_moe_model = false\ndata_parallel_external_lb = true\n",
        "c.toml:4:1: parallel.data_parallel_external_lb: dense models do not support external DP load balancing (got "
        "true); run independent instances without data parallelism [engine.external_lb_dense]",
        "[parallel]\ndata_parallel_size = 2\nis_moe_model = true\ndata_parallel_external_lb = true\n",
    ), id="engine.external_lb_dense"),
    pytest.param(Case(
        "engine.external_lb_local_size",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_size_local = 2\ndata_parallel_external_lb = true\n",
        "c.toml:3:1: parallel.data_parallel_size_local: must be 1 with external DP load balancing (got 2); set "
        "data_parallel_size_local = 1 (one server per DP rank), or use hybrid LB [engine.external_lb_local_size]",
        f"[parallel]\ndata_parallel_size = 2\ndata_parallel_size_local = 1\ndata_parallel_external_lb = true\n{NODE0}",
    ), id="engine.external_lb_local_size"),
    pytest.param(Case(
        "engine.derived_layout",
        f"[parallel]\ndata_parallel_size = 2\ndata_parallel_size_local = 0\nnnodes = 2\n{NODE0}",
        "c.toml:3:1: parallel.data_parallel_size_local: with nnodes = 2 and data_parallel_size = 2 this leaves nodes "
        "without a DP rank (got 0); set data_parallel_size_local to the DP ranks per node (>= 1, with "
        "data_parallel_size / data_parallel_size_local <= nnodes) [engine.derived_layout]",
        f"[parallel]\ndata_parallel_size = 2\ndata_parallel_size_local = 1\nnnodes = 2\n{NODE0}",
    ), id="engine.derived_layout-local-zero"),
    pytest.param(Case(
        "engine.derived_layout",
        f"[parallel]\ndata_parallel_size = 4\nnnodes = 2\n{NODE0}",
        "c.toml:1:2: parallel.data_parallel_size_local: with nnodes = 2 and data_parallel_size = 4 this leaves nodes "
        "without a DP rank (got 1); set data_parallel_size_local to the DP ranks per node (>= 1, with "
        "data_parallel_size / data_parallel_size_local <= nnodes) [engine.derived_layout]",
        f"[parallel]\ndata_parallel_size = 4\nnnodes = 2\n{NODE0}",
        env={}, passing_env=None,
    ), id="engine.derived_layout-more-groups-than-nodes"),
    pytest.param(Case(
        "engine.ubatch_requires_deepep",
        '[parallel]\nenable_dbo = true\nall2all_backend = "deepep_v2"\n',
        'c.toml:3:1: parallel.all2all_backend: enable_dbo needs all2all_backend deepep_low_latency or '
        'deepep_high_throughput (got "deepep_v2"); change all2all_backend or turn micro-batching off '
        "[engine.ubatch_requires_deepep]",
        '[parallel]\nenable_dbo = true\nall2all_backend = "deepep_low_latency"\n',
    ), id="engine.ubatch_requires_deepep-dbo"),
    pytest.param(Case(
        "engine.ubatch_requires_deepep",
        '[parallel]\nubatch_size = 2\nall2all_backend = "flashinfer_nvlink_one_sided"\n',
        'c.toml:3:1: parallel.all2all_backend: ubatch_size needs all2all_backend deepep_low_latency or '
        'deepep_high_throughput (got "flashinfer_nvlink_one_sided"); change all2all_backend or turn micro-batching '
        "off [engine.ubatch_requires_deepep]",
        '[parallel]\nubatch_size = 1\nall2all_backend = "flashinfer_nvlink_one_sided"\n',
    ), id="engine.ubatch_requires_deepep-ubatch"),
    pytest.param(Case(
        "scheduler.async_unsupported",
        '[parallel]\ndistributed_executor_backend = "my.pkg.Executor"\n\n[scheduler]\nasync_scheduling = true\n',
        'c.toml:5:1: scheduler.async_scheduling: the my.pkg.Executor executor does not support it (got true); set it '
        'to "auto" or false [scheduler.async_unsupported]',
        '[parallel]\ndistributed_executor_backend = "my.pkg.Executor"\n\n[scheduler]\nasync_scheduling = false\n',
    ), id="scheduler.async_unsupported-custom"),
    pytest.param(Case(
        "scheduler.async_unsupported",
        '[parallel]\ndistributed_executor_backend = "ray"\n\n[scheduler]\nasync_scheduling = true\n\n'
        "[cluster]\nray_installed = true\n",
        'c.toml:5:1: scheduler.async_scheduling: the ray executor does not support it (got true); set it to "auto" '
        "or false [scheduler.async_unsupported]",
        '[parallel]\ndistributed_executor_backend = "ray"\n\n[scheduler]\nasync_scheduling = true\n\n'
        "[cluster]\nray_installed = true\n",
        env={"VLLM_USE_RAY_V2_EXECUTOR_BACKEND": "0"}, passing_env={"VLLM_USE_RAY_V2_EXECUTOR_BACKEND": "1"},
    ), id="scheduler.async_unsupported-ray-v1"),
    # -- warnings -----------------------------------------------------------------------------------------------
    pytest.param(Case(
        "all2all.deprecated",
        '[parallel]\nall2all_backend = "flashinfer_all2allv"\n',
        'c.toml:2:1: parallel.all2all_backend: deprecated (got "flashinfer_all2allv"); write '
        '"flashinfer_nvlink_two_sided" [all2all.deprecated]',
        '[parallel]\nall2all_backend = "flashinfer_nvlink_two_sided"\n',
    ), id="all2all.deprecated-flashinfer"),
    pytest.param(Case(
        "all2all.deprecated",
        '[parallel]\nall2all_backend = "pplx"\n',
        'c.toml:2:1: parallel.all2all_backend: deprecated (got "pplx"); write "allgather_reducescatter" '
        "[all2all.deprecated]",
        '[parallel]\nall2all_backend = "allgather_reducescatter"\n',
    ), id="all2all.deprecated-pplx"),
    pytest.param(Case(
        "loading_workers.ignored",
        "[parallel]\nmax_parallel_loading_workers = 4\n",
        "c.toml:2:1: parallel.max_parallel_loading_workers: vLLM ignores it (got 4); remove it "
        "[loading_workers.ignored]",
        "[parallel]\ntensor_parallel_size = 4\n",
    ), id="loading_workers.ignored"),
    pytest.param(Case(
        "engine.hybrid_lb_single_local",
        f"[parallel]\ndata_parallel_size = 2\ndata_parallel_hybrid_lb = true\ndata_parallel_size_local = 1\n{NODE0}",
        "c.toml:3:1: parallel.data_parallel_hybrid_lb: with one local DP rank vLLM uses external LB instead (got "
        "true); set data_parallel_external_lb = true instead [engine.hybrid_lb_single_local]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_hybrid_lb = true\ndata_parallel_size_local = 2\n",
    ), id="engine.hybrid_lb_single_local"),
    pytest.param(Case(
        "dcp.interleave_override",
        "[parallel]\ntensor_parallel_size = 2\ndecode_context_parallel_size = 2\ndcp_kv_cache_interleave_size = 16\n",
        "derived: dcp_kv_cache_interleave_size > 1 overrides it when DCP > 1: parallel.cp_kv_cache_interleave_size: "
        "replaced by dcp_kv_cache_interleave_size (16) (got 1); write cp_kv_cache_interleave_size only "
        "[dcp.interleave_override]",
        "[parallel]\ntensor_parallel_size = 2\ndecode_context_parallel_size = 1\ndcp_kv_cache_interleave_size = 16\n",
    ), id="dcp.interleave_override"),
    pytest.param(Case(
        "dcp.interleave_override",
        "[parallel]\ntensor_parallel_size = 2\ndecode_context_parallel_size = 2\ndcp_kv_cache_interleave_size = 16\n"
        "cp_kv_cache_interleave_size = 4\n",
        "c.toml:5:1: parallel.cp_kv_cache_interleave_size: replaced by dcp_kv_cache_interleave_size (16) (got 4); "
        "write cp_kv_cache_interleave_size only [dcp.interleave_override]",
        "[parallel]\ntensor_parallel_size = 2\ndecode_context_parallel_size = 2\ndcp_kv_cache_interleave_size = 16\n"
        "cp_kv_cache_interleave_size = 16\n",
    ), id="dcp.interleave_override-written"),
    pytest.param(Case(
        "scheduler.custom_executor_async",
        '[parallel]\ndistributed_executor_backend = "my.pkg.Executor"\n',
        "derived: auto: the my.pkg.Executor executor does not support it: scheduler.async_scheduling: assumed "
        "unsupported by my.pkg.Executor; set scheduler.async_scheduling explicitly [scheduler.custom_executor_async]",
        '[parallel]\ndistributed_executor_backend = "my.pkg.Executor"\n\n[scheduler]\nasync_scheduling = false\n',
    ), id="scheduler.custom_executor_async"),
    # -- rules of later vLLM releases (vllm_version) -----------------------------------------------------------
    pytest.param(Case(
        "engine.fault_tolerance_external_lb",
        'vllm_version = "0.28"\n[parallel]\nenable_fault_tolerance = true\n',
        "c.toml:3:1: parallel.enable_fault_tolerance: `vllm serve` refuses fault tolerance without external DP load "
        "balancing (got true); set data_parallel_external_lb = true (one server per DP rank) "
        "[engine.fault_tolerance_external_lb]",
        'vllm_version = "0.28"\n[parallel]\nenable_fault_tolerance = true\ndata_parallel_size = 2\n'
        "data_parallel_external_lb = true\nis_moe_model = true\n",
    ), id="engine.fault_tolerance_external_lb"),
    pytest.param(Case(
        'elastic_ep.async_needs_nixl',
        'vllm_version = "0.28"\n[parallel]\nenable_elastic_ep = true\ntensor_parallel_size = 2\n'
        'enable_expert_parallel = true\nenable_eplb = true\n',
        'c.toml:3:1: parallel.enable_elastic_ep: elastic EP with async EPLB needs NIXL (got true); install NIXL (and '
        'set cluster.nixl_available = true), or set eplb_config.use_async = false [elastic_ep.async_needs_nixl]',
        'vllm_version = "0.28"\n[parallel]\nenable_elastic_ep = true\ntensor_parallel_size = 2\n'
        'enable_expert_parallel = true\nenable_eplb = true\n\n[parallel.eplb_config]\nuse_async = false\n',
    ), id='elastic_ep.async_needs_nixl'),
    pytest.param(Case(
        'elastic_ep.max_dp_size',
        'vllm_version = "0.34"\n[parallel]\ndata_parallel_size = 4\nelastic_ep_max_dp_size = 2\nenable_elastic_ep = '
        'true\ntensor_parallel_size = 2\nenable_expert_parallel = true\nenable_eplb = true\n\n[cluster]\n'
        'nixl_available = true\n',
        'c.toml:4:1: parallel.elastic_ep_max_dp_size: must be >= data_parallel_size (4) (got 2); raise it to the '
        'largest DP size elastic EP may scale to [elastic_ep.max_dp_size]',
        'vllm_version = "0.34"\n[parallel]\ndata_parallel_size = 4\nelastic_ep_max_dp_size = 8\nenable_elastic_ep = '
        'true\ntensor_parallel_size = 2\nenable_expert_parallel = true\nenable_eplb = true\n\n[cluster]\n'
        'nixl_available = true\n',
    ), id='elastic_ep.max_dp_size'),
    pytest.param(Case(
        'dp.nnodes_groups',
        'vllm_version = "0.34"\n[parallel]\ndata_parallel_size = 4\ndata_parallel_size_local = 1\nnnodes = 2\n'
        'master_addr = "10.0.0.1"\n',
        'c.toml:5:1: parallel.nnodes: must be a multiple of the 4 DP node groups (data_parallel_size 4 / '
        'data_parallel_size_local 1) (got 2); use an nnodes that is a multiple of them, or change '
        'data_parallel_size_local [dp.nnodes_groups]',
        'vllm_version = "0.34"\n[parallel]\ndata_parallel_size = 4\ndata_parallel_size_local = 2\nnnodes = 2\n'
        'master_addr = "10.0.0.1"\n',
    ), id='dp.nnodes_groups'),
    pytest.param(Case(
        'pcp.no_dp',
        'vllm_version = "0.28"\n[parallel]\nprefill_context_parallel_size = 2\ndata_parallel_size = 2\n',
        'c.toml:3:1: parallel.prefill_context_parallel_size: PCP does not support data parallelism in this release '
        '(got 2); use data_parallel_size = 1, or vLLM 0.34 (vllm_version = "0.34") [pcp.no_dp]',
        'vllm_version = "0.34"\n[parallel]\nprefill_context_parallel_size = 2\ndata_parallel_size = 2\n',
    ), id='pcp.no_dp'),
    pytest.param(Case(
        'dcp.pcp_sizes',
        'vllm_version = "0.28"\n[parallel]\ntensor_parallel_size = 4\nprefill_context_parallel_size = 2\n'
        'decode_context_parallel_size = 4\n\n[cluster]\ndevices_per_node = 8\n',
        'c.toml:5:1: parallel.decode_context_parallel_size: with PCP = 2 and TP = 4 it must be one of 1, 2, 8 (got '
        '4); set it to 1, the PCP size, or TP × PCP [dcp.pcp_sizes]',
        'vllm_version = "0.28"\n[parallel]\ntensor_parallel_size = 4\nprefill_context_parallel_size = 2\n'
        'decode_context_parallel_size = 2\n',
    ), id='dcp.pcp_sizes'),
    pytest.param(Case(
        'dbo.thresholds',
        'vllm_version = "0.34"\n[parallel]\nenable_dbo = true\nall2all_backend = "deepep_low_latency"\n'
        'dbo_decode_token_threshold = 1\n',
        'c.toml:5:1: parallel.dbo_decode_token_threshold: must be at least the number of micro-batches (2) (got 1); '
        'use 2 or more [dbo.thresholds]',
        'vllm_version = "0.34"\n[parallel]\nenable_dbo = true\nall2all_backend = "deepep_low_latency"\n'
        'dbo_decode_token_threshold = 2\n',
    ), id='dbo.thresholds'),
    # -- the model's checks ([model]; facts written in the file, so each line says where) ------------------------
    pytest.param(Case(
        "model.is_moe_model",
        "[parallel]\nis_moe_model = true\n\n[model]\nnum_experts = 0\n",
        "c.toml:2:1: parallel.is_moe_model: contradicts the model: num_experts = 0 (set at c.toml:5:1) (got true); "
        "remove it (pconf takes it from the model), or check [model] [model.is_moe_model]",
        "[parallel]\nis_moe_model = true\n\n[model]\nnum_experts = 8\n",
    ), id="model.is_moe_model"),
    pytest.param(Case(
        "model.ep_requires_moe",
        "[parallel]\ntensor_parallel_size = 2\nenable_expert_parallel = true\n\n[model]\nnum_experts = 0\n",
        "c.toml:3:1: parallel.enable_expert_parallel: needs a model with experts; num_experts = 0 (set at c.toml:6:1) "
        "(got true); turn expert parallelism off for a dense model [model.ep_requires_moe]",
        "[parallel]\ntensor_parallel_size = 2\nenable_expert_parallel = true\n\n[model]\nnum_experts = 2\n",
    ), id="model.ep_requires_moe"),
    pytest.param(Case(
        "model.heads_tp",
        "[parallel]\ntensor_parallel_size = 8\n\n[model]\nnum_attention_heads = 28\n",
        "c.toml:2:1: parallel.tensor_parallel_size: the model's num_attention_heads = 28 (set at c.toml:5:1) is not "
        "divisible by it (got 8); use a tensor_parallel_size that divides 28: 1, 2, 4, 7, 14 or 28 [model.heads_tp]",
        "[parallel]\ntensor_parallel_size = 4\n\n[model]\nnum_attention_heads = 28\n",
    ), id="model.heads_tp"),
    pytest.param(Case(
        "model.kv_heads_tp",
        "[parallel]\ntensor_parallel_size = 6\n\n[model]\nnum_attention_heads = 24\nnum_key_value_heads = 4\n",
        "c.toml:2:1: parallel.tensor_parallel_size: is more than the model's num_key_value_heads = 4 (set at "
        "c.toml:6:1) but not a multiple of it: each KV head must be replicated on the same number of ranks (got 6); "
        "use a divisor of 4, or a multiple of it [model.kv_heads_tp]",
        "[parallel]\ntensor_parallel_size = 8\n\n[model]\nnum_attention_heads = 24\nnum_key_value_heads = 4\n",
    ), id="model.kv_heads_tp-replicated"),
    pytest.param(Case(
        "model.kv_heads_tp",
        "[parallel]\ntensor_parallel_size = 4\n\n[model]\nnum_attention_heads = 24\nnum_key_value_heads = 6\n",
        "c.toml:2:1: parallel.tensor_parallel_size: the model's num_key_value_heads = 6 (set at c.toml:6:1) is not "
        "divisible by it (got 4); use a tensor_parallel_size that divides 6: 1, 2, 3 or 6, or a multiple of 6 "
        "[model.kv_heads_tp]",
        "[parallel]\ntensor_parallel_size = 4\n\n[model]\nnum_attention_heads = 24\nnum_key_value_heads = 6\n"
        "mla = true\n",
    ), id="model.kv_heads_tp-split"),
    pytest.param(Case(
        "model.dcp_kv_heads",
        "[parallel]\ntensor_parallel_size = 8\ndecode_context_parallel_size = 2\n\n[model]\nnum_attention_heads = 32\n"
        "num_key_value_heads = 8\n",
        "c.toml:3:1: parallel.decode_context_parallel_size: needs tensor_parallel_size (8) above the model's "
        "num_key_value_heads = 8 (set at c.toml:7:1) (got 2); raise tensor_parallel_size above 8, or set "
        "decode_context_parallel_size = 1 [model.dcp_kv_heads]",
        "[parallel]\ntensor_parallel_size = 8\ndecode_context_parallel_size = 2\n\n[model]\nnum_attention_heads = 32\n"
        "num_key_value_heads = 4\n",
    ), id="model.dcp_kv_heads"),
    pytest.param(Case(
        "model.dcp_max",
        "[parallel]\ntensor_parallel_size = 8\ndecode_context_parallel_size = 4\n\n[model]\nnum_attention_heads = 32\n"
        "num_key_value_heads = 4\n",
        "c.toml:3:1: parallel.decode_context_parallel_size: is more than tensor_parallel_size 8 // "
        "num_key_value_heads = 4 (set at c.toml:7:1) = 2 (got 4); use at most 2 [model.dcp_max]",
        "[parallel]\ntensor_parallel_size = 8\ndecode_context_parallel_size = 2\n\n[model]\nnum_attention_heads = 32\n"
        "num_key_value_heads = 4\n",
    ), id="model.dcp_max"),
    pytest.param(Case(
        "model.dcp_q_per_kv",
        "[parallel]\ntensor_parallel_size = 6\ndecode_context_parallel_size = 2\n\n[model]\nnum_attention_heads = 6\n"
        "num_key_value_heads = 2\n",
        "c.toml:3:1: parallel.decode_context_parallel_size: does not divide the 3 query heads per KV head "
        "(num_attention_heads = 6 (set at c.toml:6:1) // num_key_value_heads 2) (got 2); use a "
        "decode_context_parallel_size that divides 3 [model.dcp_q_per_kv]",
        "[parallel]\ntensor_parallel_size = 6\ndecode_context_parallel_size = 2\n\n[model]\nnum_attention_heads = 12\n"
        "num_key_value_heads = 2\n",
    ), id="model.dcp_q_per_kv"),
    pytest.param(Case(
        "model.pp_layers",
        "[parallel]\npipeline_parallel_size = 4\n\n[model]\nnum_hidden_layers = 3\n",
        "c.toml:2:1: parallel.pipeline_parallel_size: is more than the model's num_hidden_layers = 3 (set at "
        "c.toml:5:1): a stage would hold no layer (got 4); use at most 3 pipeline stages [model.pp_layers]",
        "[parallel]\npipeline_parallel_size = 3\n\n[model]\nnum_hidden_layers = 3\n",
    ), id="model.pp_layers"),
    pytest.param(Case(
        "model.pp_partition",
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\n"
        "pp_layer_partition = [10, 10, 12]\n",
        "c.toml:6:1: model.pp_layer_partition: has 3 entries for pipeline_parallel_size 2 (got [10, 10, 12]); give "
        "one layer count per pipeline stage [model.pp_partition]",
        "[parallel]\npipeline_parallel_size = 3\n\n[model]\nnum_hidden_layers = 32\n"
        "pp_layer_partition = [10, 10, 12]\n",
    ), id="model.pp_partition-length"),
    pytest.param(Case(
        "model.pp_partition",
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\npp_layer_partition = [10, 20]\n",
        "c.toml:6:1: model.pp_layer_partition: adds up to 30 layers, not the model's num_hidden_layers = 32 (set at "
        "c.toml:5:1) (got [10, 20]); make the counts add up to 32 [model.pp_partition]",
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\npp_layer_partition = [10, 22]\n",
    ), id="model.pp_partition-sum"),
    pytest.param(Case(
        "model.pp_partition",
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\npp_layer_partition = [-2, 34]\n",
        "c.toml:6:1: model.pp_layer_partition: a stage cannot hold a negative number of layers (got [-2, 34]); use "
        "counts of 0 or more [model.pp_partition]",
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\npp_layer_partition = [0, 32]\n",
    ), id="model.pp_partition-negative"),
    pytest.param(Case(
        "model.pp_partition",
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\n",
        'env:VLLM_PP_LAYER_PARTITION: env.VLLM_PP_LAYER_PARTITION: not a comma-separated list of integers (got '
        '"16,x"); write one layer count per stage, e.g. 16,16 [model.pp_partition]',
        "[parallel]\npipeline_parallel_size = 2\n\n[model]\nnum_hidden_layers = 32\n",
        env={"VLLM_PP_LAYER_PARTITION": "16,x"}, passing_env={"VLLM_PP_LAYER_PARTITION": " 15,17"},
    ), id="model.pp_partition-env"),
    pytest.param(Case(
        "model.tp_experts",
        '[parallel]\ntensor_parallel_size = 8\n\n[model]\narchitecture = "Qwen2MoeForCausalLM"\nnum_experts = 4\n',
        "c.toml:2:1: parallel.tensor_parallel_size: is more than the model's num_experts = 4 (set at c.toml:6:1), "
        "which Qwen2MoeForCausalLM refuses (got 8); use a tensor_parallel_size of at most 4 [model.tp_experts]",
        '[parallel]\ntensor_parallel_size = 8\n\n[model]\narchitecture = "MixtralForCausalLM"\nnum_experts = 4\n',
    ), id="model.tp_experts"),
    pytest.param(Case(
        "model.eplb_divisible",
        "[parallel]\ndata_parallel_size = 8\nenable_expert_parallel = true\nenable_eplb = true\n\n"
        "[parallel.eplb_config]\nnum_redundant_experts = 4\n\n[model]\nnum_experts = 256\n",
        "c.toml:7:1: parallel.eplb_config.num_redundant_experts: the model's num_experts = 256 (set at c.toml:10:1) "
        "plus num_redundant_experts 4 make 260 physical experts, not divisible by the 8 EP ranks (DP × PCP × TP) "
        "(got 4); use num_redundant_experts = 0, 8, 16, ... (experts + redundant a multiple of 8) "
        "[model.eplb_divisible]",
        "[parallel]\ndata_parallel_size = 8\nenable_expert_parallel = true\nenable_eplb = true\n\n"
        "[parallel.eplb_config]\nnum_redundant_experts = 8\n\n[model]\nnum_experts = 256\n",
    ), id="model.eplb_divisible"),
    pytest.param(Case(
        "model.eplb_redundancy",
        "[parallel]\ndata_parallel_size = 8\nenable_expert_parallel = true\nenable_eplb = true\n\n"
        "[parallel.eplb_config]\nnum_redundant_experts = 1024\n\n[model]\nnum_experts = 256\n",
        "c.toml:7:1: parallel.eplb_config.num_redundant_experts: is more than EPLB's 1023 redundant experts (got "
        "1024); use at most 1023 [model.eplb_redundancy]",
        "[parallel]\ndata_parallel_size = 8\nenable_expert_parallel = true\nenable_eplb = true\n\n"
        "[parallel.eplb_config]\nnum_redundant_experts = 1016\n\n[model]\nnum_experts = 256\n",
    ), id="model.eplb_redundancy"),
    pytest.param(Case(
        "model.deepseek_v4_experts",
        '[parallel]\ntensor_parallel_size = 3\n\n[model]\narchitecture = "DeepseekV4ForCausalLM"\nnum_experts = 256\n',
        "c.toml:2:1: parallel.tensor_parallel_size: DeepSeek-V4's fused MoE needs the model's num_experts = 256 (set "
        "at c.toml:6:1) divisible by it (got 3); use a tensor_parallel_size that divides 256: 1, 2, 4, 8, 16, 32, 64, "
        "128, ... [model.deepseek_v4_experts]",
        '[parallel]\ntensor_parallel_size = 4\n\n[model]\narchitecture = "DeepseekV4ForCausalLM"\nnum_experts = 256\n',
    ), id="model.deepseek_v4_experts-fused"),
    pytest.param(Case(
        "model.deepseek_v4_experts",
        "[parallel]\ndata_parallel_size = 3\nenable_expert_parallel = true\n\n[parallel.eplb_config]\n"
        'num_redundant_experts = 0\n\n[model]\narchitecture = "DeepseekV4ForCausalLM"\nnum_experts = 256\n'
        'moe_backend = "deep_gemm_mega_moe"\n',
        "c.toml:6:1: parallel.eplb_config.num_redundant_experts: DeepSeek-V4's MegaMoE needs the 256 physical "
        "experts (num_experts = 256 (set at c.toml:10:1) + num_redundant_experts) divisible by the EP size 3 (got 0); "
        "use num_redundant_experts = 2 (or that plus a multiple of 3), or an EP size that divides 256 "
        "[model.deepseek_v4_experts]",
        "[parallel]\ndata_parallel_size = 4\nenable_expert_parallel = true\n\n[parallel.eplb_config]\n"
        'num_redundant_experts = 0\n\n[model]\narchitecture = "DeepseekV4ForCausalLM"\nnum_experts = 256\n'
        'moe_backend = "deep_gemm_mega_moe"\n',
    ), id="model.deepseek_v4_experts-megamoe"),
    pytest.param(Case(
        "model.deepseek_v4_experts",
        '[parallel]\ndata_parallel_size = 2\n\n[model]\narchitecture = "DeepseekV4ForCausalLM"\nnum_experts = 256\n'
        'moe_backend = "deep_gemm_mega_moe"\n',
        "c.toml:7:1: model.moe_backend: DeepSeek-V4's MegaMoE needs enable_expert_parallel = true (got "
        '"deep_gemm_mega_moe"); set parallel.enable_expert_parallel = true, or use another moe_backend '
        "[model.deepseek_v4_experts]",
        '[parallel]\ndata_parallel_size = 2\n\n[model]\narchitecture = "DeepseekV4ForCausalLM"\nnum_experts = 256\n'
        'moe_backend = "auto"\n',
    ), id="model.deepseek_v4_experts-megamoe-ep"),
    pytest.param(Case(
        "model.round_robin_fallback",
        '[parallel]\ndata_parallel_size = 2\nenable_expert_parallel = true\nexpert_placement_strategy = "round_robin"\n'
        "\n[model]\nnum_experts = 8\nnum_expert_group = 4\n",
        'c.toml:4:1: parallel.expert_placement_strategy: vLLM places the experts linearly: round_robin with DP > 1 '
        "needs the deepep_low_latency or nixl_ep all2all backend, not allgather_reducescatter (got \"round_robin\"); "
        'write expert_placement_strategy = "linear", or meet the conditions [model.round_robin_fallback]',
        '[parallel]\ndata_parallel_size = 2\nenable_expert_parallel = true\nexpert_placement_strategy = "round_robin"\n'
        'all2all_backend = "deepep_low_latency"\n\n[model]\nnum_experts = 8\nnum_expert_group = 4\n',
    ), id="model.round_robin_fallback"),
    pytest.param(Case(
        "engine.hybrid_lb_needs_local",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_hybrid_lb = true\n",
        "c.toml:3:1: parallel.data_parallel_hybrid_lb: needs data_parallel_size_local, the DP ranks each node serves "
        "(got true); set data_parallel_size_local (vLLM's DP-only multi-node form: data_parallel_size / "
        "data_parallel_size_local nodes), or turn hybrid load balancing off [engine.hybrid_lb_needs_local]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_hybrid_lb = true\ndata_parallel_size_local = 2\n",
    ), id="engine.hybrid_lb_needs_local"),
    # -- pconf's deployment checks (pconf.rules.deploy) -----------------------------------------------------------
    pytest.param(Case(
        "plan.too_many_ranks",
        "[parallel]\ntensor_parallel_size = 512\ndata_parallel_size = 256\n\n[cluster]\ndevice = \"cpu\"\n",
        "c.toml:2:1: parallel.tensor_parallel_size: the run has 131072 ranks, more than 65536 (got 512); pconf plans "
        "at most that many; lower the parallel sizes [plan.too_many_ranks]",
        "[parallel]\ntensor_parallel_size = 256\ndata_parallel_size = 256\n\n[cluster]\ndevice = \"cpu\"\n",
        passing_refused=("plan.devices",),
    ), id="plan.too_many_ranks"),
    pytest.param(Case(
        "plan.nodes",
        f"[parallel]\ndata_parallel_size = 3\ndata_parallel_size_local = 2\n{NODE0}",
        "c.toml:3:1: parallel.data_parallel_size_local: 3 DP ranks do not fill nodes of 2 evenly (vLLM's DP-only "
        "multi-node layout runs data_parallel_size_local DP ranks on each of data_parallel_size / "
        "data_parallel_size_local nodes) (got 2); use a data_parallel_size_local that divides data_parallel_size "
        "[plan.nodes]",
        f"[parallel]\ndata_parallel_size = 4\ndata_parallel_size_local = 2\n{NODE0}",
    ), id="plan.nodes-dp-only"),
    pytest.param(Case(
        "plan.nodes",
        "[parallel]\ntensor_parallel_size = 2\ndata_parallel_size = 3\ndata_parallel_size_local = 2\nnnodes = 2\n"
        f"{NODE0}",
        "c.toml:4:1: parallel.data_parallel_size_local: 3 DP ranks of 2 workers, 2 per node, do not fill 2 nodes "
        "evenly (got 2); set data_parallel_size_local to the DP ranks each node runs (data_parallel_size / nnodes "
        "when each replica fits on a node), or leave it unset [plan.nodes]",
        "[parallel]\ntensor_parallel_size = 2\ndata_parallel_size = 4\ndata_parallel_size_local = 2\nnnodes = 2\n"
        f"{NODE0}",
    ), id="plan.nodes"),
    pytest.param(Case(
        "plan.devices",
        "[parallel]\ntensor_parallel_size = 8\ndata_parallel_size = 2\n",
        "default: cluster.devices_per_node: each node runs 16 ranks but has 8 devices (got 8); raise nnodes, "
        "lower the parallel sizes, or correct devices_per_node [plan.devices]",
        f"[parallel]\ntensor_parallel_size = 8\ndata_parallel_size = 2\ndata_parallel_size_local = 1\n{NODE0}",
    ), id="plan.devices"),
    pytest.param(Case(
        "plan.devices",
        "[cluster]\ndevice = \"cpu\"\ndevices_per_node = 0\n",
        "c.toml:3:1: cluster.devices_per_node: a node without devices runs no rank (got 0); give the devices (or, "
        "with device = \"cpu\", the rank processes) of one node [plan.devices]",
        "[cluster]\ndevice = \"cpu\"\ndevices_per_node = 1\n",
    ), id="plan.devices-zero"),
    pytest.param(Case(
        "plan.port_range",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_master_port = 65535\n",
        "c.toml:3:1: parallel.data_parallel_master_port: port 65536 (parallel.data_parallel_master_port + 1, which "
        "the run takes too) is outside 1..65535 (got 65535); choose a lower port (the ports after it are taken too) "
        "[plan.port_range]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_master_port = 65534\n",
    ), id="plan.port_range"),
    pytest.param(Case(
        "plan.port_collision",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_rpc_port = 8000\n",
        "default: serve.port: port 8000 is also used by parallel.data_parallel_rpc_port (got 8000); give every "
        "port of the run its own number [plan.port_collision]",
        "[parallel]\ndata_parallel_size = 2\ndata_parallel_rpc_port = 8000\n\n[serve]\nport = 8080\n",
    ), id="plan.port_collision"),
    pytest.param(Case(
        "network.loopback",
        "[parallel]\ntensor_parallel_size = 16\nnnodes = 2\nmaster_addr = \"127.0.0.1\"\n",
        "c.toml:4:1: parallel.master_addr: the run spans 2 nodes, and 127.0.0.1 reaches only the host it is used on, "
        "so the other nodes never join (got \"127.0.0.1\"); set it to node 0's address, or list "
        "[cluster.network].node_addresses (node 0 first); to run every \"node\" on this host on purpose, list a "
        "loopback address for each node there; a cluster manager supplies it itself (pconf plan --format lws, slurm, "
        "skypilot) [network.loopback]",
        "[parallel]\ntensor_parallel_size = 16\nnnodes = 2\nmaster_addr = \"127.0.0.1\"\n\n[cluster.network]\n"
        "node_addresses = [\"127.0.0.1\", \"127.0.0.2\"]\n",
    ), id="network.loopback"),
    pytest.param(Case(
        "network.loopback",
        "[parallel]\ndata_parallel_size = 4\ndata_parallel_size_local = 2\ndata_parallel_master_ip = \"::\"\n",
        "c.toml:4:1: parallel.data_parallel_master_ip: the run spans 2 nodes, and :: reaches only the host it is used "
        "on, so the other nodes never join (got \"::\"); set it to node 0's address, or list "
        "[cluster.network].node_addresses (node 0 first); to run every \"node\" on this host on purpose, list a "
        "loopback address for each node there; a cluster manager supplies it itself (pconf plan --format lws, slurm, "
        "skypilot) [network.loopback]",
        "[parallel]\ndata_parallel_size = 4\ndata_parallel_size_local = 2\n\n[cluster.network]\n"
        "node_addresses = [\"fd00::1\", \"fd00::2\"]\n",
    ), id="network.loopback-dp-only-ipv6"),
    pytest.param(Case(
        "network.node_addresses",
        f"[parallel]\ntensor_parallel_size = 16\nnnodes = 2\n{NODE0}\n[cluster.network]\n"
        "node_addresses = [\"10.0.0.1\"]\n",
        "c.toml:8:1: cluster.network.node_addresses: lists 1 address but the run has 2 nodes (got [\"10.0.0.1\"]); "
        "list one address per node, node 0 first [network.node_addresses]",
        f"[parallel]\ntensor_parallel_size = 16\nnnodes = 2\n{NODE0}\n[cluster.network]\n"
        "node_addresses = [\"10.0.0.1\", \"10.0.0.2\"]\n",
    ), id="network.node_addresses"),
    pytest.param(Case(
        "deploy.owned_flag",
        "[deploy]\nextra_args = [\"--max-model-len\", \"4096\", \"--data-parallel-size=2\"]\n",
        "c.toml:2:1: deploy.extra_args[2]: sets --data-parallel-size, which pconf writes from the file (got "
        "\"--data-parallel-size=2\"); remove it and set parallel.data_parallel_size instead [deploy.owned_flag]",
        "[deploy]\nextra_args = [\"--max-model-len\", \"4096\"]\n",
    ), id="deploy.owned_flag"),
    pytest.param(Case(
        "deploy.accelerator_count",
        "[cluster]\ndevices_per_node = 4\n\n[deploy]\naccelerator = \"H100:8\"\n",
        "c.toml:5:1: deploy.accelerator: asks for 8 per node, but cluster.devices_per_node is 4 (got \"H100:8\"); "
        "write \"H100:4\" or \"H100\" [deploy.accelerator_count]",
        "[cluster]\ndevices_per_node = 4\n\n[deploy]\naccelerator = \"H100:4\"\n",
    ), id="deploy.accelerator_count"),
]


def _case(param: object) -> Case:
    values = getattr(param, "values", None)
    assert values is not None
    case = values[0]
    assert isinstance(case, Case)
    return case


def _is_xfail(param: object) -> bool:
    return any(m.name == "xfail" for m in getattr(param, "marks", ()))


SEVERITY = {r.id: r.severity for r in RULES}


class TestCoverage:
    def test_every_rule_has_a_case(self) -> None:
        """The cases here cover exactly the rule ids in RULES (excluding xfail'd cases)."""
        assert {_case(p).rule for p in CASES if not _is_xfail(p)} == {r.id for r in RULES}

    def test_rule_ids_unique(self) -> None:
        """No two rules share an id."""
        assert len(rules_by_id()) == len(RULES)

    def test_every_rule_documented(self) -> None:
        """Every rule has a docstring, a vLLM source and a valid severity."""
        for r in RULES:
            assert r.doc, r.id
            assert r.source.startswith(("vLLM ", "pconf: ")), r.id
            assert r.severity in ("error", "warning"), r.id


class TestRuleTriggers:
    @pytest.mark.parametrize("case", CASES)
    def test_triggers(self, case: Case, tmp_path: Path) -> None:
        """The minimal document reports exactly this rule, rendered as the whole expected line."""
        if SEVERITY[case.rule] == "error":
            issues = rule_issues(tmp_path, case.toml, case.env)
            assert [i.render() for i in issues] == [case.line]
            assert issues[0].rule == case.rule
            assert issues[0].severity == "error"
        else:
            compiled = compile_text(tmp_path, case.toml, case.env)
            assert [w.render() for w in compiled.warnings] == [case.line]
            assert compiled.warnings[0].rule == case.rule
            assert compiled.warnings[0].severity == "warning"

    @pytest.mark.parametrize("case", [p for p in CASES if not _is_xfail(p)])
    def test_close_document_passes(self, case: Case, tmp_path: Path) -> None:
        """The close document compiles without this rule firing, as an error or a warning (or is refused by
        exactly the other rules the case names, never this one)."""
        if case.passing_refused:
            refused = {i.rule for i in rule_issues(tmp_path, case.passing, case.passing_env)}
            assert refused == set(case.passing_refused)
            return
        compiled = compile_text(tmp_path, case.passing, case.passing_env)
        assert case.rule not in {w.rule for w in compiled.warnings}


class TestRuleKeyPaths:
    @pytest.mark.parametrize(
        ("doc", "rule", "path"),
        [
            pytest.param({"parallel": {"enable_elastic_ep": True}}, "elastic_ep.requires_eplb",
                         ("parallel", "enable_elastic_ep"), id="elastic"),
            pytest.param({"parallel": {"eplb_config": {"num_redundant_experts": 3}}}, "eplb.redundant_without_eplb",
                         ("parallel", "eplb_config", "num_redundant_experts"), id="redundant"),
            pytest.param({"scheduler": {"async_scheduling": True},
                          "parallel": {"distributed_executor_backend": "a.B"}}, "scheduler.async_unsupported",
                         ("scheduler", "async_scheduling"), id="async"),
            pytest.param({"parallel": {"tensor_parallel_size": 9}}, "executor.gpu_count",
                         ("parallel", "tensor_parallel_size"), id="gpu_count"),
        ],
    )
    def test_key_path(self, doc: dict[str, object], rule: str, path: tuple[str, ...]) -> None:
        """A rule's issue carries the key path of the value it is about, and the dict location."""
        with pytest.raises(RuleError) as caught:
            compile_dict(doc)
        [issue] = caught.value.issues
        assert (issue.rule, issue.path, str(issue.where)) == (rule, path, "<dict>")


class TestRuleModes:
    def test_rank_range_env_mode_replaces_rank(self) -> None:
        """With DP = 1 in vLLM-environment mode the written rank is replaced from VLLM_DP_RANK, so no error."""
        out = compile_dict({"parallel": {"data_parallel_rank": 5}}, env={}).to_dict()
        assert out["parallel"]["data_parallel_rank"] == 0

    def test_rank_range_env_rank_unchecked(self) -> None:
        """With DP = 1 in vLLM-environment mode a VLLM_DP_RANK beyond the size is not checked (spec §6 4e)."""
        out = compile_dict({}, env={"VLLM_DP_RANK": "5"}).to_dict()
        assert out["parallel"]["data_parallel_rank"] == 5

    def test_offline_dense_never_in_declarative(self) -> None:
        """dp.offline_dense needs vLLM-environment mode: declarative DP = 2 with a dense model is fine."""
        out = compile_dict({"parallel": {"data_parallel_size": 2, "is_moe_model": False}}).to_dict()
        assert out["parallel"]["data_parallel_size"] == 2

    def test_rank_required_not_for_dp1(self) -> None:
        """external_launcher without data parallelism needs no RANK in vLLM-environment mode."""
        out = compile_dict({"parallel": {"distributed_executor_backend": "external_launcher"}}, env={}).to_dict()
        assert out["parallel"]["data_parallel_rank"] == 0

    def test_gpu_count_counts_world_not_dp(self) -> None:
        """DP ranks beyond one node's GPUs do not trip executor.gpu_count (it compares world_size only); pconf's
        plan.devices refuses them instead."""
        with pytest.raises(RuleError) as caught:
            compile_dict({"parallel": {"tensor_parallel_size": 8, "data_parallel_size": 4}})
        assert [i.rule for i in caught.value.issues] == ["plan.devices"]

    def test_gpu_count_tpu_skipped(self) -> None:
        """A TPU cluster with more ranks than devices_per_node is not vLLM's executor.gpu_count (CUDA only), but
        pconf's plan.devices."""
        with pytest.raises(RuleError) as caught:
            compile_dict({"parallel": {"tensor_parallel_size": 16}, "cluster": {"device": "tpu"}})
        assert [i.rule for i in caught.value.issues] == ["plan.devices"]
        out = compile_dict({"parallel": {"tensor_parallel_size": 16},
                            "cluster": {"device": "tpu", "devices_per_node": 16}}).to_dict()
        assert out["parallel"]["distributed_executor_backend"] == "mp"


class TestWarningsAreNotErrors:
    def test_warnings_in_compiled(self) -> None:
        """Warnings land in Compiled.warnings, in rule order, and the document still compiles."""
        compiled = compile_dict({"parallel": {"all2all_backend": "flashinfer_all2allv",
                                              "max_parallel_loading_workers": 2}})
        assert [(w.rule, w.severity) for w in compiled.warnings] == [
            ("all2all.deprecated", "warning"), ("loading_workers.ignored", "warning")]
        assert compiled.to_dict()["parallel"]["max_parallel_loading_workers"] == 2

    def test_warnings_dropped_from_rule_error(self) -> None:
        """A RuleError carries only the errors, never the warnings of the same document."""
        with pytest.raises(RuleError) as caught:
            compile_dict({"parallel": {"max_parallel_loading_workers": 2, "node_rank": 3}})
        assert [i.rule for i in caught.value.issues] == ["engine.node_rank_range"]


class TestAllRuleFailuresTogether:
    def test_several_failures_reported(self, tmp_path: Path) -> None:
        """Four broken rules in one file are all reported in one RuleError, in file order."""
        issues = rule_issues(
            tmp_path,
            "[parallel]\ntensor_parallel_size = 4\ndecode_context_parallel_size = 3\nnode_rank = 1\n"
            'enable_eplb = true\nnuma_bind_nodes = [0]\nall2all_backend = "pplx"\n',
        )
        assert [i.render() for i in issues] == [
            "c.toml:3:1: parallel.decode_context_parallel_size: tensor_parallel_size (4) is not divisible by it "
            "(got 3); use a divisor of tensor_parallel_size [dcp.tp_divisible]",
            "c.toml:4:1: parallel.node_rank: must be below nnodes (1) (got 1); use a node rank from 0 to 0 "
            "[engine.node_rank_range]",
            "c.toml:5:1: parallel.enable_eplb: EPLB needs enable_expert_parallel = true (got true); set "
            "parallel.enable_expert_parallel = true [eplb.requires_ep]",
            "c.toml:6:1: parallel.numa_bind_nodes: needs numa_bind = true; set parallel.numa_bind = true or remove "
            "the list [numa.requires_bind]",
        ]

    def test_error_text_joins_all(self) -> None:
        """The RuleError's text is every rendered issue, one per line."""
        with pytest.raises(RuleError) as caught:
            compile_dict({"parallel": {"node_rank": 2, "dcp_comm_backend": "a2a"}})
        assert str(caught.value) == (
            '<dict>: parallel.dcp_comm_backend: a2a needs decode_context_parallel_size > 1 (got "a2a"); use "ag_rs", '
            "or raise decode_context_parallel_size [dcp.a2a_requires_dcp]\n"
            "<dict>: parallel.node_rank: must be below nnodes (1) (got 2); use a node rank from 0 to 0 "
            "[engine.node_rank_range]"
        )
