"""What the deployment-target tests share: the planned argv of every node, a recorder ``vllm``, and running node
scripts for real (bash, with each manager's variables) to compare what they start with the plan.

The planned argv of node K is what ``pconf plan FILE --format vllm --node K`` prints for the same file compiled
with the head's address as ``master_addr`` and ``data_parallel_master_ip`` -- the issue's definition, through the
command line, independent of the targets' code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pconf.cli import main

ROOT = Path(__file__).resolve().parent.parent
#: The head's address the tests give the managers' variables.
HEAD = "10.77.0.1"
#: The variables a node's ``env NAME=value`` prefix may set, which the recorder records.
RECORDED_ENV = ("CUDA_VISIBLE_DEVICES", "GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME", "NCCL_IB_HCA", "VLLM_HOST_IP",
                "VLLM_PP_LAYER_PARTITION")

RECORDER = """#!{python}
# A stand-in for vllm: records its argv, the prefix variables and the node it ran on, then waits until every
# expected server has recorded (so a node's servers all record before the first one's exit stops the others).
import json, os, sys, time, uuid
directory = os.environ["RECORD_DIR"]
record = {{"node": os.environ.get(os.environ.get("RECORD_NODE_VAR", ""), ""), "argv": sys.argv[1:],
          "env": {{name: os.environ[name] for name in {names!r} if name in os.environ}},
          "also": {{name: os.environ.get(name) for name in os.environ.get("RECORD_ALSO", "").split(",") if name}}}}
name = os.path.join(directory, uuid.uuid4().hex)
with open(name + ".tmp", "w") as f:
    json.dump(record, f)
os.rename(name + ".tmp", name + ".json")
expect, deadline = int(os.environ.get("RECORD_EXPECT", "0")), time.time() + 60
while time.time() < deadline and sum(n.endswith(".json") for n in os.listdir(directory)) < expect:
    time.sleep(0.05)
sys.exit(int(os.environ.get("RECORD_EXIT", "0")))
"""


def cli(args: Sequence[str]) -> tuple[int, str, str]:
    """``pconf ARGS`` in-process from the repository root: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def planned(path: str, nodes: int, head: str = HEAD, extra: Sequence[str] = ()) -> list[list[list[str]]]:
    """Every node's argv lists, from ``pconf plan FILE --format vllm --node K`` with the head's address set."""
    out = []
    sets = ["--set", f"parallel.master_addr={json.dumps(head)}", "--set",
            f"parallel.data_parallel_master_ip={json.dumps(head)}", *extra]
    for node in range(nodes):
        code, text, err = cli(["plan", path, "--format", "vllm", "--node", str(node), *sets])
        assert code == 0, err
        out.append([shlex.split(line) for line in text.splitlines() if line and not line.startswith("#")])
    return out


def split_env(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """A planned line as (vllm's own arguments, the variables of its ``env`` prefix)."""
    env: dict[str, str] = {}
    rest = list(argv)
    if rest and rest[0] == "env":
        rest = rest[1:]
        while rest and "=" in rest[0] and not rest[0].startswith("-"):
            name, _, value = rest.pop(0).partition("=")
            env[name] = value
    assert rest[0] == "vllm", argv
    return rest[1:], env


def expected_by_node(lines: Sequence[Sequence[Sequence[str]]]) -> dict[str, list[str]]:
    """node -> its lines as recorded (argv after ``vllm``, prefix variables), canonical and sorted."""
    return {str(node): sorted(json.dumps(split_env(argv)) for argv in commands) for node, commands in
            enumerate(lines)}


def recorded_by_node(directory: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        out.setdefault(record["node"], []).append(json.dumps((record["argv"], record["env"])))
    return {node: sorted(lines) for node, lines in out.items()}


def records(directory: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


def make_bin(directory: Path, stubs: Mapping[str, str] = ()) -> Path:  # type: ignore[assignment]
    """A directory with the recorder ``vllm`` (and the given stub programs) to put first on PATH."""
    directory.mkdir(parents=True, exist_ok=True)
    programs = {"vllm": RECORDER.format(python=sys.executable, names=RECORDED_ENV), **dict(stubs)}
    for name, text in programs.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
    return directory


def base_env(bin_dir: Path, record_dir: Path, node_var: str, expect: int) -> dict[str, str]:
    """A clean environment: the recorder first on PATH, nothing of the host's GPUs or network variables."""
    record_dir.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(record_dir),
            "LANG": "C", "RECORD_DIR": str(record_dir), "RECORD_NODE_VAR": node_var, "RECORD_EXPECT": str(expect)}


def run_all(runs: Sequence[tuple[Sequence[str], Mapping[str, str]]], cwd: Path,
            timeout: float = 120) -> list[subprocess.CompletedProcess[str]]:
    """Start every (argv, env) at once (a node's servers wait for the others' records), wait for all, bounded."""
    procs = [subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for argv, env in runs]
    done = []
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def k8s_expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of a container's ``command`` (k8s.io/kubernetes third_party/forked/golang/expansion):
    ``$(NAME)`` of a defined variable becomes its value, ``$$`` becomes ``$``, anything else stays as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            following = text[i + 1]
            if following == "$":
                out.append("$")
                i += 2
                continue
            if following == "(":
                end = text.find(")", i + 2)
                if end == -1:
                    out.append("$(")
                    i += 2
                    continue
                name = text[i + 2:end]
                out.append(env.get(name, f"$({name})"))
                i = end + 1
                continue
            out.append("$" + following)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)
