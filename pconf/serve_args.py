"""``vllm serve`` command lines that start a planned deployment, node by node (vLLM 0.23.0's flags).

Every ParallelConfig setting the file changes from vLLM's default becomes its EngineArgs flag (booleans as
``--x`` / ``--no-x``, lists as several values, ``eplb_config`` as JSON). The multi-node layout follows vLLM's
docs:

- one node: a single command (external DP load balancing: one command per DP rank, ``--data-parallel-rank``);
- DP across nodes, each replica on one node: every node gets ``--data-parallel-size-local`` and the head's
  ``--data-parallel-address`` / ``--data-parallel-rpc-port``; the other nodes add ``--headless`` and
  ``--data-parallel-start-rank`` (hybrid LB: no ``--headless``, each node serves; external LB: one command per
  DP rank with ``--data-parallel-rank``);
- replicas spanning nodes (multi-node mp): ``--nnodes``, ``--node-rank``, ``--master-addr``,
  ``--master-port``, and ``--headless`` on every node but the first.
"""

from __future__ import annotations

import json
import shlex

import attrs

from pconf.plan import Plan
from pconf.schema import EPLBConfig, ParallelConfig

#: ParallelConfig fields that ``vllm serve`` takes as ``--field-name`` flags, in the order they are printed.
#: (Launch layout flags -- DP local size, address, ports, start rank, nodes -- are placed per node below.)
FLAG_FIELDS = (
    "tensor_parallel_size", "pipeline_parallel_size", "prefill_context_parallel_size", "data_parallel_size",
    "decode_context_parallel_size", "dcp_comm_backend", "dcp_kv_cache_interleave_size", "cp_kv_cache_interleave_size",
    "data_parallel_backend", "data_parallel_hybrid_lb", "data_parallel_external_lb", "enable_expert_parallel",
    "enable_ep_weight_filter", "all2all_backend", "expert_placement_strategy", "enable_eplb", "eplb_config",
    "enable_elastic_ep", "enable_dbo", "ubatch_size", "dbo_decode_token_threshold", "dbo_prefill_token_threshold",
    "disable_nccl_for_dp_synchronization", "distributed_executor_backend", "distributed_timeout_seconds",
    "cpu_distributed_timeout_seconds", "max_parallel_loading_workers", "ray_workers_use_nsight",
    "disable_custom_all_reduce", "worker_cls", "worker_extension_cls", "numa_bind", "numa_bind_nodes",
    "numa_bind_cpus",
)
_DEFAULTS = ParallelConfig()


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def setting_flags(p: ParallelConfig) -> list[str]:
    """The flags for every setting that differs from vLLM's default."""
    argv: list[str] = []
    for field in FLAG_FIELDS:
        value, default = getattr(p, field), getattr(_DEFAULTS, field)
        if value == default:
            continue
        if field == "eplb_config":
            changed = {a.name: getattr(value, a.name) for a in attrs.fields(EPLBConfig)
                       if getattr(value, a.name) != getattr(default, a.name)}
            argv += [flag(field), json.dumps(changed, separators=(",", ":"))]
        elif isinstance(value, bool):
            argv.append(flag(field) if value else "--no-" + flag(field)[2:])
        elif isinstance(value, tuple):
            argv += [flag(field), *map(str, value)]
        elif value is not None:
            argv += [flag(field), str(value)]
    return argv


def serve_commands(plan: Plan, node: int, model: str = "$MODEL") -> list[list[str]]:
    """The ``vllm serve`` argv lists node ``node`` runs (one, or one per DP rank with external LB)."""
    if not 0 <= node < plan.nnodes:
        raise IndexError(f"node {node} is outside 0..{plan.nnodes - 1}")
    p = plan.resolved.document.parallel
    base = ["vllm", "serve", model, *setting_flags(p)]
    dp_address = ["--data-parallel-address", p.data_parallel_master_ip,
                  "--data-parallel-rpc-port", str(p.data_parallel_rpc_port)]
    dp_ranks = sorted({plan.rank(r).dp for r in plan.node_ranks(node)})
    if p.data_parallel_external_lb:  # one server per DP rank
        return [[*base, "--data-parallel-rank", str(d), *dp_address] for d in dp_ranks]
    if plan.nnodes == 1:
        return [base]
    within = plan.resolved.derived.nnodes_within_dp or 1
    if within > 1:  # replicas span nodes: multi-node mp
        argv = [*base, "--nnodes", str(plan.nnodes), "--node-rank", str(node), "--master-addr", p.master_addr,
                "--master-port", str(p.master_port)]
        if plan.dp > 1:
            argv += dp_address
        return [argv + (["--headless"] if node else [])]
    local = ["--data-parallel-size-local", str(p.data_parallel_size_local), *dp_address]
    if node == 0:
        return [[*base, *local]]
    start = ["--data-parallel-start-rank", str(dp_ranks[0])]
    return [[*base, *local, *start] + ([] if p.data_parallel_hybrid_lb else ["--headless"])]


def render(commands: list[list[str]]) -> str:
    """Shell lines, quoted so they can be pasted (``$MODEL`` is left for the shell to expand)."""
    return "".join(" ".join(_quote(a) for a in argv) + "\n" for argv in commands)


def _quote(arg: str) -> str:
    return arg if arg.startswith("$") and arg[1:].replace("_", "").isalnum() else shlex.quote(arg)


__all__ = ["FLAG_FIELDS", "render", "serve_commands", "setting_flags"]
