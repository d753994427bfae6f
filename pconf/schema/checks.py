"""The extra value checks of the format (NUMA lists and CPU lists), each with its JSON Schema and its words.

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
#: Every value check, for the reference's list of rule ids.
CHECKS = (NUMA_NODES, CPU_LISTS, NODE_CPUS, GPU_NODES, EPLB_ASYNC_COMMUNICATOR)
