"""The pictures in a real browser: headless Chromium (Debian's ``chromium``; .ci/run installs it) opens the HTML
page and the SVG from a file, offline. The page must draw (a screenshot that is not blank, with the cells'
colours), log nothing to the console (no script error, no blocked fetch), and answer a hover and a click the
way the plan says. Skipped, with the reason, where Chromium is not installed."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import pconf
from pconf.emit import plan_text
from pconf.emit.picture import PALETTE
from pconf.plan import GROUP_KINDS, Plan
from tests import chromium

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(chromium.find() is None,
                                reason="chromium is not installed (apt-get install chromium; .ci/run does)")

#: Run inside the page after its own script: hover rank HOVER, read the panel, click the tp button and the
#: legend's dp entry, read the cells' fills, and write it all into the DOM for --dump-dom.
DRIVER = """
<script>
(function () {
  var out = {ready: document.body.getAttribute("data-ready")};
  function fills() {
    return Array.prototype.map.call(document.querySelectorAll("g.rank rect"), function (r) {
      return r.getAttribute("fill"); });
  }
  var cell = document.querySelector('g.rank[data-rank="HOVER"] rect');
  cell.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
  out.info = document.getElementById("info").innerText;
  out.peers = Array.prototype.map.call(document.querySelectorAll("g.rank.peer"), function (g) {
    return Number(g.getAttribute("data-rank")); });
  out.before = fills();
  document.querySelector('nav button[data-kind="tp"]').click();
  out.tp = fills();
  out.tpPressed = document.querySelector('nav button[data-kind="tp"]').getAttribute("aria-pressed");
  out.highlight = document.querySelector("#picture svg").getAttribute("data-highlight");
  var legend = document.querySelector('g.legend-item[data-kind="dp"] rect');
  legend.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  out.dp = fills();
  document.querySelector('nav button[data-kind="dp"]').click();
  out.reset = fills();
  out.resetHighlight = document.querySelector("#picture svg").getAttribute("data-highlight");
  var pre = document.createElement("pre");
  pre.id = "driver-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}());
</script>
"""


def page_with_driver(text: str, hover: int, path: Path) -> Path:
    assert text.count("</body>") == 1
    path.write_text(text.replace("</body>", DRIVER.replace("HOVER", str(hover)) + "</body>"), encoding="utf-8")
    return path


def driver_result(dom: str) -> dict[str, Any]:
    found = re.search(r'<pre id="driver-result">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def fills_by(plan: Plan, kind: str) -> list[str]:
    index = {r: i for i, members in enumerate(plan.groups(kind)) for r in members}
    return [PALETTE[index[r] % len(PALETTE)] for r in range(plan.world_size)]


def big_plan() -> Plan:
    """512 ranks on 8 nodes of 64: TP=8, DP=64, EP (the small scale: cells with rank numbers)."""
    return pconf.compile_dict({"parallel": {"tensor_parallel_size": 8, "data_parallel_size": 64,
                                            "enable_expert_parallel": True, "nnodes": 8,
                                            "data_parallel_size_local": 8, "master_addr": "10.0.0.1"},
                               "cluster": {"devices_per_node": 64}}).plan()


PLANS = {
    "cluster": lambda: pconf.plan_files([str(ROOT / "examples" / "cluster.toml")]),
    "numa-2socket": lambda: pconf.plan_files([str(ROOT / "examples" / "numa-2socket.toml")]),
    "512-ranks": big_plan,
}


_DEV_PLAN = "cluster"  # dev renders one plan in a browser; ci renders every plan
_CI_ONLY = pytest.mark.ci_only("the cluster plan renders and is hovered in a real browser in dev too")


@pytest.mark.parametrize("name", [n if n == _DEV_PLAN else pytest.param(n, marks=_CI_ONLY) for n in sorted(PLANS)])
def test_html_renders_without_console_messages(name: str, tmp_path: Path) -> None:
    """The page, opened from a file, draws: a screenshot with the cells' palette colours over much of it, and
    nothing logged to the console (no script error, nothing blocked by the page's no-fetch policy)."""
    plan = PLANS[name]()
    page = tmp_path / "plan.html"
    page.write_text(plan_text(plan, "html"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    done = chromium.run(page, f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.console == []
    image = chromium.decode_png(shot.read_bytes())
    assert (image.width, image.height) == (1400, 900)
    counts = Counter(image.pixels)
    white = counts[(255, 255, 255)]
    assert white < 0.95 * len(image.pixels), "the screenshot is (nearly) blank"
    assert len(counts) > 50
    palette = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE}
    assert sum(n for colour, n in counts.items() if colour in palette) > 0.01 * len(image.pixels)


@pytest.mark.parametrize(("name", "hover"), [("cluster", 5), pytest.param("numa-2socket", 3, marks=_CI_ONLY),
                                             pytest.param("512-ranks", 300, marks=_CI_ONLY)])
def test_hover_and_click(name: str, hover: int, tmp_path: Path) -> None:
    """The page's script runs in the browser: hovering a rank shows its coordinates, groups, ports, environment
    and NUMA binding, and marks its colour group; clicking a group kind recolours the cells by its groups, and
    clicking it again restores them."""
    plan = PLANS[name]()
    page = page_with_driver(plan_text(plan, "html"), hover, tmp_path / "plan.html")
    done = chromium.run(page, "--dump-dom", "--virtual-time-budget=5000")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.console == []
    result = driver_result(done.stdout)
    assert result["ready"] == "1"
    info = result["info"]
    row = plan.rank(hover)
    assert info.startswith(f"rank {hover}\n")
    for axis in ("node", "dp", "pp", "pcp", "tp", "dcp", "ep"):
        value = getattr(row, axis)
        assert re.search(rf"^{axis}\t{'-' if value is None else value}$", info, re.M), (axis, info)
    assert re.search(rf"^local rank\t{row.local_rank}$", info, re.M)
    for kind in GROUP_KINDS:
        members = plan.group_of(kind, hover)
        if members:
            index = plan.groups(kind).index(members)
            assert re.search(rf"^{kind}\t#{index}: ", info, re.M), (kind, info)
    for name_, value in plan.env(hover).items():
        assert f"{name_}={value}" in info
    assert plan.ports.world_addr in info
    if plan.numa.mode == "off":
        assert "off: " in info
    else:
        binding = plan.binding(hover)
        assert binding is not None
        assert binding.numactl_command in info
    colour = result["before"]
    assert result["peers"] == sorted(plan.group_of("tp", hover))
    assert colour == fills_by(plan, "tp")
    assert result["tp"] == fills_by(plan, "tp")
    assert (result["tpPressed"], result["highlight"]) == ("true", "tp")
    assert result["dp"] == fills_by(plan, "dp")
    assert result["reset"] == colour
    assert result["resetHighlight"] is None


def test_svg_renders(tmp_path: Path) -> None:
    """The SVG alone, opened as a file, draws its cells (not blank, palette colours present) and logs nothing."""
    plan = PLANS["cluster"]()
    picture = tmp_path / "plan.svg"
    picture.write_text(plan_text(plan, "svg"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    done = chromium.run(picture, f"--screenshot={shot}", window=(1200, 300))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.console == []
    counts = Counter(chromium.decode_png(shot.read_bytes()).pixels)
    assert counts[(0x8D, 0xD3, 0xC7)] > 1000
    assert counts[(0xFF, 0xFF, 0xB3)] > 1000


def test_console_messages_are_seen(tmp_path: Path) -> None:
    """The check above can fail: a page that throws, logs an error or fetches something shows in ``console``."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                    "'none'; script-src 'unsafe-inline'\"></head><body><img src=\"http://example.invalid/x.png\">"
                    "<script>console.error('logged'); throw new Error('boom');</script></body></html>",
                    encoding="utf-8")
    done = chromium.run(page, "--dump-dom")
    text = "\n".join(done.console)
    assert "Uncaught Error: boom" in text
    assert "logged" in text
    assert "Content Security Policy" in text
