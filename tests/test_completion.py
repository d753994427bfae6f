"""``pconf completion bash|zsh|fish``: each script is valid in its shell, names every command and option of the
parser, and completes what a user types (run in bash, zsh through a pseudo-terminal, and fish)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pconf.cli import COMMANDS, main
from pconf.cli.arguments import commands
from pconf.cli.completion import scripts

ROOT = Path(__file__).resolve().parent.parent


def script(shell: str, tmp_path: Path) -> Path:
    path = tmp_path / f"pconf.{shell}"
    path.write_text(scripts()[shell](), encoding="utf-8")
    return path


def test_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "fish"]) == 0
    assert capsys.readouterr().out == scripts()["fish"]()


def test_every_command_and_option() -> None:
    """The scripts come from the full parser: every command, every option of each."""
    cmds = commands()
    assert [c.name for c in cmds] == list(COMMANDS)
    compile_ = next(c for c in cmds if c.name == "compile")
    flags = {f for o in compile_.options for f in o.flags}
    assert {"--set", "--reset", "--format", "-o", "--output", "--stdin-format", "--vllm-version"} <= flags
    for shell in scripts():
        text = scripts()[shell]()
        for c in cmds:
            assert c.name in text
            for o in c.options:
                for flag in o.flags:
                    assert (flag.lstrip("-") if shell == "fish" else flag) in text, (shell, c.name, flag)


@pytest.mark.parametrize("shell", list(scripts()))
def test_syntax(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (CI installs it)")
    result = subprocess.run([shell, "-n", str(script(shell, tmp_path))], capture_output=True, text=True, timeout=30,
                            check=False)
    assert (result.returncode, result.stderr) == (0, "")


# -- bash ----------------------------------------------------------------------------------------------------

BASH_CASES = [
    (["pconf", "co"], ["compile", "completion"]),
    (["pconf", "--ver"], ["--version"]),
    (["pconf", "compile", "--fo"], ["--format"]),
    (["pconf", "compile", "--format", ""], ["json", "toml", "yaml"]),
    (["pconf", "validate", "--format", ""], ["github", "json", "text"]),
    (["pconf", "compile", "--vllm-version", ""], ["0.23", "0.28", "0.34"]),
    (["pconf", "compile", "c"], ["cluster.toml", "cluster.yaml", "conf/"]),
    (["pconf", "compile", "-o", "c"], ["cluster.toml", "cluster.yaml", "conf/", "cluster.txt"]),
    (["pconf", "plan", "x.toml", "--reset", "parallel.tensor_p"], ["parallel.tensor_parallel_size"]),
    (["pconf", "plan", "x.toml", "--set", "parallel.tensor_p"], ["parallel.tensor_parallel_size="]),
    (["pconf", "docs", "parallel.world"], ["parallel.world_size"]),
    (["pconf", "completion", ""], ["bash", "fish", "zsh"]),
    (["pconf", "plan", "x.toml", "--rank", ""], []),
    (["pconf", "exec", "x.toml", "--", "cl"], []),
]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash(tmp_path: Path) -> None:
    """The completion function, called as bash calls it on TAB, offers what each line expects."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("cluster.toml", "cluster.yaml", "cluster.txt"):
        (work / name).write_text("", encoding="utf-8")
    (work / "conf").mkdir()
    lines = [f"source {script('bash', tmp_path)}",
             "comp() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _pconf; "
             "printf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '; echo; }"]
    for words, _ in BASH_CASES:
        lines.append("comp " + " ".join(f"'{w}'" for w in words))
    result = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True, text=True, timeout=30, cwd=work,
                            check=False)
    assert result.stderr == ""
    got = result.stdout.splitlines()
    for (words, expected), line in zip(BASH_CASES, got, strict=True):
        # bash shows a directory with its slash itself (compopt -o filenames): compare without it
        assert sorted(line.split()) == sorted(w.rstrip("/") for w in expected), words


# -- fish ----------------------------------------------------------------------------------------------------

FISH_CASES = [
    ("pconf co", ["compile", "completion"]),
    ("pconf compile --format ", ["json", "toml", "yaml"]),
    ("pconf compile c", ["cluster.toml", "cluster.yaml", "conf/"]),
    ("pconf plan x.toml --reset parallel.tensor_p", ["parallel.tensor_parallel_size"]),
    ("pconf plan x.toml --set parallel.tensor_p", ["parallel.tensor_parallel_size="]),
    ("pconf docs parallel.world", ["parallel.world_size"]),
    ("pconf completion ", ["bash", "fish", "zsh"]),
    ("pconf compile --vllm-v", ["--vllm-version"]),
]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (CI installs it)")
def test_fish(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("cluster.toml", "cluster.yaml", "cluster.txt"):
        (work / name).write_text("", encoding="utf-8")
    (work / "conf").mkdir()
    path = script("fish", tmp_path)
    for line, expected in FISH_CASES:
        result = subprocess.run(["fish", "--no-config", "-c", f"source {path}; complete -C '{line}'"],
                                capture_output=True, text=True, timeout=30, cwd=work, check=False)
        offered = sorted({row.split("\t")[0] for row in result.stdout.splitlines()})
        assert offered == sorted(expected), line


# -- zsh -----------------------------------------------------------------------------------------------------

_ZSH_SLOW = pytest.mark.ci_only("a zsh on a pseudo-terminal per case: the first two cases take the same code paths")
ZSH_CASES = [
    ("pconf compile c", ["cluster.toml", "cluster.yaml", "conf"]),
    ("pconf plan x.toml --reset parallel.tensor_p", ["parallel.tensor_parallel_size"]),
    pytest.param("pconf co", ["compile", "completion"], marks=_ZSH_SLOW),
    pytest.param("pconf compile --format ", ["json", "toml", "yaml"], marks=_ZSH_SLOW),
    pytest.param("pconf docs parallel.world", ["parallel.world_size"], marks=_ZSH_SLOW),
    pytest.param("pconf completion ", ["bash", "fish", "zsh"], marks=_ZSH_SLOW),
]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (CI installs it)")
@pytest.mark.parametrize(("line", "expected"), ZSH_CASES)
def test_zsh(line: str, expected: list[str], tmp_path: Path) -> None:
    """In an interactive zsh on a pseudo-terminal: TAB after ``line``, with compadd recording what is offered."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("cluster.toml", "cluster.yaml", "cluster.txt"):
        (work / name).write_text("", encoding="utf-8")
    (work / "conf").mkdir()
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_pconf").write_text(scripts()["zsh"](), encoding="utf-8")
    record = tmp_path / "offered"
    driver = textwrap.dedent(f"""\
        zmodload zsh/zpty
        zpty z 'zsh -f -i'
        zpty -w z "PS1='> '; fpath=({functions} \\$fpath); autoload -U compinit; compinit -u -D"
        zpty -w z 'compadd() {{ local -a __m; builtin compadd -O __m "$@"; print -rl -- $__m >> {record}; \\
builtin compadd "$@" }}'
        zpty -w z "cd {work}"
        zpty -w -n z $'{line}\\t'
        sleep 3
        zpty -d z
        """)
    subprocess.run(["zsh", "-f", "-c", driver], capture_output=True, text=True, timeout=60, check=False,
                   env={**os.environ, "TERM": "dumb"})
    deadline = time.monotonic() + 5
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    offered = set(record.read_text(encoding="utf-8").split()) if record.exists() else set()
    assert set(expected) <= offered, (line, sorted(offered))
    assert "cluster.txt" not in offered


def test_module_imports_only_when_run() -> None:
    """Building every command's parser is for completion only: other commands import their own module alone."""
    code = ("import sys; from pconf.cli import main\n"
            "main(['schema'])\n"
            "print(sorted(m for m in sys.modules if m.startswith('pconf.cli.')), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stderr.strip() == "['pconf.cli.common', 'pconf.cli.reference']"
