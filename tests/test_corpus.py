"""The hostile-input corpus (tests/corpus/bad/): every broken or hostile input gets its exact answer.

One directory per case (see tests/corpus/README.md): the input files, ``expected.txt`` (``exit N`` on the first
line, then the whole stderr), and optionally ``command.txt`` (the arguments, one per line; default
``validate cluster.*``) and ``setup.txt`` (links, FIFOs and big files made at test time, never committed).
Each case runs through ``pconf.cli.main`` in a copy of its directory, which is the working directory, so the
paths in messages are short and stable; a few run as real ``python -m pconf`` processes too.

``python tests/test_corpus.py --record CASE...`` writes the expected files from what pconf prints now (review
every line before committing: the corpus is a specification, not a snapshot).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pconf.cli import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus" / "bad"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
#: Cases also run as `python -m pconf` processes: no traceback and the right exit code end to end.
SUBPROCESS_CASES = ["extends-fifo", "file-10mb", "file-dev-zero-link", "int-5000-digits-toml",
                    "set-deep-nesting", "yaml-billion-laughs", "yaml-nesting-500k", "yaml-python-object-apply"]
#: Not case inputs: what the runner reads.
RUNNER_FILES = {"expected.txt", "command.txt", "setup.txt"}


def prepare(case: str, into: Path) -> Path:
    """Copy a case into ``into`` and run its setup; return the directory to run it in."""
    here = into / case
    shutil.copytree(CORPUS / case, here, symlinks=True)
    setup = here / "setup.txt"
    if setup.exists():
        for line in setup.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                _setup_step(here, line)
    return here


def _setup_step(here: Path, line: str) -> None:
    """One setup line: ``link NAME TARGET``, ``fifo NAME``, ``mkdir NAME``, ``pad NAME BYTES`` (a trailing
    comment makes the file exactly BYTES long), ``repeat NAME COUNT TEXT`` (TEXT, with \\n escapes, appended
    COUNT times), ``chain PREFIX COUNT SUFFIX`` (PREFIX0.SUFFIX extends PREFIX1.SUFFIX ... the last is empty)."""
    op, _, rest = line.partition(" ")
    if op == "repeat":
        name, count, text = rest.split(" ", 2)
        with (here / name).open("ab") as f:
            f.write(codecs.decode(text, "unicode_escape").encode("utf-8") * int(count))
        return
    args = rest.split()
    if op == "link":
        (here / args[0]).symlink_to(args[1])
    elif op == "fifo":
        os.mkfifo(here / args[0])
    elif op == "mkdir":
        (here / args[0]).mkdir()
    elif op == "pad":
        path, size = here / args[0], int(args[1])
        data = path.read_bytes() if path.exists() else b""
        assert size - len(data) >= 2, line
        path.write_bytes(data + b"#" + b"x" * (size - len(data) - 2) + b"\n")
    elif op == "chain":
        prefix, suffix, files = args[0], args[2], int(args[1])
        for i in range(files):
            text = f'extends = ["{prefix}{i + 1}.{suffix}"]\n' if i < files - 1 else ""
            (here / f"{prefix}{i}.{suffix}").write_text(text, encoding="utf-8")
    else:
        raise AssertionError(f"unknown setup step: {line}")


def argv_of(here: Path) -> list[str]:
    """The command of a case: command.txt, one argument per line; else ``validate`` on its cluster file."""
    command = here / "command.txt"
    if command.exists():
        return [line for line in command.read_text(encoding="utf-8").split("\n") if line]
    inputs = sorted(p.name for p in here.iterdir() if p.name.startswith("cluster.") and p.name not in RUNNER_FILES)
    assert len(inputs) == 1, f"{here.name}: name one cluster.* file, or write command.txt"
    return ["validate", inputs[0]]


def run_in_process(here: Path) -> tuple[int, str]:
    """Run a prepared case through ``pconf.cli.main``: (exit code, stderr)."""
    err = io.StringIO()
    cwd = Path.cwd()
    os.chdir(here)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(argv_of(here))
    finally:
        os.chdir(cwd)
    return code, err.getvalue()


def expected_of(case: str) -> tuple[int, str]:
    text = (CORPUS / case / "expected.txt").read_text(encoding="utf-8")
    first, _, stderr = text.partition("\n")
    assert first.startswith("exit "), f"{case}: expected.txt starts with `exit N`"
    return int(first.removeprefix("exit ")), stderr


@pytest.fixture(autouse=True)
def _plain_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCONF_TRACEBACK", raising=False)


@pytest.mark.parametrize("case", CASES)
def test_case(case: str, tmp_path: Path) -> None:
    """The case exits with its expected code and prints exactly its expected stderr, and leaves its directory
    as it was: no case writes a file (``!!python/object/apply:os.system ["touch pwned"]`` runs nothing)."""
    here = prepare(case, tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, stderr = run_in_process(here)
    assert (code, stderr) == expected_of(case)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_case_as_a_process(case: str, tmp_path: Path) -> None:
    """The case gives the same exit code and stderr from a real `python -m pconf` process, with no traceback."""
    here = prepare(case, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PCONF_TRACEBACK"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "-m", "pconf", *argv_of(here)], cwd=here, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert "Traceback" not in done.stderr
    assert (done.returncode, done.stderr) == expected_of(case)


def test_corpus_size() -> None:
    """The corpus holds at least 150 cases, each with an expected outcome; the process cases are among them."""
    assert len(CASES) >= 150
    for case in CASES:
        assert (CORPUS / case / "expected.txt").exists(), case
    assert set(SUBPROCESS_CASES) <= set(CASES)


def test_every_case_is_a_clean_answer() -> None:
    """No case expects a traceback or an exit code other than 0, 1 (a check's negative answer) or 2."""
    for case in CASES:
        code, stderr = expected_of(case)
        assert code in (0, 1, 2), case
        assert "Traceback" not in stderr, case
        assert "internal error" not in stderr, case


def _record(cases: list[str]) -> None:
    """Write expected.txt for ``cases`` from what pconf prints now."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            code, stderr = run_in_process(prepare(case, Path(tmp)))
            (CORPUS / case / "expected.txt").write_text(f"exit {code}\n{stderr}", encoding="utf-8")
            print(f"== {case}: exit {code}\n{stderr}", end="")


if __name__ == "__main__":
    if sys.argv[1:2] != ["--record"]:
        sys.exit("usage: python tests/test_corpus.py --record CASE... (or --record all)")
    _record(CASES if sys.argv[2:] == ["all"] else sys.argv[2:])
