"""What a deployment decides before vLLM's ParallelConfig is built: EngineArgs' launch values, the node count,
and node 0's address.

``vllm serve`` does not hand its flags to ParallelConfig as they are: ``EngineArgs.create_engine_config`` (spec
§10.2) fills in ``data_parallel_size_local`` and takes the DP address from ``master_addr``. In declarative mode
pconf compiles the deployment those lines start, so a value the files leave unset gets EngineArgs' value:

- ``data_parallel_size_local``: 1 with external DP load balancing; on several nodes (``nnodes > 1``) the DP
  ranks of one node's share of the world, ``max(DP × PP × TP / nnodes / (PP × TP), 1)``; on one node every DP
  rank (``data_parallel_size``);
- ``data_parallel_master_ip``, in a DP run over several nodes: ``master_addr`` (vllm serve's
  ``--data-parallel-address`` default; with DP = 1 vLLM's ParallelConfig resets it to 127.0.0.1, and on one node
  the serve line carries neither address, so the default stays).

The deployment spans ``nnodes`` nodes, or, in vLLM's DP-only multi-node form (``nnodes`` left at 1, a
``data_parallel_size_local`` below ``data_parallel_size`` given, the mp DP backend, internal or hybrid load
balancing), ``data_parallel_size /
data_parallel_size_local`` nodes: node 0 runs DP ranks ``0 … L-1`` and serves, node k runs ranks ``k·L …`` as
``vllm serve --headless --data-parallel-start-rank k·L``. vLLM's own ``nnodes`` stays 1 there (and so does the
graph hash, which never counts nodes).

A run over several nodes gets no loopback default for its rendezvous addresses: an unset ``master_addr`` is
node 0's address from ``[cluster.network].node_addresses`` (and so is an unset ``data_parallel_master_ip``);
without node addresses the default stays and ``pconf.rules.deploy`` refuses it (``network.loopback``).

Pure: reads a Document and which keys the files set; both modes use the node count and the network defaults,
only declarative mode EngineArgs' values (vLLM-environment mode is ParallelConfig's own construction).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pconf.keypath import KeyPath
from pconf.schema import Document, ParallelConfig

_DEFAULTS = ParallelConfig()


class LaunchValues(NamedTuple):
    """The launch values decided for a document: parallel fields changed (with why), and the node count."""

    changes: dict[str, Any]
    why: dict[str, str]
    nodes: int
    dp_only: bool


def default_written(document: Document) -> Callable[[KeyPath], bool]:
    """For a Document built without files: a key counts as written when its value is not vLLM's default."""
    p = document.parallel

    def written(path: KeyPath) -> bool:
        return path[0] == "parallel" and len(path) == 2 and getattr(p, str(path[1])) != getattr(_DEFAULTS,
                                                                                                  str(path[1]))

    return written


def dp_only_nodes(p: ParallelConfig, local: int, local_written: bool) -> int:
    """The nodes of vLLM's DP-only multi-node form (``nnodes`` 1, a given ``data_parallel_size_local`` ``local``
    below ``data_parallel_size``, the mp DP backend, not external_launcher), rounded up; 0 when the form does
    not apply. External DP load balancing always runs one DP rank per server (``local`` 1) and says its nodes
    with ``nnodes``: its servers may share a node."""
    dp = p.data_parallel_size
    if (p.nnodes == 1 and local_written and 0 < local < dp and p.data_parallel_backend == "mp"
            and not p.data_parallel_external_lb and p.distributed_executor_backend != "external_launcher"):
        return -(-dp // local)
    return 0


def launch_values(document: Document, env_mode: bool, written: Callable[[KeyPath], bool]) -> LaunchValues:
    """EngineArgs' launch values (declarative mode), the node count, and node 0's address (see the module
    docstring); ``written(path)`` says whether the files set a key."""
    p, network = document.parallel, document.cluster.network
    changes: dict[str, Any] = {}
    why: dict[str, str] = {}

    # 1. data_parallel_size_local, as EngineArgs infers it when the flag is not given.
    local = p.data_parallel_size_local
    local_written = written(("parallel", "data_parallel_size_local"))
    if not env_mode and not local_written:
        inferred, reason = _inferred_local(p)
        if inferred is not None and inferred != local:
            changes["data_parallel_size_local"], why["data_parallel_size_local"] = inferred, reason
            local = inferred

    # 2. The nodes the deployment spans.
    only = dp_only_nodes(p, local, local_written)
    nodes = only or p.nnodes

    # 3. Node 0's address for a run over several nodes, then the DP address vllm serve derives from it.
    master = p.master_addr
    if nodes > 1 and network.node_addresses and not written(("parallel", "master_addr")):
        master = network.node_addresses[0]
        if master != p.master_addr:
            changes["master_addr"], why["master_addr"] = master, "node 0's address ([cluster.network]." \
                "node_addresses[0])"
    if nodes > 1 and p.data_parallel_size > 1 and not written(("parallel", "data_parallel_master_ip")):
        if not env_mode and master != p.data_parallel_master_ip:
            changes["data_parallel_master_ip"] = master
            why["data_parallel_master_ip"] = "vllm serve's --data-parallel-address defaults to master_addr"
        elif env_mode and network.node_addresses:
            changes["data_parallel_master_ip"] = network.node_addresses[0]
            why["data_parallel_master_ip"] = "node 0's address ([cluster.network].node_addresses[0])"
    return LaunchValues(changes, why, nodes, bool(only))


def _inferred_local(p: ParallelConfig) -> tuple[int | None, str]:
    """EngineArgs' data_parallel_size_local when the flag is not given (spec §10.2)."""
    if p.data_parallel_external_lb:
        return 1, "EngineArgs: one DP rank per server with external DP load balancing"
    if p.nnodes > 1:
        world = p.data_parallel_size * p.pipeline_parallel_size * p.tensor_parallel_size
        if world % p.nnodes:  # EngineArgs asserts; engine.nnodes_divides_world reports it
            return None, ""
        per_replica = p.pipeline_parallel_size * p.tensor_parallel_size
        return max(world // p.nnodes // per_replica, 1), \
            "EngineArgs: the DP ranks of one node's share of DP × PP × TP, at least 1"
    return p.data_parallel_size, "EngineArgs: one node runs every DP rank"


__all__ = ["LaunchValues", "default_written", "dp_only_nodes", "launch_values"]
