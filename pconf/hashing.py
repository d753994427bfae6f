"""The graph hash: a canonical, versioned digest of the fields that shape the computation graph.

The factors are exactly vLLM's ``ParallelConfig.compute_hash`` factors (spec §9): every field whose metadata
says ``graph=True`` (the nested ``eplb_config`` with all its fields), plus the derived ``world_size``. vLLM's
runtime-internal ``_coord_store_port`` is a factor there too, but it is not part of the file format (always
0 in a compiled document), so it is left out. Values are hashed after resolution: the all2all alias
rewrite, the auto-selected EPLB communicator and the resolved ``disable_nccl_for_dp_synchronization``.

Each vLLM release has its own factor set (its fields, ``pconf.versions``). Encoding (scheme ``pconf1``),
independent of ``repr``, ``hash()``, dict order and Python version: the header line ``pconf1``, for a release
other than the seed's a line ``vllm=<release>``, a line with the factor names (sorted, comma-separated), then
the JSON array of their values (``null``/``true``/``false``, decimal integers, ASCII-escaped strings: the only
kinds a factor can hold); digested with xxh3-128. The printed form names the scheme
(``pconf1-xxh3_128:<32 hex>``) so a future scheme can never pass for a config change.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable
from typing import NamedTuple

import xxhash

from pconf.resolve import ResolvedConfig
from pconf.versions import DEFAULT, PROFILES, Profile

SCHEME = "pconf1-xxh3_128"


class _Factors(NamedTuple):
    """A release's factor set: the sorted names, one getter fetching all values, the encoding's prefix."""

    names: tuple[str, ...]
    get_all: Callable[[ResolvedConfig], tuple[object, ...]]
    prefix: bytes


@functools.cache
def _factors(profile: Profile) -> _Factors:
    """A release's factors, built once from the field metadata: every field present in the release whose metadata
    says ``graph=True`` (nested tables field by field), ``world_size``, and the release's constant factors."""
    paths = {"world_size": "world_size"}
    fields = profile.fields()
    tables = {path.rpartition(".")[0] for path in fields}  # a table's own entry is not a factor: its keys are
    for path, meta in fields.items():
        if meta.graph and path.startswith("parallel.") and path.count(".") in (1, 2) and path not in tables:
            paths[path.removeprefix("parallel.")] = path
    constants = dict(profile.constant_factors)
    names = tuple(sorted([*paths, *constants]))
    getter = operator.attrgetter(*(paths[n] for n in names if n in paths))

    def get_all(resolved: ResolvedConfig) -> tuple[object, ...]:
        found = iter(getter(resolved))
        return tuple(constants[n] if n in constants else next(found) for n in names)

    prefix = ("pconf1\n" + profile.hash_tag + ",".join(names) + "\n").encode("ascii")
    return _Factors(names, get_all, prefix)


def factor_names(profile: Profile | None = None) -> tuple[str, ...]:
    """The dotted names of a release's graph-hash factors (the default release's without one), sorted."""
    return _factors(profile or PROFILES[DEFAULT]).names


#: The dotted names of every graph-hash factor of the default release, sorted.
FACTOR_NAMES: tuple[str, ...] = factor_names()


def encode_value(value: object) -> str:
    """The canonical spelling of one factor value (raises TypeError for anything not plain)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return json.dumps(value)
    raise TypeError(f"graph factor values are None, bool, int or str, not {type(value).__name__}")


class Factor(NamedTuple):
    """One graph factor: its dotted name and its resolved value."""

    name: str
    value: object

    @property
    def line(self) -> str:
        """The factor's canonical line, ``name=value``."""
        return f"{self.name}={encode_value(self.value)}"

    @property
    def digest(self) -> str:
        """The factor's own digest (xxh3-64 of its line), for telling ranks apart factor by factor."""
        return xxhash.xxh3_64_hexdigest(self.line.encode("ascii"))


class GraphHash(NamedTuple):
    """The graph hash of a resolved configuration, the release it was taken for, and the factor values it covers
    (in ``names`` order). (This module's records are NamedTuples: made at every start-up, they cost a fifth of a
    dataclass to define.)"""

    scheme: str
    hexdigest: str
    factor_values: tuple[object, ...]
    vllm_version: str = DEFAULT
    names: tuple[str, ...] = FACTOR_NAMES

    def __str__(self) -> str:
        return f"{self.scheme}:{self.hexdigest}"

    @property
    def factors(self) -> tuple[Factor, ...]:
        return tuple(map(Factor, self.names, self.factor_values))

    def values(self) -> dict[str, object]:
        return dict(zip(self.names, self.factor_values, strict=True))


def graph_hash(resolved: ResolvedConfig) -> GraphHash:
    """Hash the graph factors of a resolved configuration (its release's factor set; a release other than the
    seed's is named in the encoded bytes, so two releases never share a hash)."""
    factors = _factors(resolved.profile)
    values = factors.get_all(resolved)
    digest = xxhash.xxh3_128_hexdigest(factors.prefix + json.dumps(values).encode("ascii"))
    return GraphHash(SCHEME, digest, values, resolved.profile.name, factors.names)


class FactorChange(NamedTuple):
    """A factor whose value differs between two hashes (``MISSING`` stands for absent)."""

    name: str
    old: object
    new: object


def diff_factors(old: dict[str, object], new: dict[str, object]) -> list[FactorChange]:
    """The factors that differ between two factor-value maps, sorted by name."""
    missing = _Absent()
    return [
        FactorChange(name, old.get(name, missing), new.get(name, missing))
        for name in sorted(old.keys() | new.keys())
        if old.get(name, missing) != new.get(name, missing) or (name in old) != (name in new)
    ]


class _Absent:
    """A factor that one side does not have (e.g. a lock written by another scheme)."""

    def __repr__(self) -> str:
        return "(absent)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Absent)

    def __hash__(self) -> int:
        return 0


# -- lock files --------------------------------------------------------------------------------------------


def lock_dict(gh: GraphHash) -> dict[str, object]:
    """What ``pconf hash --write-lock`` records: the scheme, the vLLM release, the hash and every factor's value."""
    return {"scheme": gh.scheme, "vllm_version": gh.vllm_version, "graph_hash": str(gh), "factors": gh.values()}


class LockCheck(NamedTuple):
    """The result of comparing a graph hash with a lock."""

    locked_scheme: str
    changes: tuple[FactorChange, ...]

    @property
    def scheme_changed(self) -> bool:
        return self.locked_scheme != SCHEME

    @property
    def unchanged(self) -> bool:
        return not self.changes


def check_lock(locked_scheme: str, locked_factors: dict[str, object], gh: GraphHash,
               locked_version: str = DEFAULT) -> LockCheck:
    """Compare a hash with a lock by factor values, so a lock from another scheme reports real changes only; a lock
    of another vLLM release reports that change first (``vllm_version``; a lock without one is the seed's)."""
    changes = diff_factors(locked_factors, gh.values())
    if locked_version != gh.vllm_version:
        changes.insert(0, FactorChange("vllm_version", locked_version, gh.vllm_version))
    return LockCheck(locked_scheme, tuple(changes))


def lock_problem(lock: object) -> str | None:
    """What is wrong with the shape of a parsed lock file, or None."""
    if not isinstance(lock, dict):
        return "a lock file is a JSON object"
    for key, kind in (("scheme", str), ("graph_hash", str), ("factors", dict)):
        if not isinstance(lock.get(key), kind):
            return f"the lock has no valid `{key}` ({kind.__name__})"
    if not isinstance(lock.get("vllm_version", DEFAULT), str):
        return "the lock's `vllm_version` is not a string"
    return None
