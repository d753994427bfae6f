"""Benchmark: pconf compiling a 3-layer YAML example against OmegaConf merging the same layers.

Both sides run in this process, interleaved, on the same three files (bench/data/*.yaml):
- pconf: ``compile_files`` = read + parse + merge with provenance + structure (strict) + resolve + every rule;
- OmegaConf: ``OmegaConf.load`` each file, ``OmegaConf.merge`` onto a structured config with every field of
  the schema (dataclasses generated from pconf's attrs classes), then ``OmegaConf.to_object``.

Also measured: the C YAML loader alone reading the three files (the floor for any YAML-based tool).
Prints medians and the ratio OmegaConf / pconf (target: >= 10).

    python bench/compile.py [--rounds N]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import yaml

import pconf
from pconf.schema import Document

DATA = Path(__file__).parent / "data"
LAYERS = [DATA / "base.yaml", DATA / "cluster.yaml", DATA / "prod.yaml"]


def omegaconf_schema(cls: type[Any]) -> type[Any]:
    """A dataclass mirroring an attrs class field for field, in types OmegaConf understands."""
    fields = []
    for a in attrs.fields(cls):
        tp, default = _omegaconf_type(a.type), a.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            nested = omegaconf_schema(a.type)
            fields.append((a.name, nested, dataclasses.field(default_factory=nested)))
        else:
            fields.append((a.name, tp, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"OC{cls.__name__}", fields)


def _omegaconf_type(tp: Any) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        base = _omegaconf_type(inner[0]) if len(inner) == 1 else Any
        return typing.Optional[base] if type(None) in args else base  # noqa: UP045 - OmegaConf wants Optional
    if typing.get_origin(tp) is typing.Literal:
        return str
    if typing.get_origin(tp) is tuple:
        return list[args[0]]  # type: ignore[valid-type]
    if typing.get_origin(tp) is dict:
        return dict[str, Any]
    return tp


def run_pconf() -> object:
    return pconf.compile_files(LAYERS)


def make_omegaconf() -> Callable[[], object]:
    from omegaconf import OmegaConf

    schema = OmegaConf.structured(omegaconf_schema(Document))

    def run() -> object:
        layers = [OmegaConf.load(p) for p in LAYERS]
        return OmegaConf.to_object(OmegaConf.merge(schema, *layers))

    return run


def run_yaml_only() -> object:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [yaml.load(p.read_text(), Loader=loader) for p in LAYERS]


def median_seconds(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    run_omegaconf = make_omegaconf()
    for fn in (run_pconf, run_omegaconf, run_yaml_only):  # warm-up: imports, converter, caches
        fn()
    # Interleave short batches so machine noise hits both sides alike.
    results: dict[str, list[float]] = {"pconf": [], "omegaconf": [], "yaml": []}
    for _ in range(10):
        results["pconf"].append(median_seconds(run_pconf, max(args.rounds // 10, 1)))
        results["omegaconf"].append(median_seconds(run_omegaconf, max(args.rounds // 100, 3)))
        results["yaml"].append(median_seconds(run_yaml_only, max(args.rounds // 10, 1)))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"pconf compile (3 YAML layers, load+merge+validate+resolve): {med['pconf'] * 1e3:8.3f} ms")
    print(f"OmegaConf load+merge+to_object (same layers, every field):  {med['omegaconf'] * 1e3:8.3f} ms")
    print(f"C YAML loader alone, three files:                          {med['yaml'] * 1e3:8.3f} ms")
    ratio = med["omegaconf"] / med["pconf"]
    print(f"ratio OmegaConf / pconf: {ratio:.1f}x (target >= 10x)")
    return 0 if ratio >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
