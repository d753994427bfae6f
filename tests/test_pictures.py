"""``pconf plan --format svg|html|mermaid|grid``: every picture checked against the plan it draws.

The SVG is parsed with ``xml.etree``: every rank's element carries the plan's row, its cell sits in its node's
frame in local-rank order, and every drawn group kind has one outline per group, in the plan's order, whose
rectangles hold exactly the cells of that group's members. The same checks run over the examples, a set of
held-out layouts (PP, PCP, DCP, dense, replicas spanning nodes, torchrun blocks, folded nodes, every scale)
and generated ones, and over 4,096 ranks (every rank present, within 8 MB).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import pconf
from pconf.cli import main
from pconf.emit import plan_text
from pconf.emit.grid import ANSI_BACKGROUNDS
from pconf.emit.html import plan_html
from pconf.emit.mermaid import MAX_RANKS, TooLarge, plan_mermaid
from pconf.emit.picture import AXES, PALETTE, coordinates, default_colour_kind, parse_kinds
from pconf.emit.svg import plan_svg
from pconf.plan import GROUP_KINDS, Plan
from tests.profiles import examples
from tests.test_plan import layouts, shapes, sizes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in [*(ROOT / "examples").glob("*.toml"),
                                                            *(ROOT / "examples" / "layered").glob("*.toml")])
MAX_BYTES = 8 << 20
_RECT = re.compile(r"M(-?[\d.]+) (-?[\d.]+)h(-?[\d.]+)v(-?[\d.]+)h(-?[\d.]+)z")


def compiled_plan(parallel: dict[str, Any], devices_per_node: int = 256) -> Plan:
    return pconf.compile_dict({"parallel": parallel, "cluster": {"devices_per_node": devices_per_node}}).plan()


#: Layouts no example has, each a different way for a group to fall on the grid.
HELD_OUT: dict[str, tuple[dict[str, Any], int]] = {
    "dp2-pp2-pcp2-tp2-dcp2": (sizes(2, 2, 2, 2, 2), 256),
    "dense-pp3-tp2": (sizes(1, 3, 1, 2, 1, moe=False), 256),
    "dp3-pcp2-tp4-dcp4": (sizes(3, 1, 2, 4, 4, moe=True), 256),
    "tp16-over-2-nodes": ({"tensor_parallel_size": 16, "nnodes": 2}, 8),
    "dp2-tp8-replicas-span-nodes": ({"data_parallel_size": 2, "tensor_parallel_size": 8, "nnodes": 4,
                                     "data_parallel_size_local": 1}, 4),
    "torchrun-blocks": ({"tensor_parallel_size": 2, "data_parallel_size": 4, "data_parallel_size_local": 2,
                         "nnodes": 2, "distributed_executor_backend": "external_launcher", "is_moe_model": True}, 8),
    "dp8-tp2-ep-4-nodes": ({"data_parallel_size": 8, "tensor_parallel_size": 2, "enable_expert_parallel": True,
                            "nnodes": 4, "data_parallel_size_local": 2}, 4),
    "pp4-tp4-on-2-nodes": ({"pipeline_parallel_size": 4, "tensor_parallel_size": 4, "nnodes": 2}, 8),
    "32-ranks-folded": ({"tensor_parallel_size": 8, "data_parallel_size": 4}, 32),
    "one-rank": ({}, 8),
    "small-scale-folded": ({"tensor_parallel_size": 4, "data_parallel_size": 64, "pipeline_parallel_size": 2}, 512),
    "small-scale-16-nodes": ({"tensor_parallel_size": 4, "data_parallel_size": 64, "nnodes": 16,
                              "data_parallel_size_local": 4}, 16),
    "tiny-scale": ({"tensor_parallel_size": 4, "data_parallel_size": 256, "prefill_context_parallel_size": 2,
                    "decode_context_parallel_size": 2, "nnodes": 32, "data_parallel_size_local": 8}, 64),
}


def held_out(name: str) -> Plan:
    parallel, devices = HELD_OUT[name]
    return compiled_plan(parallel, devices)


# -- reading an SVG back --------------------------------------------------------------------------------------


def _box(elem: ET.Element) -> tuple[float, float, float, float]:
    return tuple(float(elem.attrib[k]) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def _rects(d: str) -> list[tuple[float, float, float, float]]:
    """The rectangles of an outline path (nothing else may be in it)."""
    found = _RECT.findall(d)
    assert "".join(f"M{a} {b}h{c}v{e}h{f}z" for a, b, c, e, f in found) == d, d
    out = []
    for x, y, w, h, back in found:
        assert float(back) == -float(w)
        out.append((float(x), float(y), float(w), float(h)))
    return out


def check_svg(plan: Plan, text: str, kinds: tuple[str, ...] = GROUP_KINDS, colour: str | None = None) -> None:
    """Everything the SVG says, against the plan."""
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["data-world-size"] == str(plan.world_size)
    colour = colour or default_colour_kind(plan)
    assert root.attrib["data-colour"] == colour
    elements = list(root.iter())
    # nodes: one frame each
    frames = {}
    for e in elements:
        if e.attrib.get("class") == "node":
            rect = e.find("{http://www.w3.org/2000/svg}rect")
            assert rect is not None
            frames[int(e.attrib["data-node"])] = _box(rect)
    assert sorted(frames) == list(range(plan.nnodes))
    # ranks: one element each, with the plan's row, its tooltip, a cell in its node's frame, filled by its group
    cells: dict[int, tuple[float, float, float, float]] = {}
    colour_index = {r: i for i, g in enumerate(plan.groups(colour)) for r in g}
    ranks = [e for e in elements if "data-rank" in e.attrib]
    assert [int(e.attrib["data-rank"]) for e in ranks] == list(range(plan.world_size))
    for e in ranks:
        row = plan.rank(int(e.attrib["data-rank"]))
        assert e.attrib["data-node"] == str(row.node)
        assert e.attrib["data-local-rank"] == str(row.local_rank)
        for axis in AXES:
            value = getattr(row, axis)
            assert e.attrib[f"data-{axis}"] == ("" if value is None else str(value)), (row, axis)
        title = e.find("{http://www.w3.org/2000/svg}title")
        assert title is not None
        assert title.text == f"rank {row.rank}: {coordinates(row)}"
        rect = e.find("{http://www.w3.org/2000/svg}rect")
        assert rect is not None
        cells[row.rank] = cell = _box(rect)
        fx, fy, fw, fh = frames[row.node]
        assert fx <= cell[0]
        assert cell[0] + cell[2] <= fx + fw
        assert fy <= cell[1]
        assert cell[1] + cell[3] <= fy + fh
        index = colour_index.get(row.rank)
        assert rect.attrib["fill"] == (PALETTE[index % len(PALETTE)] if index is not None else "#f2f2f2")
    assert len(set(cells.values())) == plan.world_size, "two ranks share a cell"
    for node in range(plan.nnodes):  # reading order (top to bottom, left to right) is local-rank order
        members = plan.node_ranks(node)
        assert sorted(members, key=lambda r: (cells[r][1], cells[r][0])) == members
    # outlines: per drawn kind, the plan's groups in order, each drawn around exactly its members' cells
    drawn = [e for e in elements if e.attrib.get("class") == "kind"]
    assert [e.attrib["data-kind"] for e in drawn] == list(kinds)
    legend = [e.attrib["data-kind"] for e in elements if e.attrib.get("class") == "legend-item"]
    assert legend == list(kinds)
    by_line: dict[float, list[tuple[float, int]]] = {}  # cell centres, by line and then by x
    for r, (x, y, w, h) in cells.items():
        by_line.setdefault(y + h / 2, []).append((x + w / 2, r))
    lines = sorted(by_line)
    for found in by_line.values():
        found.sort()

    def covered(boxes: list[tuple[float, float, float, float]]) -> set[int]:
        """The ranks whose cell centre lies in one of ``boxes``."""
        out: set[int] = set()
        for x, y, w, h in boxes:
            for cy in lines[bisect_left(lines, y):bisect_right(lines, y + h)]:
                row = by_line[cy]
                out.update(r for _, r in row[bisect_left(row, (x, -1)):bisect_right(row, (x + w, len(cells)))])
        return out

    for group in drawn:
        kind = group.attrib["data-kind"]
        paths = list(group)
        assert [p.attrib["data-group"] for p in paths] == [kind] * len(paths)
        assert [int(p.attrib["data-index"]) for p in paths] == list(range(len(paths)))
        assert [[int(r) for r in p.attrib["data-ranks"].split()] for p in paths] == plan.groups(kind)
        for path in paths:
            inside = covered(_rects(path.attrib["d"]))
            assert inside == {int(r) for r in path.attrib["data-ranks"].split()}, (kind, path.attrib)
        single = bool(paths) and all(len(p.attrib["data-ranks"].split()) == 1 for p in paths)
        assert (group.attrib.get("stroke-opacity") == "0") is single


# -- SVG ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_svg_of_every_example(example: str) -> None:
    plan = pconf.plan_files([str(ROOT / example)])
    check_svg(plan, plan_svg(plan))


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_svg_of_held_out_layouts(name: str) -> None:
    plan = held_out(name)
    check_svg(plan, plan_svg(plan))


def test_held_out_layouts_cover_every_scale_and_fold() -> None:
    """The held-out set reaches each scale, folded nodes, several node columns, torchrun and dense models."""
    roots = {name: ET.fromstring(plan_svg(held_out(name))) for name in HELD_OUT}
    assert {r.attrib["data-scale"] for r in roots.values()} == {"full", "small", "tiny"}
    folded = held_out("32-ranks-folded")
    assert folded.per_node == 32
    assert roots["32-ranks-folded"].attrib["data-scale"] == "full"
    assert held_out("dense-pp3-tp2").groups("ep") == []


@settings(max_examples=examples(60), deadline=None)
@given(shapes())
def test_svg_of_generated_shapes(shape: tuple[int, int, int, int, int, bool | None]) -> None:
    plan = compiled_plan(sizes(*shape))
    check_svg(plan, plan_svg(plan))


@settings(max_examples=examples(60), deadline=None)
@given(layouts())
def test_svg_of_generated_node_layouts(table: dict[str, Any]) -> None:
    plan = compiled_plan(table)
    check_svg(plan, plan_svg(plan))


@pytest.mark.parametrize(("kinds", "colour"), [(("tp", "ep"), None), (("dp",), "dp"), ((), "pp"),
                                               (("pcp", "tp", "dcp"), "ep")])
def test_svg_chosen_kinds_and_colour(kinds: tuple[str, ...], colour: str | None) -> None:
    plan = held_out("dp2-pp2-pcp2-tp2-dcp2")
    check_svg(plan, plan_svg(plan, kinds, colour), kinds, colour)


def test_svg_dense_model() -> None:
    """Without EP groups: data-ep is empty, the EP outline group is empty, colouring by EP fills no group."""
    plan = held_out("dense-pp3-tp2")
    text = plan_svg(plan, colour="ep")
    check_svg(plan, text, colour="ep")
    assert "ep: none (dense model)" in text


@pytest.mark.parametrize("devices_per_node", [64, 8])
def test_svg_4096_ranks(devices_per_node: int) -> None:
    """4,096 ranks (64 nodes of 64, and 512 of 8): every rank, every group, within 8 MB."""
    plan = compiled_plan({"tensor_parallel_size": 8, "data_parallel_size": 512, "enable_expert_parallel": True,
                          "nnodes": 4096 // devices_per_node, "data_parallel_size_local": devices_per_node // 8},
                         devices_per_node)
    text = plan_svg(plan)
    assert len(text.encode()) <= MAX_BYTES
    check_svg(plan, text)


def test_default_colour_kind() -> None:
    """TP when it has groups of several ranks; else the first kind with several groups of several ranks; else
    the first with a group of several ranks; else TP."""
    assert default_colour_kind(pconf.plan_files([str(ROOT / "examples/cluster.toml")])) == "tp"
    assert default_colour_kind(compiled_plan(sizes(2, 3, 1, 1, 1))) == "pp"
    assert default_colour_kind(pconf.plan_files([str(ROOT / "examples/dp-ep-2node.toml")])) == "dp"
    assert default_colour_kind(held_out("one-rank")) == "tp"


def test_parse_kinds() -> None:
    assert parse_kinds("tp,ep") == ("tp", "ep")
    assert parse_kinds(" EP , tp,ep") == ("ep", "tp")
    assert parse_kinds("none") == ()
    for bad, what in (("tp,xx", "unknown group kind 'xx'"), ("", "an empty group kind"),
                      ("tp,", "an empty group kind")):
        with pytest.raises(ValueError, match=f"^{what} \\(one of tp, pp, dp, ep, dcp, pcp, or none\\)$"):
            parse_kinds(bad)


# -- HTML -----------------------------------------------------------------------------------------------------


def page_data(text: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="pconf-data">(.*?)</script>', text, re.S)
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.mark.parametrize("name", ["examples/numa-2socket.toml", "examples/dp-ep-2node.toml", "dp3-pcp2-tp4-dcp4"])
def test_html_is_self_contained_and_carries_the_plan(name: str) -> None:
    """One file: the SVG inline (the same bytes as --format svg), the script and style inline, nothing fetched
    (no src/href/url(), a policy that forbids fetching), and the plan's groups, ports, env and bindings."""
    plan = pconf.plan_files([str(ROOT / name)]) if name.startswith("examples/") else held_out(name)
    text = plan_html(plan)
    assert plan_svg(plan) in text
    assert "Content-Security-Policy" in text
    assert "default-src 'none'" in text
    outside = re.findall(r"""(?:src|href)\s*=|url\(|@import|https?://(?!www\.w3\.org/2000/svg")""", text)
    assert outside == []
    data = page_data(text)
    assert data["groups"] == {kind: plan.groups(kind) for kind in GROUP_KINDS}
    env = data["env"]
    for r in range(plan.world_size):
        rebuilt = {k: env["common"][k] if k in env["common"] else env["values"][r][env["varying"].index(k)]
                   for k in env["keys"]}
        assert {k: v for k, v in rebuilt.items() if v is not None} == plan.env(r)
    assert data["numa"]["mode"] == plan.numa.mode
    if plan.numa.nodes is not None:
        expected = [b.as_dict() if (b := plan.binding(r)) is not None else None for r in range(plan.world_size)]
        assert data["numa"]["workers"] == expected
    check_svg(plan, text[text.index("<svg"):text.index("</svg>") + 6])


def test_html_data_cannot_close_its_script() -> None:
    """Values are JSON inside <script>: '<', '>' and '&' are escaped, so no value ends the element."""
    plan = pconf.compile_dict({"parallel": {"master_addr": "</script><b>x&y"}}).plan()
    text = plan_html(plan)
    assert "</script><b>" not in text.split('id="pconf-data">')[1].split("</script>")[0]
    assert page_data(text)["env"]["common"]["MASTER_ADDR"] == "</script><b>x&y"


def test_html_4096_ranks() -> None:
    plan = compiled_plan({"tensor_parallel_size": 8, "data_parallel_size": 512, "enable_expert_parallel": True,
                          "nnodes": 64, "data_parallel_size_local": 8}, 64)
    text = plan_html(plan)
    assert len(text.encode()) <= MAX_BYTES
    assert text.count('class="rank"') == 4096


# -- Mermaid --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_mermaid_of_every_example(example: str) -> None:
    """A subgraph per node holding its ranks in local order; every rank once, in the class of its colour group."""
    plan = pconf.plan_files([str(ROOT / example)])
    text = plan_mermaid(plan)
    assert text.startswith("flowchart TB\n")
    current: int | None = None
    seen: dict[int, int] = {}
    classes: dict[int, str] = {}
    for line in text.splitlines():
        if m := re.fullmatch(r'  subgraph node(\d+)\["node \1"\]', line):
            current = int(m.group(1))
        elif line == "  end":
            current = None
        elif m := re.fullmatch(r'    r(\d+)\["<b>rank \1</b><br/>local (\d+)<br/>(.*)"\]', line):
            r = int(m.group(1))
            assert current is not None
            assert r not in seen
            seen[r] = current
            row = plan.rank(r)
            assert int(m.group(2)) == row.local_rank
            for part in m.group(3).split(" · "):
                axis, value = part.split(" ")
                assert str(getattr(row, axis)) == value
        elif m := re.fullmatch(r"  class ([r\d,]+) (\w+)", line):
            for name in m.group(1).split(","):
                classes[int(name[1:])] = m.group(2)
    assert seen == {r: plan.rank(r).node for r in range(plan.world_size)}
    colour = default_colour_kind(plan)
    index = {r: i for i, g in enumerate(plan.groups(colour)) for r in g}
    assert classes == {r: f"g{index[r] % len(PALETTE)}" for r in range(plan.world_size)}
    for kind in GROUP_KINDS:
        assert f"  %% {kind} groups: " in text


def test_mermaid_too_large(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_RANKS ranks: TooLarge; the command exits 2 pointing to svg, without a traceback."""
    monkeypatch.chdir(ROOT)
    plan = compiled_plan({"tensor_parallel_size": 8, "data_parallel_size": MAX_RANKS // 8 + 1})
    with pytest.raises(TooLarge, match="use --format svg"):
        plan_mermaid(plan)
    code = main(["plan", "examples/cluster.toml", "--set", "parallel.data_parallel_size=17", "--set",
                 "cluster.devices_per_node=72", "--format", "mermaid"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err == ("pconf plan: --format mermaid draws at most 64 ranks and this plan has 68; use --format "
                            "svg or --format html\n")


# -- grid -----------------------------------------------------------------------------------------------------


def test_grid_of_cluster() -> None:
    plan = pconf.plan_files([str(ROOT / "examples/cluster.toml")])
    assert plan_text(plan, "grid") == (
        "8 ranks on 1 node (8 per node); DP=2 PP=1 PCP=1 TP=4 DCP=1\n"
        "cells: rank:dp.tp.ep\n"
        " local  0        1        2        3        4        5        6        7\n"
        "node 0  0:0.0.0  1:0.1.1  2:0.2.2  3:0.3.3  4:1.0.4  5:1.1.5  6:1.2.6  7:1.3.7\n")


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_grid_cells_are_the_plan(name: str) -> None:
    """Every rank once, on its node's lines, in its local rank's column, with its coordinates."""
    plan = held_out(name)
    lines = plan_text(plan, "grid").splitlines()
    axes = lines[1].removeprefix("cells: rank:").split(".")
    fold = len(lines[2].split()) - 1
    node, seen = -1, {}
    for line in lines[3:]:
        m = re.fullmatch(r" *(?:node (\d+)|\+(\d+))  (.*)", line)
        assert m, line
        if m.group(1) is not None:
            node, offset = int(m.group(1)), 0
        else:
            offset = int(m.group(2))
        rest = m.group(3)
        for column, cell in enumerate(rest.split()):
            rank, _, values = cell.partition(":")
            row = plan.rank(int(rank))
            assert (row.node, row.local_rank) == (node, offset + column)
            assert values.split(".") == [str(getattr(row, a)) for a in axes]
            seen[row.rank] = True
        assert len(rest.split()) <= fold
    assert sorted(seen) == list(range(plan.world_size))


def test_grid_colours() -> None:
    """With colour each cell's background is its colour group's; one node only with --node."""
    plan = held_out("dp8-tp2-ep-4-nodes")
    text = plan_text(plan, "grid", node=2, color_by="dp", color=True)
    assert "colours: dp: 2 groups of 8\n" in text
    cells = re.findall(r"\x1b\[30;48;5;(\d+)m(\d+):", text)
    index = {r: i for i, g in enumerate(plan.groups("dp")) for r in g}
    assert [int(r) for _, r in cells] == plan.node_ranks(2)
    assert all(int(back) == ANSI_BACKGROUNDS[index[int(r)] % len(ANSI_BACKGROUNDS)] for back, r in cells)
    assert "\x1b" not in plan_text(plan, "grid", color_by="dp")


# -- the command line ---------------------------------------------------------------------------------------


def run_plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.mark.usefixtures("_at_root")
class TestCommand:
    def test_svg_with_groups(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "svg", "--groups", "tp,ep",
                                "--color-by", "dp")
        assert code == 0
        plan = pconf.plan_files(["examples/cluster.toml"])
        assert out == plan_svg(plan, ("tp", "ep"), "dp")
        check_svg(plan, out, ("tp", "ep"), "dp")

    def test_output_file(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        target = tmp_path / "plan.html"
        assert run_plan(capsys, "examples/tp8.toml", "--format", "html", "-o", str(target)) == (0, "", "")
        assert target.read_text(encoding="utf-8") == plan_html(pconf.plan_files(["examples/tp8.toml"]))

    def test_unknown_group_kind(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            main(["plan", "examples/cluster.toml", "--format", "svg", "--groups", "tp,xp"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.endswith("pconf plan: error: argument --groups: unknown group kind 'xp' (one of tp, pp, dp, ep, "
                            "dcp, pcp, or none)\n")
        with pytest.raises(SystemExit) as exc:
            main(["plan", "examples/cluster.toml", "--format", "grid", "--color-by", "xp"])
        assert exc.value.code == 2
        assert "argument --color-by: invalid choice: 'xp'" in capsys.readouterr().err

    @pytest.mark.parametrize(("args", "message"), [
        (("--format", "json", "--groups", "tp"), "--groups is not an option of --format json (it is for svg, html)"),
        (("--format", "grid", "--groups", "tp"), "--groups is not an option of --format grid (it is for svg, html)"),
        (("--format", "table", "--color-by", "tp"),
         "--color-by is not an option of --format table (it is for svg, html, mermaid, grid)"),
        (("--format", "svg", "--color", "always"), "--color is not an option of --format svg (it is for grid)"),
        (("--format", "svg", "--rank", "1"), "--format svg draws the whole plan: leave out --rank"),
        (("--format", "html", "--node", "0"), "--format html draws the whole plan: leave out --node"),
        (("--format", "mermaid", "--node", "0"), "--format mermaid draws the whole plan: leave out --node"),
        (("--format", "grid", "--rank", "0"), "--format grid draws the whole plan: leave out --rank"),
        (("--format", "grid", "--node", "3"), "--node 3 is outside 0..0"),
    ])
    def test_usage_errors(self, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
        assert run_plan(capsys, "examples/cluster.toml", *args) == (2, "", f"pconf plan: {message}\n")

    def test_grid_colour_choice(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """auto: colour on a terminal unless NO_COLOR is set (non-empty); always/never override both."""
        monkeypatch.setattr("sys.stdout.isatty", lambda: True)
        _, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "grid")
        assert "\x1b[" in out
        monkeypatch.setenv("NO_COLOR", "1")
        _, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "grid")
        assert "\x1b[" not in out
        _, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "grid", "--color", "always")
        assert "\x1b[" in out
        monkeypatch.setenv("NO_COLOR", "")
        _, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "grid")
        assert "\x1b[" in out
        _, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "grid", "--color", "never")
        assert "\x1b[" not in out
        monkeypatch.setattr("sys.stdout.isatty", lambda: False)
        monkeypatch.delenv("NO_COLOR")
        _, out, _ = run_plan(capsys, "examples/cluster.toml", "--format", "grid")
        assert "\x1b[" not in out

    def test_grid_node(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run_plan(capsys, "examples/dp-ep-2node.toml", "--format", "grid", "--node", "1")
        assert code == 0
        assert out.splitlines()[3].startswith("node 1  8:8.8     9:9.9 ")
        assert len(out.splitlines()) == 4
