"""The plan as one self-contained HTML page: the SVG picture inline, its CSS and a little JavaScript
(``assets/page.css``, ``assets/page.js``), and the plan's data as inline JSON. Nothing is fetched: a
Content-Security-Policy allows inline style and script only, so the page works offline, from a file.

Hovering (or focusing) a rank shows its coordinates, its groups, the ports, its environment and its NUMA
binding; clicking a group kind (a button, or its legend entry) recolours the cells by that kind's groups and
brings its outlines forward.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any

from pconf.emit.picture import KIND_STYLES, NO_GROUP, PALETTE, default_colour_kind, headline, kind_summary
from pconf.emit.svg import plan_svg
from pconf.numa.binding import BindingError
from pconf.plan import GROUP_KINDS

if TYPE_CHECKING:
    from pconf.plan import Plan

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


def plan_html(plan: Plan, kinds: Sequence[str] | None = None, colour: str | None = None) -> str:
    """The HTML page of a plan: the SVG of ``plan_svg(plan, kinds, colour)`` made interactive."""
    colour = colour or default_colour_kind(plan)
    groups = {kind: plan.groups(kind) for kind in GROUP_KINDS}
    title = f"pconf plan: {headline(plan)}"
    buttons = "".join(
        f'<button type="button" data-kind="{kind}" aria-pressed="false" style="color:{KIND_STYLES[kind].colour}">'
        f'<span class="swatch"></span><span style="color:#222">{escape(kind_summary(kind, groups[kind]))}</span>'
        "</button>" for kind in GROUP_KINDS)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>\n{_asset('page.css')}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{escape(headline(plan))}</h1>",
        f"<p>graph hash <code>{escape(plan.graph_hash)}</code>. Hover a rank for its coordinates, groups, ports, "
        f"environment and NUMA binding; click a group kind to colour the cells by its groups "
        f"(now: {colour}).</p>",
        f'<nav aria-label="group kinds">{buttons}<button type="button" id="fit" aria-pressed="true">fit to width'
        '</button></nav>',
        "</header>",
        "<main>",
        f'<div id="picture" class="fit">\n{plan_svg(plan, kinds, colour)}</div>',
        '<aside id="info" aria-live="polite"><p class="empty">Hover a rank.</p></aside>',
        "</main>",
        f'<script type="application/json" id="pconf-data">{_json(_data(plan, colour, groups))}</script>',
        f"<script>\n{_asset('page.js')}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _asset(name: str) -> str:
    return (resources.files("pconf.emit") / "assets" / name).read_text(encoding="utf-8")


def _json(value: object) -> str:
    """JSON that cannot end its ``<script>`` element early."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _data(plan: Plan, colour: str, groups: dict[str, list[list[int]]]) -> dict[str, Any]:
    """What the page's script reads: every kind's groups, the ports, each rank's environment (the values all
    ranks share once) and each worker's NUMA binding."""
    return {
        "kinds": list(GROUP_KINDS),
        "colour": colour,
        "palette": list(PALETTE),
        "noGroup": NO_GROUP,
        "groups": groups,
        "ports": _ports(plan),
        "env": _env(plan),
        "numa": _numa(plan),
    }


def _ports(plan: Plan) -> list[list[str]]:
    ports = plan.ports
    rows = [["world rendezvous", f"{ports.world_addr}:{ports.world_port}" if ports.world_port is not None
             else f"{ports.world_addr}, port picked at run time"]]
    if plan.dp > 1:
        rows.append(["DP master", ports.dp_master_ip])
        rows.append(["DP init ports", " ".join(map(str, ports.dp_init_ports)) if ports.dp_init_ports is not None
                     else "picked at run time"])
        rows.append(["DP RPC port", str(ports.dp_rpc_port)])
    return rows


def _env(plan: Plan) -> dict[str, Any]:
    envs = [plan.env(r) for r in range(plan.world_size)]
    keys = list(dict.fromkeys(key for env in envs for key in env))
    first = envs[0]
    common = {k: first[k] for k in keys if all(env.get(k, None) == first.get(k) for env in envs) and k in first}
    varying = [k for k in keys if k not in common]
    return {"keys": keys, "common": common, "varying": varying,
            "values": [[env.get(k) for k in varying] for env in envs]}


def _numa(plan: Plan) -> dict[str, Any]:
    numa = plan.numa
    out: dict[str, Any] = {"mode": numa.mode, "reason": numa.reason}
    if numa.nodes is None:
        return out
    workers: list[dict[str, Any] | None] = []
    for r in range(plan.world_size):
        try:
            b = plan.binding(r)
        except BindingError as exc:  # compiling reports these first; say it rather than fail the page
            workers.append({"error": str(exc)})
            continue
        workers.append(b.as_dict() if b is not None else None)
    out["workers"] = workers
    return out
