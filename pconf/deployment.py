"""The deployment a resolved configuration describes: its processes, its nodes, its ports and its addresses.

Shared by the rules that refuse a deployment that cannot work (``pconf.rules.deploy``, run by every command that
compiles) and by the plan that lays it out (``pconf.plan``), so that a ``Compiled`` never exists for a layout the
plan would refuse. Pure: computed from a ResolvedConfig, never raises.

- processes: ``world_size_across_dp``, except with the external_launcher backend, where vLLM's world_size already
  counts DP: there it is world_size;
- nodes: ``derived.nodes`` (``nnodes``, or vLLM's DP-only multi-node form: ``pconf.engine_args``), each running
  ``processes / nodes`` ranks;
- ports (``Ports``): the world rendezvous, the DP master ports vLLM takes, the DP RPC port and the API server's
  port(s), all on node 0's host, so no two may be equal;
- addresses: in a run over several nodes, the rendezvous addresses other nodes connect to must reach node 0;
- the flags of a ``vllm serve`` line pconf writes from the file (``owned_flag``), which ``[deploy].extra_args``
  may not set again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from pconf.errors import Issue, problem
from pconf.keypath import KeyPath, format_path
from pconf.netaddr import is_local_only
from pconf.resolve import ResolvedConfig

if TYPE_CHECKING:
    from pconf.versions import Profile

MAX_PORT = 65535
#: The most ranks a plan lays out (the schema's MAX_PARALLEL_SIZE): a plan holds a row and group entries per
#: rank, and 65536 ranks take about 0.3 GB and a second to print; sizes multiply, so the product is bounded too.
MAX_RANKS = 1 << 16


class Ports(NamedTuple):
    """The ports a run takes. ``dp_init_ports`` is None when they are picked at run time.

    ``dp_init_ports`` follows ``get_next_dp_init_port``: without vLLM's prepared pool, the DP master port and
    then one more per call. A run with DP makes one call for the engine's stateless DP group and, when vLLM's
    ``nnodes`` is 1 (one node, or the DP-only multi-node form), a second for the workers' world group; without DP
    it makes none (empty). The world rendezvous is ``master_addr:master_port`` for multi-node runs and runs
    without DP, and ``data_parallel_master_ip:dp_init_ports[1]`` otherwise, as in vLLM. ``world_key`` names the
    key that sets the world port. ``api_ports``: the API server port of each ``vllm serve`` node 0 runs (one per
    DP rank with external load balancing, counting up from ``[serve].port``; none under external_launcher).
    """

    world_addr: str
    world_port: int | None
    dp_master_ip: str
    dp_init_ports: tuple[int, ...] | None
    dp_rpc_port: int
    api_ports: tuple[int, ...] = ()
    world_key: str = "parallel.master_port"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = self._asdict()
        out["dp_init_ports"] = list(self.dp_init_ports) if self.dp_init_ports is not None else None
        out["api_ports"] = list(self.api_ports)
        del out["world_key"]
        return out


def processes(r: ResolvedConfig) -> int:
    """How many rank processes the run has (see the module docstring)."""
    external = r.parallel.distributed_executor_backend == "external_launcher"
    return r.world_size if external else r.derived.world_size_across_dp


def per_node(r: ResolvedConfig) -> int:
    """Ranks on each node; 0 when the processes do not divide evenly into the nodes."""
    n, nodes = processes(r), r.derived.nodes
    return n // nodes if n % nodes == 0 else 0


def servers_on_node(r: ResolvedConfig, node: int) -> int:
    """How many ``vllm serve`` API servers node ``node`` runs: one per DP rank with external load balancing, none
    on a headless node, one otherwise (none under external_launcher, which vllm serve does not start)."""
    p = r.parallel
    if p.distributed_executor_backend == "external_launcher":
        return 0
    if p.data_parallel_external_lb:
        size = per_node(r) or processes(r)
        return max(size // max(r.world_size, 1), 1)
    return 1 if node == 0 or p.data_parallel_hybrid_lb else 0


def ports(r: ResolvedConfig) -> Ports:
    """The ports of a run (see ``Ports``)."""
    p, d = r.parallel, r.derived
    dp_port = p.data_parallel_master_port
    picked_at_runtime = d.dp_master_port_picked_at_runtime or dp_port == 0
    multi_dp = p.data_parallel_size > 1
    # The calls a run makes to get_next_dp_init_port: the engine's DP group, then (vLLM's nnodes 1) the world group.
    calls = 0 if not multi_dp else 2 if p.nnodes == 1 else 1
    dp_init = None if picked_at_runtime else tuple(range(dp_port, dp_port + calls))
    if p.nnodes == 1 and multi_dp:
        world_addr, world_port, key = p.data_parallel_master_ip, dp_init[1] if dp_init else None, \
            "parallel.data_parallel_master_port"
    else:
        world_addr, world_port, key = p.master_addr, p.master_port, "parallel.master_port"
    serve = r.document.serve
    api = tuple(range(serve.port, serve.port + servers_on_node(r, 0)))
    return Ports(world_addr, world_port, p.data_parallel_master_ip, dp_init, p.data_parallel_rpc_port, api, key)


# -- what cannot work --------------------------------------------------------------------------------------------


def rank_issues(r: ResolvedConfig) -> list[Issue]:
    """More ranks than pconf lays out (``plan.too_many_ranks``)."""
    n, p = processes(r), r.parallel
    if n <= MAX_RANKS:
        return []
    sizes = ("pipeline_parallel_size", "tensor_parallel_size", "prefill_context_parallel_size", "data_parallel_size")
    largest = max(sizes, key=lambda name: getattr(p, name))
    return [problem(("parallel", largest), "", f"the run has {n} ranks, more than {MAX_RANKS}",
                    "pconf plans at most that many; lower the parallel sizes", getattr(p, largest))]


def node_issues(r: ResolvedConfig) -> list[Issue]:
    """Ranks that cannot be spread evenly over the nodes (``plan.nodes``)."""
    p, d = r.parallel, r.derived
    n, nodes, dp = processes(r), d.nodes, p.data_parallel_size
    external = p.distributed_executor_backend == "external_launcher"
    dp_local = p.data_parallel_size_local
    if p.nnodes == 1 and nodes > 1:  # vLLM's DP-only multi-node form: L DP ranks on each of DP / L nodes
        if dp % dp_local:
            return [problem(("parallel", "data_parallel_size_local"), "", f"{dp} DP ranks do not fill nodes of "
                            f"{dp_local} evenly (vLLM's DP-only multi-node layout runs data_parallel_size_local DP "
                            "ranks on each of data_parallel_size / data_parallel_size_local nodes)",
                            "use a data_parallel_size_local that divides data_parallel_size", dp_local)]
        return []
    if n % nodes:
        return [problem(("parallel", "nnodes"), "", f"{n} processes do not divide evenly into {nodes} nodes",
                        "use an nnodes that divides the number of processes", p.nnodes)]
    if nodes > 1 and not external:
        within = d.nnodes_within_dp or 0
        if dp_local < 1 or dp % dp_local or within < 1 or (dp // dp_local) * within != nodes \
                or r.world_size % within:
            return [problem(("parallel", "data_parallel_size_local"), "", f"{dp} DP ranks of {r.world_size} "
                            f"workers, {dp_local} per node, do not fill {nodes} nodes evenly", "set "
                            "data_parallel_size_local to the DP ranks each node runs (data_parallel_size / nnodes "
                            "when each replica fits on a node), or leave it unset", dp_local)]
        if within > 1 and dp_local != 1:  # vLLM's EngineArgs infers 1 for a replica spanning nodes
            return [problem(("parallel", "data_parallel_size_local"), "", f"each DP replica spans {within} nodes, "
                            f"so a node holds part of one replica, not {dp_local}",
                            "set data_parallel_size_local = 1, or leave it unset", dp_local)]
    return []


def device_issues(r: ResolvedConfig) -> list[Issue]:
    """A node running more ranks than it has devices (``plan.devices``); Ray places ranks itself."""
    cluster, size = r.document.cluster, per_node(r)
    if cluster.devices_per_node == 0:  # vLLM's GPU-count check says so too when it applies
        return [problem(("cluster", "devices_per_node"), "", "a node without devices runs no rank",
                        "give the devices (or, with device = \"cpu\", the rank processes) of one node", 0)]
    if size and size > cluster.devices_per_node and r.parallel.distributed_executor_backend != "ray":
        return [problem(("cluster", "devices_per_node"), "", f"each node runs {size} rank{'s' if size != 1 else ''}"
                        f" but has {cluster.devices_per_node} device{'s' if cluster.devices_per_node != 1 else ''}",
                        "raise nnodes, lower the parallel sizes, or correct devices_per_node",
                        cluster.devices_per_node)]
    return []


def port_issues(r: ResolvedConfig) -> tuple[list[Issue], list[Issue]]:
    """Ports out of 1..65535 (``plan.port_range``) and ports two keys share on node 0's host
    (``plan.port_collision``, naming both keys)."""
    p, used = r.parallel, ports(r)
    multi_dp = p.data_parallel_size > 1
    entries: list[tuple[int, KeyPath, str]] = []  # (port, the key that sets it, what it is beyond that key)
    if not (p.nnodes == 1 and multi_dp) and used.world_port is not None:  # else: a DP master port below
        entries.append((used.world_port, tuple(used.world_key.split(".")), ""))
    for i, port in enumerate(used.dp_init_ports or () if multi_dp else ()):
        entries.append((port, ("parallel", "data_parallel_master_port"), f" + {i}" if i else ""))
    if multi_dp:
        entries.append((used.dp_rpc_port, ("parallel", "data_parallel_rpc_port"), ""))
    for i, port in enumerate(used.api_ports):
        entries.append((port, ("serve", "port"), f" + {i}" if i else ""))
    out_of_range: list[Issue] = []
    collisions: list[Issue] = []
    taken: dict[int, str] = {}
    for port, key, offset in entries:
        what = f"port {port}" + (f" ({format_path(key)}{offset}, which the run takes too)" if offset else "")
        if not 1 <= port <= MAX_PORT:
            out_of_range.append(problem(key, "", f"{what} is outside 1..{MAX_PORT}",
                                        "choose a lower port (the ports after it are taken too)", _value(r, key)))
        elif port in taken:
            collisions.append(problem(key, "", f"{what} is also used by {taken[port]}",
                                      "give every port of the run its own number", _value(r, key)))
        else:
            taken[port] = format_path(key) + offset
    return out_of_range, collisions


def _value(r: ResolvedConfig, key: KeyPath) -> object:
    node: object = r.parallel if key[0] == "parallel" else r.document.serve
    return getattr(node, str(key[-1]))


def address_issues(r: ResolvedConfig) -> list[Issue]:
    """Rendezvous addresses that reach only their own host in a run over several nodes (``network.loopback``),
    unless ``[cluster.network].node_addresses`` says every node is this host."""
    p, nodes = r.parallel, r.derived.nodes
    if nodes < 2:
        return []
    network = r.document.cluster.network
    listed = network.node_addresses or ()
    if listed and all(is_local_only(a) for a in listed):
        return []  # several "nodes" on one host, said outright
    keys = []
    if p.nnodes > 1 or p.distributed_executor_backend == "external_launcher":
        keys.append("master_addr")
    if p.data_parallel_size > 1 and p.distributed_executor_backend != "external_launcher":
        keys.append("data_parallel_master_ip")
    found = []
    for key in keys:
        value = getattr(p, key)
        if is_local_only(value):
            found.append(problem(("parallel", key), "", f"the run spans {nodes} nodes, and {value} reaches only the "
                                 "host it is used on, so the other nodes never join",
                                 "set it to node 0's address, or list [cluster.network].node_addresses (node 0 first); "
                                 "to run every \"node\" on this host on purpose, list a loopback address for each "
                                 "node there; a cluster manager supplies it itself (pconf plan --format lws, slurm, "
                                 "skypilot)", value))
    return found


def node_address_issues(r: ResolvedConfig) -> list[Issue]:
    """``[cluster.network].node_addresses`` lists one address per node (``network.node_addresses``)."""
    listed, nodes = r.document.cluster.network.node_addresses, r.derived.nodes
    if listed is None or len(listed) == nodes:
        return []
    return [problem(("cluster", "network", "node_addresses"), "", f"lists {len(listed)} "
                    f"address{'es' if len(listed) != 1 else ''} but the run has {nodes} "
                    f"node{'s' if nodes != 1 else ''}",
                    "list one address per node, node 0 first", list(listed))]


# -- the flags of a serve line ----------------------------------------------------------------------------------

#: The flags of a ``vllm serve`` line that pconf writes from the launch layout, the scheduler and ``[serve]``
#: (``pconf.emit.vllm``), besides the release's parallel settings (``Profile.serve_flags``), each with the key it
#: comes from.
LAUNCH_FLAGS = {
    "--model": "[deploy].model (or pconf plan --model)",
    "--nnodes": "parallel.nnodes",
    "--node-rank": "the node's place in the plan",
    "--master-addr": "parallel.master_addr (a deployment target supplies it)",
    "--master-port": "parallel.master_port",
    "--data-parallel-size-local": "parallel.data_parallel_size_local",
    "--data-parallel-address": "parallel.data_parallel_master_ip (a deployment target supplies it)",
    "--data-parallel-rpc-port": "parallel.data_parallel_rpc_port",
    "--data-parallel-start-rank": "the node's place in the plan",
    "--data-parallel-rank": "the server's place in the plan",
    "--headless": "the node's place in the plan",
    "--host": "[serve].host",
    "--port": "[serve].port",
    "--api-server-count": "[serve].api_server_count",
    "--async-scheduling": "scheduler.async_scheduling",
    "--config": "nothing: a --config file could set any flag, where pconf cannot see it",
}
#: vLLM's short spellings of flags pconf writes (EngineArgs' aliases).
SHORT_FLAGS = {
    "-tp": "--tensor-parallel-size", "-pp": "--pipeline-parallel-size", "-dp": "--data-parallel-size",
    "-dpl": "--data-parallel-size-local", "-pcp": "--prefill-context-parallel-size",
    "-dcp": "--decode-context-parallel-size", "-ep": "--enable-expert-parallel", "-n": "--nnodes",
    "-r": "--node-rank", "-dpn": "--data-parallel-rank", "-dpr": "--data-parallel-start-rank",
    "-dpa": "--data-parallel-address", "-dpp": "--data-parallel-rpc-port", "-dpb": "--data-parallel-backend",
}


def owned_flags(profile: Profile) -> dict[str, str]:
    """Every flag of a serve line pconf writes in ``profile``'s release -> the key the file sets it with."""
    out = {serve.flag: f"parallel.{field}" for field, serve in profile.serve_flags.items()}
    out.update(LAUNCH_FLAGS)
    return out


def owned_flag(arg: str, profile: Profile) -> str | None:
    """The flag pconf writes that the argument ``arg`` would set again (``--x``, ``--x=v``, ``--no-x``, ``--x_y``,
    vLLM's short ``-tp``, or an abbreviation argparse would expand, ``--tensor-parallel``), or None."""
    owned = owned_flags(profile)
    name = arg.split("=", 1)[0]
    if name in SHORT_FLAGS:
        return SHORT_FLAGS[name]
    if not name.startswith("--") or len(name) < 4:
        return None
    name = "--" + name[2:].replace("_", "-")
    for candidate in (name, "--" + name[5:] if name.startswith("--no-") else ""):
        if candidate in owned:
            return candidate
    prefixed = sorted(flag for flag in owned if flag.startswith(name))
    return prefixed[0] if prefixed else None


__all__ = [
    "LAUNCH_FLAGS",
    "MAX_PORT",
    "MAX_RANKS",
    "Ports",
    "address_issues",
    "device_issues",
    "node_address_issues",
    "node_issues",
    "owned_flag",
    "owned_flags",
    "per_node",
    "port_issues",
    "ports",
    "processes",
    "rank_issues",
    "servers_on_node",
]
