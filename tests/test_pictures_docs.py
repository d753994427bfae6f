"""The pictures in the docs are current: each example's SVG under ``docs/pictures/`` and the Mermaid block of
``docs/pictures.md`` are what ``pconf plan --format svg|mermaid`` prints now; the README shows one of them.

``python tests/test_pictures_docs.py --record`` rewrites them from what pconf draws now.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import pconf
from pconf.emit import plan_text

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ROOT / "docs" / "pictures"
GUIDE = ROOT / "docs" / "pictures.md"
EXAMPLES = sorted(p.relative_to(ROOT).as_posix() for p in [*(ROOT / "examples").glob("*.toml"),
                                                            *(ROOT / "examples" / "layered").glob("*.toml")])
#: The example whose Mermaid picture docs/pictures.md shows.
MERMAID_EXAMPLE = "examples/cluster.toml"
_MERMAID_BLOCK = re.compile(r"(```mermaid\n)(.*?)(```\n)", re.S)


def picture_path(example: str) -> Path:
    """``examples/layered/prod.toml`` -> ``docs/pictures/layered-prod.svg``."""
    return PICTURES / (example.removeprefix("examples/").removesuffix(".toml").replace("/", "-") + ".svg")


def draw(example: str, fmt: str) -> str:
    return plan_text(pconf.plan_files([str(ROOT / example)]), fmt)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_picture_is_current(example: str) -> None:
    """docs/pictures/<example>.svg is exactly what `pconf plan <example> --format svg` prints."""
    path = picture_path(example)
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: python tests/test_pictures_docs.py --record"
    assert path.read_text(encoding="utf-8") == draw(example, "svg"), \
        f"{path.relative_to(ROOT)} is stale: python tests/test_pictures_docs.py --record"


def test_no_stray_pictures() -> None:
    assert sorted(PICTURES.glob("*.svg")) == sorted(map(picture_path, EXAMPLES))


def test_guide_mermaid_is_current() -> None:
    """docs/pictures.md's ```mermaid block is `pconf plan examples/cluster.toml --format mermaid`."""
    blocks = _MERMAID_BLOCK.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) == 1
    assert blocks[0][1] == draw(MERMAID_EXAMPLE, "mermaid")


def test_guide_and_readme_show_pictures() -> None:
    """The guide shows every example's picture; the README shows one and links the guide."""
    guide = GUIDE.read_text(encoding="utf-8")
    for example in EXAMPLES:
        assert f"](pictures/{picture_path(example).name})" in guide, example
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"!\[[^\]]*\]\(docs/pictures/[a-z0-9-]+\.svg\)", readme)
    assert "(docs/pictures.md)" in readme


def record() -> None:
    PICTURES.mkdir(exist_ok=True)
    for stale in set(PICTURES.glob("*.svg")) - set(map(picture_path, EXAMPLES)):
        stale.unlink()
    for example in EXAMPLES:
        picture_path(example).write_text(draw(example, "svg"), encoding="utf-8")
    text = GUIDE.read_text(encoding="utf-8")
    mermaid = draw(MERMAID_EXAMPLE, "mermaid")
    GUIDE.write_text(_MERMAID_BLOCK.sub(lambda m: m.group(1) + mermaid + m.group(3), text, count=1),
                     encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_pictures_docs.py --record")
    record()
    print(f"{len(EXAMPLES)} pictures written to {PICTURES}, and the Mermaid block of {GUIDE}")
