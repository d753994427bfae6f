"""Issues for programs: ``pconf validate --format json`` (one JSON document) and ``--format github`` (GitHub Actions
workflow commands, which show each issue on its file and line in a pull request)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pconf.errors import MISSING, Issue

#: One validated input and what validating it found (errors and warnings); ok when no error.
Checked = tuple[str, Sequence[Issue]]


def issue_dict(issue: Issue, input_name: str | None = None) -> dict[str, Any]:
    """One issue as JSON: ``file``, ``line``, ``col`` (null where the problem is not in a file), ``key``, ``rule``,
    ``severity``, ``message``, ``hint``, ``got`` (absent when there is no single value), ``where`` (the location
    as the text line shows it) and ``input`` (the file given to validate whose check found it)."""
    where = issue.where
    in_file = where.kind == "file"
    out: dict[str, Any] = {
        "file": where.source if in_file else None,
        "line": where.line or None if in_file else None,
        "col": where.col or None if in_file else None,
        "key": issue.key,
        "rule": issue.rule,
        "severity": issue.severity,
        "message": issue.message,
        "hint": issue.hint,
    }
    if issue.got is not MISSING:
        out["got"] = issue.got
    out["where"] = str(where)
    if input_name is not None:
        out["input"] = input_name
    return out


def validate_json(checked: Sequence[Checked]) -> str:
    """``{"ok", "errors", "warnings", "files": [{"file", "ok"}], "issues": [...]}``, issues in the order found."""
    issues = [issue_dict(i, name) for name, found in checked for i in found]
    errors = sum(1 for i in issues if i["severity"] == "error")
    doc = {
        "ok": errors == 0,
        "errors": errors,
        "warnings": len(issues) - errors,
        "files": [{"file": name, "ok": not any(i.severity == "error" for i in found)} for name, found in checked],
        "issues": issues,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def validate_github(checked: Sequence[Checked]) -> str:
    """One ``::error`` / ``::warning`` workflow command per issue (``file=``, ``line=``, ``col=`` where the problem
    is in a file; the rule id as the title), after a ``FILE: ok`` line for each file without errors."""
    lines = [f"{name}: ok" for name, found in checked if not any(i.severity == "error" for i in found)]
    for _, found in checked:
        lines += [github_line(issue) for issue in found]
    return "".join(line + "\n" for line in lines)


def github_line(issue: Issue) -> str:
    """``::error file=F,line=L,col=C,title=RULE::key: message (got X); hint`` (GitHub's escapes applied)."""
    where = issue.where
    props = []
    if where.kind == "file":
        props.append(f"file={_property(where.source)}")
        if where.line:
            props.append(f"line={where.line}")
        if where.col:
            props.append(f"col={where.col}")
    props.append(f"title={_property(issue.rule)}")
    text = issue.render()
    if where.kind == "file":  # the annotation sits on the file and line: leave them out of the text
        text = text.removeprefix(f"{where}: ")
    return f"::{issue.severity} {','.join(props)}::{_data(text)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


__all__ = ["Checked", "github_line", "issue_dict", "validate_github", "validate_json"]
