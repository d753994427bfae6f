"""The wheel holds what an installed pconf needs: every module, the HTML page's assets, py.typed, the ``pconf``
command, under the distribution's name. (CI's ``.ci/wheel-smoke`` also installs it in a fresh venv and runs it;
this builds it offline with the setuptools at hand, from a copy of the sources so the tree stays clean.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "pconf", src / "pconf", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
                             "-w", str(out), str(src)], capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0 and "setuptools>=" in result.stderr:
        pytest.skip("this environment's setuptools is older than pyproject asks for")
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("*.whl")
    assert path.name.startswith("pconf_vllm-")
    return zipfile.ZipFile(path)


def test_every_module_and_data_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pconf").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert sources <= names, sorted(sources - names)
    assert {"pconf/py.typed", "pconf/emit/assets/page.css", "pconf/emit/assets/page.js"} <= names


def test_metadata(wheel: zipfile.ZipFile) -> None:
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = wheel.read(info).decode()
    assert "\nName: pconf-vllm\n" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    entry = wheel.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "pconf = pconf.cli:main" in entry
