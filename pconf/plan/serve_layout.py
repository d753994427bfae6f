"""The layout arguments of one ``vllm serve`` of a planned deployment: what each node's line (or, with external
DP load balancing, each DP rank's server) says beyond the file's settings.

One declaration for the serve lines (``emit.vllm``) and ``Compiled.engine_kwargs``:

- vLLM's multi-node run (``nnodes > 1``): every node says ``nnodes``, its ``node_rank``, node 0's ``master_addr``
  and ``master_port`` (vLLM's DP-only multi-node form keeps vLLM's ``nnodes`` at 1 and says none of them);
- external DP load balancing: each server its ``data_parallel_rank`` and the DP address and RPC port;
- several nodes with DP: ``data_parallel_size_local``, the DP address and RPC port, and on nodes after the
  first ``data_parallel_start_rank``;
- one node: ``data_parallel_size_local`` only where the file sets it to other than the release's default (kept
  as vLLM reads it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pconf.versions.serve import parallel_default

if TYPE_CHECKING:
    from pconf.plan import Plan


def node_layout(plan: Plan, node: int, dp_rank: int | None = None) -> dict[str, Any]:
    """Node ``node``'s layout arguments (the server of ``dp_rank`` with external DP load balancing), in the order
    the serve line gives them: ``LAYOUT_ARGS`` field (or ``data_parallel_start_rank``) -> value."""
    p, resolved = plan.resolved.document.parallel, plan.resolved.parallel
    out: dict[str, Any] = {}
    if p.nnodes > 1:
        out.update(nnodes=p.nnodes, node_rank=node, master_addr=resolved.master_addr, master_port=resolved.master_port)
    dp_address = {"data_parallel_master_ip": resolved.data_parallel_master_ip,
                  "data_parallel_rpc_port": resolved.data_parallel_rpc_port}
    if p.data_parallel_external_lb:
        out.update(data_parallel_rank=dp_rank, **dp_address)
    elif plan.nnodes == 1:
        if p.data_parallel_size_local != parallel_default(plan.resolved.profile, "data_parallel_size_local"):
            out["data_parallel_size_local"] = p.data_parallel_size_local
    elif plan.dp > 1:
        out.update(data_parallel_size_local=resolved.data_parallel_size_local, **dp_address)
        if node:
            out["data_parallel_start_rank"] = node_dp_ranks(plan, node)[0]
    return out


def node_dp_ranks(plan: Plan, node: int) -> list[int]:
    """The DP ranks with a rank on node ``node``, in order."""
    return sorted({plan.rank(r).dp for r in plan.node_ranks(node)})
