"""Benchmark: ``pconf validate`` and ``pconf hash`` as fresh processes, against the floor of importing pconf's
dependencies (``python -c "import attrs, yaml, tomllib, xxhash"``; the issue's baseline also imported cattrs,
which pconf no longer uses: without it the floor is lower and the ratios stricter): on examples/cluster.toml, and on a
realistic stack of three YAML layers (bench/data/startup: a base, a model overlay reading DeepSeek-V3's
config.json, a production overlay with EPLB).

Runs the commands in turn (machines are shared and noisy), prints the medians and the ratios (target: each
<= 1.5), and checks with ``-X importtime`` that neither torch, numpy nor ray is imported.

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
BASELINE_IMPORTS = "import attrs, yaml, tomllib, xxhash"
BASELINE = [sys.executable, "-c", BASELINE_IMPORTS]
EXAMPLE = str(ROOT / "examples" / "cluster.toml")
STACK = [str(ROOT / "bench" / "data" / "startup" / f"{name}.yaml") for name in ("base", "model", "prod")]
PCONF = shutil.which("pconf") or "pconf"
COMMANDS = {
    "pconf validate examples/cluster.toml": [PCONF, "validate", EXAMPLE],
    "pconf hash examples/cluster.toml": [PCONF, "hash", EXAMPLE],
    "pconf hash base.yaml model.yaml prod.yaml": [PCONF, "hash", *STACK],
}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def heavy_imports(args: list[str]) -> list[str]:
    """Modules pconf must never import on the compile path, as seen by ``-X importtime``."""
    cmd = [sys.executable, "-X", "importtime", "-m", "pconf", *args]
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
    for cmd in (BASELINE, *COMMANDS.values()):  # warm the file cache
        timed(cmd)
    times: dict[str, list[float]] = {"baseline": [], **{name: [] for name in COMMANDS}}
    for _ in range(args.runs):
        times["baseline"].append(timed(BASELINE))
        for name, cmd in COMMANDS.items():
            times[name].append(timed(cmd))
    base = statistics.median(times["baseline"])
    label = f"python -c '{BASELINE_IMPORTS}'"
    print(f"{label:<56} {base * 1e3:7.1f} ms (median of {args.runs})")
    ok = True
    for name, cmd in COMMANDS.items():
        median = statistics.median(times[name])
        heavy = heavy_imports(cmd[1:])
        ok &= median / base <= 1.5 and not heavy
        print(f"{name:<56} {median * 1e3:7.1f} ms  ratio {median / base:.2f}x (target <= 1.5x); "
              f"heavy imports: {', '.join(heavy) or 'none'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
