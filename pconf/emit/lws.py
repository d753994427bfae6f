"""``pconf plan --format lws``: a Kubernetes LeaderWorkerSet (``leaderworkerset.x-k8s.io/v1``) that runs the plan,
and a Service for its API port.

One group of ``size`` = nodes pods per replica; every pod runs the node script of ``pconf.emit.launch_script``
under ``bash -c``, its node rank from ``LWS_WORKER_INDEX`` and the head's address from ``LWS_LEADER_ADDRESS``
(both set by LeaderWorkerSet in every pod), resolved to an address while the leader's DNS record appears. The
script reads them as shell variables, never as Kubernetes ``$(VAR)`` references, and holds no ``$$``: Kubernetes'
expansion of ``command`` leaves it as written. Each pod asks for the node's devices (``nvidia.com/gpu``,
``amd.com/gpu``, ``google.com/tpu``: ``cluster.devices_per_node``; none with ``device = "cpu"``), mounts a memory
``/dev/shm`` (NCCL and vLLM's shared-memory broadcast need more than a container's 64 MiB), and, where it serves,
exposes the API port(s) with a readiness probe on ``/health``. A pod's restart recreates its group
(``RecreateGroupOnPodRestart``): a multi-node engine does not survive losing a node.

The Service (``<name>-api``) selects the leader pods (internal DP load balancing: only node 0 serves) or every pod
of the set (hybrid and external load balancing: each node serves).
"""

from __future__ import annotations

from typing import Any

from pconf.compile import Compiled
from pconf.deployment import servers_on_node
from pconf.emit.launch_script import default_image, node_script, refuse, resolve_head, target_issues, yaml_text

#: The pods' device resource, per cluster.device.
DEVICE_RESOURCES = {"cuda": "nvidia.com/gpu", "rocm": "amd.com/gpu", "tpu": "google.com/tpu"}
#: How long a pod waits for the leader's name to resolve (LeaderWorkerSet's headless Service publishes it as the
#: pods start).
LEADER_DNS_WAIT_S = 300
#: The label LeaderWorkerSet puts on every pod of a set, with the set's name.
SET_LABEL = "leaderworkerset.sigs.k8s.io/name"


def lws_text(compiled: Compiled, model: str | None = None) -> str:
    """The LeaderWorkerSet and its Service, as YAML (two documents)."""
    refuse(target_issues(compiled))
    return yaml_text(*lws_documents(compiled, model))


def lws_documents(compiled: Compiled, model: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The LeaderWorkerSet and the Service, as plain data."""
    plan = compiled.plan()
    r = compiled.resolved
    deploy, serve = r.document.deploy, r.document.serve
    name = deploy.name
    head = resolve_head('"$LWS_LEADER_ADDRESS"', plan.nnodes, LEADER_DNS_WAIT_S, "the leader pod")
    script = node_script(plan, model, '"${LWS_WORKER_INDEX:?LeaderWorkerSet sets it}"', head, "pod")
    leader_ports = _ports(serve.port, servers_on_node(r, 0))
    worker_ports = _ports(serve.port, servers_on_node(r, 1)) if plan.nnodes > 1 else []
    annotations = {"pconf/graph-hash": plan.graph_hash}
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": deploy.replicas,
            "leaderWorkerTemplate": {
                "size": plan.nnodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": {"role": "leader"}},
                    "spec": _pod(compiled, script, leader_ports),
                },
                "workerTemplate": {
                    "metadata": {"labels": {"role": "worker"}},
                    "spec": _pod(compiled, script, worker_ports),
                },
            },
        },
    }
    every_pod_serves = bool(worker_ports)
    selector = {SET_LABEL: name} if every_pod_serves else {SET_LABEL: name, "role": "leader"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{name}-api", "annotations": annotations},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": port_name, "port": port, "targetPort": port, "protocol": "TCP"}
                      for port_name, port in leader_ports],
        },
    }
    return lws, service


def _ports(first: int, count: int) -> list[tuple[str, int]]:
    """The API ports of a pod's ``count`` servers, named (``http``, then ``http-1``...)."""
    return [("http" if i == 0 else f"http-{i}", first + i) for i in range(count)]


def _pod(compiled: Compiled, script: str, ports: list[tuple[str, int]]) -> dict[str, Any]:
    """A pod spec: the vllm container (its probe and ports where it serves), the shared-memory volume."""
    r = compiled.resolved
    deploy, cluster = r.document.deploy, r.document.cluster
    container: dict[str, Any] = {
        "name": "vllm",
        "image": default_image(compiled),
        "command": ["bash", "-c", script],
    }
    if deploy.env:
        container["env"] = [{"name": key, "value": value} for key, value in deploy.env.items()]
    if ports:
        container["ports"] = [{"name": port_name, "containerPort": port, "protocol": "TCP"}
                              for port_name, port in ports]
        container["readinessProbe"] = {"httpGet": {"path": "/health", "port": ports[0][1]}, "periodSeconds": 10}
    resource = DEVICE_RESOURCES.get(cluster.device)
    if resource is not None:
        container["resources"] = {"limits": {resource: str(cluster.devices_per_node)}}
    container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
    return {"containers": [container], "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]}


__all__ = ["DEVICE_RESOURCES", "lws_documents", "lws_text"]
