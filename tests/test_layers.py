"""The import direction of DESIGN.md: each module imports only the pconf modules and libraries its row allows.

Every ``import`` in ``pconf/**/*.py`` is read with ``ast`` (lazy imports inside functions included; imports
under ``if TYPE_CHECKING:`` excluded, they never run).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "pconf"

#: module (dotted, relative to pconf) -> pconf modules it may import (prefix match).
ALLOWED: dict[str, set[str]] = {
    "keypath": set(),
    "errors": {"keypath"},
    "cpulist": set(),
    "load": {"keypath", "errors", "load"},
    "merge": {"keypath", "errors", "load"},
    "schema": {"schema", "errors", "keypath", "cpulist"},
    "structure": {"schema", "merge", "keypath", "errors", "cpulist"},
    "resolve": {"schema", "keypath", "errors"},
    "rules": {"resolve", "schema", "keypath", "errors", "numa", "cpulist"},
    "emit": {"schema", "keypath", "errors", "resolve", "hashing", "plan"},
    "compile": {"load", "merge", "structure", "resolve", "rules", "emit", "errors", "keypath", "schema", "hashing",
                "plan", "numa"},
    "hashing": {"resolve", "schema", "errors"},
    "plan": {"resolve", "errors", "keypath", "numa", "cpulist"},
    "numa": {"schema", "errors", "keypath", "cpulist"},
    "serve_args": {"plan", "schema"},
    "introspect": {"schema", "structure", "rules", "hashing", "load"},
    "cli": {"compile", "emit", "errors", "hashing", "plan", "serve_args", "runtime", "introspect", "numa",
            "cpulist", "load"},
    "__init__": {"compile", "errors", "schema", "resolve", "hashing", "plan"},
    "__main__": {"cli"},
    "runtime": {"runtime", "plan", "hashing", "resolve", "errors", "keypath", "schema", "compile", "emit", "numa",
                "cpulist"},
}

#: third-party library -> the only pconf modules that may import it.
OWNERS: dict[str, set[str]] = {
    "cattrs": {"structure"},
    "tomllib": {"load"},
    "tomli": {"load"},
    "yaml": {"load", "emit"},
    "tomli_w": {"emit"},
    "xxhash": {"hashing"},
    "attrs": {"schema", "structure", "resolve", "emit", "hashing", "serve_args", "introspect"},
    "torch": {"runtime"},
    "numpy": set(),
    "ray": {"runtime"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def row(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def runtime_imports(tree: ast.Module) -> list[str]:
    """Every imported module name, skipping ``if TYPE_CHECKING:`` blocks."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


MODULES = sorted(PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_follow_the_table(path: Path) -> None:
    """A module imports only the pconf modules and third-party libraries its row allows."""
    me = module_name(path)
    allowed = ALLOWED.get(row(me))
    assert allowed is not None, f"pconf.{me} has no row in the import table; add one"
    for name in runtime_imports(ast.parse(path.read_text())):
        top = name.split(".")[0]
        if top == "pconf":
            target = name.split(".")[1] if "." in name else "__init__"
            assert target in allowed | {row(me)}, f"pconf.{me} may not import {name}"
        elif top in OWNERS:
            assert row(me) in OWNERS[top], f"pconf.{me} may not import {top} (owned by {OWNERS[top]})"
        else:
            assert top in sys.stdlib_module_names or top == "typing_extensions", f"pconf.{me}: unknown import {top}"
