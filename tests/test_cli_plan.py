"""``pconf plan``: every format, --rank/--node slices, usage errors and -o, in-process (``main``) and once in a
subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import pconf
from pconf.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "examples/cluster.toml"
TWO_NODE = "examples/dp-ep-2node.toml"
TP8 = "examples/tp8.toml"


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("PCONF_TRACEBACK", raising=False)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main(["plan", ARGS])`` in-process; the exit code, stdout and stderr."""
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def hash_of(path: str) -> str:
    return str(pconf.compile_files([path]).graph_hash)


def drop_nulls(value: Any) -> Any:
    """What TOML output keeps of a value (TOML has no null)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


CLUSTER_ROWS = (
    "rank  node  local  dp  pp  pcp  tp  dcp  ep\n"
    "   0     0      0   0   0    0   0    0   0\n"
    "   1     0      1   0   0    0   1    0   1\n"
    "   2     0      2   0   0    0   2    0   2\n"
    "   3     0      3   0   0    0   3    0   3\n"
    "   4     0      4   1   0    0   0    0   4\n"
    "   5     0      5   1   0    0   1    0   5\n"
    "   6     0      6   1   0    0   2    0   6\n"
    "   7     0      7   1   0    0   3    0   7\n"
)
CLUSTER_GROUPS = (
    "groups:\n"
    "  tp   2 of 4: [0-3] [4-7]\n"
    "  pp   8 of 1: [0] [1] [2] [3] ...\n"
    "  dp   4 of 2: [0,4] [1,5] [2,6] [3,7]\n"
    "  ep   1 of 8: [0-7]\n"
    "  dcp  8 of 1: [0] [1] [2] [3] ...\n"
    "  pcp  8 of 1: [0] [1] [2] [3] ...\n"
)


class TestTable:
    def test_cluster_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The default table for examples/cluster.toml: header, one aligned row per rank, groups, ports."""
        code, out, err = call(capsys, CLUSTER)
        assert (code, err) == (0, "")
        assert out == (
            f"8 ranks on 1 node (8 per node); DP=2 PP=1 PCP=1 TP=4 DCP=1; {hash_of(CLUSTER)}\n"
            + CLUSTER_ROWS + CLUSTER_GROUPS
            + "ports: world rendezvous 127.0.0.1:29501; DP group 127.0.0.1:29500; DP RPC 29550; API server 8000\n")

    def test_dense_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A dense model shows '-' for the EP coordinate and says it has no EP group; no DP ports without DP."""
        code, out, _ = call(capsys, TP8)
        assert code == 0
        assert out == (
            f"8 ranks on 1 node (8 per node); DP=1 PP=1 PCP=1 TP=8 DCP=1; {hash_of(TP8)}\n"
            "rank  node  local  dp  pp  pcp  tp  dcp  ep\n"
            + "".join(f"   {r}     0      {r}   0   0    0   {r}    0   -\n" for r in range(8))
            + "groups:\n"
            "  tp   1 of 8: [0-7]\n"
            "  pp   8 of 1: [0] [1] [2] [3] ...\n"
            "  dp   8 of 1: [0] [1] [2] [3] ...\n"
            "  ep   none (the model is dense: no expert-parallel group)\n"
            "  dcp  8 of 1: [0] [1] [2] [3] ...\n"
            "  pcp  8 of 1: [0] [1] [2] [3] ...\n"
            "ports: world rendezvous 127.0.0.1:29501; API server 8000\n")

    def test_node(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--node 1 of the 2-node example lists only node 1's rows, under the whole plan's header and groups."""
        code, out, err = call(capsys, TWO_NODE, "--node", "1")
        assert (code, err) == (0, "")
        assert out == (
            f"16 ranks on 2 nodes (8 per node); DP=16 PP=1 PCP=1 TP=1 DCP=1; {hash_of(TWO_NODE)}\n"
            "rank  node  local  dp  pp  pcp  tp  dcp  ep\n"
            + "".join(f"{r:>4}     1      {r - 8}  {r:>2}   0    0   0    0  {r:>2}\n" for r in range(8, 16))
            + "groups:\n"
            "  tp   16 of 1: [0] [1] [2] [3] ...\n"
            "  pp   16 of 1: [0] [1] [2] [3] ...\n"
            "  dp   1 of 16: [0-15]\n"
            "  ep   1 of 16: [0-15]\n"
            "  dcp  16 of 1: [0] [1] [2] [3] ...\n"
            "  pcp  16 of 1: [0] [1] [2] [3] ...\n"
            "ports: world rendezvous 10.0.0.1:29501; DP group 10.0.0.1:29500; DP RPC 29550; API server 8000\n")

    def test_rank(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--rank 5 prints the rank's coordinates and the members of each of its groups."""
        code, out, err = call(capsys, CLUSTER, "--rank", "5")
        assert (code, err) == (0, "")
        assert out == (
            "rank 5 of 8: node=0 local_rank=5 dp=1 pp=0 pcp=0 tp=1 dcp=0 ep=5\n"
            "  tp   [4, 5, 6, 7]\n"
            "  pp   [5]\n"
            "  dp   [1, 5]\n"
            "  ep   [0, 1, 2, 3, 4, 5, 6, 7]\n"
            "  dcp  [5]\n"
            "  pcp  [5]\n")

    def test_ports_picked_at_run_time(self, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """In vLLM-environment mode the ports line says the DP port is picked at run time without an ADDR:text
        pair."""
        for name in [k for k in os.environ if k.startswith("VLLM_") or k == "RANK"]:
            monkeypatch.delenv(name)
        code, out, _ = call(capsys, CLUSTER, "--vllm-env")
        assert code == 0
        assert out.splitlines()[-1] == ("ports: world rendezvous picked at run time; DP group 127.0.0.1, port "
                                        "picked at run time; DP RPC 29550; API server 8000")


class TestJson:
    def test_whole_plan(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format json prints Plan.to_dict() with a 2-space indent."""
        code, out, err = call(capsys, CLUSTER, "--format", "json")
        assert (code, err) == (0, "")
        doc = pconf.plan_files([CLUSTER]).to_dict()
        assert json.loads(out) == doc
        assert out == json.dumps(doc, indent=2) + "\n"

    def test_node(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format json --node 1 is to_dict(node=1): node 1's rows only."""
        code, out, _ = call(capsys, TWO_NODE, "--format", "json", "--node", "1")
        assert code == 0
        doc = json.loads(out)
        assert doc == pconf.plan_files([TWO_NODE]).to_dict(node=1)
        assert [row["rank"] for row in doc["ranks"]] == list(range(8, 16))

    def test_rank(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format json --rank 5: the row, the members of each of its groups, and its environment."""
        code, out, _ = call(capsys, CLUSTER, "--format", "json", "--rank", "5")
        assert code == 0
        gh = hash_of(CLUSTER)
        assert json.loads(out) == {
            "world_size": 8,
            "graph_hash": gh,
            "rank": {"rank": 5, "node": 0, "local_rank": 5, "dp": 1, "pp": 0, "pcp": 0, "tp": 1, "dcp": 0, "ep": 5},
            "groups": {"tp": [4, 5, 6, 7], "pp": [5], "dp": [1, 5], "ep": [0, 1, 2, 3, 4, 5, 6, 7], "dcp": [5],
                       "pcp": [5]},
            "env": {"RANK": "5", "LOCAL_RANK": "5", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "8", "NODE_RANK": "0",
                    "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29501", "VLLM_DP_RANK": "1",
                    "VLLM_DP_RANK_LOCAL": "1", "VLLM_DP_SIZE": "2", "VLLM_DP_MASTER_IP": "127.0.0.1",
                    "VLLM_DP_MASTER_PORT": "29500", "PCONF_GRAPH_HASH": gh},
        }


class TestTomlYaml:
    @pytest.mark.parametrize("path", [CLUSTER, TP8, TWO_NODE])
    def test_toml_loads_back(self, capsys: pytest.CaptureFixture[str], path: str) -> None:
        """--format toml loads back to to_dict() less its nulls (a dense model's ep)."""
        code, out, _ = call(capsys, path, "--format", "toml")
        assert code == 0
        assert tomllib.loads(out) == drop_nulls(pconf.plan_files([path]).to_dict())

    @pytest.mark.parametrize("path", [CLUSTER, TP8, TWO_NODE])
    def test_yaml_loads_back(self, capsys: pytest.CaptureFixture[str], path: str) -> None:
        """--format yaml loads back to exactly to_dict(), nulls included."""
        code, out, _ = call(capsys, path, "--format", "yaml")
        assert code == 0
        assert yaml.safe_load(out) == pconf.plan_files([path]).to_dict()

    def test_rank_slices(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--rank works with toml and yaml too, giving the same slice as json."""
        _, as_json, _ = call(capsys, CLUSTER, "--format", "json", "--rank", "2")
        _, as_toml, _ = call(capsys, CLUSTER, "--format", "toml", "--rank", "2")
        _, as_yaml, _ = call(capsys, CLUSTER, "--format", "yaml", "--rank", "2")
        expected = json.loads(as_json)
        assert expected["rank"]["rank"] == 2
        assert tomllib.loads(as_toml) == expected
        assert yaml.safe_load(as_yaml) == expected


TWO_NODE_ENV_13 = (
    "RANK=13\nLOCAL_RANK=5\nWORLD_SIZE=16\nLOCAL_WORLD_SIZE=8\nNODE_RANK=1\nMASTER_ADDR=10.0.0.1\n"
    "MASTER_PORT=29501\nVLLM_DP_RANK=13\nVLLM_DP_RANK_LOCAL=5\nVLLM_DP_SIZE=16\nVLLM_DP_MASTER_IP=10.0.0.1\n"
    "VLLM_DP_MASTER_PORT=29500\nPCONF_GRAPH_HASH={gh}\n"
)


class TestEnv:
    def test_rank_13_of_16(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format env --rank 13 of the 16-rank example prints its NAME=value lines exactly."""
        code, out, err = call(capsys, TWO_NODE, "--format", "env", "--rank", "13")
        assert (code, err) == (0, "")
        assert out == TWO_NODE_ENV_13.format(gh=hash_of(TWO_NODE))

    def test_needs_rank(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format env without --rank exits 2 with a usage message and prints nothing."""
        assert call(capsys, CLUSTER, "--format", "env") == (2, "", "pconf plan: --format env needs --rank R\n")


class TestRangeErrors:
    @pytest.mark.parametrize(("args", "message"), [
        (("--rank", "8"), "--rank 8 is outside 0..7"),
        (("--rank", "-1"), "--rank -1 is outside 0..7"),
        (("--node", "1"), "--node 1 is outside 0..0"),
        (("--format", "env", "--rank", "99"), "--rank 99 is outside 0..7"),
        (("--format", "vllm", "--node", "3"), "--node 3 is outside 0..0"),
    ])
    def test_out_of_range(self, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
        """A rank or node outside the plan exits 2 with the range, and nothing on stdout."""
        assert call(capsys, CLUSTER, *args) == (2, "", f"pconf plan: {message}\n")

    def test_config_error(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """A deployment error exits 2 listing the issue and the count, no traceback."""
        path = tmp_path / "d.toml"
        path.write_text("[parallel]\ndata_parallel_size = 2\ndata_parallel_master_port = 65535\n", encoding="utf-8")
        code, out, err = call(capsys, str(path))
        assert (code, out) == (2, "")
        assert err == (f"{path}:3:1: parallel.data_parallel_master_port: port 65536 "
                       "(parallel.data_parallel_master_port + 1, which the run takes too) is outside 1..65535 (got "
                       "65535); choose a lower port (the ports after it are taken too) [plan.port_range]\n"
                       "pconf: 1 error\n")


EPLB_2NODE = '{"num_redundant_experts":32,"log_balancedness":true,"log_balancedness_interval":100}'
SERVE_2NODE = ("vllm serve MODEL --data-parallel-size 16 --enable-expert-parallel --all2all-backend "
               f"deepep_low_latency --enable-eplb --eplb-config '{EPLB_2NODE}' --nnodes 2 --node-rank NODE "
               "--master-addr 10.0.0.1 --master-port 29501 --data-parallel-size-local 8 "
               "--data-parallel-address 10.0.0.1 --data-parallel-rpc-port 29550")


def serve_2node(model: str, node: int = 0) -> str:
    """examples/dp-ep-2node.toml's command head on ``node``, for ``model``."""
    return SERVE_2NODE.replace("MODEL", model, 1).replace("NODE", str(node), 1)


class TestVllm:
    def test_single_node(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--format vllm on one node prints one command, no node header."""
        assert call(capsys, CLUSTER, "--format", "vllm") == (0, (
            "vllm serve $MODEL --tensor-parallel-size 4 --data-parallel-size 2 --enable-expert-parallel "
            "--enable-eplb --eplb-config '{\"num_redundant_experts\":16}'\n"), "")

    def test_every_node(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --node every node's command follows a '# node N' line."""
        model = "$MODEL"  # left for the shell to expand
        assert call(capsys, TWO_NODE, "--format", "vllm") == (0, (
            f"# node 0\n{serve_2node(model)}\n"
            f"# node 1\n{serve_2node(model, 1)} --data-parallel-start-rank 8 --headless\n"), "")

    def test_one_node(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--node 1 prints only node 1's command, under its header."""
        model = "$MODEL"
        assert call(capsys, TWO_NODE, "--format", "vllm", "--node", "1") == (0, (
            f"# node 1\n{serve_2node(model, 1)} --data-parallel-start-rank 8 --headless\n"), "")

    def test_model(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--model replaces $MODEL, shell-quoted where it needs it."""
        model = "deepseek-ai/DeepSeek-V3"
        code, out, _ = call(capsys, TWO_NODE, "--format", "vllm", "--node", "0", "--model", model)
        assert (code, out) == (0, f"# node 0\n{serve_2node(model)}\n")
        code, out, _ = call(capsys, TP8, "--format", "vllm", "--model", "my model")
        assert (code, out) == (0, "vllm serve 'my model' --tensor-parallel-size 8\n")


class TestOutputFile:
    def test_writes_file(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """-o writes what stdout would have shown to the file and prints nothing."""
        target = tmp_path / "rank13.env"
        assert call(capsys, TWO_NODE, "--format", "env", "--rank", "13", "-o", str(target)) == (0, "", "")
        assert target.read_text(encoding="utf-8") == TWO_NODE_ENV_13.format(gh=hash_of(TWO_NODE))

    def test_unwritable(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """-o into a missing directory exits 2 naming the path."""
        target = tmp_path / "missing" / "plan.json"
        code, out, err = call(capsys, CLUSTER, "--format", "json", "-o", str(target))
        assert (code, out) == (2, "")
        assert err == (f"{target}: <document>: cannot write the file: No such file or directory; check the "
                       "directory exists and is writable [output.write]\npconf: 1 error\n")


class TestSubprocess:
    def test_python_m_pconf(self) -> None:
        """`python -m pconf plan ... --format env --rank 13` in a fresh process prints the same lines."""
        env = {k: v for k, v in os.environ.items() if k != "PCONF_TRACEBACK" and not k.startswith("VLLM_")}
        done = subprocess.run([sys.executable, "-m", "pconf", "plan", TWO_NODE, "--format", "env", "--rank", "13"],
                              capture_output=True, text=True, timeout=60, env=env, check=False, cwd=ROOT)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == TWO_NODE_ENV_13.format(gh=hash_of(TWO_NODE))
