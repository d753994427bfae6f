"""pconf's own checks on the deployment, which vLLM's ParallelConfig does not make: the ranks fit the nodes and
their devices, every port is a port and no two collide on node 0's host, and a run over several nodes meets at
an address the other nodes reach. Every command that compiles runs them (``pconf validate``, ``compile``,
``hash``, ``explain``, ``plan``, ``compile_files``, ``compile_dict``), so nothing compiles that cannot be planned.
The facts come from ``pconf.deployment``, which the plan lays out from too."""

from __future__ import annotations

from pconf import deployment
from pconf.errors import Issue
from pconf.resolve import ResolvedConfig
from pconf.rules.registry import found, rule, rules_by_id

DEPLOY = "pconf: the deployment (vLLM fails at start-up, hangs, or cannot bind)"


@rule("plan.too_many_ranks", DEPLOY)
def _too_many_ranks(r: ResolvedConfig) -> list[Issue]:
    """The run has at most 65536 ranks (world size × DP size), as many as pconf lays out."""
    return deployment.rank_issues(r)


@rule("plan.nodes", DEPLOY)
def _nodes(r: ResolvedConfig) -> list[Issue]:
    """The ranks divide evenly into the nodes, and the DP layout (data_parallel_size_local DP ranks per node, a
    replica within a node or spanning whole nodes) fills them; in vLLM's DP-only multi-node form,
    data_parallel_size_local divides data_parallel_size."""
    p = r.parallel
    engine_says_it = p.nnodes > 1 and bool(  # engine.nnodes_divides_world / engine.derived_layout do
        (p.data_parallel_size * p.pipeline_parallel_size * p.tensor_parallel_size) % p.nnodes
        or r.derived.node_rank_within_dp is None)
    if deployment.processes(r) > deployment.MAX_RANKS or engine_says_it:
        return []
    return deployment.node_issues(r)


@rule("plan.devices", DEPLOY)
def _devices(r: ResolvedConfig) -> list[Issue]:
    """A node runs at most cluster.devices_per_node ranks (vLLM checks only world_size, without DP, against one
    node's GPUs; the other DP engines find no device at start-up), and has at least one device. Not checked for
    the ray backend, where Ray places the ranks."""
    if deployment.processes(r) > deployment.MAX_RANKS or rules_by_id()["executor.gpu_count"].check(r):
        return []  # plan.too_many_ranks, or vLLM's own check, says it
    return deployment.device_issues(r)


@rule("plan.port_range", DEPLOY)
def _port_range(r: ResolvedConfig) -> list[Issue]:
    """Every port the run takes is in 1..65535, including the ones after data_parallel_master_port that vLLM
    takes too and the API ports of a node's further servers."""
    return deployment.port_issues(r)[0]


@rule("plan.port_collision", DEPLOY)
def _port_collision(r: ResolvedConfig) -> list[Issue]:
    """The ports of node 0's host differ: the world rendezvous (master_port, or the DP master port + 1 on one
    node), the DP master ports, data_parallel_rpc_port and the API server's [serve].port."""
    return deployment.port_issues(r)[1]


@rule("network.loopback", DEPLOY)
def _loopback(r: ResolvedConfig) -> list[Issue]:
    """In a run over several nodes, master_addr (multi-node mp, torchrun) and data_parallel_master_ip (DP) are
    an address the other nodes reach: not loopback (127.0.0.0/8, ::1, localhost) nor unspecified (0.0.0.0,
    ::). Loopback addresses for every node in [cluster.network].node_addresses say that all nodes are one host,
    on purpose."""
    return deployment.address_issues(r)


@rule("network.node_addresses", DEPLOY)
def _node_addresses(r: ResolvedConfig) -> list[Issue]:
    """[cluster.network].node_addresses lists one address per node of the run."""
    return deployment.node_address_issues(r)


@rule("deploy.owned_flag", DEPLOY)
def _owned_flag(r: ResolvedConfig) -> list[Issue]:
    """[deploy].extra_args sets no flag that pconf writes on the serve lines from the file (a parallel setting of
    the release, the layout, the addresses, the ports, [serve], async scheduling; their short spellings and
    abbreviations too), and no --config file, which could set any of them unseen."""
    out = []
    for i, arg in enumerate(r.document.deploy.extra_args):
        flag = deployment.owned_flag(arg, r.profile)
        if flag is not None:
            if flag == "--config":
                out.append(found(("deploy", "extra_args", i), "reads vllm serve's arguments from a file, which "
                                 "could set the flags pconf writes unseen", "list the arguments in extra_args "
                                 "instead", arg))
                continue
            key = deployment.owned_flags(r.profile)[flag]
            out.append(found(("deploy", "extra_args", i), f"sets {flag}, which pconf writes from the file",
                             f"remove it and set {key} instead", arg))
    return out


@rule("deploy.accelerator_count", DEPLOY)
def _accelerator_count(r: ResolvedConfig) -> Issue | None:
    """A count in [deploy].accelerator (\"H100:8\") is cluster.devices_per_node: the GPUs each node runs ranks on."""
    accelerator = r.document.deploy.accelerator
    devices = r.document.cluster.devices_per_node
    if accelerator is None or ":" not in accelerator or int(accelerator.rsplit(":", 1)[1]) == devices:
        return None
    kind = accelerator.rsplit(":", 1)[0]
    return found(("deploy", "accelerator"), f"asks for {accelerator.rsplit(':', 1)[1]} per node, but "
                 f"cluster.devices_per_node is {devices}", f"write \"{kind}:{devices}\" or \"{kind}\"", accelerator)
