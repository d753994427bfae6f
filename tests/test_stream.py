"""Plans written as they are made (``pconf.emit.stream``, ``pconf.emit.table.plan_table_chunks``): byte for byte the
text of json.dumps / PyYAML / tomli_w on ``Plan.to_dict`` (and of the table as it was built whole), on the examples
and on many generated plans, in pieces of bounded size."""

from __future__ import annotations

import glob
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pconf
from pconf.emit import plan_chunks, plan_text
from pconf.emit.document import render
from pconf.emit.model import model_lines
from pconf.emit.stream import plan_document
from pconf.emit.table import aligned, plan_table, rank_table
from pconf.errors import shorten
from pconf.netaddr import host_port
from pconf.plan import GROUP_KINDS, Plan, rank_span

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(glob.glob(str(ROOT / "examples" / "**" / "*.toml"), recursive=True))
FORMATS = ("json", "yaml", "toml")
TOPOLOGY = {"gpus": [0, 0, 0, 0, 1, 1, 1, 1],
            "nodes": [{"id": 0, "cpus": "0-31,64-95", "memory_mb": 1024, "distances": [10, 21]},
                      {"id": 1, "cpus": "32-63,96-127", "memory_mb": 1024, "distances": [21, 10]}]}


def reference_table(plan: Plan, node: int | None = None) -> str:
    """The plan table as it was built before it was streamed: every row in memory, ``aligned`` over them all."""
    ranks = plan.ranks if node is None else [plan.rank(r) for r in plan.node_ranks(node)]
    sizes = f"DP={plan.dp} PP={plan.pp} PCP={plan.pcp} TP={plan.tp} DCP={plan.dcp}"
    where = f"{plan.nnodes} node{'s' if plan.nnodes > 1 else ''} ({plan.per_node} per node)"
    lines = [f"{plan.world_size} ranks on {where}; {sizes}; {plan.graph_hash}"]
    columns = ("rank", "node", "local", "dp", "pp", "pcp", "tp", "dcp", "ep")
    lines += aligned(columns, [[str(v) if v is not None else "-" for v in row] for row in ranks], right=True)
    lines.append("groups:")
    for kind in GROUP_KINDS:
        groups = plan.groups(kind)
        if not groups:
            lines.append(f"  {kind:<4} none (the model is dense: no expert-parallel group)")
            continue
        shown = " ".join(f"[{rank_span(g)}]" for g in groups[:4]) + (" ..." if len(groups) > 4 else "")
        lines.append(f"  {kind:<4} {len(groups)} of {len(groups[0])}: {shown}")
    for block in model_lines(plan):
        lines += [block] if isinstance(block, str) else aligned(*block, indent="  ")
    ports = plan.ports
    world = host_port(ports.world_addr, ports.world_port) if ports.world_port is not None else "picked at run time"
    text = f"ports: world rendezvous {world}"
    if plan.dp > 1:
        group = (host_port(ports.dp_master_ip, ports.dp_init_ports[0]) if ports.dp_init_ports
                 else f"{ports.dp_master_ip}, port picked at run time")
        text += f"; DP group {group}; DP RPC {ports.dp_rpc_port}"
    if ports.api_ports:
        text += f"; API server {rank_span(ports.api_ports)}"
    lines.append(text)
    numa = plan.numa
    if numa.mode == "runtime":
        lines.append(f"numa: left to vLLM's auto-detection at run time ({numa.reason})")
    elif numa.mode != "off":
        lines.append(f"numa: planned from {numa.reason}")
        rows, engines, seen = [], [], set()
        for r in (row.rank for row in ranks):
            b = plan.binding(r)
            if b is None:
                continue
            cpus = b.cpus if b.cpus is not None else b.as_dict()["allowed_cpus"]
            rows.append([str(r), str(b.gpu_index), ",".join(map(str, b.nodes)), shorten(cpus or "?", 40),
                         b.numactl_command])
            dp = plan.rank(r).dp
            if dp not in seen:
                seen.add(dp)
                engine = plan.binding(r, "EngineCore")
                if engine is not None:
                    engines.append(f"  EngineCore of DP rank {dp}: {engine.numactl_command}")
        lines += aligned(("rank", "gpu", "numa", "cpus", "numactl"), rows, indent="  ")
        lines += engines
    return "\n".join(lines) + "\n"


def check(plan: Plan, node: int | None = None) -> None:
    """Every streamed format equals its library's (and the whole table's) text."""
    doc = plan.to_dict(node)
    for fmt in FORMATS:
        want = render(doc, fmt)
        got = "".join(plan_chunks(plan, fmt, node=node))
        assert got == want, (fmt, node, _first_difference(want, got))
    assert "".join(plan_chunks(plan, "table", node=node)) == reference_table(plan, node)


def _first_difference(want: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), min(len(want), len(got)))
    return f"at {at}: want {want[max(0, at - 80):at + 80]!r}, got {got[max(0, at - 80):at + 80]!r}"


def plans(plan: Plan) -> Iterator[int | None]:
    """The slices a test writes: the whole plan, the first node and the last."""
    yield None
    if plan.nnodes > 1:
        yield 0
        yield plan.nnodes - 1


@pytest.mark.parametrize("example", EXAMPLES, ids=[str(Path(e).relative_to(ROOT)) for e in EXAMPLES])
def test_examples(example: str) -> None:
    deploy = Path(example).parent.name == "deploy"  # files for a cluster manager, which supplies the head's address
    plan = pconf.plan_files([example], target="lws" if deploy else None)
    for node in plans(plan):
        check(plan, node)


def compiled_plan(parallel: dict[str, Any], cluster: dict[str, Any] | None = None,
                  model: dict[str, Any] | None = None) -> Plan:
    addresses = {"master_addr": "10.0.0.1", "data_parallel_master_ip": "10.0.0.1"}  # node 0's, several nodes reach
    doc: dict[str, Any] = {"parallel": {**addresses, **parallel}, "cluster": {"devices_per_node": 8, **(cluster or {})}}
    if model is not None:
        doc["model"] = model
    return pconf.compile_dict(doc).plan()


LAYOUTS = [
    pytest.param({"tensor_parallel_size": 1}, id="one-rank"),
    pytest.param({"tensor_parallel_size": 2, "is_moe_model": False}, id="dense-no-ep"),
    pytest.param({"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "data_parallel_size": 2,
                  "enable_expert_parallel": True, "nnodes": 2, "data_parallel_size_local": 1,
                  "master_addr": "10.0.0.1", "data_parallel_master_ip": "10.0.0.1"}, id="two-nodes"),
    pytest.param({"tensor_parallel_size": 4, "prefill_context_parallel_size": 2, "decode_context_parallel_size": 2},
                 id="pcp-dcp"),
    pytest.param({"tensor_parallel_size": 8, "data_parallel_size": 64, "enable_expert_parallel": True,
                  "nnodes": 64, "data_parallel_size_local": 1}, id="512-wide-ep"),
    pytest.param({"tensor_parallel_size": 2, "data_parallel_size": 2, "data_parallel_master_port": 0},
                 id="ports-at-run-time"),
    pytest.param({"tensor_parallel_size": 2, "master_addr": "null", "data_parallel_master_ip": "yes"},
                 id="strings-yaml-quotes"),
    pytest.param({"tensor_parallel_size": 2, "master_addr": "ünïcode-host", "data_parallel_size": 2},
                 id="unicode"),
    pytest.param({"tensor_parallel_size": 2, "distributed_executor_backend": "external_launcher",
                  "data_parallel_size": 2, "nnodes": 2}, id="external-launcher"),
]


@pytest.mark.parametrize("parallel", LAYOUTS)
def test_layouts(parallel: dict[str, Any]) -> None:
    plan = compiled_plan(parallel)
    for node in plans(plan):
        check(plan, node)


@pytest.mark.parametrize(("parallel", "cluster"), [
    ({"tensor_parallel_size": 8, "numa_bind": True}, {"topology": TOPOLOGY}),
    ({"tensor_parallel_size": 4, "data_parallel_size": 2, "numa_bind": True}, {"topology": TOPOLOGY}),
    ({"tensor_parallel_size": 2, "data_parallel_size": 4, "numa_bind": True,
      "numa_bind_nodes": [0, 0, 0, 0, 1, 1, 1, 1],
      "numa_bind_cpus": ["0-3", "4-7", "8-11", "12-15", "32-35", "36-39", "40-43", "44-47"]}, {}),
    ({"tensor_parallel_size": 8, "numa_bind": True}, {}),  # left to vLLM at run time
    ({"tensor_parallel_size": 2, "data_parallel_size": 8, "nnodes": 2, "data_parallel_size_local": 4,
      "numa_bind": True, "master_addr": "10.0.0.1", "data_parallel_master_ip": "10.0.0.1"}, {"topology": TOPOLOGY}),
], ids=["topology", "topology-dp", "nodes-and-cpus", "runtime", "two-nodes"])
def test_numa(parallel: dict[str, Any], cluster: dict[str, Any]) -> None:
    """The NUMA section: a worker per rank and an EngineCore per DP rank, strings spelt by each library."""
    plan = compiled_plan(parallel, cluster)
    for node in plans(plan):
        check(plan, node)


@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 3]), dp=st.sampled_from([1, 2, 3, 4]),
       dcp=st.sampled_from([1, 2]), moe=st.sampled_from([None, False, True]), nodes=st.sampled_from([1, 2]),
       numa=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_plans(tp: int, pp: int, dp: int, dcp: int, moe: bool | None, nodes: int, numa: bool) -> None:
    """Plans of many shapes (the ones that compile), every slice of each, every format."""
    if dcp > tp or dp % nodes:
        return
    parallel: dict[str, Any] = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp, "data_parallel_size": dp,
                                "decode_context_parallel_size": dcp, "nnodes": nodes,
                                "data_parallel_size_local": dp // nodes, "numa_bind": numa}
    if moe is not None:
        parallel["is_moe_model"] = moe
    if nodes > 1:
        parallel |= {"master_addr": "10.0.0.1", "data_parallel_master_ip": "10.0.0.1"}
    try:
        plan = compiled_plan(parallel, {"devices_per_node": 64, "topology": TOPOLOGY} if numa else
                             {"devices_per_node": 64})
    except pconf.ConfigError:
        return
    for node in plans(plan):
        check(plan, node)


def test_models() -> None:
    """Plans with a model: layers per stage and experts per EP rank (with and without EPLB)."""
    config = str(ROOT / "examples" / "models" / "deepseek-v3" / "config.json")
    for parallel in ({"data_parallel_size": 8, "enable_expert_parallel": True},
                     {"data_parallel_size": 8, "enable_expert_parallel": True, "enable_eplb": True,
                      "eplb_config": {"num_redundant_experts": 32}},
                     {"tensor_parallel_size": 4, "pipeline_parallel_size": 2}):
        check(compiled_plan(parallel, model={"config": config}))


class TestLayoutsOfTheLibraries:
    """The TOML rows go inline while every row fits in 100 characters and as [[ranks]] tables beyond; both, and an
    empty EP group list, come out as tomli_w writes them."""

    def test_rows_inline_and_as_tables(self) -> None:
        small = compiled_plan({"tensor_parallel_size": 8})
        wide = compiled_plan({"tensor_parallel_size": 8, "data_parallel_size": 512, "enable_expert_parallel": True,
                              "nnodes": 512, "data_parallel_size_local": 1})
        assert "\nranks = [\n    { rank = 0," in "".join(plan_chunks(small, "toml"))
        assert "\n[[ranks]]\nrank = 0\n" in "".join(plan_chunks(wide, "toml"))
        check(small)
        check(wide, 511)

    def test_wide_plan(self) -> None:
        """4,096 ranks, whole and one node (TOML's rows as tables, 4,096 groups of one rank per kind)."""
        plan = compiled_plan({"tensor_parallel_size": 8, "data_parallel_size": 512, "enable_expert_parallel": True,
                              "nnodes": 64, "data_parallel_size_local": 8}, {"devices_per_node": 64})
        check(plan)
        check(plan, 63)


def test_pieces_are_bounded() -> None:
    """A big plan comes in many pieces, none of them more than a block of rows or groups: nothing is written
    whole (the groups of a kind are made one at a time, see Plan.iter_groups)."""
    plan = compiled_plan({"tensor_parallel_size": 8, "data_parallel_size": 1024, "enable_expert_parallel": True,
                          "nnodes": 128, "data_parallel_size_local": 8}, {"devices_per_node": 64})
    for fmt in (*FORMATS, "table"):
        sizes = [len(piece) for piece in plan_chunks(plan, fmt)]
        assert len(sizes) > 30, fmt
        assert max(sizes) < 300_000, (fmt, max(sizes))  # a block of 256 rows; the EP group (8,192 ranks) in JSON


def test_document_keys_match_to_dict() -> None:
    plan = compiled_plan({"tensor_parallel_size": 8, "numa_bind": True}, {"topology": TOPOLOGY})
    assert [k for k, _ in plan_document(plan)] == list(plan.to_dict())


def test_one_rank_and_other_formats_in_one_piece() -> None:
    plan = compiled_plan({"tensor_parallel_size": 2})
    for fmt in (*FORMATS, "table", "env"):
        pieces = list(plan_chunks(plan, fmt, rank=1))
        assert len(pieces) == 1
        assert pieces[0] == plan_text(plan, fmt, rank=1)
    assert list(plan_chunks(plan, "table", rank=1)) == [rank_table(plan, 1)]
    assert "".join(plan_chunks(plan, "vllm")) == plan_text(plan, "vllm")
    assert plan_table(plan) == reference_table(plan)


def test_cli_writes_the_same(tmp_path: Path) -> None:
    """`pconf plan` streams to stdout and to -o alike (the golden tests pin the examples' text)."""
    config = tmp_path / "c.toml"
    config.write_text("[parallel]\ntensor_parallel_size = 8\ndata_parallel_size = 64\nenable_expert_parallel = true\n"
                      "nnodes = 8\ndata_parallel_size_local = 8\nmaster_addr = \"10.0.0.1\"\n"
                      "[cluster]\ndevices_per_node = 64\n")
    plan = pconf.plan_files([str(config)])
    for fmt in ("yaml", "toml", "table"):
        out = subprocess.run([sys.executable, "-m", "pconf", "plan", str(config), "--format", fmt],
                             capture_output=True, text=True, check=True).stdout
        assert out == plan_text(plan, fmt)
        target = tmp_path / f"plan.{fmt}"
        subprocess.run([sys.executable, "-m", "pconf", "plan", str(config), "--format", fmt, "-o", str(target)],
                       check=True)
        assert target.read_text(encoding="utf-8") == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "plan.table", "plan.toml", "plan.yaml"]


def test_groups_one_at_a_time() -> None:
    plan = compiled_plan({"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "data_parallel_size": 2,
                          "decode_context_parallel_size": 2})
    for kind in (*GROUP_KINDS, "world"):
        assert list(plan.iter_groups(kind)) == plan.groups(kind)
        assert plan.group_count(kind) == len(plan.groups(kind))
    dense = compiled_plan({"tensor_parallel_size": 2, "is_moe_model": False})
    assert (list(dense.iter_groups("ep")), dense.group_count("ep")) == ([], 0)
    with pytest.raises(KeyError):
        dense.group_count("xp")
    assert list(itertools.islice(plan.iter_groups("dcp"), 2)) == plan.groups("dcp")[:2]
