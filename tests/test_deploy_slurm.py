"""``pconf plan --format slurm`` on a real Slurm: a one-node cluster on this host, started by the test in a temporary
directory (slurmctld and slurmd of Debian's slurm-wlm, ``auth/none``, no cgroups), then ``sbatch --wait`` with the
recorder ``vllm``: the job starts exactly the planned argv.

The node has 8 GPUs that are regular files (``gres.conf`` with ``File=``): Slurm counts and hands them out, so the
script's ``--gpus-per-node`` is satisfied as written, with no test-only switch; slurmd logs that they are not
device files and registers the node drained, and the fixture resumes it. Skipped when the daemons are not installed
(``apt-get install slurm-wlm``) or the test does not run as root (slurmd starts job steps as their user).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy_harness import ROOT, base_env, cli, expected_by_node, make_bin, planned, recorded_by_node

DAEMONS = ("slurmctld", "slurmd", "sbatch", "scontrol")
pytestmark = pytest.mark.skipif(
    not all(shutil.which(d) or os.path.exists(f"/usr/sbin/{d}") for d in DAEMONS) or os.geteuid() != 0,
    reason="needs Slurm's daemons (apt-get install slurm-wlm) and root")

NODE = "pconf0"
CONF = """ClusterName=pconftest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
GresTypes=gpu
NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1 Gres=gpu:8 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _daemon(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _run(args: list[str], env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A one-node Slurm (slurmctld + slurmd) in a temporary directory; yields the environment that reaches it."""
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "dev"):
        (root / sub).mkdir()
    for k in range(8):
        (root / "dev" / f"nvidia{k}").touch()
    conf = root / "slurm.conf"
    conf.write_text(CONF.format(ctld_port=_free_port(), slurmd_port=_free_port(), root=root, node=NODE,
                                host=socket.gethostname().split(".")[0], cpus=os.cpu_count() or 1), encoding="utf-8")
    (root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File={root}/dev/nvidia[0-7]\n", encoding="utf-8")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    ctld = subprocess.Popen([_daemon("slurmctld"), "-D", "-i", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    slurmd = subprocess.Popen([_daemon("slurmd"), "-D", "-N", NODE, "-f", str(conf)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            shown = _run([_daemon("scontrol"), "show", "node", NODE], env)
            state = next((w for w in shown.stdout.split() if w.startswith("State=")), "")
            if "IDLE" in state and "DRAIN" not in state:
                break
            if "DRAIN" in state or "INVALID" in state:  # the file-backed GPUs: registered, drained; resume it
                _run([_daemon("scontrol"), "update", f"nodename={NODE}", "state=resume"], env)
            time.sleep(0.5)
        else:
            log = (root / "slurmd.log").read_text(errors="replace")[-2000:] if (root / "slurmd.log").exists() else ""
            pytest.fail(f"the test Slurm did not come up ({state}): {log}")
        yield env
    finally:
        for proc in (slurmd, ctld):
            proc.terminate()
        for proc in (slurmd, ctld):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


CASES = {
    # one node, TP=8: --gpus-per-node=8, no head address
    "one-node": ("examples/deploy/one-node.toml", ()),
    # one node, two servers (external DP load balancing): the head from scontrol's NodeAddr, CUDA_VISIBLE_DEVICES
    "external-lb-one-node": ("examples/deploy/external-lb.toml", ("parallel.nnodes=1", "parallel.data_parallel_size=2",
                                                                   "cluster.devices_per_node=4")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sbatch_starts_the_planned_argv(case: str, slurm: dict[str, str], tmp_path: Path) -> None:
    """sbatch --wait runs the script on the real Slurm: the job ends 0 and its node started exactly its lines."""
    path, overrides = CASES[case]
    sets = [arg for o in overrides for arg in ("--set", o)]
    code, script, err = cli(["plan", path, "--format", "slurm", *sets])
    assert code == 0, err
    lines = planned(path, 1, "127.0.0.1", sets)
    (tmp_path / "job.sbatch").write_text(script, encoding="utf-8")
    bin_dir = make_bin(tmp_path / "bin")
    env = {**slurm, **base_env(bin_dir, tmp_path / "records", "SLURM_NODEID", sum(len(c) for c in lines))}
    done = _run([_daemon("sbatch"), "--wait", "-D", str(tmp_path), str(tmp_path / "job.sbatch")], env, timeout=180)
    outputs = sorted(tmp_path.glob("*.out")) + sorted(tmp_path.glob("*.log"))
    logs = "".join(p.read_text(errors="replace") for p in outputs)
    assert done.returncode == 0, done.stdout + done.stderr + logs
    assert recorded_by_node(tmp_path / "records") == expected_by_node(lines)
    assert [p.name.split("-node")[1] for p in tmp_path.glob("*-node*.log")] == ["0.log"]


def test_cli_root() -> None:
    """The cases name files that exist (so a rename fails here, not as a skip)."""
    assert all((ROOT / path).exists() for path, _ in CASES.values())
