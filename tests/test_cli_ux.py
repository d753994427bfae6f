"""What a new user tries first (issue #21): exit codes, ``--`` arguments, ``--reset``, ``pconf docs [KEY]``, standard
input, machine-readable issues, compile output that loads back, ``engine_kwargs()``, the distribution's name, the
cluster defaults marked, ``doctor`` without torch, and the README's commands run as written."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

import pconf
import pconf.compile
from pconf.cli import main
from pconf.cli.common import EXIT_BUG, EXIT_CHANGED, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK
from pconf.emit.document import render
from pconf.emit.vllm import serve_commands
from pconf.errors import ConfigError
from pconf.introspect import reference_markdown
from pconf.introspect.key import describe_key, known_keys
from pconf.load import sniff_format
from pconf.versions import PROFILES
from pconf.versions.serve import LAYOUT_ARGS
from tests.helpers import call, write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*")
                  if p.suffix in (".toml", ".yaml"))
TP2 = "[parallel]\ntensor_parallel_size = 2\n"
BAD = '[parallel]\ntensor_parallel_size = "2"\n'
BAD_LINE = 'bad.toml:2:1: parallel.tensor_parallel_size: must be an integer (got "2"); write 2 without quotes ' \
           "[schema.type]\n"


pytestmark = pytest.mark.usefixtures("in_tmp")


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m pconf ARGS`` with ``stdin`` as its standard input."""
    base = {k: v for k, v in os.environ.items() if k != "PCONF_TRACEBACK"}
    base["PYTHONPATH"] = os.pathsep.join([str(ROOT), base.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pconf", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env={**base, **(env or {})}, cwd=cwd, check=False)


def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


# -- exit codes -----------------------------------------------------------------------------------------------


class TestExitCodes:
    def broken(self, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
        def fail(*_args: object, **_kwargs: object) -> NoReturn:
            raise exc

        monkeypatch.setattr(pconf.compile, "compile_files", fail)

    def test_internal_error_is_70_and_one_line(self, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """A bug exits 70 with one line: what escaped, that it is a bug, how to report it; no traceback."""
        self.broken(monkeypatch, RuntimeError("boom\nsecond line"))
        assert call(capsys, "compile", write("c.toml", TP2)) == (
            70, "", "pconf: internal error (RuntimeError: boom): a bug in pconf, not in your files. Please report it "
                    "with the command line, its input files and `pconf --version`; PCONF_TRACEBACK=1 prints the "
                    "traceback\n")

    def test_traceback_on_request(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """PCONF_TRACEBACK=1 prints the traceback before the line; the code stays 70."""
        self.broken(monkeypatch, RuntimeError("boom"))
        monkeypatch.setenv("PCONF_TRACEBACK", "1")
        code, out, err = call(capsys, "compile", write("c.toml", TP2))
        assert (code, out) == (70, "")
        assert err.startswith("Traceback (most recent call last):\n")
        assert err.endswith("RuntimeError: boom\npconf: internal error (RuntimeError: boom): a bug in pconf, not in "
                            "your files. Please report it with the command line, its input files and "
                            "`pconf --version`\n")

    def test_interrupted_is_130(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.broken(monkeypatch, KeyboardInterrupt())
        assert call(capsys, "compile", write("c.toml", TP2)) == (130, "", "pconf: interrupted\n")

    def test_config_error_traceback_keeps_2(self, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        """PCONF_TRACEBACK=1 on a config error: its traceback, then the issues; still exit 2."""
        monkeypatch.setenv("PCONF_TRACEBACK", "1")
        code, out, err = call(capsys, "compile", write("bad.toml", BAD))
        assert (code, out) == (2, "")
        assert err.startswith("Traceback (most recent call last):\n")
        assert err.endswith(BAD_LINE + "pconf: 1 error\n")

    def test_end_to_end(self) -> None:
        """In a real process: 0, 1 (diff), 2 (config error, usage), 70 (a bug)."""
        write("c.toml", TP2)
        write("d.toml", "[parallel]\ntensor_parallel_size = 4\n")
        write("bad.toml", BAD)
        assert run("hash", "c.toml", cwd=Path.cwd()).returncode == 0
        assert run("diff", "c.toml", "d.toml", cwd=Path.cwd()).returncode == 1
        assert run("compile", "bad.toml", cwd=Path.cwd()).returncode == 2
        assert run("compile", "c.toml", "--format", "xml", cwd=Path.cwd()).returncode == 2
        code = ("import sys, pconf.compile\n"
                "def boom(*a, **k): raise ZeroDivisionError('x')\n"
                "pconf.compile.compile_files = boom\n"
                "from pconf.cli import main\n"
                "sys.exit(main(['compile', 'c.toml']))\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert (result.returncode, result.stdout) == (70, "")
        assert result.stderr.startswith("pconf: internal error (ZeroDivisionError: x)")
        assert "Traceback" not in result.stderr

    def test_one_table(self) -> None:
        """docs/errors.md's table names every code the CLI defines, and the module docstring agrees."""
        text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
        section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
        codes = [int(m) for m in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)]
        assert codes == [0, 1, 2, 3, 70, 130]
        assert {EXIT_OK, EXIT_CHANGED, EXIT_CONFIG, EXIT_BUG, EXIT_INTERRUPTED} <= set(codes)
        assert "docs/errors.md#exit-codes" in (ROOT / "README.md").read_text(encoding="utf-8")

    @pytest.mark.parametrize("command", ["compile", "validate", "hash", "plan"])
    def test_arguments_after_dashes_refused(self, command: str, capsys: pytest.CaptureFixture[str]) -> None:
        """A command that runs no command refuses what follows `--` (exit 2) instead of dropping it."""
        write("c.toml", TP2)
        assert call(capsys, command, "c.toml", "--", "d.toml", "-x") == (
            2, "", f"pconf {command}: takes no arguments after `--` (got d.toml -x); only pconf exec and pconf launch "
                   "run a command given there\n")

    def test_exec_takes_a_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", TP2)
        code, out, _ = call(capsys, "exec", "c.toml", "--rank", "1", "--dry-run", "--", "echo", "--x")
        assert code == 0
        assert out.endswith("echo --x\n")

    def test_broken_pipe_is_quiet(self) -> None:
        """A reader that goes away early (`| head -1`) ends the command quietly, --version included."""
        for args in (["--version"], ["compile", str(ROOT / "examples" / "cluster.toml")]):
            line = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "pconf", *args])
            result = subprocess.run(["bash", "-c", f"set -o pipefail; {line} | head -c 1"], capture_output=True,
                                    text=True, timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert (result.returncode, result.stderr) == (0, ""), args


# -- --reset ----------------------------------------------------------------------------------------------------


class TestReset:
    def test_same_as_tilde(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", "[parallel]\ntensor_parallel_size = 2\ndata_parallel_size = 2\n")
        tilde = call(capsys, "compile", "c.toml", "--set", "~parallel.tensor_parallel_size")
        reset = call(capsys, "compile", "c.toml", "--reset", "parallel.tensor_parallel_size")
        assert reset == tilde
        doc = json.loads(reset[1])
        assert doc["parallel"]["tensor_parallel_size"] == 1
        assert doc["sources"]["parallel.tensor_parallel_size"] == \
            "default (reset at --reset parallel.tensor_parallel_size)"

    def test_order_with_set(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--set and --reset apply in the order given."""
        write("c.toml", TP2)
        first = call(capsys, "hash", "c.toml", "--reset", "parallel.tensor_parallel_size", "--set",
                     "parallel.tensor_parallel_size=4")
        last = call(capsys, "hash", "c.toml", "--set", "parallel.tensor_parallel_size=4", "--reset",
                    "parallel.tensor_parallel_size")
        assert first[1] == str(pconf.compile_dict({"parallel": {"tensor_parallel_size": 4}}).graph_hash) + "\n"
        assert last[1] == str(pconf.compile_dict({}).graph_hash) + "\n"

    def test_with_a_value(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", TP2)
        assert call(capsys, "compile", "c.toml", "--reset", "parallel.nnodes=2") == (
            2, "", "--reset parallel.nnodes=2: parallel.nnodes: a reset takes no value; write --reset parallel.nnodes "
                   "[load.set_reset]\npconf: 1 error\n")

    def test_migrate_takes_it(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("c.toml", TP2)
        assert call(capsys, "migrate", "c.toml", "--to", "0.28", "--check", "--reset",
                    "parallel.tensor_parallel_size")[0] == 1


# -- pconf docs -----------------------------------------------------------------------------------------------


class TestDocs:
    def test_prints_the_reference(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """Without -o the reference goes to stdout and nothing is written where you stand."""
        assert call(capsys, "docs") == (0, reference_markdown(), "")
        assert list(tmp_path.iterdir()) == []

    def test_output_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert call(capsys, "docs", "-o", "ref.md") == (0, "", "ref.md: written\n")
        assert Path("ref.md").read_text(encoding="utf-8") == reference_markdown()
        assert call(capsys, "docs", "--check", "-o", "ref.md") == (0, "ref.md: up to date\n", "")

    def test_key(self, capsys: pytest.CaptureFixture[str]) -> None:
        """One key: doc, type, default, bounds, graph, releases, vLLM flag and the rules that read it."""
        code, out, err = call(capsys, "docs", "parallel.tensor_parallel_size")
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == "parallel.tensor_parallel_size  (vLLM 0.23)"
        assert "type:        integer" in lines
        assert "default:     1" in lines
        assert "allowed:     >= 1; <= 65536" in lines
        assert "graph hash:  yes: a factor of the graph hash" in lines
        assert "vLLM flag:   --tensor-parallel-size; EngineArgs tensor_parallel_size" in lines
        assert "  dcp.tp_divisible: tensor_parallel_size must be divisible by decode_context_parallel_size (from" \
            in lines
        assert any(line.startswith("  model.heads_tp: ") for line in lines)

    def test_bare_name_and_release(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A key's own name finds it; --vllm-version shows it in that release."""
        assert call(capsys, "docs", "window_size")[1].startswith("parallel.eplb_config.window_size  (vLLM 0.23)\n")
        out = call(capsys, "docs", "elastic_ep_max_dp_size")[1]
        assert "releases:    0.34 and later (not in vLLM 0.23)" in out
        out = call(capsys, "docs", "communicator", "--vllm-version", "0.34")[1]
        assert out.startswith("parallel.eplb_config.communicator  (vLLM 0.34)\n")
        assert '"symm_mem"' in out

    def test_kinds(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert "Derived, not settable" in call(capsys, "docs", "world_size")[1]
        assert "runtime-internal" in call(capsys, "docs", "_coord_store_port")[1]
        assert call(capsys, "docs", "extends")[1].startswith("extends\n\nFiles this file builds on")
        out = call(capsys, "docs", "cluster.device")[1]
        assert "vLLM flag:   none: a fact about the hosts" in out
        assert "  eplb.platform: EPLB runs on CUDA and ROCm devices" in out
        out = call(capsys, "docs", "async_scheduling")[1]
        assert "vLLM flag:   --async-scheduling / --no-async-scheduling" in out
        assert "  parallel.eplb_config.window_size" in call(capsys, "docs", "parallel.eplb_config")[1]
        assert "vLLM flag:   --nnodes; EngineArgs nnodes (set per node" in call(capsys, "docs", "nnodes")[1]

    def test_unknown_key(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert call(capsys, "docs", "tensor_paralel_size") == (
            2, "", "<command line>: tensor_paralel_size: not a key of the format; did you mean "
                   "`parallel.tensor_parallel_size`? [docs.unknown_key]\npconf: 1 error\n")

    def test_ambiguous_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from pconf.introspect import key

        monkeypatch.setattr(key, "known_keys", lambda: ["a.x", "b.x"])
        with pytest.raises(ConfigError, match=r"`x` names 2 keys; give the dotted key: a.x, b.x"):
            describe_key("x")

    @pytest.mark.parametrize("key", known_keys())
    def test_every_key_has_a_page(self, key: str) -> None:
        """Every key of every release is documented, from the same facts as the reference."""
        for profile in PROFILES.values():
            page = describe_key(key, profile)
            assert page.doc
            assert page.key == key
            if page.kind == "key" and key.startswith("parallel.") and key.count(".") == 1:
                name = key.split(".")[1]
                if name in profile.serve_flags:
                    assert profile.serve_flags[name].flag in page.flag

    def test_usage(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert call(capsys, "docs", "nnodes", "-o", "x.md")[0] == 2
        assert call(capsys, "docs", "--vllm-version", "0.28")[0] == 2
        assert call(capsys, "docs", "nnodes", "--vllm-version", "9.9")[0] == 2


# -- standard input -------------------------------------------------------------------------------------------


class TestStdin:
    @pytest.mark.parametrize(("text", "fmt"), [
        ("[parallel]\ntensor_parallel_size = 2\n", "toml"),
        ("# comment\n\nparallel.tensor_parallel_size = 2\n", "toml"),
        ('"parallel" = {tensor_parallel_size = 2}\n', "toml"),
        ("parallel:\n  tensor_parallel_size: 2\n", "yaml"),
        ("---\nparallel: {tensor_parallel_size: 2}\n", "yaml"),
        ('{"parallel": {"tensor_parallel_size": 2}}\n', "yaml"),
        ("#:schema x.json\nvllm_version: '0.28'\n", "yaml"),
        ("vllm_version = '0.28'\n", "toml"),
        ("", "toml"),
    ])
    def test_sniff(self, text: str, fmt: str) -> None:
        assert sniff_format(text) == fmt

    @pytest.mark.parametrize("example", ["examples/cluster.toml", "examples/cluster.yaml"])
    def test_same_hash_as_the_file(self, example: str) -> None:
        text = (ROOT / example).read_text(encoding="utf-8")
        expected = str(pconf.compile_files([ROOT / example]).graph_hash) + "\n"
        assert run("hash", "-", stdin=text).stdout == expected

    def test_errors_name_stdin(self) -> None:
        result = run("validate", "-", stdin=BAD)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == BAD_LINE.replace("bad.toml", "<stdin>") + "pconf: 1 error\n"

    def test_stdin_format(self) -> None:
        """--stdin-format says what the input is, over what its content looks like."""
        yaml_text = "parallel:\n  tensor_parallel_size: 2\n"
        assert run("hash", "-", "--stdin-format", "yaml", stdin=yaml_text).returncode == 0
        result = run("hash", "-", "--stdin-format", "toml", stdin=yaml_text)
        assert result.returncode == 2
        assert "[load.toml_syntax]" in result.stderr

    def test_read_once(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """`-` twice names one document (stdin is read once): diff - - finds nothing."""
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TP2.encode())))
        assert call(capsys, "diff", "-", "-")[0] == 0
        assert call(capsys, "validate", "-", "-") == (0, "<stdin>: ok\n<stdin>: ok\n", "")

    def test_extends_relative_to_the_working_directory(self, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        write("base.toml", TP2)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'extends = ["base.toml"]\n')))
        doc = json.loads(call(capsys, "compile", "-")[1])
        assert doc["sources"]["parallel.tensor_parallel_size"] == "base.toml:2:1"

    def test_too_large(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"#" * (2 << 20))))
        code, _, err = call(capsys, "validate", "-")
        assert code == 2
        assert err.startswith("<stdin>: <document>: the file is larger than 1024 KiB")

    @pytest.mark.parametrize("args", [["launch", "-"], ["doctor", "-"], ["migrate", "-", "--to", "0.28"]])
    def test_refused_where_files_are_read_again(self, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = call(capsys, *args)
        assert code == 2
        assert err.startswith(f"pconf {args[0]}: cannot ")


# -- machine-readable issues ----------------------------------------------------------------------------------


class TestValidateFormats:
    def test_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("ok.toml", TP2)
        write("bad.toml", BAD)
        write("warn.toml", '[parallel]\nall2all_backend = "pplx"\n')
        code, out, err = call(capsys, "validate", "ok.toml", "bad.toml", "warn.toml", "--format", "json")
        assert (code, err) == (2, "")
        doc = json.loads(out)
        assert doc["ok"] is False
        assert (doc["errors"], doc["warnings"]) == (1, 1)
        assert doc["files"] == [{"file": "ok.toml", "ok": True}, {"file": "bad.toml", "ok": False},
                                {"file": "warn.toml", "ok": True}]
        assert doc["issues"][0] == {
            "file": "bad.toml", "line": 2, "col": 1, "key": "parallel.tensor_parallel_size", "rule": "schema.type",
            "severity": "error", "message": "must be an integer", "hint": "write 2 without quotes", "got": "2",
            "where": "bad.toml:2:1", "input": "bad.toml"}
        assert doc["issues"][1]["severity"] == "warning"
        assert doc["issues"][1]["rule"] == "all2all.deprecated"

    def test_json_ok(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("ok.toml", TP2)
        code, out, _ = call(capsys, "validate", "ok.toml", "--format", "json")
        assert code == 0
        assert json.loads(out) == {"ok": True, "errors": 0, "warnings": 0, "files": [{"file": "ok.toml", "ok": True}],
                                   "issues": []}

    def test_json_issue_outside_a_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("ok.toml", TP2)
        doc = json.loads(call(capsys, "validate", "ok.toml", "--set", "parallel.nnodes=0", "--format", "json")[1])
        issue = doc["issues"][0]
        assert (issue["file"], issue["line"], issue["col"], issue["where"]) == (None, None, None,
                                                                                "--set parallel.nnodes=0")

    def test_github(self, capsys: pytest.CaptureFixture[str]) -> None:
        write("ok.toml", TP2)
        write("bad.toml", BAD)
        code, out, err = call(capsys, "validate", "ok.toml", "bad.toml", "--set", "parallel.nnodes=0", "--format",
                              "github")
        assert code == 2
        bound = ("::error title=schema.bound::--set parallel.nnodes=0: parallel.nnodes: must be >= 1 (got 0); use 1 "
                 "or more [schema.bound]\n")
        assert out == (bound + "::error file=bad.toml,line=2,col=1,title=schema.type::parallel.tensor_parallel_size: "
                       'must be an integer (got "2"); write 2 without quotes [schema.type]\n' + bound)
        assert err == "pconf: 3 errors\n"

    def test_github_escapes(self) -> None:
        from pconf.emit.issues import github_line
        from pconf.errors import Issue, Location

        issue = Issue(("a",), Location.file("d,i:r/x.toml", 3, 2), "r.x", "50% off\nnext", severity="warning")
        assert github_line(issue) == "::warning file=d%2Ci%3Ar/x.toml,line=3,col=2,title=r.x::a: 50%25 off\\nnext [r.x]"


# -- compile output loads back --------------------------------------------------------------------------------


def _release_cases() -> list[tuple[str, str]]:
    out = []
    for example in EXAMPLES:
        for release in PROFILES:
            try:
                pconf.compile_files([ROOT / example], vllm_version=release)
            except ConfigError:
                continue  # a layout that this release refuses
            out.append((example, release))
    return out


RELEASE_CASES = _release_cases()


class TestRoundTrip:
    def test_cases(self) -> None:
        assert len(RELEASE_CASES) >= 2 * len(EXAMPLES)

    @pytest.mark.parametrize(("example", "release"), RELEASE_CASES)
    def test_every_format_loads_back(self, example: str, release: str, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
        """json (as YAML and through compile_dict), toml and yaml output compile to the same graph hash and the
        same document, for every example and every release."""
        at_root(monkeypatch)
        compiled = pconf.compile_files([example], vllm_version=release)
        doc = compiled.to_dict()
        for fmt, suffix in (("json", ".yaml"), ("toml", ".toml"), ("yaml", ".yaml")):
            text = render(doc, fmt, _notes(doc))
            path = tmp_path / f"compiled-{fmt}{suffix}"
            path.write_text(text, encoding="utf-8")
            again = pconf.compile_files([path])
            assert str(again.graph_hash) == doc["graph_hash"], fmt
            redone = again.to_dict()
            for section in ("parallel", "scheduler", "cluster", "derived", "vllm_version"):
                assert _same(redone[section], doc[section], fmt == "toml"), (fmt, section)
        assert str(pconf.compile_dict(json.loads(render(doc, "json"))).graph_hash) == doc["graph_hash"]

    def test_piped(self) -> None:
        """`pconf compile X | pconf hash -` prints X's hash, in every format."""
        example = ROOT / "examples" / "dp-ep-2node.toml"
        expected = str(pconf.compile_files([example]).graph_hash) + "\n"
        for fmt in ("json", "toml", "yaml"):
            out = run("compile", str(example), "--format", fmt).stdout
            assert run("hash", "-", stdin=out).stdout == expected, fmt

    def test_edit_is_caught(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An input edited after compiling no longer gives the compiled values: compiled.mismatch at each."""
        write("c.toml", TP2)
        text = call(capsys, "compile", "c.toml", "--format", "toml")[1]
        write("x.toml", text.replace("tensor_parallel_size = 2", "tensor_parallel_size = 4"))
        code, _, err = call(capsys, "hash", "x.toml")
        assert code == 2
        lines = err.splitlines()
        assert lines[0].startswith('x.toml:1:1: graph_hash: the compiled document states "pconf1-xxh3_128:')
        assert lines[0].endswith("; the inputs changed since `pconf compile` printed it: remove the compiled values "
                                 "(graph_hash, derived, sources, world_size, ...), or compile again "
                                 "[compiled.mismatch]")
        assert any(re.match(r"x\.toml:\d+:1: parallel\.world_size: the compiled document states 2, but it compiles "
                            r"to 4;", line) for line in lines)
        assert lines[-1] == f"pconf: {len(lines) - 1} errors"

    def test_later_layers_may_change_it(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The compiled values are checked against the compiled file itself: --set and later files still apply."""
        write("c.toml", "[parallel]\ntensor_parallel_size = 2\nnnodes = 2\ndata_parallel_size = 2\n"
                        "data_parallel_size_local = 1\nmaster_addr = \"10.0.0.1\"\n")
        text = call(capsys, "compile", "c.toml", "--format", "yaml")[1]
        write("x.yaml", text)
        code, out, _ = call(capsys, "compile", "x.yaml", "--set", "parallel.node_rank=1")
        assert code == 0
        assert json.loads(out)["sources"]["parallel.node_rank"] == "--set parallel.node_rank=1"
        write("over.toml", "[parallel]\ntensor_parallel_size = 4\n")
        assert call(capsys, "hash", "x.yaml", "over.toml")[1] == call(capsys, "hash", "c.toml", "over.toml")[1]

    def test_only_compiled_documents(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without graph_hash a file is an ordinary cluster file: derived keys are refused as before."""
        write("c.toml", "[parallel]\nworld_size = 2\n")
        assert "[schema.derived_key]" in call(capsys, "validate", "c.toml")[2]
        write("d.toml", "derived = {}\n")
        assert "[schema.unknown_key]" in call(capsys, "validate", "d.toml")[2]

    def test_model_facts_as_written(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
        """A compiled document with a model loads back from anywhere: its facts are written, config.json is not read
        again; an edited fact that changes a derived one is caught."""
        at_root(monkeypatch)
        text = call(capsys, "compile", "examples/models/qwen3-moe-tp4-pp4.toml", "--format", "toml")[1]
        monkeypatch.chdir(tmp_path)
        write("m.toml", text)
        code, out, _ = call(capsys, "plan", "m.toml")
        assert code == 0
        assert "model: Qwen3MoeForCausalLM: 94 layers" in out
        assert "use_mla = false" in text
        write("e.toml", text.replace("use_mla = false", "use_mla = true"))
        code, _, err = call(capsys, "validate", "e.toml")
        assert code == 2
        assert "model.use_mla: the compiled document states true, but it compiles to false" in err


def _notes(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    from pconf.emit.document import assumed_notes

    return assumed_notes(doc)


def _same(a: Any, b: Any, toml: bool) -> bool:
    """Equal, where TOML (which has no null) may leave out what was null."""
    if toml and isinstance(b, dict) and isinstance(a, dict):
        return all(_same(a.get(k), v, toml) for k, v in b.items())
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


# -- engine_kwargs ----------------------------------------------------------------------------------------------


def _serve_settings(argv: list[str], profile_name: str) -> dict[str, Any]:
    """The settings a ``vllm serve`` argv carries, typed back: an independent reading of the serve line."""
    profile = PROFILES[profile_name]
    by_flag: dict[str, str] = {s.flag: f for f, s in profile.serve_flags.items()}
    by_flag.update({arg.flag: arg.engine_arg for arg in LAYOUT_ARGS.values()})
    by_flag["--data-parallel-start-rank"] = "data_parallel_start_rank"
    start = argv.index("serve") + 2
    out: dict[str, Any] = {}
    i = start
    while i < len(argv):
        flag = argv[i]
        i += 1
        values = []
        while i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
        if flag in ("--headless", "--host", "--port", "--api-server-count"):  # vllm serve's own, not EngineArgs'
            continue
        if flag in ("--async-scheduling", "--no-async-scheduling"):
            out["async_scheduling"] = flag == "--async-scheduling"
            continue
        if flag.startswith("--no-") and "--" + flag[5:] in by_flag:
            out[by_flag["--" + flag[5:]]] = False
            continue
        name = by_flag[flag]
        if not values:
            out[name] = True
        elif name == "eplb_config":
            out[name] = json.loads(values[0])
        elif len(values) > 1 or name in ("numa_bind_nodes", "numa_bind_cpus"):
            parts = values if len(values) > 1 else values[0].split(",") if profile.serve_flags[name].comma else values
            out[name] = [int(v) if v.lstrip("-").isdigit() else v for v in parts]
        else:
            v = values[0]
            out[name] = int(v) if v.lstrip("-").isdigit() else v
    return out


def _kwargs_cases() -> list[tuple[str, str]]:
    return [(e, r) for e, r in RELEASE_CASES if "external-launcher" not in e]


class TestEngineKwargs:
    @pytest.mark.parametrize(("example", "release"), _kwargs_cases())
    def test_the_serve_line_typed(self, example: str, release: str) -> None:
        """For every node (and DP rank with external LB), engine_kwargs() is the serve line's settings."""
        compiled = pconf.compile_files([ROOT / example], vllm_version=release)
        plan = compiled.plan()
        external = compiled.resolved.parallel.data_parallel_external_lb
        for node in range(plan.nnodes):
            lines = serve_commands(plan, node)
            dp_ranks = sorted({plan.rank(r).dp for r in plan.node_ranks(node)})
            for line, dp in zip(lines, dp_ranks if external else [None], strict=True):
                kwargs = compiled.engine_kwargs(node if plan.nnodes > 1 else None, dp_rank=dp)
                assert kwargs == _serve_settings(line, release), (node, dp)
                assert json.loads(json.dumps(kwargs)) == kwargs  # plain, typed data: no tuples

    def test_external_launcher(self) -> None:
        compiled = pconf.compile_files([ROOT / "examples" / "external-launcher.toml"])
        assert compiled.engine_kwargs() == {"tensor_parallel_size": 4, "data_parallel_size": 2,
                                            "enable_expert_parallel": True,
                                            "distributed_executor_backend": "external_launcher"}

    def test_types(self) -> None:
        kwargs = pconf.compile_dict({"parallel": {"tensor_parallel_size": 2, "numa_bind": True,
                                                  "numa_bind_nodes": [0, 0], "enable_expert_parallel": True},
                                     "scheduler": {"async_scheduling": False}}).engine_kwargs()
        assert kwargs == {"tensor_parallel_size": 2, "enable_expert_parallel": True, "numa_bind": True,
                          "numa_bind_nodes": [0, 0], "async_scheduling": False}

    def test_layout_needs_a_node(self) -> None:
        compiled = pconf.compile_files([ROOT / "examples" / "dp-ep-2node.toml"])
        with pytest.raises(ValueError, match=r"runs on 2 nodes: pass node=K \(0\.\.1\)"):
            compiled.engine_kwargs()
        with pytest.raises(ValueError, match=r"node 2 is outside 0\.\.1"):
            compiled.engine_kwargs(2)
        with pytest.raises(ValueError, match="dp_rank is for external DP load balancing"):
            compiled.engine_kwargs(0, dp_rank=0)
        lb = pconf.compile_files([ROOT / "examples" / "wide-ep-external-lb.toml"])
        with pytest.raises(ValueError, match=r"one server per DP rank: pass dp_rank= one of \[3\]"):
            lb.engine_kwargs(3)
        assert lb.engine_kwargs(3, dp_rank=3)["data_parallel_rank"] == 3


# -- the distribution, the cluster defaults, doctor without torch -------------------------------------------


class TestFirstContact:
    def test_distribution_name(self, capsys: pytest.CaptureFixture[str]) -> None:
        """pyproject names the distribution pconf-vllm; --version and the install hints say so."""
        from pconf._version import DISTRIBUTION

        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        assert project["name"] == DISTRIBUTION == "pconf-vllm"
        assert project["scripts"] == {"pconf": "pconf.cli:main"}
        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.startswith("pconf 0.1.0 (distribution pconf-vllm)\n")
        for path in (ROOT / "pconf").rglob("*.py"):
            assert "pconf[" not in path.read_text(encoding="utf-8"), path  # 'pconf-vllm[runtime]', not PyPI's pconf

    def test_cluster_defaults_marked(self, capsys: pytest.CaptureFixture[str]) -> None:
        """[cluster] values nobody set carry a comment in TOML and YAML output, and explain says so."""
        write("c.toml", '[parallel]\ntensor_parallel_size = 2\n[cluster]\ndevice = "cpu"\n')
        for fmt, line in (("toml", 'devices_per_node = 8  # default: assumed, the files do not say (pconf docs '
                                   'cluster.devices_per_node)'),
                          ("yaml", "  devices_per_node: 8  # default: assumed, the files do not say (pconf docs "
                                   "cluster.devices_per_node)")):
            out = call(capsys, "compile", "c.toml", "--format", fmt)[1]
            assert line in out.splitlines()
            # every cluster key but device and custom_all_reduce (derived from the device), YAML writes the unset
            # topology too (TOML has no null)
            assert sum("# default: assumed" in x for x in out.splitlines()) == (5 if fmt == "toml" else 6)
            assert "cpu\"  #" not in out
            assert "cpu  #" not in out
        out = call(capsys, "explain", "c.toml", "cluster.devices_per_node")[1]
        assert out == ("cluster.devices_per_node = 8\nsource: default\nnote: a default: the files do not say this "
                       "about your hosts, so pconf assumes it; set it under [cluster] if your hosts differ\n")
        assert "note" not in call(capsys, "explain", "c.toml", "cluster.device")[1]

    def test_doctor_without_torch(self) -> None:
        """Without torch, doctor (like launch) says how to install the runtime extra and exits 2."""
        write("c.toml", TP2)
        code = ("import sys; sys.modules['torch'] = None\n"
                "from pconf.cli import main\n"
                "sys.exit(main(sys.argv[1:]))\n")
        for command in ("doctor", "launch"):
            result = subprocess.run([sys.executable, "-c", code, command, "c.toml"], capture_output=True, text=True,
                                    timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert (result.returncode, result.stdout) == (2, ""), command
            assert result.stderr == (f"pconf {command}: the ranks need torch: pip install torch==2.13.0 (the CPU "
                                     "wheel), then pip install 'pconf-vllm[runtime]'\n")

    def test_gloo_instead_of_nccl_is_said(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A cuda config on a host where torch sees no GPU: launch and doctor say the groups run on gloo."""
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("this host has a GPU: nccl runs")
        from pconf.cli.run import _say_backend

        _say_backend("doctor", pconf.compile_dict({"parallel": {"tensor_parallel_size": 2}}).plan())
        assert capsys.readouterr().err == ('pconf doctor: cluster.device is "cuda", but torch sees no GPU on this '
                                           "host: the groups run on gloo (CPU) instead of nccl, so nccl itself is "
                                           "not checked\n")
        _say_backend("doctor", pconf.compile_dict({"cluster": {"device": "cpu"}}).plan())
        assert capsys.readouterr().err == ""


# -- the README, as written -----------------------------------------------------------------------------------


def readme_commands() -> list[str]:
    """Every line of the README's shell blocks that runs pconf (launch and doctor need torch and start processes:
    tests/runtime runs them)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if re.match(r"(eval \"\$\()?pconf ", command) and not command.startswith(("pconf launch",
                                                                                          "pconf doctor")):
                lines.append(command)
    return lines


README_COMMANDS = readme_commands()


def test_readme_commands_found() -> None:
    assert len(README_COMMANDS) >= 20
    first = (ROOT / "README.md").read_text(encoding="utf-8").split("```sh\n", 1)[1].splitlines()[0]
    installs = [step.strip() for step in first.split("&&")[:-1]]
    assert installs == ["pip install torch==2.13.0", "pip install -e '.[dev,runtime,ray]'"]
    assert first.endswith("&& pconf compile examples/cluster.toml")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert [line.removeprefix("python3 -m ") for line in ci if line.startswith("python3 -m pip install ")][1:] \
        == installs, "CI installs exactly as the README says"


@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_command_runs(command: str, tmp_path: Path) -> None:
    """Each README command runs as written, from a directory with the repository's examples (what it writes stays
    there), and exits 0 (``pconf diff`` of two different files: 1, a difference found)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    shim = f'pconf() {{ {shlex.quote(sys.executable)} -m pconf "$@"; }}; '
    result = subprocess.run(["bash", "-c", "set -eo pipefail; " + shim + command], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == (1 if command.startswith("pconf diff") else 0), result.stderr
