"""``vllm serve`` command lines that start a planned deployment, node by node, in the file's vLLM release.

Every ParallelConfig setting the file changes from the release's default becomes its EngineArgs flag, if the
release has one (its profile's ``serve_flags``: booleans as ``--x`` / ``--no-x``, lists as several values or one
comma-separated value, tables such as ``eplb_config`` as JSON), and a decided
``scheduler.async_scheduling`` becomes ``--[no-]async-scheduling``. The layout:

- one node: a single command (with ``--data-parallel-size-local`` when the file gives it);
- several nodes: every node gets ``--nnodes``, ``--node-rank``, ``--master-addr``, ``--master-port`` (so vLLM
  sees the same multi-node deployment pconf compiled: the same rendezvous, custom all-reduce off); with DP
  also ``--data-parallel-size-local`` and the head's ``--data-parallel-address`` / ``--data-parallel-rpc-port``,
  and on the other nodes ``--data-parallel-start-rank`` and ``--headless`` (not with hybrid LB: each node
  serves);
- vLLM's DP-only multi-node form (``nnodes`` unset, ``data_parallel_size_local`` below ``data_parallel_size``):
  node 0 ``--data-parallel-size-local L --data-parallel-address A --data-parallel-rpc-port P``, node k the same
  with ``--headless --data-parallel-start-rank k·L``, no ``--nnodes``;
- the API server's ``[serve]`` flags (``--host``, ``--port``, ``--api-server-count``) on every node that serves;
- ``[cluster.network]``'s variables (``VLLM_HOST_IP`` of the node, ``GLOO_SOCKET_IFNAME``,
  ``NCCL_SOCKET_IFNAME``, ``NCCL_IB_HCA``) as an ``env`` prefix;
- external DP load balancing: one server per DP rank (``--data-parallel-rank``), started with
  ``CUDA_VISIBLE_DEVICES`` naming that rank's devices on the node;
- the external_launcher backend is not started by ``vllm serve``: its node line is a ``torchrun`` command,
  and ``llm_kwargs`` gives the script's ``LLM(...)`` parallel arguments;
- the model: the caller's (``pconf plan --model``), else ``[deploy].model``, else ``$MODEL`` for the shell;
  ``[deploy].extra_args`` last, verbatim, on every serve line.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from pconf.errors import Issue
from pconf.plan import Plan
from pconf.plan.serve_layout import node_dp_ranks, node_layout
from pconf.schema import ParallelConfig, ServeConfig
from pconf.versions import DEFAULT, PROFILES, Profile
from pconf.versions.serve import LAYOUT_ARGS, changed_settings

if TYPE_CHECKING:
    from pconf.compile import Compiled

#: ParallelConfig fields that the default release's ``vllm serve`` takes as flags, in the order they are printed.
#: (Launch layout flags -- DP local size, address, ports, start rank, nodes -- are placed per node below.)
FLAG_FIELDS = tuple(PROFILES[DEFAULT].serve_flags)
_SERVE_DEFAULTS = ServeConfig()


def flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def setting_flags(p: ParallelConfig, profile: Profile | None = None) -> list[str]:
    """The flags for every setting that differs from the release's default (the default release's without
    ``profile``)."""
    profile = profile or PROFILES[DEFAULT]
    argv: list[str] = []
    for field, value in changed_settings(p, profile).items():
        serve = profile.serve_flags[field]
        if isinstance(value, dict):
            argv += [serve.flag, json.dumps(value, separators=(",", ":"))]
        elif isinstance(value, bool):
            argv.append(serve.flag if value else "--no-" + serve.flag[2:])
        elif isinstance(value, tuple) and serve.comma:
            argv += [serve.flag, ",".join(map(str, value))]
        elif isinstance(value, tuple):
            argv += [serve.flag, *map(str, value)]
        else:
            argv += [serve.flag, str(value)]
    return argv


def model_argument(plan: Plan, model: str | None = None) -> str:
    """The model a serve line names: ``model``, else the file's ``[deploy].model``, else ``$MODEL``."""
    if model is not None:
        return model
    return plan.resolved.document.deploy.model or "$MODEL"


def serve_commands(plan: Plan, node: int, model: str | None = None) -> list[list[str]]:
    """The argv lists node ``node`` runs: one ``vllm serve`` (one per DP rank with external LB, each with its
    devices), or, for the external_launcher backend, the ``torchrun`` line of that node. ``[cluster.network]``
    facts (and external LB's devices) come first, as an ``env NAME=value ...`` prefix; ``[deploy].extra_args``
    last. ``model``: see ``model_argument``."""
    if not 0 <= node < plan.nnodes:
        raise IndexError(f"node {node} is outside 0..{plan.nnodes - 1}")
    model = model_argument(plan, model)
    doc = plan.resolved.document
    extra = list(doc.deploy.extra_args)
    p = doc.parallel
    network = [f"{name}={value}" for name, value in plan.network_env(node).items()]
    if p.distributed_executor_backend == "external_launcher":
        command = torchrun_command(plan, node)
        return [["env", *network, *command] if network else command]
    base = ["vllm", "serve", model, *setting_flags(p, plan.resolved.profile),
            *scheduler_flags(doc.scheduler.async_scheduling)]
    facts = plan.resolved.model
    if facts is not None and facts.pp_partition is not None:  # [model] pp_layer_partition reaches vLLM as env
        network.append("VLLM_PP_LAYER_PARTITION=" + ",".join(map(str, facts.pp_partition)))
    ranks = [plan.rank(r) for r in plan.node_ranks(node)]
    if p.data_parallel_external_lb:  # one server per DP rank, on that rank's devices of this node
        commands = []
        for i, d in enumerate(node_dp_ranks(plan, node)):
            devices = ",".join(str(row.local_rank) for row in ranks if row.dp == d)
            commands.append(["env", f"CUDA_VISIBLE_DEVICES={devices}", *network, *base,
                             *layout_flags(node_layout(plan, node, d)), *serve_flags(doc.serve, i), *extra])
        return commands
    serving = node == 0 or p.data_parallel_hybrid_lb
    argv = [*base, *layout_flags(node_layout(plan, node))]
    if plan.nnodes > 1 and not serving:
        argv.append("--headless")
    if serving:
        argv += serve_flags(doc.serve)
    argv += extra
    return [["env", *network, *argv] if network else argv]


def layout_flags(layout: dict[str, Any]) -> list[str]:
    """A node's layout arguments (``pconf.plan.serve_layout``) as serve-line flags."""
    return [arg for field, value in layout.items() for arg in (LAYOUT_ARGS[field].flag, str(value))]


def serve_flags(serve: ServeConfig, index: int = 0) -> list[str]:
    """The API server's flags (``[serve]``) that differ from vLLM's defaults; a node's server ``index`` listens on
    ``port + index``."""
    argv: list[str] = []
    if serve.host is not None:
        argv += ["--host", serve.host]
    if serve.port + index != _SERVE_DEFAULTS.port:
        argv += ["--port", str(serve.port + index)]
    if serve.api_server_count is not None:
        argv += ["--api-server-count", str(serve.api_server_count)]
    return argv


def scheduler_flags(async_scheduling: bool | str) -> list[str]:
    """``--async-scheduling`` / ``--no-async-scheduling`` when the file decides it ("auto" is vLLM's default)."""
    if async_scheduling == "auto":
        return []
    return ["--async-scheduling" if async_scheduling else "--no-async-scheduling"]


def torchrun_command(plan: Plan, node: int, script: str = "$SCRIPT") -> list[str]:
    """external_launcher runs under torchrun: one process per rank of the node, the script builds the engine
    (see ``llm_kwargs`` for its parallel arguments)."""
    ports = plan.ports
    return ["torchrun", f"--nnodes={plan.nnodes}", f"--node-rank={node}", f"--nproc-per-node={plan.per_node}",
            f"--master-addr={ports.world_addr}", f"--master-port={ports.world_port}", script]


def llm_kwargs(plan: Plan) -> str:
    """The parallel keyword arguments of ``vllm.LLM(...)`` for an external_launcher script, as Python.

    A multi-node run passes ``nnodes`` (so vLLM's EngineArgs and ParallelConfig see the deployment pconf
    compiled: custom all-reduce off, the DP-local size inferred per node); not ``node_rank`` (vLLM takes the ranks
    from torchrun's RANK and LOCAL_RANK, and the DP rank from RANK), nor ``master_addr``/``master_port``
    (external_launcher initialises torch.distributed with ``env://``: torchrun's MASTER_ADDR and MASTER_PORT,
    which the torchrun line sets)."""
    p, profile = plan.resolved.document.parallel, plan.resolved.profile
    settings = {"distributed_executor_backend": p.distributed_executor_backend, **changed_settings(p, profile)}
    if p.nnodes > 1:
        settings["nnodes"] = p.nnodes
    tables = {k: v for k, v in settings.items() if isinstance(v, dict)}
    items = [f"{k}={v!r}" for k, v in settings.items() if k not in tables] + [f"{k}={v!r}" for k, v in tables.items()]
    return f"LLM($MODEL, {', '.join(items)})"


def serve_warnings(compiled: Compiled) -> list[Issue]:
    """What the release's own ``vllm serve`` refuses among the values the lines carry (a profile's
    ``unreleased_values``: the seed's ``deepep_v2``), located where the file set them."""
    profile, found = compiled.resolved.profile, []
    for path, values in profile.unreleased_values.items():
        keys = tuple(path.split("."))
        value: Any = compiled.resolved.document
        for part in keys:
            value = getattr(value, part)
        if value in values:
            found.append(Issue(keys, compiled.where(keys), "serve.unreleased_value",
                               f"{profile.label.split(' +')[0]} as released does not know {value}: its `vllm serve` "
                               "refuses this line", "set vllm_version to a release that has it, or change the value",
                               value, "warning"))
    return found


def vllm_text(plan: Plan, node: int | None = None, model: str | None = None) -> str:
    """``pconf plan --format vllm``: the shell lines of every node (``# node K`` before each when there are
    several), or of one; for external_launcher first the ``LLM(...)`` call the script makes; with the ray
    backend and a ``ray_runtime_env``, first how it reaches Ray (vLLM takes it from the Ray job, not a flag)."""
    nodes = [node] if node is not None else range(plan.nnodes)
    text = "".join(("" if plan.nnodes == 1 else f"# node {n}\n") + render(serve_commands(plan, n, model))
                   for n in nodes)
    resolved = plan.resolved
    if resolved.parallel.distributed_executor_backend == "external_launcher":
        text = f"# $SCRIPT builds {llm_kwargs(plan)}\n" + text
    runtime_env = resolved.parallel.ray_runtime_env
    if resolved.derived.use_ray and runtime_env:
        text = ("# parallel.ray_runtime_env is not a vllm serve flag: vLLM reads the Ray job's runtime env, so "
                "submit the line as\n# ray job submit --runtime-env-json "
                f"{shlex.quote(json.dumps(runtime_env, separators=(',', ':')))} -- vllm serve ...\n") + text
    return text


def render(commands: list[list[str]]) -> str:
    """Shell lines, quoted so they can be pasted (``$MODEL`` is left for the shell to expand)."""
    return "".join(" ".join(_quote(a) for a in argv) + "\n" for argv in commands)


def _quote(arg: str) -> str:
    return arg if arg.startswith("$") and arg[1:].replace("_", "").isalnum() else shlex.quote(arg)


__all__ = ["FLAG_FIELDS", "changed_settings", "llm_kwargs", "model_argument", "render", "scheduler_flags",
           "serve_commands", "serve_flags", "setting_flags", "torchrun_command", "vllm_text"]
