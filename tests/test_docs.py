"""The hand-written guides stay true: every rule id and limit documented, links resolve, the shown commands run
and print what the guides say they print, and the pre-commit hooks work as documented."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

from pconf.cli import main
from pconf.cpulist import MAX_NAMED_CPUS
from pconf.introspect import field_check_rules
from pconf.load.layer import MAX_DEPTH, MAX_FILE_BYTES, MAX_LAYERS, MAX_OVERRIDES, MAX_VALUES
from pconf.plan import MAX_RANKS
from pconf.rules import RULES
from pconf.schema.parallel import MAX_PARALLEL_SIZE
from pconf.structure import MAX_LIST_ITEMS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = sorted(p for p in DOCS.glob("*.md") if p.name != "reference.md")
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
ERRORS = (DOCS / "errors.md").read_text(encoding="utf-8")

#: Rule-id families reported outside pconf.rules, found as string literals in pconf's sources.
_ID = re.compile(r"(load|schema|numa|plan|hash|output|explain|emit|compiled|docs|stdin|target)\.[a-z][a-z0-9_]*")
#: Ids built at run time (``f"load.{key}_type"``), which a literal scan cannot see.
_BUILT_IDS = {"load.extends_type", "load.reset_type"}


def source_rule_ids() -> set[str]:
    ids = set(_BUILT_IDS)
    for path in (ROOT / "pconf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ID.fullmatch(node.value):
                ids.add(node.value)
    return ids


class TestErrorsGuide:
    @pytest.mark.parametrize("rule_id", sorted({r.id for r in RULES} | set(field_check_rules()) | source_rule_ids()))
    def test_every_rule_id_has_a_row(self, rule_id: str) -> None:
        """Every rule id pconf can report has its own row in docs/errors.md."""
        assert f"| `{rule_id}` |" in ERRORS

    def test_limits(self) -> None:
        """The limits table states the constants of load.layer, the schema's size bound and the plan's."""
        assert MAX_FILE_BYTES == 1 << 20
        assert "| 1 MiB (1024 KiB) |" in ERRORS
        assert f"| {MAX_DEPTH} levels |" in ERRORS
        assert f"| {MAX_VALUES} |" in ERRORS
        assert f"| {MAX_LAYERS} |" in ERRORS
        assert f"| {MAX_OVERRIDES} | `load.too_many_overrides` |" in ERRORS
        assert f"| {MAX_PARALLEL_SIZE} | `schema.bound` |" in ERRORS
        assert f"| {MAX_RANKS} | `plan.too_many_ranks` |" in ERRORS
        assert "| 64 bits: -2^63 to 2^63-1 | `load.int_range` |" in ERRORS
        assert f"| {MAX_LIST_ITEMS} | `schema.too_many_items` |" in ERRORS
        assert f"| {MAX_NAMED_CPUS} | `schema.too_many_cpus` |" in ERRORS


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings (lower case; spaces to -, other punctuation but - and _ dropped)."""
    out = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add("".join(c for c in title if c.isalnum() or c in "-_ ").replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link points at an existing file, and every #anchor at a heading of its page."""
    for target in _LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in _anchors(dest), f"{page.name}: {target}"


def test_readme_links_every_guide() -> None:
    """The README links every page under docs/."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        assert f"(docs/{page.name})" in readme, page.name


# -- the commands the guides show -----------------------------------------------------------------------------

def code_blocks(page: Path) -> list[str]:
    """The text of each fenced shell block (```sh, or no language) of a page."""
    blocks: list[str] = []
    current: list[str] = []
    lang: str | None = None
    for line in page.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("```"):
            if lang is None:
                lang, current = line[3:].strip(), []
            else:
                if lang in ("", "sh"):
                    blocks.append("".join(current))
                lang = None
        elif lang is not None:
            current.append(line)
    return blocks


def shown_sessions() -> list[tuple[str, str, str]]:
    """(guide, command, shown output) for each block that starts with ``$ pconf`` on an example file."""
    out = []
    for page in GUIDES:
        for block in code_blocks(page):
            first, _, rest = block.partition("\n")
            if first.startswith("$ pconf ") and "examples/" in first and "..." not in block:
                out.append((page.name, first[2:], rest))
    return out


def shown_commands() -> list[tuple[str, str]]:
    """(guide, command) for each plain ``pconf ...`` line on example files in a code block (``pconf launch``
    starts processes and needs torch: tests/runtime covers it)."""
    out = []
    for page in GUIDES:
        for block in code_blocks(page):
            for line in block.splitlines():
                if line.startswith("pconf ") and "examples/" in line and not line.startswith("pconf launch"):
                    out.append((page.name, line.split("  #")[0]))
    return out


SESSIONS = shown_sessions()
COMMANDS = shown_commands()


@pytest.fixture
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.usefixtures("_at_root")
@pytest.mark.parametrize(("guide", "command", "shown"), SESSIONS, ids=[f"{g}: {c}" for g, c, _ in SESSIONS])
def test_shown_output_is_real(guide: str, command: str, shown: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A `$ pconf ...` session in a guide prints exactly what the guide shows."""
    assert main(shlex.split(command)[1:]) == 0, guide
    captured = capsys.readouterr()
    assert captured.out + captured.err == shown, guide


@pytest.mark.usefixtures("_at_root")
@pytest.mark.parametrize(("guide", "command"), COMMANDS, ids=[f"{g}: {c}" for g, c in COMMANDS])
def test_shown_commands_run(guide: str, command: str) -> None:
    """A `pconf ...` command a guide shows on an example succeeds."""
    assert main(shlex.split(command)[1:]) == 0, guide


def test_sessions_found() -> None:
    """The guides do show sessions and commands (so the two tests above test something)."""
    assert len(SESSIONS) >= 5
    assert len(COMMANDS) >= 3


# -- pre-commit hooks ---------------------------------------------------------------------------------------

HOOKS = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}


class TestPreCommitHooks:
    def test_hook_definitions(self) -> None:
        """Two python hooks: validate on the changed files, hash (given its args) once."""
        assert set(HOOKS) == {"pconf-validate", "pconf-hash-check"}
        assert HOOKS["pconf-validate"]["entry"] == "pconf validate"
        assert HOOKS["pconf-hash-check"]["entry"] == "pconf hash"
        assert HOOKS["pconf-hash-check"]["pass_filenames"] is False
        assert {h["language"] for h in HOOKS.values()} == {"python"}
        assert all(h["name"] and h["description"] for h in HOOKS.values())

    @pytest.mark.parametrize(("path", "matches"), [
        ("cluster.toml", True), ("deploy/cluster-prod.yaml", True), ("clusters/a/b.yml", True),
        ("pyproject.toml", False), (".pre-commit-config.yaml", False), ("deploy/values.yaml", False),
    ])
    def test_validate_files_pattern(self, path: str, matches: bool) -> None:
        """By default the validate hook runs on cluster files only, not on every TOML/YAML file."""
        assert bool(re.search(HOOKS["pconf-validate"]["files"], path)) is matches

    @pytest.mark.usefixtures("_at_root")
    def test_validate_hook_runs(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The validate entry, given files the way pre-commit passes them, succeeds on the examples."""
        assert main([*shlex.split(HOOKS["pconf-validate"]["entry"])[1:], "examples/tp8.toml", "examples/ray.yaml"]) == 0
        assert capsys.readouterr().out == "examples/tp8.toml: ok\nexamples/ray.yaml: ok\n"

    @pytest.mark.usefixtures("_at_root")
    def test_hash_hook_runs(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The hash entry with the documented args passes on an unchanged graph and fails on a changed one."""
        lock = str(tmp_path / "pconf.lock")
        entry = shlex.split(HOOKS["pconf-hash-check"]["entry"])[1:]
        assert main([*entry, "examples/cluster.toml", "--write-lock", lock]) == 0
        assert main([*entry, "examples/cluster.toml", "--check", lock]) == 0
        assert main([*entry, "examples/cluster.toml", "--check", lock, "--set", "parallel.master_port=30000"]) == 0
        assert main([*entry, "examples/cluster.toml", "--check", lock,
                     "--set", "parallel.eplb_config.num_redundant_experts=32"]) == 1
        assert "  eplb_config.num_redundant_experts: 16 -> 32\n" in capsys.readouterr().out
