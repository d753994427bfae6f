"""The test profiles (see ``tests/profiles.py``): dev by default, ci with ``PCONF_TEST_PROFILE=ci``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import profiles

profiles.register()  # before any test module is imported: their @settings(max_examples=examples(...)) read it


def pytest_report_header() -> str:
    name = profiles.chosen()
    if name == "ci":
        return f"pconf test profile: ci (every test, every suite's full example count; {profiles.ENV})"
    return (f"pconf test profile: dev (a tenth of the hypothesis examples, the ci_only runtime tests deselected; "
            f"{profiles.ENV}=ci runs everything)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """dev deselects the tests marked ci_only (ci runs them); deselected, not skipped, so -ra stays short."""
    if profiles.chosen() == "ci":
        return
    keep = [item for item in items if item.get_closest_marker("ci_only") is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("ci_only")])
        items[:] = keep


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in its own temporary directory, with ``PCONF_TRACEBACK`` unset (errors print as users see
    them); modules that write files by relative name use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PCONF_TRACEBACK", raising=False)
    return tmp_path
