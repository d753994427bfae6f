"""Key paths: where a value sits in a document, as a tuple of keys and list indices."""

from __future__ import annotations

import json
import re

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+\Z")


def format_path(path: KeyPath) -> str:
    """Render a key path the way users write it: ``parallel.eplb_config.window_size``, ``x.cpus[2]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        text = part if _BARE.match(part) else json.dumps(part, ensure_ascii=False)
        out.append(f".{text}" if out else text)
    return "".join(out) or "<document>"


def parse_dotted(text: str) -> KeyPath | None:
    """Split a dotted key (``parallel.eplb_config.window_size``) into a path; None if it is malformed."""
    parts = text.strip().split(".")
    if not all(_BARE.match(p) for p in parts):
        return None
    return tuple(parts)
