"""The Ray backend: placement groups and rank actors built from a plan, running the same runtime code as mp.

- ``placement_spec(plan)`` (no Ray needed): one bundle per rank (``{"GPU": 1}``, or ``{"CPU": 1}`` on cpu),
  grouped so that the ranks of one host share it: a STRICT_PACK placement group per host of
  ``cluster.devices_per_node`` ranks, or, with one rank per host, a single STRICT_SPREAD group. A placement
  group named in the config (``parallel.placement_group``) is used instead, bundle *i* for rank *i*.
- ``rank_actors`` / ``run_on_ranks``: one actor per rank, scheduled on its bundle, with the rank's environment
  from the plan (and ``ray_runtime_env``), its NUMA binding applied; ``run_on_ranks`` calls a function in
  every actor and returns the results in rank order.
- ``ray_launch``: what ``pconf launch`` does for the ray backend: start Ray locally (or join ``RAY_ADDRESS``; a
  Ray the caller already initialised is used and left running), check the resources, place, host the
  rendezvous store, run ``pconf.runtime.worker.run_checks`` in every actor (the same code path as the mp
  launcher's rank processes) or the user's command with the rank's environment, report, clean up.

Errors users hit say what to do: Ray not installed (the extra to install), too few CPUs/GPUs for the bundles
(how many are needed and available), a placement group not ready within the timeout.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pconf.numa.binding import Binding
from pconf.plan import Plan

PG_READY_TIMEOUT = 60.0
EXIT_FAULT = 3  # a rank that ran out of time or died: an environment fault, as with the mp launcher


class RayUnavailable(ImportError):
    """Ray is not installed."""


class RayPlacementError(RuntimeError):
    """The bundles cannot be placed: too few resources, no such placement group, or not ready in time."""


def import_ray() -> Any:
    """Import Ray, or say which extra installs it."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("the ray backend needs Ray: pip install 'pconf-vllm[ray]'") from exc
    return ray


@dataclass(frozen=True)
class BundleGroup:
    """One placement group to create: a bundle per rank (in rank order) and how Ray may spread them."""

    ranks: tuple[int, ...]
    bundles: tuple[dict[str, float], ...]
    strategy: str

    def as_dict(self) -> dict[str, Any]:
        return {"ranks": list(self.ranks), "bundles": [dict(b) for b in self.bundles], "strategy": self.strategy}


@dataclass(frozen=True)
class RaySpec:
    """Where the ranks of a plan go on Ray: new placement groups, or an existing one named in the config."""

    groups: tuple[BundleGroup, ...]
    existing: str | None
    runtime_env: dict[str, Any] | None
    resource: str

    @property
    def world_size(self) -> int:
        return sum(len(g.ranks) for g in self.groups)

    def needed(self) -> dict[str, float]:
        return {self.resource: float(self.world_size)}

    def as_dict(self) -> dict[str, Any]:
        return {"groups": [g.as_dict() for g in self.groups], "existing_placement_group": self.existing,
                "runtime_env": self.runtime_env}


def placement_spec(plan: Plan) -> RaySpec:
    """The placement of a plan's ranks on Ray (see the module docstring)."""
    doc = plan.resolved.document
    resource = "CPU" if doc.cluster.device == "cpu" else "GPU"
    per_host = max(doc.cluster.devices_per_node, 1)
    ranks = list(range(plan.world_size))
    if per_host == 1 and len(ranks) > 1:
        groups = [BundleGroup(tuple(ranks), tuple({resource: 1.0} for _ in ranks), "STRICT_SPREAD")]
    else:
        groups = [BundleGroup(tuple(chunk), tuple({resource: 1.0} for _ in chunk), "STRICT_PACK")
                  for chunk in (ranks[i:i + per_host] for i in range(0, len(ranks), per_host))]
    return RaySpec(tuple(groups), doc.parallel.placement_group, doc.parallel.ray_runtime_env, resource)


def check_resources(ray: Any, spec: RaySpec) -> None:
    """Refuse bundles the Ray cluster can never hold, saying how much is needed and available."""
    available = ray.cluster_resources()
    for name, amount in spec.needed().items():
        have = float(available.get(name, 0.0))
        if have < amount:
            raise RayPlacementError(f"the plan needs {amount:g} {name} (one per rank), the Ray cluster has {have:g}; "
                                    f"add nodes or lower the parallel sizes")


def create_placement(ray: Any, spec: RaySpec, timeout: float = PG_READY_TIMEOUT) -> list[tuple[Any, int]]:
    """Create (or find) the placement groups and wait until they are ready; (group, bundle index) per rank."""
    from ray.util.placement_group import get_placement_group, placement_group

    if spec.existing:
        try:
            pg = get_placement_group(spec.existing)
        except ValueError as exc:
            namespace = ray.get_runtime_context().namespace
            raise RayPlacementError(f"no Ray placement group named {spec.existing!r} in namespace {namespace!r} "
                                    f"({exc}); create it first (ray.util.placement_group(..., name=...)) or "
                                    f"remove parallel.placement_group") from None
        if pg.bundle_count < spec.world_size:
            raise RayPlacementError(f"placement group {spec.existing!r} has {pg.bundle_count} bundles, the plan "
                                    f"needs {spec.world_size} (one per rank)")
        _wait_ready(ray, [pg], timeout, spec)
        return [(pg, i) for i in range(spec.world_size)]
    groups = [placement_group(list(g.bundles), strategy=g.strategy) for g in spec.groups]
    _wait_ready(ray, groups, timeout, spec)
    return [(pg, i) for pg, g in zip(groups, spec.groups, strict=True) for i in range(len(g.ranks))]


def _wait_ready(ray: Any, groups: list[Any], timeout: float, spec: RaySpec) -> None:
    ready, _ = ray.wait([pg.ready() for pg in groups], num_returns=len(groups), timeout=timeout)
    if len(ready) < len(groups):
        for pg in groups:
            if not spec.existing:
                ray.util.remove_placement_group(pg)
        strategies = ", ".join(sorted({g.strategy for g in spec.groups}))
        raise RayPlacementError(f"the placement groups ({len(spec.groups)} x {strategies}, "
                                f"{spec.world_size} {spec.resource} bundles) were not ready within {timeout:g} s; "
                                f"check `ray status` for free resources (and, with one rank per host, the number "
                                f"of nodes)")


class RankActor:
    """A rank's process on Ray: the plan's environment for the rank, its NUMA binding, then any function."""

    def __init__(self, rank: int, env: dict[str, str], binding: Binding | None) -> None:
        os.environ.update(env)
        self.rank = rank
        self.bound = None
        if binding is not None:
            from pconf.runtime.bind import apply_binding

            self.bound = apply_binding(binding)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(self.rank, *args)

    def environment(self) -> dict[str, str]:
        return dict(os.environ)


@dataclass
class RankActors:
    """The live actors of a plan (in rank order) and the placement groups they sit in."""

    actors: list[Any]
    groups: list[Any] = field(default_factory=list)
    owned_groups: bool = True

    def close(self, ray: Any) -> None:
        for actor in self.actors:
            ray.kill(actor)
        if self.owned_groups:
            for pg in {id(pg): pg for pg in self.groups}.values():
                ray.util.remove_placement_group(pg)


def rank_actors(plan: Plan, ray: Any, extra_env: dict[str, str] | None = None,
                timeout: float = PG_READY_TIMEOUT) -> RankActors:
    """Place the plan's ranks and start one actor per rank on its bundle (see the module docstring)."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    spec = placement_spec(plan)
    check_resources(ray, spec)
    placement = create_placement(ray, spec, timeout)
    remote = ray.remote(RankActor)
    actors = []
    for rank, (pg, index) in enumerate(placement):
        binding = plan.binding(rank)
        options: dict[str, Any] = {
            "scheduling_strategy": PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=index),
            "num_cpus": 1 if spec.resource == "CPU" else 0, "num_gpus": 1 if spec.resource == "GPU" else 0,
        }
        if spec.runtime_env:
            options["runtime_env"] = spec.runtime_env
        env = {**plan.env(rank), **(extra_env or {})}
        actors.append(remote.options(**options).remote(rank, env, binding))
    return RankActors(actors, [pg for pg, _ in placement], owned_groups=not spec.existing)


def run_on_ranks(plan: Plan, fn: Callable[..., Any], *args: Any, timeout: float = PG_READY_TIMEOUT,
                 extra_env: dict[str, str] | None = None) -> list[Any]:
    """Call ``fn(rank, *args)`` in every rank's actor, each with the rank's environment; results in rank order.

    Needs Ray initialised (``ray.init``); the actors and placement groups are removed afterwards.
    """
    ray = import_ray()
    actors = rank_actors(plan, ray, extra_env, timeout)
    try:
        return list(ray.get([actor.call.remote(fn, *args) for actor in actors.actors]))
    finally:
        actors.close(ray)


def _remote_checks(rank: int, files: list[str], overrides: list[str], timeout: float) -> tuple[int, str]:
    from pconf.runtime.worker import run_checks

    return run_checks(files, overrides, rank, timeout)


def _remote_command(_rank: int, argv: list[str], timeout: float | None) -> tuple[int, str]:
    """Run a rank's command in its actor (environment and binding inherited); (exit code, its output). No
    deadline unless ``timeout`` is given: a command (a server) runs as long as it runs."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout, preexec_fn=_die_with_parent, check=False)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace")  # bytes even with text=True (the docs say so)
        return EXIT_FAULT, output + f"timed out after {timeout:g} s\n"
    except OSError as exc:
        return 127, f"cannot run {argv[0]!r}: {exc.strerror}\n"
    code = done.returncode
    return (128 - code if code < 0 else code), done.stdout


def _die_with_parent() -> None:
    """In the command's process: die when the actor does (a killed actor leaves no orphan behind)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def ray_launch(plan: Plan, files: Sequence[str], overrides: Sequence[str], timeout: float, quiet: bool,
               out: TextIO = sys.stderr, command: Sequence[str] = ()) -> int:
    """``pconf launch`` for the ray backend: every rank actor runs pconf's checks (or ``command``, with the
    rank's environment, its output then printed with a ``[rank N]`` prefix). The exit code is 0, the first
    failed rank's code, 3 when pconf's checks outlive ``timeout`` or a rank's actor dies, or 2 when Ray is missing
    or the ranks cannot be placed. ``timeout`` bounds the placement and pconf's checks, not a command."""
    def say(text: str) -> None:
        if not quiet:
            print(f"pconf launch: {text}", file=out, flush=True)

    try:
        ray = import_ray()
    except RayUnavailable as exc:
        print(f"pconf launch: {exc}", file=out, flush=True)
        return 2
    from pconf.runtime.store import HOSTED_ENV, host_store
    from pconf.runtime.worker import REPORT_KEY, report_timings

    start = time.monotonic()
    joined_existing = bool(os.environ.get("RAY_ADDRESS"))
    started_here = not ray.is_initialized()
    if started_here:
        cpus = None if joined_existing else max(plan.world_size, os.cpu_count() or 1)
        ray.init(address=os.environ.get("RAY_ADDRESS"), num_cpus=cpus, include_dashboard=False,
                 logging_level="ERROR", log_to_driver=not quiet)
        say(f"{'joined the Ray cluster at ' + os.environ['RAY_ADDRESS'] if joined_existing else 'started Ray'} "
            f"in {time.monotonic() - start:.1f} s")
    store = host_store(plan, timeout)
    actors: RankActors | None = None
    try:
        try:
            actors = rank_actors(plan, ray, {HOSTED_ENV: "1", "PYTHONUNBUFFERED": "1"},
                                 min(timeout, PG_READY_TIMEOUT))
        except RayPlacementError as exc:
            print(f"pconf launch: {exc}", file=out, flush=True)
            return 2
        say(f"placed {plan.world_size} rank actors ({_describe(placement_spec(plan))})")
        if command:
            futures = [actor.call.remote(_remote_command, list(command), None) for actor in actors.actors]
        else:
            futures = [actor.call.remote(_remote_checks, list(files), list(overrides), timeout)
                       for actor in actors.actors]
        code = _collect(ray, futures, None if command else timeout + 30, bool(command), out)
        if code:
            return code
        say(f"all {plan.world_size} ranks passed on Ray in {time.monotonic() - start:.1f} s")
        if not command:
            report_timings(store, list(range(plan.world_size)), REPORT_KEY, say)
        return 0
    finally:
        if actors is not None:
            actors.close(ray)
        if started_here:
            ray.shutdown()


def _collect(ray: Any, futures: list[Any], timeout: float | None, show_output: bool, out: TextIO) -> int:
    """Wait for the ranks as they finish (at most ``timeout`` seconds, None: as long as they run); stop at the
    first failure (0 when all passed)."""
    rank_of = {future: rank for rank, future in enumerate(futures)}
    pending = list(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, pending = ray.wait(pending, num_returns=1, timeout=left)
        if not done:
            running = sorted(rank_of[f] for f in pending)
            print(f"pconf launch: ranks {', '.join(map(str, running))} did not finish within {timeout:.0f} s "
                  "(their output is above); check that they reach the rendezvous store", file=out, flush=True)
            return EXIT_FAULT
        rank = rank_of[done[0]]
        try:
            code, text = ray.get(done[0])
        except ray.exceptions.RayError as exc:
            print(f"pconf launch: rank {rank} (Ray actor) died: {str(exc).splitlines()[0]}; check the Ray "
                  "node's memory and logs", file=out, flush=True)
            return EXIT_FAULT
        if show_output:
            for line in str(text).splitlines():
                print(f"[rank {rank}] {line}", file=out, flush=True)
        if code:
            tail = f": {text}" if not show_output else "; stopped the other ranks"
            print(f"pconf launch: rank {rank} (Ray actor) failed with code {code}{tail}", file=out, flush=True)
            return int(code)
    return 0


def _describe(spec: RaySpec) -> str:
    if spec.existing:
        return f"in placement group {spec.existing!r}"
    return ", ".join(f"{g.strategy} x {len(g.bundles)} {spec.resource}" for g in spec.groups)
