"""NetworkFacts: the ``[cluster.network]`` table, how the nodes of a deployment reach each other."""

import attrs

from pconf.schema._field import knob
from pconf.schema.checks import ADDRESSES, IB_HCA, IFNAME


@attrs.frozen(kw_only=True)
class NetworkFacts:
    """The nodes' addresses and the interfaces their collectives use; each fact becomes launcher environment."""

    node_addresses: tuple[str, ...] | None = knob(
        None,
        graph=False,
        scope="host",
        check=ADDRESSES,
        doc="The address of every node of the deployment, node 0 first (IP addresses or host names, IPv6 "
        "without brackets), e.g. [\"10.0.0.1\", \"10.0.0.2\"]. Node K's processes get VLLM_HOST_IP = its "
        "address; a multi-node run without parallel.master_addr / data_parallel_master_ip uses node 0's. "
        "Loopback addresses for every node state on purpose that all \"nodes\" run on one host (tests, CI, "
        "network namespaces). One entry per node.",
    )
    socket_ifname: str | None = knob(
        None,
        graph=False,
        scope="host",
        check=IFNAME,
        doc="The network interface gloo and NCCL open their sockets on, e.g. \"eth0\" (comma-separated for "
        "several): GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME. Set it on hosts with several NICs, where the "
        "libraries' own choice may be an interface the other nodes cannot reach.",
    )
    ib_hca: str | None = knob(
        None,
        graph=False,
        scope="host",
        check=IB_HCA,
        doc="The InfiniBand/RoCE adapters NCCL uses, in NCCL_IB_HCA's syntax (\"mlx5_0,mlx5_1\", \"^mlx5_2\" to "
        "exclude): NCCL_IB_HCA.",
    )
