"""Real NUMA binding: child processes bound through sched_setaffinity + set_mempolicy and through numactl, and
``pconf exec`` running each rank pinned, read back from the child's own /proc/self/status.

Every child runs under a timeout and is killed and reaped if it overstays; binding happens only in children,
never in the pytest process. The numactl cases skip when numactl is not installed; the affinity cases always run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pconf.numa.binding import Binding
from pconf.runtime import bind
from pconf.runtime.bind import BindError, apply_binding, binding_cpus, numactl_argv, set_mempolicy_bind

TIMEOUT = 60
NUMACTL = shutil.which("numactl")
needs_numactl = pytest.mark.skipif(NUMACTL is None, reason="numactl is not installed (apt-get install numactl)")
ALLOWED = sorted(os.sched_getaffinity(0))
FIRST, SECOND = ALLOWED[0], ALLOWED[-1]
LIBNUMA = bind._libnuma() is not None


def pin(cpu: int, node: int = 0) -> Binding:
    """A worker binding to one CPU and memory node ``node``, as numa_bind_cpus = ["<cpu>"] gives."""
    return Binding("worker", 0, (node,), str(cpu), "numa_bind_cpus", (cpu,))


def run(argv: Sequence[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a child to completion; on timeout it is killed and reaped (subprocess.run does both)."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT, check=False,
                          env={**os.environ, **(env or {})})


def status(text: str, key: str) -> str:
    """A field of /proc/self/status as printed by the child."""
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(key + ":"))


#: A child that prints its affinity, its memory policy and its own /proc/self/status, as JSON.
REPORT = (
    "import json, os; from pconf.runtime.bind import read_mempolicy; "
    "print(json.dumps({'cpus': sorted(os.sched_getaffinity(0)), 'mempolicy': read_mempolicy(), "
    "'status': open('/proc/self/status').read(), 'pid': os.getpid(), "
    "'env': {k: v for k, v in os.environ.items() if k.startswith(('PCONF_', 'RANK', 'LOCAL_RANK'))}}))"
)


@pytest.fixture
def popen_reaper() -> Iterator[list[subprocess.Popen[str]]]:
    """Children started with Popen; any still running at the end are killed and reaped."""
    children: list[subprocess.Popen[str]] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=TIMEOUT)


class TestApplyBinding:
    def test_affinity_child_reads_its_cpu(self) -> None:
        """A child bound to one CPU through sched_setaffinity reads Cpus_allowed_list: <cpu> for itself."""
        code = ("import json; from pconf.numa.binding import Binding; from pconf.runtime.bind import apply_binding; "
                f"r = apply_binding(Binding('worker', 0, (0,), '{FIRST}', 'numa_bind_cpus', ({FIRST},))); "
                "print(json.dumps([r.cpus, r.mempolicy, r.mempolicy_applied, r.note])); "
                "print(open('/proc/self/status').read())")
        done = run([sys.executable, "-c", code])
        assert done.returncode == 0, done.stderr
        first, _, rest = done.stdout.partition("\n")
        cpus, mempolicy, applied, note = json.loads(first)
        assert status(rest, "Cpus_allowed_list") == str(FIRST)
        assert cpus == [FIRST]
        if LIBNUMA:
            assert (mempolicy, applied, note) == ([bind.MPOL_BIND, [0]], True, "")
        else:
            assert (mempolicy, applied) == (None, False)
            assert "libnuma" in note

    def test_node_binding_uses_the_host(self) -> None:
        """A node binding without known CPUs reads the node's CPUs from this host's sysfs."""
        code = ("from pconf.numa.binding import Binding; from pconf.runtime.bind import apply_binding; import os; "
                "r = apply_binding(Binding('worker', 0, (0,), None, 'node', None)); print(sorted(r.cpus))")
        done = run([sys.executable, "-c", code])
        assert done.returncode == 0, done.stderr
        from pconf.numa.sysfs import read_host_topology

        node0 = set(next(n.cpus for n in read_host_topology("/").nodes if n.id == 0))
        assert json.loads(done.stdout) == sorted(node0 & set(ALLOWED))

    def test_unknown_node_refused(self) -> None:
        """A node this host does not have is refused before anything is changed."""
        with pytest.raises(BindError, match="this host has no NUMA node 4095"):
            binding_cpus(Binding("worker", 0, (4095,), None, "node", None))
        assert sorted(os.sched_getaffinity(0)) == ALLOWED

    def test_unavailable_cpu_refused(self) -> None:
        """CPUs this process may not use are refused (as numactl refuses them), before anything is changed."""
        with pytest.raises(BindError, match=r"^CPUs 4095 are not available to this process"):
            apply_binding(pin(4095))
        assert sorted(os.sched_getaffinity(0)) == ALLOWED

    def test_without_libnuma(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without libnuma the memory policy is reported as not applied, with the reason."""
        monkeypatch.setattr(bind, "_libnuma", lambda: None)
        assert set_mempolicy_bind((0,)) == (False, "libnuma is not installed (install numactl / libnuma1)")
        assert bind.read_mempolicy() is None


class TestNumactl:
    def test_argv(self) -> None:
        """The numactl command line is vLLM's arguments followed by the command."""
        assert numactl_argv(pin(3, 1), ["python", "-m", "x"]) == [
            "numactl", "--physcpubind=3", "--membind=1", "python", "-m", "x"]
        node = Binding("EngineCore", None, (0, 1), None, "node", None)
        assert numactl_argv(node, ["x"], "/usr/bin/numactl") == [
            "/usr/bin/numactl", "--cpunodebind=0,1", "--membind=0,1", "x"]

    @needs_numactl
    def test_numactl_child_reads_its_cpu(self) -> None:
        """A child started through numactl with vLLM's arguments reads Cpus_allowed_list: <cpu> and MPOL_BIND."""
        done = run(numactl_argv(pin(FIRST), [sys.executable, "-c", REPORT], NUMACTL or "numactl"))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert status(report["status"], "Cpus_allowed_list") == str(FIRST)
        assert report["cpus"] == [FIRST]
        if LIBNUMA:
            assert report["mempolicy"] == [bind.MPOL_BIND, [0]]


# -- pconf exec ----------------------------------------------------------------------------------------------------


def two_rank_config(tmp_path: Path) -> Path:
    """Two ranks (TP 2) with numa_bind and one CPU each: the first and the last CPU this process may use."""
    path = tmp_path / "c.toml"
    path.write_text("[parallel]\ntensor_parallel_size = 2\nnuma_bind = true\nnuma_bind_nodes = [0, 0]\n"
                    f'numa_bind_cpus = ["{FIRST}", "{SECOND}"]\n\n[cluster]\ndevice = "cpu"\ndevices_per_node = 2\n')
    return path


def pconf_exec(config: Path, rank: int, *options: str, command: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "pconf", "exec", str(config), "--rank", str(rank), *options, "--",
            *(command or (sys.executable, "-c", REPORT))]


MECHANISMS = [pytest.param("affinity", id="affinity"), pytest.param("numactl", id="numactl", marks=needs_numactl)]


class TestExec:
    @pytest.mark.parametrize("mechanism", MECHANISMS)
    def test_two_ranks_pinned(self, mechanism: str, tmp_path: Path,
                              popen_reaper: list[subprocess.Popen[str]]) -> None:
        """Both ranks, started together, each run on their own CPU with their own environment."""
        # GIVEN two ranks with numa_bind_cpus = [FIRST, SECOND]
        config = two_rank_config(tmp_path)
        # WHEN both are started at once through pconf exec
        for rank in (0, 1):
            popen_reaper.append(subprocess.Popen(pconf_exec(config, rank, "--bind", mechanism), text=True,
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        outputs = [child.communicate(timeout=TIMEOUT) for child in popen_reaper]
        # THEN each child reads back its own CPU, memory node and rank variables
        for rank, (child, (out, err)) in enumerate(zip(popen_reaper, outputs, strict=True)):
            assert child.returncode == 0, err
            report = json.loads(out)
            cpu = (FIRST, SECOND)[rank]
            assert status(report["status"], "Cpus_allowed_list") == str(cpu)
            assert report["pid"] == child.pid  # pconf exec replaced itself: no process in between
            assert report["env"]["RANK"] == str(rank)
            assert report["env"]["PCONF_NUMACTL"] == f"numactl --physcpubind={cpu} --membind=0"
            assert report["env"]["PCONF_CPUS"] == str(cpu)
            if LIBNUMA:
                assert report["mempolicy"] == [bind.MPOL_BIND, [0]]

    def test_exit_code_is_the_commands(self, tmp_path: Path) -> None:
        """The exit status is the command's own."""
        done = run(pconf_exec(two_rank_config(tmp_path), 1, "--bind", "affinity", command=("sh", "-c", "exit 7")))
        assert (done.returncode, done.stderr) == (7, "")

    @pytest.mark.parametrize("mechanism", MECHANISMS)
    def test_signals_reach_the_command(self, mechanism: str, tmp_path: Path,
                                       popen_reaper: list[subprocess.Popen[str]]) -> None:
        """A signal sent to the pid pconf exec started as is the command's: it dies of it."""
        child = subprocess.Popen(pconf_exec(two_rank_config(tmp_path), 0, "--bind", mechanism,
                                            command=("sh", "-c", "echo ready; exec sleep 30")),
                                 text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        popen_reaper.append(child)
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=TIMEOUT) == -signal.SIGTERM

    def test_missing_command(self, tmp_path: Path) -> None:
        """A command that does not exist exits 127, as in a shell."""
        done = run(pconf_exec(two_rank_config(tmp_path), 0, "--bind", "affinity", command=("no-such-command-x",)))
        assert (done.returncode, done.stderr) == (127, "pconf exec: no-such-command-x: No such file or directory\n")

    def test_bind_none(self, tmp_path: Path) -> None:
        """--bind none runs the command with the rank's environment and this process's CPUs."""
        done = run(pconf_exec(two_rank_config(tmp_path), 1, "--bind", "none"))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["cpus"], report["env"]["RANK"]) == (ALLOWED, "1")

    def test_without_numa_bind(self, tmp_path: Path) -> None:
        """Without numa_bind nothing is bound and no PCONF_NUMA_* variable is set."""
        path = tmp_path / "plain.toml"
        path.write_text("[parallel]\ntensor_parallel_size = 2\n[cluster]\ndevice = \"cpu\"\n")
        done = run(pconf_exec(path, 1))
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["cpus"] == ALLOWED
        assert not any(k.startswith("PCONF_NUMA") for k in report["env"])

    def test_dry_run(self, tmp_path: Path) -> None:
        """--dry-run prints the rank's variables and the command line, and runs nothing."""
        done = run(pconf_exec(two_rank_config(tmp_path), 1, "--bind", "numactl", "--dry-run", command=("echo", "x")))
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "RANK=1"
        assert f"PCONF_NUMACTL='numactl --physcpubind={SECOND} --membind=0'" in lines
        assert lines[-1] == f"numactl --physcpubind={SECOND} --membind=0 echo x"

    def test_dry_run_affinity(self, tmp_path: Path) -> None:
        """With --bind affinity the dry run shows the command as it runs, and the binding in a comment."""
        done = run(pconf_exec(two_rank_config(tmp_path), 0, "--bind", "affinity", "--dry-run", command=("echo",)))
        assert done.stdout.splitlines()[-1] == f"echo  # affinity {FIRST}, memory bound to node 0"

    @pytest.mark.parametrize(("args", "message"), [
        pytest.param(["--rank", "0"], "pconf exec: give the command after --: pconf exec FILE... --rank R -- CMD "
                     "ARGS\n", id="no-command"),
        pytest.param(["--rank", "2", "--", "true"], "pconf exec: --rank 2 is outside 0..1\n", id="rank-range"),
    ])
    def test_usage(self, tmp_path: Path, args: list[str], message: str) -> None:
        """Usage mistakes exit 2 with one line saying what to do."""
        done = run([sys.executable, "-m", "pconf", "exec", str(two_rank_config(tmp_path)), *args])
        assert (done.returncode, done.stderr) == (2, message)

    def test_unbindable_cpu(self, tmp_path: Path) -> None:
        """A CPU this host cannot give is a clear error (exit 2) before the command runs."""
        path = tmp_path / "far.toml"
        path.write_text('[parallel]\nnuma_bind = true\nnuma_bind_nodes = [0]\nnuma_bind_cpus = ["4095"]\n'
                        'distributed_executor_backend = "mp"\n'  # vLLM's mp workers: bound by numa_bind_cpus
                        '[cluster]\ndevices_per_node = 1\n')
        done = run(pconf_exec(path, 0, "--bind", "affinity", command=("echo", "ran")))
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr.startswith("pconf exec: cannot bind rank 0: CPUs 4095 are not available to this process")
