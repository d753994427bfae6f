"""The import direction of DESIGN.md: each module imports only the pconf modules and libraries its row allows.

Every ``import`` in ``pconf/**/*.py`` is read with ``ast`` (lazy imports inside functions included; imports
under ``if TYPE_CHECKING:`` excluded, they never run).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "pconf"

#: The flow of DESIGN.md, stage by stage: a module may import modules of its own stage or an earlier one, never a
#: later one (docs/architecture.md draws it).
STAGES: list[set[str]] = [
    {"keypath", "cpulist", "tree", "_version", "netaddr"},
    {"errors"},
    {"schema"},
    {"versions"},
    {"load", "numa"},
    {"merge", "target"},
    {"structure"},
    {"model"},
    {"engine_args"},
    {"resolve"},
    {"deployment"},
    {"rules"},
    {"hashing"},
    {"plan"},
    {"compile"},
    {"compare", "introspect", "migrate", "suggest"},
    {"emit"},
    {"cli", "runtime"},
    {"__init__", "__main__"},
]

#: module (dotted, relative to pconf) -> pconf modules it may import. A row covers the module and the modules below
#: it, unless they have a row of their own (the longest row that names a module's package wins); an entry allows
#: the module it names and the modules below it; a module may always import the modules of its own row.
ALLOWED: dict[str, set[str]] = {
    "_version": set(),
    "keypath": set(),
    "cpulist": set(),
    "tree": {"keypath"},
    "netaddr": set(),
    "errors": {"keypath"},
    "schema": {"schema", "errors", "keypath", "cpulist", "netaddr"},
    "versions": {"versions", "schema"},
    "load": {"keypath", "errors", "load"},
    "merge": {"keypath", "errors", "load"},
    "target": {"keypath", "errors", "load", "merge"},
    "structure": {"schema", "versions", "merge", "keypath", "errors", "cpulist"},
    "model": {"model", "schema", "versions", "keypath", "errors"},
    "engine_args": {"schema", "versions", "keypath"},
    "resolve": {"schema", "versions", "keypath", "errors", "model", "engine_args"},
    "deployment": {"resolve", "errors", "keypath", "netaddr"},
    "rules": {"resolve", "schema", "versions", "keypath", "errors", "numa.binding", "cpulist", "model", "deployment"},
    "hashing": {"resolve", "schema", "versions", "errors"},
    "plan": {"resolve", "errors", "keypath", "numa.binding", "cpulist", "model", "deployment", "netaddr", "versions"},
    "numa": set(),  # the package's lazy re-exports (importlib, not import statements)
    "numa.binding": {"schema", "cpulist"},  # vLLM's rules: pure, reads no host
    "numa.sysfs": {"cpulist", "errors", "numa.binding"},  # the one reader of the host's topology
    "compile": {"load", "merge", "structure", "resolve", "rules", "errors", "keypath", "schema", "versions",
                "hashing", "plan", "numa.sysfs", "tree", "model", "target"},
    "compare": {"compile", "hashing", "keypath", "tree", "versions"},
    "migrate": {"compile", "errors", "keypath", "versions", "schema"},
    "introspect": {"schema", "versions", "structure", "rules", "hashing", "load", "errors"},
    "suggest": {"compile", "model", "schema", "errors", "target"},
    "emit": {"compile", "compare", "plan", "hashing", "schema", "versions", "keypath", "errors", "resolve",
             "numa.binding", "model", "suggest", "netaddr", "deployment", "target"},
    "cli": {"_version", "cli", "versions", "migrate", "compile", "compare", "emit", "errors", "hashing", "plan",
            "runtime", "introspect", "numa.sysfs", "load", "suggest", "target"},
    "runtime": {"runtime", "plan", "hashing", "resolve", "errors", "keypath", "schema", "compile", "numa.binding",
                "numa.sysfs", "cpulist", "netaddr"},
    "__init__": {"_version", "compile", "errors", "schema", "resolve", "hashing", "plan"},
    "__main__": {"cli"},
}

#: third-party library -> the only pconf modules that may import it.
OWNERS: dict[str, set[str]] = {
    "tomllib": {"load"},
    "tomli": {"load"},
    "yaml": {"load", "emit"},
    "tomli_w": {"emit"},
    "xxhash": {"hashing"},
    "tomlkit": {"migrate"},
    "ruamel": {"migrate"},
    "attrs": {"schema", "versions", "structure", "resolve", "compile", "emit", "hashing", "introspect"},
    "torch": {"runtime"},
    "numpy": set(),
    "ray": {"runtime"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def row(module: str) -> str:
    """The row of a module: the longest one naming it or a package above it."""
    parts = module.split(".")
    return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in ALLOWED),
                parts[0])


def covers(entry: str, target: str) -> bool:
    """Whether a table entry allows importing ``target`` (the module itself or one below it)."""
    return target == entry or target.startswith(entry + ".")


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
        elif isinstance(node, ast.ImportFrom) and node.module == "pconf" and node.level == 0:
            names.extend(f"pconf.{a.name}" for a in node.names)  # `from pconf import deployment`: a submodule
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
            target = name.split(".", maxsplit=1)[1] if "." in name else "__init__"
            assert any(covers(entry, target) for entry in allowed | {row(me)}), f"pconf.{me} may not import {name}"
        elif top in OWNERS:
            assert row(me) in OWNERS[top], f"pconf.{me} may not import {top} (owned by {OWNERS[top]})"
        else:
            assert top in sys.stdlib_module_names or top == "typing_extensions", f"pconf.{me}: unknown import {top}"


def stage(row_name: str) -> int:
    top = row_name.split(".", maxsplit=1)[0]
    return next(i for i, names in enumerate(STAGES) if top in names)


@pytest.mark.parametrize("row_name", sorted(ALLOWED))
def test_table_follows_the_flow(row_name: str) -> None:
    """Every row's allowed imports lie in its own stage or an earlier one: data flows one way."""
    for target in ALLOWED[row_name]:
        assert stage(target) <= stage(row_name), f"{row_name} (stage {stage(row_name)}) may import {target} " \
            f"(stage {stage(target)}), a later stage"


def test_every_module_has_a_stage() -> None:
    rows = {row(module_name(p)) for p in MODULES}
    assert rows == set(ALLOWED)
    assert {r.split(".")[0] for r in rows} == set().union(*STAGES)


def test_no_import_cycle() -> None:
    """No two files import each other, directly or through others (lazy imports included)."""
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        me = module_name(path)
        targets = set()
        for name in runtime_imports(ast.parse(path.read_text())):
            if name == "pconf" or name.startswith("pconf."):
                target = name.removeprefix("pconf").removeprefix(".") or "__init__"
                if target in {module_name(p) for p in MODULES} or f"{target}.__init__" in {
                        module_name(p) for p in MODULES}:
                    targets.add(target if target in {module_name(p) for p in MODULES} else f"{target}.__init__")
        graph[me] = targets - {me}
    # a package's __init__ importing its own submodules is how a package is built, not a cycle of files
    for me, targets in graph.items():
        if me.endswith("__init__"):
            package = me.removesuffix("__init__")
            graph[me] = {t for t in targets if not t.startswith(package)}
    state: dict[str, int] = {}
    path_stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path_stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = [*path_stack[path_stack.index(nxt):], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path_stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_planning_a_binding_loads_no_sysfs_reader() -> None:
    """Compiling and planning a NUMA-bound document (rules and plan use vLLM's binding rules) loads
    ``pconf.numa.binding`` and never ``pconf.numa.sysfs``: the package's re-exports are lazy."""
    code = (
        "import sys, pconf\n"
        "doc = {'parallel': {'numa_bind': True, 'numa_bind_nodes': [0, 1], 'tensor_parallel_size': 2}}\n"
        "pconf.compile_dict(doc).plan().to_dict()\n"
        "print(sorted(m for m in sys.modules if m.startswith('pconf.numa')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "['pconf.numa', 'pconf.numa.binding']\n", "")
