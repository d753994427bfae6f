"""Benchmark: ``pconf suggest`` over the example models for several GPU counts.

Each run reads the model's config.json, compiles every candidate layout with every rule and model check, plans the
ones that pass and ranks them (``pconf.suggest.suggest``). Prints the best of ``--rounds`` per model and size,
with the number of layouts found.

    python bench/suggest.py [--rounds N] [--gpus 8,64,512]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pconf.suggest import suggest

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gpus", default="8,64,512")
    args = parser.parse_args()
    sizes = [int(n) for n in args.gpus.split(",")]
    print(f"{'model':<20} {'gpus':>5} {'layouts':>8} {'best ms':>8}")
    for model in sorted(p for p in MODELS.iterdir() if p.is_dir()):
        for gpus in sizes:
            best = float("inf")
            found = 0
            for _ in range(args.rounds):
                start = time.perf_counter()
                found = len(suggest(gpus, model).layouts)
                best = min(best, time.perf_counter() - start)
            print(f"{model.name:<20} {gpus:>5} {found:>8} {best * 1000:>8.1f}")


if __name__ == "__main__":
    main()
