"""``pconf plan --format skypilot``: a SkyPilot task (``sky launch``) that runs the plan.

``num_nodes`` is the plan's nodes; ``resources.accelerators`` is ``[deploy].accelerator`` with the count per node
(``H100`` becomes ``H100:8`` for 8 devices per node); ``resources.image_id`` runs the nodes in the deployment's
image (``docker:vllm/vllm-openai:v<release>`` unless ``[deploy].image`` says otherwise), where ``vllm`` is
installed; ``resources.ports`` opens the API port(s) of node 0; ``envs`` is ``[deploy].env``. SkyPilot runs ``run``
under bash on every node with ``SKYPILOT_NODE_RANK`` (the node rank) and ``SKYPILOT_NODE_IPS`` (one address per
line, node 0 first: the head's); ``run`` is the node script of ``pconf.emit.launch_script``.

One task is one cluster, so ``[deploy].replicas`` above 1 is refused (``target.replicas``): launch the task again
for another copy.
"""

from __future__ import annotations

from typing import Any

from pconf.compile import Compiled
from pconf.deployment import servers_on_node
from pconf.emit.launch_script import (
    HEAD_VAR,
    default_image,
    node_script,
    refuse,
    target_issues,
    written_at,
    yaml_text,
)
from pconf.errors import Issue


def skypilot_text(compiled: Compiled, model: str | None = None) -> str:
    """The task YAML."""
    refuse([*target_issues(compiled), *skypilot_issues(compiled)])
    return yaml_text(skypilot_task(compiled, model))


def skypilot_task(compiled: Compiled, model: str | None = None) -> dict[str, Any]:
    """The task, as plain data."""
    plan = compiled.plan()
    r = compiled.resolved
    deploy, cluster, serve = r.document.deploy, r.document.cluster, r.document.serve
    resources: dict[str, Any] = {}
    if deploy.accelerator is not None:
        resources["accelerators"] = accelerators(deploy.accelerator, cluster.devices_per_node)
    resources["image_id"] = "docker:" + default_image(compiled)
    ports = list(range(serve.port, serve.port + servers_on_node(r, 0)))
    if ports:
        resources["ports"] = ports
    head = [f'{HEAD_VAR}=`printf "%s\\n" "${{SKYPILOT_NODE_IPS:?SkyPilot sets it}}" | head -n1`',
            f'[ -n "${HEAD_VAR}" ] || {{ echo "pconf: SKYPILOT_NODE_IPS names no node" >&2; exit 3; }}']
    script = node_script(plan, model, '"${SKYPILOT_NODE_RANK:?SkyPilot sets it}"', head)
    task: dict[str, Any] = {"name": deploy.name, "num_nodes": plan.nnodes, "resources": resources}
    if deploy.env:
        task["envs"] = dict(deploy.env)
    task["run"] = f"# pconf plan --format skypilot ({plan.graph_hash})\n" + script
    return task


def accelerators(accelerator: str, devices_per_node: int) -> str:
    """SkyPilot's ``accelerators`` for a node: the type with its count (``H100`` -> ``H100:8``)."""
    return accelerator if ":" in accelerator else f"{accelerator}:{devices_per_node}"


def skypilot_issues(compiled: Compiled) -> list[Issue]:
    """What a SkyPilot task cannot say: several replicas (``target.replicas``), GPUs of no named type
    (``target.accelerator``)."""
    r = compiled.resolved
    deploy, cluster = r.document.deploy, r.document.cluster
    issues = []
    if deploy.replicas > 1:
        path = ("deploy", "replicas")
        issues.append(Issue(path, compiled.where(path), "target.replicas", "a SkyPilot task runs one copy of the "
                            "deployment (one cluster)", "set replicas = 1 and launch the task once per copy (sky "
                            "launch -c NAME-2 ...)", deploy.replicas))
    if deploy.accelerator is None and cluster.device != "cpu":
        path = ("deploy", "accelerator")
        example = f"H100:{cluster.devices_per_node}"
        issues.append(Issue(path, written_at(compiled, path), "target.accelerator", "SkyPilot asks its clouds for an "
                            "accelerator by type", f"set [deploy].accelerator, e.g. \"{example}\""))
    return issues


__all__ = ["accelerators", "skypilot_task", "skypilot_text"]
