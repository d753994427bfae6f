"""``pconf plan --format slurm``: an sbatch script that runs the plan on a Slurm allocation.

The allocation is the plan's nodes, one task per node, the node's GPUs (``--gpus-per-node``, not with
``device = "cpu"``), whole nodes (``--exclusive``: vLLM sizes its memory by the GPU, not by what a neighbour
leaves). The batch script runs on the allocation's first node, which is node 0 (``SLURM_NODEID`` 0): it finds the
head's address, then starts one ``srun`` step of one task per node, each running the node script of
``pconf.emit.launch_script`` with ``SLURM_NODEID`` as the node rank; every node logs to its own file
(``<name>-<job>-node<N>.log``). ``--kill-on-bad-exit`` ends the step when a node fails.

The head's address: ``PCONF_HEAD_ADDR`` when the job is given one (``sbatch --export=ALL,PCONF_HEAD_ADDR=...``),
else the first host of ``SLURM_JOB_NODELIST`` (``scontrol show hostnames``), as its ``NodeAddr``
(``scontrol show node``): the address Slurm's own daemons reach that node at, which the site configures; a name
there is resolved (``getent ahosts``), skipping loopback addresses in a run over several nodes (Debian maps a
host's own name to 127.0.1.1). Resolving the host name on the head itself would fall into exactly that, and
``hostname -I`` picks an arbitrary interface.

``[deploy].replicas`` above 1 makes a job array: each array task is an independent copy of the deployment.
``[deploy].env`` is exported before the step (``srun`` passes the environment on).
"""

from __future__ import annotations

import shlex

from pconf.compile import Compiled
from pconf.emit.launch_script import (
    HEAD_VAR,
    needs_head,
    node_commands,
    node_script,
    refuse,
    resolve_head,
    target_issues,
)
from pconf.errors import Issue


def slurm_text(compiled: Compiled, model: str | None = None) -> str:
    """The sbatch script."""
    refuse([*target_issues(compiled), *device_issues(compiled)])
    plan = compiled.plan()
    r = compiled.resolved
    deploy, cluster = r.document.deploy, r.document.cluster
    nodes = plan.nnodes
    logs = "%x-%A_%a" if deploy.replicas > 1 else "%x-%j"
    directives = [f"--job-name={deploy.name}", f"--nodes={nodes}", "--ntasks-per-node=1"]
    if cluster.device != "cpu":
        directives.append(f"--gpus-per-node={cluster.devices_per_node}")
    directives += ["--exclusive", f"--output={logs}.out"]
    if deploy.replicas > 1:
        directives.append(f"--array=0-{deploy.replicas - 1}")
    step = node_script(plan, model, '"${SLURM_NODEID:?srun sets it}"', [f': "${{{HEAD_VAR}:?}}"'])
    lines = ["#!/bin/bash", f"# pconf plan --format slurm: {nodes} node{'s' if nodes != 1 else ''} "
             f"({plan.graph_hash})", *(f"#SBATCH {d}" for d in directives), "set -eu", ""]
    if deploy.env:
        lines += [f"export {key}={shlex.quote(value)}" for key, value in deploy.env.items()] + [""]
    if needs_head(node_commands(plan, model)):
        lines += [f'if [ -z "${{{HEAD_VAR}:-}}" ]; then',
                  '  pconf_head_host=`scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1`',
                  '  pconf_node_addr=`scontrol show node "$pconf_head_host" | tr " " "\\n" '
                  "| sed -n 's/^NodeAddr=//p' | head -n1`",
                  *("  " + line for line in resolve_head('"${pconf_node_addr:-$pconf_head_host}"', nodes)),
                  "fi", f"export {HEAD_VAR}", ""]
    srun = ["srun", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
            f"--output={logs}-node%n.log"]
    lines += ["# every node's vllm, node rank SLURM_NODEID",
              "IFS= read -r -d '' pconf_node_script <<'PCONF_NODE_SCRIPT' || true", step.rstrip("\n"),
              "PCONF_NODE_SCRIPT",
              " ".join(srun) + ' bash -c "$pconf_node_script"', ""]
    return "\n".join(lines)


def device_issues(compiled: Compiled) -> list[Issue]:
    """Slurm asks for GPUs (``--gpus-per-node``): a TPU deployment is not one (``target.device``)."""
    cluster = compiled.resolved.document.cluster
    if cluster.device != "tpu":
        return []
    path = ("cluster", "device")
    return [Issue(path, compiled.where(path), "target.device", "the slurm target asks Slurm for GPUs per node, and "
                  "TPU hosts are not scheduled that way", "use the lws or skypilot target for TPUs", cluster.device)]


__all__ = ["slurm_text"]
