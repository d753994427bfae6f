"""ParallelConfig: the ``[parallel]`` table, field for field vLLM's ``ParallelConfig`` (spec §3).

Fields are declared in vLLM's order. Left out on purpose: the two derived fields (``world_size``,
``data_parallel_index``; see ``DERIVED_FIELDS``) and vLLM's runtime-internal fields (``INTERNAL_FIELDS``),
which no file may set.
"""

from typing import Any, Literal, NamedTuple

import attrs

from pconf.schema._field import Deprecated, knob
from pconf.schema.checks import ADDRESS, CPU_LISTS, NUMA_NODES
from pconf.schema.eplb import EPLBConfig
from pconf.schema.fault_tolerance import FaultToleranceConfig
from pconf.schema.serve import MAX_PORT

DataParallelBackend = Literal["ray", "mp"]
ExpertPlacementStrategy = Literal["linear", "round_robin"]
DCPCommBackend = Literal["ag_rs", "a2a"]
All2AllBackend = Literal[
    "naive",
    "pplx",
    "deepep_high_throughput",
    "deepep_low_latency",
    "deepep_v2",
    "mori_high_throughput",
    "mori_low_latency",
    "nixl_ep",
    "allgather_reducescatter",
    "flashinfer_all2allv",
    "flashinfer_nvlink_two_sided",
    "flashinfer_nvlink_one_sided",
]
EXECUTOR_BACKENDS = ("ray", "mp", "uni", "external_launcher")
#: The largest parallel size (and node count) pconf accepts: no run has more ranks than this, and it is the
#: most ``pconf plan`` lays out (plan.MAX_RANKS), so a hostile size cannot make a plan eat the machine.
MAX_PARALLEL_SIZE = 1 << 16
#: The longest timeout pconf accepts, in seconds (about 31 years): torch turns it into milliseconds.
MAX_TIMEOUT = 10**9

class DerivedField(NamedTuple):
    """A field vLLM computes: how, and the field after which it appears in the compiled ``parallel`` table (its
    place in vLLM's declaration order)."""

    how: str
    after: str


#: Fields vLLM computes; setting one in a file is an error that says how it is derived.
DERIVED_FIELDS: dict[str, DerivedField] = {
    "world_size": DerivedField("pipeline_parallel_size × tensor_parallel_size × prefill_context_parallel_size "
                               "(× data_parallel_size with the external_launcher backend)",
                               after="cpu_distributed_timeout_seconds"),
    "data_parallel_index": DerivedField("data_parallel_rank after resolution", after="cp_kv_cache_interleave_size"),
}

#: vLLM fields that only its own processes write at run time; not part of the file format.
INTERNAL_FIELDS: dict[str, str] = {
    "_data_parallel_master_port_list": "the pool of free ports vLLM prepares for DP groups",
    "_coord_store_port": "the coordination TCPStore port the API server hands to workers",
    "_api_process_count": "the number of API server processes (API server scale-out)",
    "_api_process_rank": "the rank of an API server process (API server scale-out)",
    "_numa_bind_auto": "whether vLLM chose NUMA binding itself at worker launch (0.34)",
    "_allow_auto_resolve_cp_interleave_size": "whether the model may pick the CP interleave size (0.34; a graph-hash "
    "factor, always true)",
}


@attrs.frozen(kw_only=True)
class ParallelConfig:
    """How an inference deployment is split across devices, processes and nodes."""

    pipeline_parallel_size: int = knob(
        1, ge=1, le=MAX_PARALLEL_SIZE, graph=True, scope="graph",
        doc="Number of pipeline stages the model's layers are split into.",
    )
    tensor_parallel_size: int = knob(
        1, ge=1, le=MAX_PARALLEL_SIZE, graph=True, scope="graph",
        doc="Number of devices each layer's tensors are sharded across.",
    )
    prefill_context_parallel_size: int = knob(
        1, ge=1, le=MAX_PARALLEL_SIZE, graph=True, scope="graph",
        doc="Number of ranks a prefill's context is split across (PCP).",
    )
    data_parallel_size: int = knob(
        1,
        ge=1,
        le=MAX_PARALLEL_SIZE,
        graph=True,
        scope="graph",
        doc="Number of model replicas (DP ranks). MoE layers are sharded over tensor_parallel_size × "
        "data_parallel_size.",
    )
    data_parallel_size_local: int = knob(
        1,
        ge=0,
        graph=False,
        scope="launch",
        doc="Number of DP ranks on this node. 0 is vLLM's sentinel for 'data parallelism is set up "
        "externally'.",
    )
    data_parallel_rank: int = knob(
        0,
        ge=0,
        graph=False,
        scope="rank",
        doc="This process's DP rank; must be below data_parallel_size.",
    )
    data_parallel_rank_local: int | None = knob(
        None,
        graph=False,
        scope="rank",
        doc="This process's DP rank on its node; only meaningful with one process per DP rank (SPMD).",
    )
    data_parallel_master_ip: str = knob(
        "127.0.0.1",
        graph=False,
        scope="launch",
        check=ADDRESS,
        doc="Address of the DP master (DP group rendezvous and the DP engines' messaging), node 0's. Unset, "
        "vllm serve takes master_addr's value; in a run over several nodes it must be an address the other "
        "nodes reach (not loopback): node 0's from [cluster.network].node_addresses when that is given.",
    )
    data_parallel_rpc_port: int = knob(
        29550, ge=1, le=MAX_PORT, graph=False, scope="launch",
        doc="Port for DP messaging (ZMQ), shared by all nodes.",
    )
    dp_sync_interval: int = knob(
        16,
        ge=1,
        graph=True,
        scope="graph",
        since="0.34",
        doc="Engine steps between two all-reduces in which the DP ranks agree that they have finished; every DP "
        "rank must use the same value.",
    )
    data_parallel_master_port: int = knob(
        29500,
        ge=0,
        le=MAX_PORT,
        graph=False,
        scope="launch",
        doc="Port of the DP master; a single-node DP run takes the next port too (vLLM's get_next_dp_init_port). "
        "vLLM replaces it with a free port at start-up when DP > 1 (not with elastic EP); pconf keeps it in "
        "declarative mode and says so in vLLM-environment mode. 0: picked at run time.",
    )
    data_parallel_backend: DataParallelBackend = knob(
        "mp", graph=False, scope="launch", doc="How DP engines are started: mp or ray."
    )
    data_parallel_external_lb: bool = knob(
        False,
        graph=False,
        scope="launch",
        doc="External DP load balancing: one vLLM server per DP rank behind your own load balancer (e.g. "
        "one pod per rank). Needs data_parallel_size > 1 and an MoE model.",
    )
    data_parallel_hybrid_lb: bool = knob(
        False,
        graph=False,
        scope="launch",
        doc="Hybrid DP load balancing: vLLM balances across the DP ranks of a node, an external balancer "
        "across nodes.",
    )
    is_moe_model: bool | None = knob(
        None,
        graph=True,
        scope="graph",
        doc="Whether the model is mixture-of-experts; unset when unknown (vLLM fills it in from the model).",
    )
    enable_hc_sp: bool = knob(
        False,
        graph=True,
        scope="graph",
        since="0.34",
        doc="Sequence parallelism for HyperConnection computation (models that have it, with TP > 1 and no "
        "pipeline parallelism); independent of MoE sequence parallelism.",
    )
    enable_expert_parallel: bool = knob(
        False, graph=True, scope="graph", doc="Shard MoE experts across ranks (EP) instead of tensor-sharding them."
    )
    enable_batch_sharded_sampling: bool | None = knob(
        None,
        graph=True,
        scope="graph",
        since="0.34",
        doc="Each TP rank samples a slice of the batch instead of the whole batch (models that support it). "
        "Unset: off for now; true refuses configurations that cannot support it when the engine starts.",
    )
    enable_ep_weight_filter: bool = knob(
        False,
        graph=True,
        scope="graph",
        doc="With EP, each rank reads only its own experts' weights from disk (per-expert checkpoints only).",
    )
    enable_eplb: bool = knob(False, graph=True, scope="graph", doc="Enable expert-parallel load balancing.")
    eplb_config: EPLBConfig = knob(
        factory=EPLBConfig, graph=True, scope="graph", doc="Expert-parallel load balancing settings."
    )
    expert_placement_strategy: ExpertPlacementStrategy = knob(
        "linear",
        graph=True,
        scope="graph",
        doc="How experts map to EP ranks: linear (contiguous blocks: 4 experts on 2 ranks -> [0,1] [2,3]) "
        "or round_robin ([0,2] [1,3]).",
    )
    all2all_backend: All2AllBackend = knob(
        "allgather_reducescatter",
        deprecated={
            "naive": Deprecated("allgather_reducescatter", rewritten=True),
            "pplx": Deprecated("allgather_reducescatter", rewritten=True),
            "flashinfer_all2allv": Deprecated("flashinfer_nvlink_two_sided", rewritten=False),
        },
        graph=True,
        scope="graph",
        doc="All-to-all implementation for MoE expert parallelism. naive and pplx are deprecated and become "
        "allgather_reducescatter; flashinfer_all2allv is a deprecated spelling of "
        "flashinfer_nvlink_two_sided (kept as written).",
    )
    mori_ep_v2: bool | None = knob(
        None,
        graph=True,
        scope="graph",
        since="0.34",
        doc="Whether the mori all2all backend runs MoRI EPv2; vLLM resolves it from VLLM_MORI_EP_V2 and the "
        "deployment when unset (not meant to be set by hand).",
    )
    max_parallel_loading_workers: int | None = knob(
        None,
        ge=1,
        graph=False,
        scope="launch",
        doc="Load the model in batches with at most this many workers at once. vLLM ignores it (with a "
        "warning) in this version.",
    )
    disable_custom_all_reduce: bool = knob(
        False,
        graph=False,
        scope="launch",
        doc="Use NCCL instead of the custom all-reduce kernel. Forced on for multi-node runs and on "
        "platforms without the kernel.",
    )
    enable_shm_tensor_arena: bool = knob(
        False,
        graph=False,
        scope="launch",
        since="0.34",
        doc="Send large CPU tensors (e.g. images) from the engine to node-local workers through one shared-memory "
        "arena in /dev/shm instead of a copy per worker (experimental).",
    )
    enable_elastic_ep: bool = knob(
        False,
        graph=True,
        scope="graph",
        doc="Elastic expert parallelism (stateless NCCL groups for DP/EP). Needs enable_eplb, no pipeline "
        "parallelism and no external/hybrid load balancing.",
    )
    elastic_ep_max_dp_size: int | None = knob(
        None,
        ge=1,
        graph=True,
        scope="graph",
        since="0.34",
        doc="The largest data_parallel_size elastic EP may scale up to; at least data_parallel_size. Without "
        "elastic EP (or unset) it becomes data_parallel_size.",
    )
    enable_dbo: bool = knob(False, graph=True, scope="graph", doc="Dual batch overlap (two micro-batches).")
    ubatch_size: int = knob(0, ge=0, graph=True, scope="graph", doc="Number of micro-batches; 0 or 1 is off.")
    dbo_decode_token_threshold: int = knob(
        32,
        ge=0,
        graph=True,
        scope="graph",
        doc="Decode-only batches with at least this many tokens are micro-batched.",
    )
    dbo_prefill_token_threshold: int = knob(
        512,
        ge=0,
        graph=True,
        scope="graph",
        doc="Batches containing a prefill with at least this many tokens are micro-batched.",
    )
    disable_nccl_for_dp_synchronization: bool | None = knob(
        None,
        graph=True,
        scope="graph",
        doc="Run the per-step DP synchronisation all-reduce on the gloo CPU group instead of NCCL. Unset: "
        "true exactly when async scheduling is on.",
    )
    ray_workers_use_nsight: bool = knob(
        False, graph=False, scope="launch", doc="Profile Ray workers with Nsight (needs the ray backend)."
    )
    ray_runtime_env: dict[str, Any] | None = knob(
        None, graph=False, scope="launch", doc="Ray runtime environment (a table) passed to the workers."
    )
    placement_group: str | None = knob(
        None,
        graph=False,
        scope="launch",
        doc="Name of an existing Ray placement group to run the workers in. Set, with Ray installed, it "
        "makes the executor backend default to ray.",
    )
    distributed_executor_backend: str | None = knob(
        None,
        choices=EXECUTOR_BACKENDS,
        open_choices=True,
        graph=False,
        scope="launch",
        doc="How workers are run: mp (processes on this host), uni (in-process, one worker), ray, "
        "external_launcher (torchrun-style, one engine per rank), or the import path of an Executor class. "
        "Unset: uni for a single worker, otherwise chosen from the cluster facts (mp, or ray when Ray and "
        "a placement group are there).",
    )
    worker_cls: str = knob(
        "auto", graph=False, scope="launch", doc="Import path of the worker class; auto picks by platform."
    )
    sd_worker_cls: str = knob(
        "auto",
        graph=False,
        scope="launch",
        until="0.34",
        doc="Import path of the worker class for speculative decoding; auto picks by platform.",
    )
    worker_extension_cls: str = knob(
        "",
        graph=False,
        scope="launch",
        doc="Import path of a class mixed into the worker class (for collective_rpc extensions).",
    )
    master_addr: str = knob(
        "127.0.0.1",
        graph=False,
        scope="launch",
        check=ADDRESS,
        doc="torch.distributed rendezvous address for multi-node mp (and torchrun's with external_launcher): "
        "node 0's address, which every node must reach (not loopback); unset in a multi-node run, node 0's "
        "from [cluster.network].node_addresses.",
    )
    master_port: int = knob(
        29501, ge=1, le=MAX_PORT, graph=False, scope="launch",
        doc="torch.distributed rendezvous port for multi-node mp.",
    )
    node_rank: int = knob(0, ge=0, graph=False, scope="rank", doc="This node's index, below nnodes.")
    nnodes: int = knob(
        1, ge=1, le=MAX_PARALLEL_SIZE, graph=False, scope="launch", doc="Number of nodes of a multi-node mp run."
    )
    numa_bind: bool | None = knob(
        False,
        nullable=False,
        graph=False,
        scope="host",
        doc="Bind each GPU worker to the CPUs and memory of its GPU's NUMA node.",
    )
    numa_bind_nodes: tuple[int, ...] | None = knob(
        None,
        graph=False,
        scope="host",
        check=NUMA_NODES,
        doc="NUMA node for each visible GPU, e.g. [0, 0, 1, 1]; unset: detected from the topology. "
        "Needs numa_bind.",
    )
    numa_bind_cpus: tuple[str, ...] | None = knob(
        None,
        graph=False,
        scope="host",
        check=CPU_LISTS,
        doc="numactl CPU list for each visible GPU, e.g. ['0-3', '4-7']; replaces node-wide CPU binding. "
        "Needs numa_bind.",
    )
    assigned_physical_gpu_ids: tuple[int, ...] | None = knob(
        None,
        graph=False,
        scope="host",
        since="0.28",
        doc="The physical GPU behind each of vLLM's local GPU indices, e.g. [2, 3] (vllm serve --device-ids); "
        "unset: the visible devices in order.",
    )
    distributed_timeout_seconds: int | None = knob(
        None,
        gt=0,
        le=MAX_TIMEOUT,
        graph=True,
        scope="launch",
        doc="Timeout of distributed operations such as init_process_group; unset: PyTorch's default (600 s "
        "for NCCL). A hash factor in vLLM although it does not change the graph. pconf requires a positive number "
        "of seconds (vLLM accepts 0 and negative values, which make every operation time out at once).",
    )
    cpu_distributed_timeout_seconds: int | None = knob(
        None,
        gt=0,
        le=MAX_TIMEOUT,
        graph=True,
        scope="launch",
        doc="Timeout of CPU (gloo) groups; unset: PyTorch's default (1800 s for gloo). A hash factor in vLLM. "
        "A positive number of seconds, as distributed_timeout_seconds.",
    )
    rank: int = knob(0, graph=False, scope="rank", doc="Global rank of this process.")
    decode_context_parallel_size: int = knob(
        1,
        ge=1,
        le=MAX_PARALLEL_SIZE,
        graph=True,
        scope="graph",
        doc="Decode context parallelism: splits the KV cache across ranks of the TP group (uses no extra "
        "devices); tensor_parallel_size must be divisible by it.",
    )
    dcp_kv_cache_interleave_size: int = knob(
        1,
        graph=True,
        scope="graph",
        doc="Older DCP-only spelling of cp_kv_cache_interleave_size; when DCP > 1 and it is > 1 and differs, "
        "it overrides cp_kv_cache_interleave_size.",
    )
    dcp_comm_backend: DCPCommBackend | None = knob(
        "ag_rs",
        nullable=False,
        graph=True,
        scope="graph",
        doc="DCP communication: ag_rs (all-gather + reduce-scatter) or a2a (all-to-all of partial outputs, "
        "needs decode_context_parallel_size > 1).",
    )
    dcp_q_replicate: bool | None = knob(
        None,
        graph=True,
        scope="graph",
        since="0.34",
        doc="Replicate the query across the DCP ranks instead of sharding it; unset: the model decides "
        "(vLLM's default is false).",
    )
    cp_kv_cache_interleave_size: int = knob(
        1,
        graph=True,
        scope="graph",
        doc="Tokens placed on one context-parallel rank before moving to the next (1: token round robin; "
        "block_size: fill a block first). The block size must be a multiple of it.",
    )
    enable_fault_tolerance: bool = knob(
        False,
        graph=True,
        scope="graph",
        since="0.28",
        doc="Detailed error recovery: a failing DP engine can be scaled down instead of stopping the server "
        "(needs a single API server process).",
    )
    fault_tolerance_config: FaultToleranceConfig = knob(
        factory=FaultToleranceConfig, graph=True, scope="graph", since="0.28", doc="Fault tolerance settings."
    )
