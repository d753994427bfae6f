"""Deployment targets (``pconf plan --format lws|slurm|skypilot``): a cluster manager starts every node and knows
the head node's address only when it runs, so a configuration compiled for a target has that address supplied,
as a placeholder the target's script replaces, and a file that fixes it is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pconf.errors import Issue, LoadError, Location
from pconf.keypath import KeyPath, format_path
from pconf.load import Layer
from pconf.merge import Merged

#: The deployment targets (``pconf plan --format``): each starts every node itself and knows the head node's address
#: only when it runs.
TARGETS = ("lws", "slurm", "skypilot")
#: The head node's address in a configuration compiled for a target: a name that never resolves (RFC 2606's
#: ``.invalid``), which the target's script replaces with the address it finds at run time.
TARGET_HEAD = "pconf-head.invalid"
#: The keys that fix an address a target supplies (refused when compiling for one).
TARGET_ADDRESS_KEYS: tuple[KeyPath, ...] = (("parallel", "master_addr"), ("parallel", "data_parallel_master_ip"),
                                            ("cluster", "network", "node_addresses"))


def target_layer(target: str) -> Layer:
    """What a deployment target supplies: the head node's address as ``master_addr`` and
    ``data_parallel_master_ip`` (``TARGET_HEAD``, located ``target:<name>``), so a file meant for a target needs
    none and the rendezvous rules check the deployment the target starts."""
    where = Location.target(target)
    data = {"parallel": {"master_addr": TARGET_HEAD, "data_parallel_master_ip": TARGET_HEAD}}
    return Layer(f"target:{target}", data, dict.fromkeys(TARGET_ADDRESS_KEYS[:2], where), (), where)


def fixed_addresses(merged: Merged, target: str) -> list[Issue]:
    """The addresses the files (or ``--set``) fix that ``target`` supplies itself (``target.fixed_address``):
    ``merged`` holds the target's layer last, so each key's last setting before it decides."""
    issues = []
    for path in TARGET_ADDRESS_KEYS:
        chain = [s for s in merged.chains.get(path, ()) if s.where.kind != "target"]
        if not chain or chain[-1].is_reset:
            continue
        what = "the nodes' addresses" if path[-1] == "node_addresses" else "the head node's address"
        issues.append(Issue(path, chain[-1].where, "target.fixed_address", f"is fixed, but the {target} target "
                            f"supplies {what} when it runs (the cluster manager places the nodes)",
                            "remove the key from the file meant for a deployment target (or reset it: --set "
                            f"~{format_path(path)})", chain[-1].value))
    return issues


def target_layers(layers: Sequence[Layer], env: Mapping[str, object] | None, target: str) -> list[Layer]:
    """The layers with what ``target`` supplies (``target_layer``) last; once merged, ``fixed_addresses`` says
    where the files fix it."""
    if target not in TARGETS:
        raise ValueError(f"unknown deployment target {target!r} (one of {', '.join(TARGETS)})")
    if env is not None:
        raise LoadError([Issue((), Location.argument("--vllm-env"), "target.vllm_env", "a deployment target "
                               "compiles the files declaratively: vLLM's variables are the target's to set",
                               "leave out --vllm-env")])
    return [*layers, target_layer(target)]
