"""``pconf suggest``'s answer: the ranked layouts for people, or as a list of documents that compile."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pconf.emit.model import describe

if TYPE_CHECKING:
    from pconf.suggest import Suggestion


def suggest_table(s: Suggestion) -> str:
    """The layouts, best first, one row each with the reasons for its place."""
    from pconf.emit.table import aligned

    nodes = max(1, s.gpus // s.devices_per_node)
    where = f"{nodes} node{'s' if nodes > 1 else ''} of {s.devices_per_node}" if nodes > 1 else \
        f"one node of {s.devices_per_node}"
    count = f"{len(s.layouts)} layout{'s' if len(s.layouts) != 1 else ''}"
    lines = [f"{count} of {s.gpus} GPUs ({where}) for {describe(s.model)}"]
    rows = [[str(i), str(x.tp), str(x.pp), str(x.dp), str(x.ep) if x.ep > 1 else "-", str(x.dcp), str(x.nnodes),
             "; ".join(x.reasons)] for i, x in enumerate(s.layouts, 1)]
    lines += aligned(("#", "tp", "pp", "dp", "ep", "dcp", "nodes", "why"), rows)
    if s.refused:
        lines.append(f"other layouts refused by: {', '.join(s.refused)}")
    if nodes > 1 and s.layouts:
        lines.append("each node needs node 0's address: set parallel.master_addr or [cluster.network].node_addresses")
    return "\n".join(lines) + "\n"


def suggest_json(s: Suggestion) -> str:
    """The layouts, best first, as a JSON list of documents: each compiles (``pconf.compile_dict``) to its
    layout on exactly the GPUs asked for (over several nodes, once node 0's address is added)."""
    return json.dumps([layout.document for layout in s.layouts], indent=2, ensure_ascii=False) + "\n"
