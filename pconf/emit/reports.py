"""The answers of the checking commands: ``explain``, ``hash`` (and its lock check) and ``diff``, as text or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pconf.compare import Comparison, KeyChange
    from pconf.compile import Explanation
    from pconf.hashing import GraphHash, LockCheck


def show(value: Any) -> str:
    """A value as JSON spells it (``(absent)`` for a factor only one side has)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _json(doc: object) -> str:
    return json.dumps(doc, indent=2) + "\n"


def explain_text(explanation: Explanation) -> str:
    """A key's value, its source, and every layer that set it (last wins)."""
    lines = [f"{explanation.key} = {show(explanation.value)}", f"source: {explanation.source}"]
    note = assumed_note(explanation)
    if note:
        lines.append(f"note: {note}")
    settings = [s for s in explanation.chain if not isinstance(s.value, dict)]
    if settings:
        lines.append("layers (last wins):")
        width = max(len(str(s.where)) for s in settings)
        for s in settings:
            what = "reset to default" if s.is_reset else show(s.value)
            lines.append(f"  {s.where!s:<{width}}  {what}")
    return "\n".join(lines) + "\n"


def explain_json(explanation: Explanation) -> str:
    layers = [{"where": str(s.where), "value": None if s.is_reset else s.value, "reset": s.is_reset}
              for s in explanation.chain if not isinstance(s.value, dict)]
    doc = {"key": explanation.key, "value": explanation.value, "source": explanation.source, "layers": layers}
    note = assumed_note(explanation)
    if note:
        doc["note"] = note
    return _json(doc)


def assumed_note(explanation: Explanation) -> str:
    """For a ``[cluster]`` value nobody set: that it is a default pconf assumed about the hosts."""
    if not explanation.key.startswith("cluster") or not explanation.source.startswith("default"):
        return ""
    return ("a default: the files do not say this about your hosts, so pconf assumes it; set it under [cluster] "
            "if your hosts differ")


def hash_json(gh: GraphHash) -> str:
    """The hash, its scheme and every factor with its value and digest."""
    return _json({"graph_hash": str(gh), "scheme": gh.scheme,
                  "factors": [{"name": f.name, "value": f.value, "digest": f.digest} for f in gh.factors]})


def lock_json(lock: dict[str, object]) -> str:
    """A lock file's text (``pconf hash --write-lock``)."""
    return json.dumps(lock, indent=2, sort_keys=True) + "\n"


def lock_check_text(gh: GraphHash, locked_hash: object, result: LockCheck) -> str:
    """``pconf hash --check``: unchanged, or the new hash and each changed factor."""
    if result.unchanged:
        return f"{gh}: unchanged\n"
    lines = [f"graph changed: {locked_hash} -> {gh}"]
    lines += [f"  {change.name}: {show(change.old)} -> {show(change.new)}" for change in result.changes]
    return "\n".join(lines) + "\n"


def diff_text(comparison: Comparison) -> str:
    """One line per changed key (``[graph]`` marks hash factors), then whether the graph hash changes."""
    changes = comparison.changes

    def side(c: KeyChange, which: str) -> str:
        return "(absent)" if c.absent == which else show(getattr(c, which))

    texts = [f"{c.key}: {side(c, 'old')} -> {side(c, 'new')}" for c in changes]
    width = max(map(len, texts), default=0)
    lines = [f"{text:<{width}}  [graph]" if c.graph else text for c, text in zip(changes, texts, strict=True)]
    if comparison.release_notes:
        old_release, new_release = comparison.old_hash.vllm_version, comparison.new_hash.vllm_version
        lines.append(f"vLLM {old_release} -> {new_release} changes the meaning or default of:")
        lines += [f"  {key}: {why}" for key, why in comparison.release_notes]
    old, new = comparison.old_hash, comparison.new_hash
    if comparison.hash_changed:
        lines.append(f"graph hash: changes ({old} -> {new})")
    else:
        lines.append(f"graph hash: unchanged ({old})")
    return "\n".join(lines) + "\n"


def diff_json(comparison: Comparison) -> str:
    return _json({"changes": [{"key": c.key, "old": c.old, "new": c.new, "graph": c.graph,
                               **({"absent": c.absent} if c.absent else {})} for c in comparison.changes],
                  "graph_hash": {"old": str(comparison.old_hash), "new": str(comparison.new_hash),
                                 "changes": comparison.hash_changed},
                  **({"vllm_version": {"old": comparison.old_hash.vllm_version,
                                       "new": comparison.new_hash.vllm_version},
                      "release_notes": [{"key": k, "why": w} for k, w in comparison.release_notes]}
                     if comparison.release_notes else {})})
