"""What pconf does not do: write files nobody named, or import a class a config names.

Every read-only command runs as a real process in an empty working directory, with ``HOME`` and ``TMPDIR``
pointed at empty directories: afterwards all three are still empty, and the inputs are unchanged. ``-o`` and
``--write-lock`` write exactly the file they name. ``worker_cls``, ``sd_worker_cls``, ``worker_extension_cls``
and an executor import path stay strings: a module that records its own import is never imported by compile,
plan or hash.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pconf
from pconf.cli import main

ROOT = Path(__file__).resolve().parent.parent
SYSFS = ROOT / "tests" / "data" / "sysfs" / "two-socket-8gpu"


def snapshot(*dirs: Path) -> dict[str, bytes]:
    """Every file under ``dirs`` (links and directories too) with its content."""
    out: dict[str, bytes] = {}
    for top in dirs:
        for path in sorted(top.rglob("*")):
            out[str(path)] = b"<dir>" if path.is_dir() else path.read_bytes() if path.is_file() else b"<other>"
    return out


def _dirs(top: Path) -> dict[str, Path]:
    """A sandbox's directories under ``top``: inputs, the working directory, HOME and TMPDIR."""
    return {name: top / name for name in ("inputs", "cwd", "home", "tmp")}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inputs every sandbox starts from: examples/ and the lock ``pconf hash --write-lock`` writes for it,
    made once (a process); the lock holds no path, so each sandbox's copy checks against its own files."""
    dirs = _dirs(tmp_path_factory.mktemp("template"))
    shutil.copytree(ROOT / "examples", dirs["inputs"])
    for name in ("cwd", "home", "tmp"):
        dirs[name].mkdir()
    lock = dirs["inputs"] / "pconf.lock"
    done = pconf_process(["hash", str(dirs["inputs"] / "cluster.toml"), "--write-lock", str(lock)], dirs)
    assert done.returncode == 0, done.stderr
    return dirs["inputs"]


@pytest.fixture
def sandbox(tmp_path: Path, template: Path) -> dict[str, Path]:
    """A fresh copy of the template's inputs, and an empty working directory, HOME and TMPDIR."""
    dirs = _dirs(tmp_path)
    shutil.copytree(template, dirs["inputs"])
    for name in ("cwd", "home", "tmp"):
        dirs[name].mkdir()
    return dirs


def pconf_process(argv: list[str], dirs: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PCONF", "TMP", "TEMP"))}
    env.update(HOME=str(dirs["home"]), TMPDIR=str(dirs["tmp"]), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "pconf", *argv], cwd=dirs["cwd"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


READ_ONLY = [
    (["compile", "{in}/cluster.toml"], 0),
    (["compile", "{in}/layered/prod.yaml", "--format", "toml", "--set", "parallel.data_parallel_size=4"], 0),
    (["compile", "{in}/cluster.yaml", "--format", "yaml"], 0),
    (["validate", "{in}/cluster.toml", "{in}/ray.yaml", "{in}/layered/dev.toml"], 0),
    (["explain", "{in}/layered/prod.toml", "parallel.data_parallel_size"], 0),
    (["hash", "{in}/cluster.toml"], 0),
    (["hash", "{in}/cluster.toml", "--json"], 0),
    (["hash", "{in}/cluster.toml", "--check", "{in}/pconf.lock"], 0),
    (["hash", "{in}/tp8.toml", "--check", "{in}/pconf.lock"], 1),
    (["diff", "{in}/layered/prod.toml", "{in}/layered/dev.toml"], 1),
    (["plan", "{in}/dp-ep-2node.toml"], 0),
    (["plan", "{in}/dp-ep-2node.toml", "--format", "env", "--rank", "13"], 0),
    (["plan", "{in}/dp-ep-2node.toml", "--format", "vllm", "--node", "1"], 0),
    (["plan", "{in}/dp-ep-2node.toml", "--format", "html"], 0),
    (["plan", "{in}/cluster.toml", "--format", "grid", "--color", "always"], 0),
    (["plan", "{in}/numa-2socket.toml", "--sysfs-root", str(SYSFS), "--format", "json"], 0),
    (["schema"], 0),
    (["numa", "--sysfs-root", str(SYSFS)], 0),
    (["exec", "{in}/tp8.toml", "--rank", "3", "--bind", "none", "--dry-run", "--", "touch", "written-by-exec"], 0),
    (["validate", "{in}/cluster.toml", "--set", "parallel.tensor_parallel_size=0"], 2),
]


class TestWritesNothing:
    @pytest.mark.parametrize(("argv", "code"), READ_ONLY, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in
                                                              enumerate(READ_ONLY)])
    def test_read_only_command(self, sandbox: dict[str, Path], argv: list[str], code: int) -> None:
        """A read-only command leaves the working directory, HOME and TMPDIR empty and the inputs unchanged."""
        before = snapshot(*sandbox.values())
        done = pconf_process([a.replace("{in}", str(sandbox["inputs"])) for a in argv], sandbox)
        assert done.returncode == code, done.stderr
        assert snapshot(*sandbox.values()) == before

    @pytest.mark.parametrize("argv", [
        ["compile", "{in}/cluster.toml", "-o", "out/compiled.json"],
        ["compile", "{in}/cluster.toml", "--format", "toml", "--output", "compiled.toml"],
        ["plan", "{in}/cluster.toml", "--format", "json", "-o", "plan.json"],
        ["plan", "{in}/cluster.toml", "--format", "svg", "-o", "plan.svg"],
        ["schema", "-o", "pconf.schema.json"],
        ["hash", "{in}/cluster.toml", "--write-lock", "out/pconf.lock"],
    ])
    def test_named_output_only(self, sandbox: dict[str, Path], argv: list[str]) -> None:
        """-o and --write-lock write exactly the file they name, and nothing else."""
        (sandbox["cwd"] / "out").mkdir()
        before = snapshot(*sandbox.values())
        done = pconf_process([a.replace("{in}", str(sandbox["inputs"])) for a in argv], sandbox)
        assert done.returncode == 0, done.stderr
        after = snapshot(*sandbox.values())
        named = str(sandbox["cwd"] / argv[-1])
        assert set(after) - set(before) == {named}
        assert {k: v for k, v in after.items() if k != named} == before
        assert after[named]


# -- class names stay strings --------------------------------------------------------------------------------------

_RECORDER = """\
import os, sys
sys.pconf_imported_evilpkg = True
open(os.environ["EVILPKG_MARKER"], "w").close()
"""

CONFIG = """\
[parallel]
tensor_parallel_size = 2
worker_cls = "evilpkg.workers.Worker"
sd_worker_cls = "evilpkg.workers.SpecWorker"
worker_extension_cls = "evilpkg.ext.Extension"
distributed_executor_backend = "evilpkg.executor.Executor"

[scheduler]
async_scheduling = false
"""


@pytest.fixture
def evilpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package on sys.path whose every module, when imported, leaves a marker file and a sys attribute."""
    pkg = tmp_path / "site" / "evilpkg"
    pkg.mkdir(parents=True)
    for name in ("__init__", "workers", "ext", "executor"):
        (pkg / f"{name}.py").write_text(_RECORDER, encoding="utf-8")
    marker = tmp_path / "imported"
    monkeypatch.setenv("EVILPKG_MARKER", str(marker))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "cluster.toml").write_text(CONFIG, encoding="utf-8")
    return marker


class TestImportsNothing:
    def test_api(self, evilpkg: Path, tmp_path: Path) -> None:
        """Compiling, printing, hashing, explaining and planning never import the named classes."""
        compiled = pconf.compile_files([tmp_path / "cluster.toml"])
        assert compiled.resolved.parallel.worker_cls == "evilpkg.workers.Worker"
        compiled.to_dict()
        str(compiled.graph_hash)
        compiled.explain("parallel.worker_extension_cls")
        plan = compiled.plan()
        plan.env(1)
        plan.to_dict()
        assert "evilpkg" not in sys.modules
        assert not hasattr(sys, "pconf_imported_evilpkg")
        assert not evilpkg.exists()

    @pytest.mark.parametrize("argv", [
        ["compile", "cluster.toml"], ["compile", "cluster.toml", "--format", "yaml"], ["validate", "cluster.toml"],
        ["hash", "cluster.toml", "--json"], ["plan", "cluster.toml"], ["plan", "cluster.toml", "--format", "vllm"],
        ["plan", "cluster.toml", "--format", "env", "--rank", "1"], ["explain", "cluster.toml", "parallel.worker_cls"],
        ["exec", "cluster.toml", "--rank", "0", "--bind", "none", "--dry-run", "--", "true"],
    ])
    def test_cli(self, evilpkg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
        """No command imports the named classes."""
        monkeypatch.chdir(tmp_path)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            assert main(argv) == 0, err.getvalue()
        assert "evilpkg" not in sys.modules
        assert not evilpkg.exists()

    def test_process(self, evilpkg: Path, tmp_path: Path) -> None:
        """In a fresh process with the package importable, plan and hash import nothing of it."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "site")])}
        for argv in (["plan", "cluster.toml", "--format", "vllm"], ["hash", "cluster.toml"]):
            done = subprocess.run([sys.executable, "-m", "pconf", *argv], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=60, check=False)
            assert done.returncode == 0, done.stderr
        assert not evilpkg.exists()
