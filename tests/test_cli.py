"""The ``pconf`` command line, run for real: in a subprocess (``python -m pconf``) and in-process (``main``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

import pconf
import pconf.cli
import pconf.compile
from pconf.cli import main
from tests.helpers import call, write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


pytestmark = pytest.mark.usefixtures("in_tmp")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pconf ARGS`` in the working directory."""
    base = {k: v for k, v in os.environ.items() if k != "PCONF_TRACEBACK" and not k.startswith("VLLM_")}
    return subprocess.run([sys.executable, "-m", "pconf", *args], capture_output=True, text=True, timeout=60,
                          env={**base, **(env or {})}, check=False)


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    return value


TP2 = "[parallel]\ntensor_parallel_size = 2\n"
BAD = '[parallel]\ntensor_parallel_size = "2"\nnnodes = 0\n'
BAD_ERRORS = (
    'bad.toml:2:1: parallel.tensor_parallel_size: must be an integer (got "2"); write 2 without quotes [schema.type]\n'
    "bad.toml:3:1: parallel.nnodes: must be >= 1 (got 0); use 1 or more [schema.bound]\n"
)
PARALLEL_HEAD = [
    "pipeline_parallel_size", "tensor_parallel_size", "prefill_context_parallel_size", "data_parallel_size",
    "data_parallel_size_local", "data_parallel_rank", "data_parallel_rank_local", "data_parallel_master_ip",
]


class TestCompile:
    def test_json_default(self, capsys: pytest.CaptureFixture[str]) -> None:
        """compile prints JSON with a 2-space indent, sections and fields in schema order."""
        code, out, err = call(capsys, "compile", write("c.toml", TP2))
        assert (code, err) == (0, "")
        gh = str(pconf.compile_files(["c.toml"]).graph_hash)
        assert out.startswith(f'{{\n  "graph_hash": "{gh}",\n  "vllm_version": "0.23",\n  "parallel": {{\n'
                              '    "pipeline_parallel_size": 1,\n'
                              '    "tensor_parallel_size": 2,\n')
        assert out.endswith("\n  }\n}\n")
        doc = json.loads(out)
        assert list(doc) == ["graph_hash", "vllm_version", "parallel", "scheduler", "cluster", "serve", "derived",
                             "sources"]
        assert list(doc["parallel"])[: len(PARALLEL_HEAD)] == PARALLEL_HEAD
        assert doc["parallel"]["distributed_executor_backend"] == "mp"
        assert doc["sources"]["parallel.tensor_parallel_size"] == "c.toml:2:1"
        assert out == json.dumps(pconf.compile_files(["c.toml"]).to_dict(), indent=2, ensure_ascii=False) + "\n"

    def test_toml_leaves_out_nulls(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format toml prints the same document without its null values."""
        code, out, _ = call(capsys, "compile", write("c.toml", TP2), "--format", "toml")
        assert code == 0
        gh = str(pconf.compile_files(["c.toml"]).graph_hash)
        assert out.startswith(f'graph_hash = "{gh}"\nvllm_version = "0.23"\n\n[parallel]\npipeline_parallel_size = 1\n'
                              "tensor_parallel_size = 2\n")
        doc = pconf.compile_files(["c.toml"]).to_dict()
        nulls = [k for k, v in doc["parallel"].items() if v is None]
        assert "data_parallel_rank_local" in nulls
        assert tomllib.loads(out) == drop_nulls(doc)
        assert "\ndata_parallel_rank_local = " not in out

    def test_yaml(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format yaml prints the whole document, nulls included, in schema order."""
        code, out, _ = call(capsys, "compile", write("c.toml", TP2), "--format", "yaml")
        assert code == 0
        gh = str(pconf.compile_files(["c.toml"]).graph_hash)
        assert out.startswith(f"graph_hash: {gh}\nvllm_version: '0.23'\nparallel:\n  pipeline_parallel_size: 1\n"
                              "  tensor_parallel_size: 2\n")
        assert "  data_parallel_rank_local: null\n" in out
        assert yaml.safe_load(out) == pconf.compile_files(["c.toml"]).to_dict()

    def test_output_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--output writes the rendering to the file and prints nothing."""
        code, out, err = call(capsys, "compile", write("c.toml", TP2), "--output", "out.json")
        assert (code, out, err) == (0, "", "")
        code, expected, _ = call(capsys, "compile", "c.toml")
        assert Path("out.json").read_text(encoding="utf-8") == expected

    def test_short_output_option(self, capsys: pytest.CaptureFixture[str]) -> None:
        """-o is --output, in any format."""
        assert call(capsys, "compile", write("c.toml", TP2), "-o", "out.yaml", "--format", "yaml") == (0, "", "")
        assert yaml.safe_load(Path("out.yaml").read_text(encoding="utf-8"))["parallel"]["tensor_parallel_size"] == 2

    def test_set_and_several_files(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Files merge left to right and --set applies last."""
        write("b.yaml", "parallel:\n  tensor_parallel_size: 4\n  nnodes: 1\n")
        code, out, _ = call(capsys, "compile", write("c.toml", TP2), "b.yaml", "--set", "parallel.nnodes=1",
                            "--set", "parallel.pipeline_parallel_size=2")
        doc = json.loads(out)
        assert code == 0
        assert [doc["parallel"][k] for k in ("tensor_parallel_size", "pipeline_parallel_size", "world_size")] == [
            4, 2, 8]
        assert [doc["sources"][f"parallel.{k}"] for k in ("tensor_parallel_size", "nnodes")] == [
            "b.yaml:2:3", "--set parallel.nnodes=1"]

    def test_config_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A config error exits 2, lists every issue and the count on stderr, and prints nothing else."""
        assert call(capsys, "compile", write("bad.toml", BAD)) == (2, "", BAD_ERRORS + "pconf: 2 errors\n")

    def test_one_error_is_singular(self, capsys: pytest.CaptureFixture[str]) -> None:
        """One error is counted as `1 error`."""
        assert call(capsys, "compile", "nope.toml") == (
            2, "", "nope.toml: <document>: no such file: nope.toml; check the path [load.file]\npconf: 1 error\n")

    def test_bad_override(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A malformed --set is a config error with its text as the location."""
        assert call(capsys, "compile", write("c.toml", TP2), "--set", "parallel.nnodes=") == (
            2, "", "--set parallel.nnodes=: parallel.nnodes: empty value; write a value, or --reset parallel.nnodes "
                   "to reset it to its default [load.set_value]\npconf: 1 error\n")


class TestWhatValidatesCompiles:
    def test_date_in_ray_runtime_env(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A free-form table holds JSON data only: a TOML date there is refused, so no format can choke on it."""
        write("c.toml", "[parallel.ray_runtime_env]\nwhen = 2001-01-01\n")
        assert call(capsys, "validate", "c.toml") == (
            2, "", 'c.toml:1:11: parallel.ray_runtime_env: must hold JSON data: a date is not allowed (got '
                   '"2001-01-01"); quote dates and times as strings [schema.type]\npconf: 1 error\n')

    def test_null_in_a_list(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A null inside a list compiles to JSON and YAML; TOML, which has no null, says so (exit 2)."""
        write("c.yaml", "parallel:\n  ray_runtime_env:\n    x: [1, null]\n")
        assert call(capsys, "validate", "c.yaml") == (0, "c.yaml: ok\n", "")
        assert [call(capsys, "compile", "c.yaml", "--format", fmt)[0] for fmt in ("json", "yaml")] == [0, 0]
        assert call(capsys, "compile", "c.yaml", "--format", "toml") == (
            2, "", "--format toml: parallel.ray_runtime_env.x: a list holding null cannot be written as TOML; use "
                   "--format json or yaml [emit.toml_null]\npconf: 1 error\n")

    def test_json_output_is_strict_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        """NaN has no JSON spelling, so a nan in a free-form table is refused before any output is written."""
        code, out, err = call(capsys, "compile", write("c.toml", "[parallel.ray_runtime_env]\nx = nan\n"))
        assert (code, out, err) == (
            2, "", 'c.toml:1:11: parallel.ray_runtime_env: must hold JSON data: NaN and infinities are not allowed '
                   '(got "nan"); write a finite number [schema.type]\npconf: 1 error\n')

    def test_unwritable_output(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An --output path in a missing directory is a user error: exit 2, no traceback, the path named."""
        assert call(capsys, "compile", write("c.toml", TP2), "--output", "missing/out.json") == (
            2, "", "missing/out.json: <document>: cannot write the file: No such file or directory; check the "
                   "directory exists and is writable [output.write]\npconf: 1 error\n")


class TestValidate:
    def test_every_file_ok(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Each valid file is reported `PATH: ok`, in order, and the exit code is 0."""
        write("b.yaml", "parallel:\n  nnodes: 1\n")
        assert call(capsys, "validate", write("a.toml", TP2), "b.yaml") == (0, "a.toml: ok\nb.yaml: ok\n", "")

    def test_every_error_of_every_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Bad files are checked one by one and all their errors listed, with one total."""
        write("bad.toml", BAD)
        write("bad.yaml", "parallel:\n  data_parallel_size: 0\n")
        code, out, err = call(capsys, "validate", "bad.toml", write("ok.toml", TP2), "bad.yaml", "nope.toml")
        assert (code, out) == (2, "ok.toml: ok\n")
        assert err == (
            BAD_ERRORS
            + "bad.yaml:2:3: parallel.data_parallel_size: must be >= 1 (got 0); use 1 or more [schema.bound]\n"
            "nope.toml: <document>: no such file: nope.toml; check the path [load.file]\n"
            "pconf: 4 errors\n"
        )

    def test_files_are_checked_alone(self, capsys: pytest.CaptureFixture[str]) -> None:
        """validate does not merge the files: each stands on its own."""
        write("a.toml", "[parallel]\nenable_eplb = true\nenable_expert_parallel = true\ntensor_parallel_size = 2\n")
        write("b.toml", "[parallel]\nenable_eplb = false\n")
        code, out, err = call(capsys, "validate", "a.toml", "b.toml")
        assert (code, out, err) == (0, "a.toml: ok\nb.toml: ok\n", "")

    def test_set_applies_to_each_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--set is applied to every file, so a bad override fails each one."""
        write("a.toml", TP2)
        write("b.toml", "")
        code, out, err = call(capsys, "validate", "a.toml", "b.toml", "--set", "parallel.nnodes=0")
        line = "--set parallel.nnodes=0: parallel.nnodes: must be >= 1 (got 0); use 1 or more [schema.bound]\n"
        assert (code, out, err) == (2, "", line + line + "pconf: 2 errors\n")


class TestExplain:
    def test_text(self, capsys: pytest.CaptureFixture[str]) -> None:
        """explain prints the value, its source and every layer, aligned, last one winning."""
        write("base.toml", "[parallel]\ntensor_parallel_size = 4\n")
        write("dev.toml", 'extends = "base.toml"\nreset = "parallel.tensor_parallel_size"\n'
                          "[parallel]\ntensor_parallel_size = 2\n")
        code, out, err = call(capsys, "explain", "dev.toml", "parallel.tensor_parallel_size",
                              "--set", "~parallel.tensor_parallel_size", "--set", "parallel.tensor_parallel_size=1")
        assert (code, err) == (0, "")
        assert out == (
            "parallel.tensor_parallel_size = 1\n"
            "source: --set parallel.tensor_parallel_size=1\n"
            "layers (last wins):\n"
            "  base.toml:2:1                          4\n"
            "  dev.toml:2:1                           reset to default\n"
            "  dev.toml:4:1                           2\n"
            "  --reset parallel.tensor_parallel_size  reset to default\n"
            "  --set parallel.tensor_parallel_size=1  1\n"
        )

    def test_text_default(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A key nobody set prints its default without a layers list."""
        assert call(capsys, "explain", write("c.toml", TP2), "parallel.nnodes") == (
            0, "parallel.nnodes = 1\nsource: default\n", "")

    def test_text_derived(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A derived value prints the rule that chose it, JSON-quoted."""
        assert call(capsys, "explain", write("c.toml", TP2), "parallel.distributed_executor_backend") == (
            0, 'parallel.distributed_executor_backend = "mp"\n'
               "source: derived: more than one worker, no Ray placement group\n", "")

    def test_several_files(self, capsys: pytest.CaptureFixture[str]) -> None:
        """All arguments but the last are files, merged left to right."""
        write("b.yaml", "parallel:\n  tensor_parallel_size: 4\n")
        assert call(capsys, "explain", write("a.toml", TP2), "b.yaml", "parallel.tensor_parallel_size") == (
            0, "parallel.tensor_parallel_size = 4\nsource: b.yaml:2:3\nlayers (last wins):\n"
               "  a.toml:2:1  2\n  b.yaml:2:3  4\n", "")

    def test_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json prints key, value, source and the layers, resets as null values."""
        write("base.toml", "[parallel]\nenable_expert_parallel = true\n")
        write("dev.toml", 'extends = ["base.toml"]\nreset = ["parallel.enable_expert_parallel"]\n')
        code, out, err = call(capsys, "explain", "--json", "dev.toml", "parallel.enable_expert_parallel")
        assert (code, err) == (0, "")
        assert out == json.dumps({
            "key": "parallel.enable_expert_parallel",
            "value": False,
            "source": "default (reset at dev.toml:2:1)",
            "layers": [
                {"where": "base.toml:2:1", "value": True, "reset": False},
                {"where": "dev.toml:2:1", "value": None, "reset": True},
            ],
        }, indent=2) + "\n"

    def test_json_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json of a table gives its whole value and leaves table entries out of the layers."""
        code, out, _ = call(capsys, "explain", "--json", write("c.toml", "[cluster]\ndevices_per_node = 4\n"),
                            "cluster")
        assert code == 0
        assert json.loads(out) == {
            "key": "cluster",
            "value": {"device": "cuda", "devices_per_node": 4, "custom_all_reduce": True, "nixl_available": False,
                      "ray_installed": False, "ray_initialized": False, "ray_placement_group": False,
                      "topology": None, "network": {"node_addresses": None, "socket_ifname": None, "ib_hca": None}},
            "source": "c.toml:1:2",
            "layers": [],
        }

    def test_unknown_key(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown key exits 2 with a did-you-mean."""
        assert call(capsys, "explain", write("c.toml", TP2), "parallel.tensor_paralel_size") == (
            2, "", "<command line>: parallel.tensor_paralel_size: unknown key; did you mean "
                   "`parallel.tensor_parallel_size`? [explain.unknown_key]\npconf: 1 error\n")

    def test_key_without_files(self, capsys: pytest.CaptureFixture[str]) -> None:
        """explain with only one argument says what it needs and exits 2."""
        assert call(capsys, "explain", "parallel.nnodes") == (
            2, "", "pconf explain: give one or more files, then a dotted key\n")


class TestWarnings:
    def test_warning_prefix(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Warnings go to stderr with the `warning: ` prefix, without an error count, and the exit code stays 0."""
        code, out, err = call(capsys, "compile", write("c.toml", "[parallel]\nmax_parallel_loading_workers = 4\n"))
        assert (code, json.loads(out)["parallel"]["max_parallel_loading_workers"]) == (0, 4)
        assert err == ("warning: c.toml:2:1: parallel.max_parallel_loading_workers: vLLM ignores it (got 4); "
                       "remove it [loading_workers.ignored]\n")

    def test_warning_in_validate(self, capsys: pytest.CaptureFixture[str]) -> None:
        """validate prints a file's warnings and still reports it ok."""
        assert call(capsys, "validate", write("c.toml", "[parallel]\nmax_parallel_loading_workers = 4\n")) == (
            0, "c.toml: ok\n", "warning: c.toml:2:1: parallel.max_parallel_loading_workers: vLLM ignores it "
                               "(got 4); remove it [loading_workers.ignored]\n")

    def test_deprecated_all2all(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The pplx warning points at the line that wrote pplx."""
        code, _, err = call(capsys, "compile", write("c.toml", '[parallel]\nall2all_backend = "pplx"\n'))
        assert (code, err) == (0, 'warning: c.toml:2:1: parallel.all2all_backend: deprecated (got "pplx"); '
                                  'write "allgather_reducescatter" [all2all.deprecated]\n')

    def test_deprecated_all2all_is_a_warning(self) -> None:
        """pplx is accepted with a warning line on stderr and exit 0 (subprocess)."""
        write("c.toml", '[parallel]\nall2all_backend = "pplx"\n')
        result = run("compile", "c.toml")
        assert result.returncode == 0
        assert json.loads(result.stdout)["parallel"]["all2all_backend"] == "allgather_reducescatter"
        assert result.stderr == ('warning: c.toml:2:1: parallel.all2all_backend: deprecated (got "pplx"); '
                                 'write "allgather_reducescatter" [all2all.deprecated]\n')


class TestErrorsAndExitCodes:
    def test_subprocess_config_error_has_no_traceback(self) -> None:
        """A config error in the real process exits 2 with the issues and no traceback."""
        write("bad.toml", BAD)
        result = run("compile", "bad.toml")
        assert (result.returncode, result.stdout, result.stderr) == (2, "", BAD_ERRORS + "pconf: 2 errors\n")
        assert "Traceback" not in result.stderr

    def test_subprocess_success(self) -> None:
        """A good file exits 0 with the document on stdout and nothing on stderr."""
        write("c.toml", TP2)
        result = run("compile", "c.toml")
        assert (result.returncode, result.stderr) == (0, "")
        assert json.loads(result.stdout)["parallel"]["world_size"] == 2

    def test_traceback_env(self) -> None:
        """PCONF_TRACEBACK=1 prints the config error's traceback, then its issues; the exit code stays 2."""
        write("bad.toml", BAD)
        result = run("compile", "bad.toml", env={"PCONF_TRACEBACK": "1"})
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.startswith("Traceback (most recent call last):\n")
        assert result.stderr.endswith("pconf.SchemaError: " + BAD_ERRORS + BAD_ERRORS + "pconf: 2 errors\n")

    def test_traceback_env_other_value(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
        """Only the value 1 re-raises."""
        monkeypatch.setenv("PCONF_TRACEBACK", "0")
        assert call(capsys, "compile", write("bad.toml", BAD)) == (2, "", BAD_ERRORS + "pconf: 2 errors\n")

    def test_internal_error(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """An unexpected exception exits 70 with one line: a bug, how to report it (tests/test_cli_ux.py has more)."""
        def broken(*_args: object, **_kwargs: object) -> NoReturn:
            raise RuntimeError("boom")

        monkeypatch.setattr(pconf.compile, "compile_files", broken)
        code, out, err = call(capsys, "compile", write("c.toml", TP2))
        assert (code, out) == (70, "")
        assert err.startswith("pconf: internal error (RuntimeError: boom): a bug in pconf")

    def test_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A missing command is a usage error, exit 2."""
        with pytest.raises(SystemExit) as info:
            main([])
        _, err = capsys.readouterr()
        assert info.value.code == 2
        assert err == ("usage: pconf [-h] [--version] COMMAND ...\npconf: error: the following arguments are required: "
                       "COMMAND\n")

    def test_bad_format(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown --format is a usage error, exit 2."""
        with pytest.raises(SystemExit) as info:
            main(["compile", write("c.toml", TP2), "--format", "xml"])
        assert info.value.code == 2
        assert capsys.readouterr().err.endswith(
            "pconf compile: error: argument --format: invalid choice: 'xml' (choose from 'json', 'toml', 'yaml')\n")


class TestVllmEnv:
    def test_reads_the_process_environment(self) -> None:
        """--vllm-env reads VLLM_DP_SIZE from the process environment."""
        write("c.toml", TP2)
        doc = json.loads(run("compile", "c.toml", "--vllm-env", env={"VLLM_DP_SIZE": "2"}).stdout)
        assert (doc["parallel"]["data_parallel_size"], doc["derived"]["world_size_across_dp"]) == (2, 4)
        assert doc["sources"]["parallel.data_parallel_size"] == "env:VLLM_DP_SIZE"

    def test_declarative_without_the_flag(self) -> None:
        """Without --vllm-env the environment is ignored."""
        write("c.toml", TP2)
        doc = json.loads(run("compile", "c.toml", env={"VLLM_DP_SIZE": "2"}).stdout)
        assert (doc["parallel"]["data_parallel_size"], doc["sources"]["parallel.data_parallel_size"]) == (
            1, "default")

    def test_bad_variable(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """A variable that is not an integer is a config error naming it."""
        monkeypatch.setenv("VLLM_DP_RANK", "one")
        assert call(capsys, "compile", write("c.toml", TP2), "--vllm-env") == (
            2, "", 'env:VLLM_DP_RANK: env.VLLM_DP_RANK: not an integer (got "one"); vLLM reads it with int(): set a '
                   "whole number, or unset it [env.not_an_integer]\npconf: 1 error\n")

    def test_explain_env_source(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """explain --vllm-env shows the variable as the source."""
        monkeypatch.setenv("VLLM_DP_SIZE", "2")
        assert call(capsys, "explain", write("c.toml", TP2), "parallel.data_parallel_size", "--vllm-env") == (
            0, "parallel.data_parallel_size = 2\nsource: env:VLLM_DP_SIZE\n", "")


class TestModuleAndImports:
    def test_python_m_pconf_help(self) -> None:
        """`python -m pconf --help` prints the usage and exits 0."""
        result = run("--help")
        assert result.returncode == 0
        assert result.stdout.startswith("usage: pconf [-h] [--version] COMMAND ...\n")
        for command in ("compile", "validate", "explain"):
            assert command in result.stdout

    def test_python_m_pconf_without_command(self) -> None:
        """`python -m pconf` alone is a usage error, exit 2."""
        result = run()
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.endswith("pconf: error: the following arguments are required: COMMAND\n")

    def test_no_heavy_imports(self) -> None:
        """Importing pconf.cli, and compiling with it, loads neither torch, numpy nor ray."""
        write("c.toml", TP2)
        code = (
            "import sys, pconf.cli\n"
            "heavy = lambda: sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'ray'))\n"
            "print(heavy())\n"
            "pconf.cli.main(['compile', 'c.toml', '--output', 'out.json'])\n"
            "print(heavy())\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
        assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n[]\n", "")
