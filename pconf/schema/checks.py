"""The extra value checks of the format (NUMA and CPU lists, addresses, interface names), each with its JSON
Schema and its words.

A ``ValueCheck`` is named by the fields that use it (``knob(check=CPU_LISTS)``): pconf's strict structuring runs
it, the JSON Schema merges its constraints, the reference shows its text and its rule ids.
"""

from __future__ import annotations

from typing import Any

from pconf.cpulist import cpu_list_problem
from pconf.errors import SchemaError, problem, refusal
from pconf.schema._field import ValueCheck

#: numactl CPU-list syntax (vLLM's ``numa_bind_cpus`` grammar; pconf also requires ascending ranges).
CPU_LIST_PATTERN = r"^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$"
_CPUS_SYNTAX = {"numa.cpus_syntax": "A CPU list is empty where it may not be, not numactl CPU-list syntax, has a "
                "descending range, or names a CPU beyond any machine."}


def _numa_nodes(value: tuple[int, ...]) -> None:
    """vLLM's numa_bind_nodes validator: not empty, every node >= 0."""
    if not value:
        raise refusal("numa.nodes_empty", "must not be empty",
                      "list one NUMA node per visible GPU, or remove the key to detect them", [])
    for i, node in enumerate(value):
        if node < 0:
            raise refusal("numa.nodes_negative", "NUMA nodes must be non-negative",
                          "use the node numbers numactl --hardware shows", node, i)


def _cpu_lists(value: tuple[str, ...]) -> None:
    """vLLM's numa_bind_cpus validator: not empty; every entry a non-empty, ascending numactl CPU list."""
    if not value:
        raise refusal("numa.cpus_empty", "must not be empty", "list one CPU list per visible GPU, or remove the key",
                      [])
    for i, entry in enumerate(value):
        wrong = cpu_list_problem(entry)
        if wrong:
            raise refusal("numa.cpus_syntax", wrong, "write e.g. \"0-3\" or \"0,2,4-7\"", entry, i)


def _node_cpus(value: str) -> None:
    """A topology node's CPUs: a valid CPU list, or "" for a node without CPUs."""
    wrong = cpu_list_problem(value) if value else None
    if wrong:
        raise refusal("numa.cpus_syntax", wrong, "write e.g. \"0-31,64-95\", or \"\" for a node without CPUs", value)


def _gpu_nodes(value: tuple[int, ...]) -> None:
    """The NUMA node of each GPU: a node number, or -1 when unknown (what sysfs says then)."""
    for i, node in enumerate(value):
        if node < -1:
            raise refusal("numa.gpu_node", "must be a NUMA node number, or -1 for unknown",
                          "use the node numbers numactl --hardware shows", node, i)


NUMA_NODES = ValueCheck(
    _numa_nodes,
    {"minItems": 1, "items": {"type": "integer", "minimum": 0}},
    "non-empty; every node >= 0",
    {"numa.nodes_empty": "`numa_bind_nodes` is an empty list.",
     "numa.nodes_negative": "A NUMA node number in `numa_bind_nodes` is negative."},
)
CPU_LISTS = ValueCheck(
    _cpu_lists,
    {"minItems": 1, "items": {"type": "string", "pattern": CPU_LIST_PATTERN}},
    "non-empty; numactl CPU lists such as `0-3` or `0,2,4-7`, ranges ascending",
    {"numa.cpus_empty": "`numa_bind_cpus` is an empty list.", **_CPUS_SYNTAX},
)
NODE_CPUS = ValueCheck(
    _node_cpus,
    {"pattern": f"^(?:{CPU_LIST_PATTERN[1:-1]})?$"},
    "a numactl CPU list such as `0-31,64-95`, or `\"\"` for a node without CPUs",
    _CPUS_SYNTAX,
)
GPU_NODES = ValueCheck(
    _gpu_nodes,
    {"items": {"type": "integer", "minimum": -1}},
    "NUMA node numbers, `-1` for unknown",
    {"numa.gpu_node": "A GPU's NUMA node is neither a node number nor -1 (unknown)."},
)


def _eplb_async_communicator(eplb: Any) -> None:
    """EPLBConfig's own validator from vLLM 0.28: async EPLB refuses the NCCL-based communicators."""
    if eplb.use_async and eplb.communicator in ("torch_nccl", "pynccl"):
        raise SchemaError([problem(("communicator",), "eplb.async_communicator", "is incompatible with async EPLB "
                                   "(NCCL multi-stream conflicts)", "use \"torch_gloo\" or \"nixl\", leave it unset, "
                                   "or set use_async = false", eplb.communicator)])


#: A check of the whole ``[parallel.eplb_config]`` table, which the releases that make it name (0.28+).
EPLB_ASYNC_COMMUNICATOR = ValueCheck(
    _eplb_async_communicator,
    {},
    "with use_async, communicator is not torch_nccl or pynccl",
    {"eplb.async_communicator": "(vLLM 0.28+) async EPLB (`use_async`, the default) with the torch_nccl or pynccl "
     "communicator."},
)


# -- addresses and network interfaces ([cluster.network], master_addr, data_parallel_master_ip, [serve].host) ------


def _address(value: str) -> None:
    """A host to connect to or bind: not empty, no whitespace, IPv6 without brackets."""
    from pconf.netaddr import address_problem

    wrong = address_problem(value)
    if wrong:
        raise refusal("network.address", wrong, "write an IP address (10.0.0.1, fd00::1) or a host name", value)


def _addresses(value: tuple[str, ...]) -> None:
    """One address per node: not empty, each one a host."""
    from pconf.netaddr import address_problem

    if not value:
        raise refusal("network.address", "must list one address per node", "give node 0's address first, or "
                      "remove the key", [])
    for i, entry in enumerate(value):
        wrong = address_problem(entry)
        if wrong:
            raise refusal("network.address", wrong, "write an IP address (10.0.0.1, fd00::1) or a host name",
                          entry, i)


#: Linux interface names (IFNAMSIZ: at most 15 characters), comma-separated as GLOO_SOCKET_IFNAME takes several.
IFNAME_PATTERN = r"^[A-Za-z0-9_.:@-]{1,15}(?:,[A-Za-z0-9_.:@-]{1,15})*$"


def _ifname(value: str) -> None:
    """Network interface names for GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME: names, comma-separated."""
    import re

    if not re.fullmatch(IFNAME_PATTERN, value):
        raise refusal("network.ifname", "must be network interface names (at most 15 characters each), "
                      "comma-separated", "write e.g. \"eth0\" or \"ens1f0,ens1f1\" (gloo takes no ^ or = prefix)",
                      value)


def _ib_hca(value: str) -> None:
    """NCCL_IB_HCA's syntax is NCCL's own (``mlx5_0:1,mlx5_1``, ``^mlx5_2``, ``=mlx5_0``): not empty, one word."""
    if not value or any(c.isspace() for c in value):
        raise refusal("network.ifname", "must be NCCL_IB_HCA's value: HCA names, comma-separated, no spaces",
                      "write e.g. \"mlx5_0,mlx5_1\" or \"^mlx5_2\"", value)


ADDRESS = ValueCheck(
    _address,
    {"minLength": 1, "pattern": r"^[^\s\[\]]+$"},
    "an IP address (IPv6 without brackets) or a host name",
    {"network.address": "An address is empty, contains whitespace, or is an IPv6 address written in brackets."},
)
ADDRESSES = ValueCheck(
    _addresses,
    {"minItems": 1, "items": {"type": "string", "minLength": 1, "pattern": r"^[^\s\[\]]+$"}},
    "one address per node, node 0 first: IP addresses (IPv6 without brackets) or host names",
    {"network.address": "An address is empty, contains whitespace, or is an IPv6 address written in brackets."},
)
IFNAME = ValueCheck(
    _ifname,
    {"pattern": IFNAME_PATTERN},
    "interface names such as `eth0`, comma-separated",
    {"network.ifname": "A network interface name (or NCCL_IB_HCA value) is not in the form the variable takes."},
)
IB_HCA = ValueCheck(
    _ib_hca,
    {"minLength": 1, "pattern": r"^\S+$"},
    "NCCL_IB_HCA's syntax, e.g. `mlx5_0:1,mlx5_1` or `^mlx5_2`",
    {"network.ifname": "A network interface name (or NCCL_IB_HCA value) is not in the form the variable takes."},
)



# -- the [deploy] table ---------------------------------------------------------------------------------------

#: A deployment's name: a Kubernetes DNS label short enough for the names LWS derives from it (pods, services).
DEPLOY_NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"
#: SkyPilot's accelerator spelling: a type, and optionally ``:count``.
ACCELERATOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*(:[1-9][0-9]{0,3})?$"
#: An environment variable's name, as POSIX shells and Kubernetes take it.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _deploy_name(value: str) -> None:
    import re

    if not re.fullmatch(DEPLOY_NAME_PATTERN, value):
        raise refusal("deploy.name", "must be lower-case letters, digits and \"-\", start with a letter, end with a "
                      "letter or digit, and be at most 40 characters", "write e.g. \"llama-405b\"", value)


def _accelerator(value: str) -> None:
    import re

    if not re.fullmatch(ACCELERATOR_PATTERN, value):
        raise refusal("deploy.accelerator", "must be an accelerator type, optionally with its count per node",
                      "write e.g. \"H100:8\" or \"A100-80GB\"", value)


def _deploy_env(value: dict[str, Any]) -> None:
    import re

    for name, entry in value.items():
        if not re.fullmatch(ENV_NAME_PATTERN, name):
            raise SchemaError([problem((name,), "deploy.env", "is not an environment variable name",
                                       "use letters, digits and _, not starting with a digit", name)])
        if not isinstance(entry, str) or "\0" in entry:
            raise SchemaError([problem((name,), "deploy.env", "must be a string (without NUL characters)",
                                       "quote the value", entry)])


def _extra_args(value: tuple[str, ...]) -> None:
    for i, arg in enumerate(value):
        if not arg or "\0" in arg:
            raise refusal("deploy.extra_args", "must be a non-empty argument without NUL characters",
                          "remove it, or write the argument", arg, i)


DEPLOY_NAME = ValueCheck(
    _deploy_name,
    {"pattern": DEPLOY_NAME_PATTERN},
    "lower-case letters, digits and `-`, starting with a letter, at most 40 characters",
    {"deploy.name": "`[deploy].name` is not a short Kubernetes DNS label (lower case, digits, `-`, at most 40)."},
)
ACCELERATOR = ValueCheck(
    _accelerator,
    {"pattern": ACCELERATOR_PATTERN},
    "an accelerator type as SkyPilot names it, optionally with `:count`, e.g. `H100:8`",
    {"deploy.accelerator": "`[deploy].accelerator` is not `TYPE` or `TYPE:COUNT`."},
)
DEPLOY_ENV = ValueCheck(
    _deploy_env,
    {"propertyNames": {"pattern": ENV_NAME_PATTERN}, "additionalProperties": {"type": "string"}},
    "variable names (letters, digits, `_`) to string values",
    {"deploy.env": "A `[deploy].env` entry is not an environment variable name, or its value is not a string."},
)
EXTRA_ARGS = ValueCheck(
    _extra_args,
    {"items": {"type": "string", "minLength": 1}},
    "vllm serve arguments, appended verbatim",
    {"deploy.extra_args": "A `[deploy].extra_args` entry is empty or holds a NUL character."},
)

#: Every value check, for the reference's list of rule ids.
CHECKS = (NUMA_NODES, CPU_LISTS, NODE_CPUS, GPU_NODES, EPLB_ASYNC_COMMUNICATOR, ADDRESS, ADDRESSES, IFNAME, IB_HCA,
          DEPLOY_NAME, ACCELERATOR, DEPLOY_ENV, EXTRA_ARGS)
