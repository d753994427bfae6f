"""Benchmark: ``pconf validate examples/cluster.toml`` as a fresh process, against the floor of importing
its dependencies (``python -c "import attrs, cattrs, yaml, tomllib, xxhash"``).

Runs both commands alternately (machines are shared and noisy), prints the medians and the ratio
(target: <= 1.5), and checks with ``-X importtime`` that neither torch nor numpy is imported.

    python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = [sys.executable, "-c", "import attrs, cattrs, yaml, tomllib, xxhash"]
PCONF = [shutil.which("pconf") or "pconf", "validate", str(ROOT / "examples" / "cluster.toml")]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def heavy_imports() -> list[str]:
    """Modules pconf must never import on the compile path, as seen by ``-X importtime``."""
    cmd = [sys.executable, "-X", "importtime", "-m", "pconf", "validate", str(ROOT / "examples" / "cluster.toml")]
    err = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
    names = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    return sorted(n for n in names if n.split(".")[0] in ("torch", "numpy", "ray"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    # A regular install byte-compiles the package; an editable one under PYTHONDONTWRITEBYTECODE=1 never
    # would, and every run would compile pconf from source. Compile once, as pip install does.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pconf")], check=True)
    for cmd in (BASELINE, PCONF):  # warm the file cache
        timed(cmd)
    base, ours = [], []
    for _ in range(args.runs):
        base.append(timed(BASELINE))
        ours.append(timed(PCONF))
    b, p = statistics.median(base), statistics.median(ours)
    heavy = heavy_imports()
    print(f"python -c 'import attrs, cattrs, yaml, tomllib, xxhash': {b * 1e3:7.1f} ms (median of {args.runs})")
    print(f"pconf validate examples/cluster.toml:                   {p * 1e3:7.1f} ms")
    print(f"ratio: {p / b:.2f}x (target <= 1.5x); heavy imports: {', '.join(heavy) or 'none'}")
    return 0 if p / b <= 1.5 and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
