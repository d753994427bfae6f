"""Deployment targets (``pconf plan --format lws|slurm|skypilot``): each manifest, run with its manager's variables
and a recorder ``vllm``, starts exactly the planned argv on every node.

The planned argv is ``pconf plan FILE --format vllm --node K`` with the head's address set (``deploy_harness``).
The LeaderWorkerSet validates against the LWS CRD's schema (tests/data/lws); each pod's command, after Kubernetes'
own ``$(VAR)`` expansion, runs under bash with ``LWS_WORKER_INDEX`` = 0..N-1 and ``LWS_LEADER_ADDRESS``; the sbatch
script runs under bash with stub ``scontrol`` and ``srun`` (one task per node, ``SLURM_NODEID``); the SkyPilot
task is loaded by SkyPilot's own parser when it is installed and its ``run`` runs for every rank. Real Slurm:
tests/test_deploy_slurm.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pconf.compile import compile_dict, compile_files
from pconf.emit import PLAN_FORMATS, target_text
from pconf.emit.launch_script import branches, node_commands, node_script
from pconf.errors import ConfigError
from pconf.target import TARGET_HEAD
from tests.deploy_harness import (
    HEAD,
    ROOT,
    base_env,
    cli,
    expected_by_node,
    k8s_expand,
    make_bin,
    planned,
    recorded_by_node,
    records,
    run_all,
)
from tests.profiles import examples

DEPLOY = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples" / "deploy").glob("*.toml"))
LWS_SCHEMA = json.loads((ROOT / "tests" / "data" / "lws" / "leaderworkerset-v1.schema.json").read_text("utf-8"))
TARGETS = [name for name, fmt in PLAN_FORMATS.items() if fmt.target]


def nodes_of(path: str) -> int:
    return compile_files([ROOT / path], target="lws").plan().nnodes


def manifest(path: str, fmt: str, *extra: str) -> str:
    code, out, err = cli(["plan", path, "--format", fmt, *extra])
    assert code == 0, err
    assert err == ""
    return out


def servers(lines: list[list[list[str]]]) -> int:
    return sum(len(commands) for commands in lines)


# -- LeaderWorkerSet ---------------------------------------------------------------------------------------------


def run_lws(text: str, tmp_path: Path, leader_address: str = HEAD, nodes: int | None = None,
            env: dict[str, str] | None = None, expect: int = 0) -> list[subprocess.CompletedProcess[str]]:
    """Every pod of one group: its template's container command, expanded as Kubernetes does, run under bash."""
    lws = next(yaml.safe_load_all(text))
    template = lws["spec"]["leaderWorkerTemplate"]
    size = template["size"] if nodes is None else nodes
    bin_dir = make_bin(tmp_path / "bin")
    runs = []
    for index in range(size):
        pod = template["leaderTemplate"] if index == 0 else template["workerTemplate"]
        container = pod["spec"]["containers"][0]
        pod_env = {e["name"]: e["value"] for e in container.get("env", [])}
        pod_env.update({"LWS_LEADER_ADDRESS": leader_address, "LWS_GROUP_SIZE": str(size),
                        "LWS_WORKER_INDEX": str(index)})
        command = [k8s_expand(arg, pod_env) for arg in container["command"]]
        assert command == container["command"], "the script must read as written after Kubernetes' expansion"
        runs.append((command, {**base_env(bin_dir, tmp_path / "records", "LWS_WORKER_INDEX", expect), **pod_env,
                               **(env or {})}))
    return run_all(runs, tmp_path)


class TestLeaderWorkerSet:
    @pytest.mark.parametrize("path", DEPLOY)
    def test_every_pod_starts_its_planned_argv(self, path: str, tmp_path: Path) -> None:
        """Each pod, with LWS_WORKER_INDEX = its index and the leader's address, starts exactly node K's lines."""
        lines = planned(path, nodes_of(path))
        done = run_lws(manifest(path, "lws"), tmp_path, expect=servers(lines))
        assert [p.returncode for p in done] == [0] * len(done), [p.stderr for p in done]
        assert recorded_by_node(tmp_path / "records") == expected_by_node(lines)

    @pytest.mark.parametrize("path", DEPLOY)
    def test_validates_against_the_crd(self, path: str) -> None:
        """The LeaderWorkerSet is valid under the LWS CRD's openAPIV3Schema; the Service selects serving pods."""
        lws, service = yaml.safe_load_all(manifest(path, "lws"))
        jsonschema.Draft4Validator(LWS_SCHEMA).validate(lws)
        compiled = compile_files([ROOT / path], target="lws")
        plan, doc = compiled.plan(), compiled.resolved.document
        template = lws["spec"]["leaderWorkerTemplate"]
        assert (lws["apiVersion"], lws["kind"]) == ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
        assert (lws["metadata"]["name"], lws["spec"]["replicas"]) == (doc.deploy.name, doc.deploy.replicas)
        assert template["size"] == plan.nnodes
        assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
        for role in ("leaderTemplate", "workerTemplate"):
            spec = template[role]["spec"]
            container = spec["containers"][0]
            assert container["image"] == f"vllm/vllm-openai:v{compiled.resolved.profile.release}"
            if doc.cluster.device == "cpu":
                assert "resources" not in container
            else:
                assert container["resources"]["limits"]["nvidia.com/gpu"] == str(doc.cluster.devices_per_node)
            assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
            assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in spec["volumes"]
        leader = template["leaderTemplate"]["spec"]["containers"][0]
        assert leader["readinessProbe"]["httpGet"] == {"path": "/health", "port": doc.serve.port}
        assert leader["ports"][0]["containerPort"] == doc.serve.port
        assert (service["apiVersion"], service["kind"]) == ("v1", "Service")
        assert service["spec"]["ports"][0] == {"name": "http", "port": doc.serve.port, "targetPort": doc.serve.port,
                                               "protocol": "TCP"}
        labels = {**template["leaderTemplate"]["metadata"]["labels"],
                  "leaderworkerset.sigs.k8s.io/name": doc.deploy.name}
        assert service["spec"]["selector"].items() <= labels.items()

    def test_the_schema_refuses_a_broken_set(self) -> None:
        """The CRD's schema is live: a wrong type or a missing template is refused."""
        lws = next(yaml.safe_load_all(manifest("examples/deploy/one-node.toml", "lws")))
        lws["spec"]["leaderWorkerTemplate"]["size"] = "2"
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft4Validator(LWS_SCHEMA).validate(lws)
        lws["spec"]["leaderWorkerTemplate"] = {"size": 2}
        with pytest.raises(jsonschema.ValidationError, match="workerTemplate"):
            jsonschema.Draft4Validator(LWS_SCHEMA).validate(lws)

    def test_every_pod_serves_with_hybrid_lb(self) -> None:
        """Hybrid load balancing: workers serve too, so they get the probe and the Service selects every pod."""
        lws, service = yaml.safe_load_all(manifest("examples/deploy/hybrid-lb.toml", "lws"))
        worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
        assert worker["readinessProbe"]["httpGet"]["port"] == 8000
        assert service["spec"]["selector"] == {"leaderworkerset.sigs.k8s.io/name": "moe-hybrid-lb"}

    def test_internal_lb_workers_do_not_serve(self) -> None:
        """Internal load balancing: only the leader serves; workers have no port and no probe."""
        lws, _ = yaml.safe_load_all(manifest("examples/deploy/tp-pp-2node.toml", "lws"))
        worker = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
        assert "readinessProbe" not in worker
        assert "ports" not in worker

    def test_image_env_replicas_from_deploy(self) -> None:
        """[deploy] gives the image, the replicas and the pods' env; a cpu deployment asks for no GPU."""
        lws, _ = yaml.safe_load_all(manifest("examples/deploy/cpu-2node.toml", "lws", "--set",
                                             'deploy.image="registry.local/vllm:cpu"', "--set", "deploy.replicas=3",
                                             "--set", 'deploy.env={HF_HOME = "/m", A = "b c"}'))
        container = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
        assert container["image"] == "registry.local/vllm:cpu"
        assert lws["spec"]["replicas"] == 3
        assert container["env"] == [{"name": "HF_HOME", "value": "/m"}, {"name": "A", "value": "b c"}]
        assert "resources" not in container

    @pytest.mark.parametrize(("version", "image"), [("0.28", "vllm/vllm-openai:v0.28.0"),
                                                    ("0.34", "vllm/vllm-openai:v0.34.0")])
    def test_default_image_follows_the_release(self, version: str, image: str) -> None:
        """Unset, the image is vLLM's own of the file's release."""
        lws, _ = yaml.safe_load_all(manifest("examples/deploy/one-node.toml", "lws", "--vllm-version", version))
        assert lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["image"] == image

    def test_leader_name_is_resolved(self, tmp_path: Path) -> None:
        """A leader given by name (as LWS gives it) is resolved to its address before vllm starts."""
        path = "examples/deploy/tp-pp-2node.toml"
        hosts_name = "localhost"  # resolvable everywhere, but loopback: refused across nodes (below)
        done = run_lws(manifest(path, "lws"), tmp_path, leader_address=hosts_name, env={"PCONF_HEAD_WAIT_S": "0"})
        assert [p.returncode for p in done] == [3, 3]
        assert "pconf: cannot resolve the leader pod (localhost) to an address the nodes reach" in done[0].stderr
        assert records(tmp_path / "records") == []

    def test_unknown_index_is_refused(self, tmp_path: Path) -> None:
        """A pod outside the plan's nodes (a group larger than the plan) exits 2 without starting vllm."""
        done = run_lws(manifest("examples/deploy/tp-pp-2node.toml", "lws"), tmp_path, nodes=3)
        assert done[2].returncode == 2
        assert "pconf: pod 2 is not one of this plan's 2 pods (0..1)" in done[2].stderr


# -- Slurm -------------------------------------------------------------------------------------------------------

SCONTROL = """#!{python}
# scontrol show hostnames LIST / show node NAME, for the nodes n0, n1, ... at 10.77.0.1, 10.77.0.2, ...
import os, sys
nodes = int(os.environ["STUB_NODES"])
if sys.argv[1:3] == ["show", "hostnames"]:
    print("\\n".join(f"n{{k}}" for k in range(nodes)))
elif sys.argv[1:3] == ["show", "node"]:
    k = int(sys.argv[3][1:])
    print(f"NodeName=n{{k}} Arch=x86_64 CoresPerSocket=8\\n   CPUAlloc=0 CPUTot=16\\n   NodeAddr=10.77.0.{{k + 1}} "
          f"NodeHostName=n{{k}} Version=22.05.8")
else:
    sys.exit(f"stub scontrol: {{sys.argv[1:]}}")
"""

SRUN = """#!{python}
# srun --name=value ... CMD: one task per node, each with SLURM_NODEID / SLURM_PROCID, its output in its own log.
import os, subprocess, sys
args = sys.argv[1:]
options = {{}}
while args and args[0].startswith("--"):
    name, _, value = args.pop(0)[2:].partition("=")
    options[name] = value
nodes = int(options["nodes"])
procs = []
for k in range(nodes):
    log = (options.get("output", "") or "").replace("%x", os.environ["SLURM_JOB_NAME"]).replace(
        "%j", os.environ["SLURM_JOB_ID"]).replace("%n", str(k))
    out = open(log, "w") if log else None
    env = {{**os.environ, "SLURM_NODEID": str(k), "SLURM_PROCID": str(k), "SLURM_LOCALID": "0",
           "SLURM_STEP_NUM_NODES": str(nodes)}}
    procs.append(subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT if out else None))
codes = [p.wait() for p in procs]
sys.exit(max(codes))
"""


def run_slurm(text: str, tmp_path: Path, nodes: int, expect: int = 0,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The sbatch script under bash, on a stub allocation of ``nodes`` nodes."""
    bin_dir = make_bin(tmp_path / "bin", {"scontrol": SCONTROL.format(python=sys.executable),
                                          "srun": SRUN.format(python=sys.executable)})
    script = tmp_path / "job.sbatch"
    script.write_text(text, encoding="utf-8")
    job_env = {**base_env(bin_dir, tmp_path / "records", "SLURM_NODEID", expect), "STUB_NODES": str(nodes),
               "SLURM_JOB_NODELIST": f"n[0-{nodes - 1}]" if nodes > 1 else "n0", "SLURM_JOB_ID": "42",
               "SLURM_JOB_NAME": next(d.split("=", 1)[1] for d in directives(text) if d.startswith("--job-name=")),
               "SLURM_NNODES": str(nodes), "RECORD_ALSO": "HF_HOME,PCONF_HEAD_ADDR",
               **(env or {})}
    return run_all([(["bash", str(script)], job_env)], tmp_path)[0]


def directives(text: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in text.splitlines() if line.startswith("#SBATCH ")]


class TestSlurm:
    @pytest.mark.parametrize("path", DEPLOY)
    def test_every_node_starts_its_planned_argv(self, path: str, tmp_path: Path) -> None:
        """One srun step, SLURM_NODEID as the node rank, the head from the allocation's first host: node K starts
        exactly its planned lines, and logs to its own file."""
        nodes = nodes_of(path)
        lines = planned(path, nodes)
        done = run_slurm(manifest(path, "slurm"), tmp_path, nodes, servers(lines))
        assert done.returncode == 0, done.stderr
        assert recorded_by_node(tmp_path / "records") == expected_by_node(lines)
        name = compile_files([ROOT / path], target="slurm").resolved.document.deploy.name
        assert sorted(p.name for p in tmp_path.glob("*.log")) == [f"{name}-42-node{k}.log" for k in range(nodes)]

    @pytest.mark.parametrize("path", DEPLOY)
    def test_directives(self, path: str) -> None:
        """The allocation: the plan's nodes, one task each, the node's GPUs, whole nodes; srun options as
        --name=value."""
        compiled = compile_files([ROOT / path], target="slurm")
        doc, nodes = compiled.resolved.document, compiled.plan().nnodes
        text = manifest(path, "slurm")
        wanted = [f"--job-name={doc.deploy.name}", f"--nodes={nodes}", "--ntasks-per-node=1",
                  *([f"--gpus-per-node={doc.cluster.devices_per_node}"] if doc.cluster.device != "cpu" else []),
                  "--exclusive", "--output=%x-%j.out"]
        assert directives(text) == wanted
        srun = next(line for line in text.splitlines() if line.startswith("srun "))
        options = srun.split(" bash -c ")[0].split()[1:]
        assert all(o.startswith("--") and "=" in o for o in options), options
        assert f"--nodes={nodes}" in options
        assert "--ntasks-per-node=1" in options

    def test_head_given_to_the_job(self, tmp_path: Path) -> None:
        """PCONF_HEAD_ADDR given to the job (sbatch --export) wins over the allocation's first host."""
        path = "examples/deploy/tp-pp-2node.toml"
        done = run_slurm(manifest(path, "slurm"), tmp_path, 2, 2, env={"PCONF_HEAD_ADDR": "10.99.0.9"})
        assert done.returncode == 0, done.stderr
        assert recorded_by_node(tmp_path / "records") == expected_by_node(planned(path, 2, "10.99.0.9"))

    def test_env_and_array(self, tmp_path: Path) -> None:
        """[deploy].env is exported to every node; replicas above 1 make a job array."""
        path = "examples/deploy/tp-pp-2node.toml"
        text = manifest(path, "slurm", "--set", "deploy.replicas=3")
        assert "--array=0-2" in directives(text)
        assert "--output=%x-%A_%a.out" in directives(text)
        done = run_slurm(manifest(path, "slurm"), tmp_path, 2, 2)
        assert done.returncode == 0, done.stderr
        assert {r["also"]["HF_HOME"] for r in records(tmp_path / "records")} == {"/models"}  # type: ignore[index]

    def test_a_failing_node_fails_the_job(self, tmp_path: Path) -> None:
        """A node whose vllm exits non-zero ends the job with that status."""
        done = run_slurm(manifest("examples/deploy/tp-pp-2node.toml", "slurm"), tmp_path, 2, 2,
                         env={"RECORD_EXIT": "7"})
        assert done.returncode == 7


# -- SkyPilot ----------------------------------------------------------------------------------------------------


def run_skypilot(task: dict[str, Any], tmp_path: Path, expect: int) -> list[subprocess.CompletedProcess[str]]:
    """``run`` under bash on every node, with SkyPilot's variables and the task's envs."""
    bin_dir = make_bin(tmp_path / "bin")
    nodes = task["num_nodes"]
    ips = "\n".join(f"10.77.0.{k + 1}" for k in range(nodes))
    gpus = task["resources"].get("accelerators", "x:0").split(":")[1]
    runs = []
    for rank in range(nodes):
        env = {**base_env(bin_dir, tmp_path / "records", "SKYPILOT_NODE_RANK", expect),
               **{k: str(v) for k, v in task.get("envs", {}).items()}, "SKYPILOT_NODE_RANK": str(rank),
               "SKYPILOT_NODE_IPS": ips, "SKYPILOT_NUM_NODES": str(nodes), "SKYPILOT_NUM_GPUS_PER_NODE": gpus}
        runs.append((["bash", "-c", task["run"]], env))
    return run_all(runs, tmp_path)


class TestSkyPilot:
    @pytest.mark.parametrize("path", DEPLOY)
    def test_every_node_starts_its_planned_argv(self, path: str, tmp_path: Path) -> None:
        """``run`` on every rank, the head from the first line of SKYPILOT_NODE_IPS: node K starts exactly its
        planned lines."""
        nodes = nodes_of(path)
        lines = planned(path, nodes)
        task = yaml.safe_load(manifest(path, "skypilot"))
        done = run_skypilot(task, tmp_path, servers(lines))
        assert [p.returncode for p in done] == [0] * nodes, [p.stderr for p in done]
        assert recorded_by_node(tmp_path / "records") == expected_by_node(lines)

    @pytest.mark.parametrize("path", DEPLOY)
    def test_fields(self, path: str) -> None:
        """num_nodes, the accelerators with their count per node, the image, the API port, the envs."""
        compiled = compile_files([ROOT / path], target="skypilot")
        doc = compiled.resolved.document
        task = yaml.safe_load(manifest(path, "skypilot"))
        assert list(task) == ["name", "num_nodes", "resources", *(["envs"] if doc.deploy.env else []), "run"]
        assert task["num_nodes"] == compiled.plan().nnodes
        resources = task["resources"]
        if doc.cluster.device == "cpu":
            assert "accelerators" not in resources
        else:
            assert resources["accelerators"].split(":") == [doc.deploy.accelerator.split(":")[0],  # type: ignore[union-attr]
                                                            str(doc.cluster.devices_per_node)]
        assert resources["image_id"] == f"docker:vllm/vllm-openai:v{compiled.resolved.profile.release}"
        assert resources["ports"][0] == doc.serve.port

    @pytest.mark.parametrize("path", DEPLOY)
    def test_skypilots_own_parser_loads_it(self, path: str, tmp_path: Path) -> None:
        """SkyPilot's Task.from_yaml (its schema validation) accepts the task, with the nodes and the run."""
        task_file = tmp_path / "task.yaml"
        task_file.write_text(manifest(path, "skypilot"), encoding="utf-8")
        loader = ("import sys, sky\nt = sky.Task.from_yaml(sys.argv[1])\n"
                  "print(t.num_nodes, len(t.run), sorted(str(r.accelerators) for r in t.resources))")
        python = os.environ.get("PCONF_SKYPILOT_PYTHON")
        if python is None:
            try:
                import sky  # type: ignore[import-not-found]  # noqa: F401  (the optional deploy-test extra)
            except ImportError:
                pytest.skip("SkyPilot is not installed (pip install 'pconf-vllm[deploy-test]', or set "
                            "PCONF_SKYPILOT_PYTHON to an interpreter that has it)")
            python = sys.executable
        done = subprocess.run([python, "-c", loader, str(task_file)], check=False, capture_output=True, text=True,
                              timeout=120,
                              env={**os.environ, "SKYPILOT_DISABLE_USAGE_COLLECTION": "1",
                                   "HOME": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        task = yaml.safe_load(task_file.read_text(encoding="utf-8"))
        assert done.stdout.split()[:2] == [str(task["num_nodes"]), str(len(task["run"]))]


# -- the one code path -------------------------------------------------------------------------------------------


class TestOneCodePath:
    @pytest.mark.parametrize("path", DEPLOY)
    def test_formats_agree(self, path: str) -> None:
        """The three targets wrap the same node branches (after each one's own rank and head lines; before the
        message for a rank outside the plan)."""
        scripts = {
            "lws": next(yaml.safe_load_all(manifest(path, "lws")))["spec"]["leaderWorkerTemplate"]["workerTemplate"][
                "spec"]["containers"][0]["command"][2],
            "slurm": manifest(path, "slurm").split("<<'PCONF_NODE_SCRIPT' || true\n")[1].split("PCONF_NODE_SCRIPT")[0],
            "skypilot": yaml.safe_load(manifest(path, "skypilot"))["run"],
        }
        bodies = []
        for script in scripts.values():
            start = script.index('if [ "$node" -')
            bodies.append(script[start:script.index("\nelse\n", start)])
        assert bodies[0] == bodies[1] == bodies[2]

    @pytest.mark.parametrize("path", DEPLOY)
    def test_yaml_twin_gives_the_same_manifests(self, path: str) -> None:
        """Each example's YAML twin writes byte-identical manifests."""
        for fmt in TARGETS:
            assert manifest(path, fmt) == manifest(path[:-5] + ".yaml", fmt)

    def test_branches_compress_linear_nodes(self) -> None:
        """Nodes 1..N-1 of a homogeneous layout share one branch, their numbers as arithmetic on the rank."""
        compiled = compile_dict({"parallel": {"data_parallel_size": 64, "data_parallel_size_local": 8,
                                              "enable_expert_parallel": True, "is_moe_model": True},
                                 "cluster": {"devices_per_node": 8}}, target="lws")
        found = branches(node_commands(compiled.plan(), "m"))
        assert [(b.first, b.last) for b in found] == [(0, 0), (1, 7)]
        script = node_script(compiled.plan(), "m", "$X")
        assert '--data-parallel-start-rank "$((8 * node))" --headless' in script

    def test_target_head_never_leaks(self) -> None:
        """The placeholder of the head's address never reaches a manifest as text."""
        for path in DEPLOY:
            for fmt in TARGETS:
                assert TARGET_HEAD not in manifest(path, fmt)


LAYOUTS = st.fixed_dictionaries({
    "tp": st.sampled_from([1, 2, 4]), "pp": st.sampled_from([1, 2]), "dp": st.sampled_from([1, 2, 4, 8]),
    "form": st.sampled_from(["nnodes", "dp_only", "external", "hybrid"]), "nodes": st.sampled_from([1, 2, 4]),
})


def _layout(d: dict[str, Any]) -> dict[str, Any] | None:
    """A compilable multi-node document for a drawn layout, or None when the combination is not one."""
    tp, pp, dp, nodes = d["tp"], d["pp"], d["dp"], d["nodes"]
    parallel: dict[str, Any] = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp, "data_parallel_size": dp}
    if d["form"] == "dp_only":
        if dp % nodes or dp == nodes == 1 or pp > 1 or nodes == 1:
            return None
        parallel["data_parallel_size_local"] = dp // nodes
    else:
        parallel["nnodes"] = nodes
        if d["form"] == "external":
            parallel.update(data_parallel_external_lb=True, data_parallel_size_local=1)
            if dp < 2 or nodes < dp:
                return None
        if d["form"] == "hybrid":
            if dp < 2 or dp % nodes:
                return None
            parallel.update(data_parallel_hybrid_lb=True, data_parallel_size_local=dp // nodes)
    devices = tp * pp * dp // nodes or 1
    return {"parallel": parallel, "cluster": {"devices_per_node": max(devices, 1)},
            "deploy": {"model": "m", "accelerator": "H100"}}


class TestRandomLayouts:
    @settings(max_examples=examples(60), deadline=None)
    @given(LAYOUTS, st.sampled_from(TARGETS))
    def test_every_node_of_a_random_layout(self, drawn: dict[str, Any], fmt: str) -> None:
        """For a random multi-node layout and target, every node's branch gives back its planned lines (checked
        inside ``branches``), and the manifest names the head through the variable only."""
        document = _layout(drawn)
        if document is None:
            return
        try:
            compiled = compile_dict(document, target=fmt)
        except ConfigError:
            return  # a layout vLLM refuses: the rules' tests cover those
        plan = compiled.plan()
        text = target_text(compiled, fmt)
        assert TARGET_HEAD not in text
        found = branches(node_commands(plan))
        assert found[0].first == 0
        assert found[-1].last == plan.nnodes - 1


# -- what the targets refuse -------------------------------------------------------------------------------------


class TestRefusals:
    @pytest.mark.parametrize("fmt", TARGETS)
    def test_fixed_address(self, fmt: str) -> None:
        """A file that fixes the head's address is refused, located, naming the key and who supplies it."""
        code, out, err = cli(["plan", "examples/tp-pp-2node.toml", "--format", fmt, "--set", 'deploy.model="m"'])
        assert (code, out) == (2, "")
        assert err == (
            "examples/tp-pp-2node.toml:11:1: parallel.master_addr: is fixed, but the "
            f"{fmt} target supplies the head node's address when it runs (the cluster manager places the nodes) "
            "(got \"10.0.0.1\"); remove the key from the file meant for a deployment target (or reset it: --set "
            "~parallel.master_addr) [target.fixed_address]\npconf: 1 error\n")

    def test_node_addresses_and_dp_ip(self) -> None:
        """node_addresses and data_parallel_master_ip are refused the same way, every one reported."""
        code, _, err = cli(["plan", "examples/network-2node.toml", "--format", "lws", "--set",
                            'parallel.data_parallel_master_ip="10.0.0.1"'])
        assert code == 2
        assert "parallel.data_parallel_master_ip: is fixed" in err
        assert "examples/network-2node.toml:18:1: cluster.network.node_addresses: is fixed" in err

    def test_reset_address_is_accepted(self) -> None:
        """Resetting the address (--set ~key) makes a file with one fit for a target."""
        code, _, err = cli(["plan", "examples/tp-pp-2node.toml", "--format", "slurm", "--set", "~parallel.master_addr",
                            "--model", "m"])
        assert code == 0, err

    @pytest.mark.parametrize("fmt", TARGETS)
    def test_without_addresses_plain_formats_still_refuse_loopback(self, fmt: str) -> None:
        """Only a target supplies the head: --format vllm of the same file keeps the loopback refusal."""
        code, _, err = cli(["plan", "examples/deploy/tp-pp-2node.toml", "--format", "vllm"])
        assert code == 2
        assert "[network.loopback]" in err
        assert cli(["plan", "examples/deploy/tp-pp-2node.toml", "--format", fmt])[0] == 0

    def test_external_launcher(self) -> None:
        """external_launcher runs a script pconf does not know: refused, naming the backend."""
        code, _, err = cli(["plan", "examples/external-launcher.toml", "--format", "lws", "--model", "m"])
        assert code == 2
        assert err.startswith("examples/external-launcher.toml:10:1: parallel.distributed_executor_backend: the lws "
                              "target starts vllm serve on every node; external_launcher runs your own script")
        assert "[target.backend]" in err

    def test_ray_beyond_one_node(self) -> None:
        """Ray with more ranks than a node's devices needs a Ray cluster: refused; on one node it runs."""
        code, _, err = cli(["plan", "examples/ray.toml", "--format", "slurm", "--model", "m", "--set",
                            "cluster.devices_per_node=4"])
        assert code == 2
        assert "[target.ray_cluster]" in err
        assert cli(["plan", "examples/ray.toml", "--format", "slurm", "--model", "m"])[0] == 0

    def test_model_left_for_run_time(self, tmp_path: Path) -> None:
        """Without a model (as --format vllm leaves $MODEL for the shell) a target warns, and every node reads MODEL
        when it starts: with MODEL set, each pod starts the lines planned with that model; unset, it stops."""
        code, text, err = cli(["plan", "examples/tp8.toml", "--format", "lws"])
        assert code == 0
        assert err == ("warning: default: deploy.model: no model: every node of the lws target reads it from MODEL "
                       "when it starts; set [deploy].model, or give pconf plan --model NAME [target.model]\n")
        done = run_lws(text, tmp_path, env={"MODEL": "org/model"}, expect=1)
        assert [p.returncode for p in done] == [0]
        assert recorded_by_node(tmp_path / "records") == expected_by_node(
            planned("examples/tp8.toml", 1, extra=["--model", "org/model"]))
        done = run_lws(text, tmp_path / "unset")
        assert done[0].returncode != 0
        assert "MODEL: the model: set MODEL, or write [deploy].model or pconf plan --model" in done[0].stderr

    def test_skypilot_replicas_and_accelerator(self) -> None:
        """SkyPilot: one copy per task, an accelerator type needed for GPUs."""
        code, _, err = cli(["plan", "examples/tp8.toml", "--format", "skypilot", "--model", "m", "--set",
                            "deploy.replicas=2"])
        assert code == 2
        assert "deploy.replicas: a SkyPilot task runs one copy" in err
        assert "[target.accelerator]" in err

    def test_slurm_tpu(self) -> None:
        """Slurm asks for GPUs: a TPU deployment is refused."""
        code, _, err = cli(["plan", "examples/tp8.toml", "--format", "slurm", "--model", "m", "--set",
                            'cluster.device="tpu"'])
        assert code == 2
        assert "[target.device]" in err

    @pytest.mark.parametrize("option", [["--node", "0"], ["--rank", "0"]])
    def test_slices_refused(self, option: list[str]) -> None:
        """A manifest is the whole deployment: --node and --rank are usage errors."""
        code, _, err = cli(["plan", "examples/deploy/one-node.toml", "--format", "lws", *option])
        assert code == 2
        assert err == f"pconf plan: --format lws draws the whole plan: leave out {option[0]}\n"

    def test_vllm_env_refused(self) -> None:
        """A target compiles declaratively: --vllm-env is a usage error."""
        code, _, err = cli(["plan", "examples/deploy/one-node.toml", "--format", "slurm", "--vllm-env"])
        assert code == 2
        assert "leave out --vllm-env" in err

    def test_library_needs_the_target_compile(self) -> None:
        """target_text of a configuration compiled without the target is a programming error."""
        with pytest.raises(ValueError, match="compile the files for the lws target"):
            target_text(compile_files([ROOT / "examples" / "tp8.toml"]), "lws", "m")


class TestDeployTable:
    def test_model_and_extra_args_reach_the_vllm_lines(self) -> None:
        """[deploy].model names the model of --format vllm too, and extra_args end every line (one code path)."""
        code, out, _ = cli(["plan", "examples/deploy/one-node.toml", "--format", "vllm"])
        assert code == 0
        assert out == "vllm serve meta-llama/Llama-3.1-70B-Instruct --tensor-parallel-size 8\n"
        code, out, _ = cli(["plan", "examples/deploy/one-node.toml", "--format", "vllm", "--model", "other", "--set",
                            'deploy.extra_args=["--max-model-len", "4096"]'])
        assert out == "vllm serve other --tensor-parallel-size 8 --max-model-len 4096\n"

    @pytest.mark.parametrize(("arg", "flag", "key"), [
        ("--tensor-parallel-size", "--tensor-parallel-size", "parallel.tensor_parallel_size"),
        ("--tensor_parallel_size=2", "--tensor-parallel-size", "parallel.tensor_parallel_size"),
        ("-tp", "--tensor-parallel-size", "parallel.tensor_parallel_size"),
        ("--no-enable-expert-parallel", "--enable-expert-parallel", "parallel.enable_expert_parallel"),
        ("--headless", "--headless", "the node's place in the plan"),
        ("--data-parallel-start-rank=2", "--data-parallel-start-rank", "the node's place in the plan"),
        ("--master-addr", "--master-addr", "parallel.master_addr (a deployment target supplies it)"),
        ("--port=9000", "--port", "[serve].port"),
        ("--host", "--host", "[serve].host"),
        ("--node-rank", "--node-rank", "the node's place in the plan"),
        ("-dpa", "--data-parallel-address", "parallel.data_parallel_master_ip (a deployment target supplies it)"),
        ("--tensor-parallel", "--tensor-parallel-size", "parallel.tensor_parallel_size"),
        ("--async-scheduling", "--async-scheduling", "scheduler.async_scheduling"),
    ])
    def test_owned_flag_refused(self, arg: str, flag: str, key: str) -> None:
        """extra_args may not set a flag pconf writes, in any spelling vLLM accepts: located, naming flag and key."""
        with pytest.raises(ConfigError) as info:
            compile_dict({"deploy": {"extra_args": ["--max-model-len", "4096", arg]}})
        assert [i.render() for i in info.value.issues] == [
            f"<dict>: deploy.extra_args[2]: sets {flag}, which pconf writes from the file (got {json.dumps(arg)}); "
            f"remove it and set {key} instead [deploy.owned_flag]"]

    def test_config_file_refused(self) -> None:
        """A --config file could set anything pconf writes unseen."""
        with pytest.raises(ConfigError, match=r"deploy.extra_args\[0\]: reads vllm serve's arguments from a file"):
            compile_dict({"deploy": {"extra_args": ["--config=serve.yaml"]}})

    @pytest.mark.parametrize("args", [["--max-model-len", "4096"], ["--trust-remote-code"], ["--served-model-name",
                                                                                           "x", "--port-x"]])
    def test_other_flags_pass(self, args: list[str]) -> None:
        """Flags pconf does not write pass verbatim."""
        compile_dict({"deploy": {"extra_args": args}})

    def test_accelerator_count(self) -> None:
        """A count in [deploy].accelerator must be the node's devices."""
        with pytest.raises(ConfigError, match=r"deploy.accelerator: asks for 4 per node, but "
                                              r"cluster.devices_per_node is 8 .*\[deploy.accelerator_count\]"):
            compile_dict({"deploy": {"accelerator": "H100:4"}})
        compile_dict({"deploy": {"accelerator": "H100:8"}})

    @pytest.mark.parametrize(("table", "rule"), [({"name": "Bad_Name"}, "deploy.name"),
                                                 ({"accelerator": "H100:x"}, "deploy.accelerator"),
                                                 ({"env": {"1X": "a"}}, "deploy.env"),
                                                 ({"env": {"X": 1}}, "deploy.env"),
                                                 ({"extra_args": [""]}, "deploy.extra_args"),
                                                 ({"replicas": 0}, "schema.bound")])
    def test_value_checks(self, table: dict[str, Any], rule: str) -> None:
        """Each [deploy] key is checked where it is written."""
        with pytest.raises(ConfigError) as info:
            compile_dict({"deploy": table})
        assert [i.rule for i in info.value.issues] == [rule]
