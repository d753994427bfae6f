"""``pconf launch``: start this node's ranks as subprocesses, watch them, and report.

The launcher of node 0 hosts the rendezvous store (so it can say which ranks have joined, and a dying rank
cannot take the store with it); every rank gets its environment from the plan and, with ``numa_bind``, runs
under numactl with its planned binding. While ranks join it prints
what it waits for; if a rank dies, the others are stopped and the report names the rank, its exit code or
signal, and the end of its stderr; SIGINT/SIGTERM are forwarded. On success it prints one line per group kind
with the slowest rank's timings. Exit code: 0 when every rank passed; else the failed rank's exit code (128+N
for signal N), 124 on the overall timeout.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any, TextIO

from pconf.plan import Plan, rank_span

EXIT_TIMEOUT = 124
GRACE_SECONDS = 5.0
STATUS_EVERY = 2.0
TAIL_LINES = 20
LAUNCHERS_DONE_KEY = "pconf/launchers-done"


@dataclass
class RankProcess:
    """One rank's child process, with the tail of its stderr for the failure report."""

    rank: int
    process: subprocess.Popen[str]
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    threads: list[threading.Thread] = field(default_factory=list)


@dataclass
class LaunchOptions:
    """What ``pconf launch`` was asked to do."""

    files: Sequence[str]
    overrides: Sequence[str] = ()
    node: int = 0
    timeout: float = 300.0
    quiet: bool = False
    command: Sequence[str] = ()
    extra_env: dict[str, str] = field(default_factory=dict)


def start(plan: Plan, options: LaunchOptions) -> int:
    """Run this node's ranks with the plan's backend: Ray actors when the executor or the DP backend is ray,
    processes here otherwise (``launch``); return the exit code."""
    p = plan.resolved.parallel
    if p.distributed_executor_backend == "ray" or p.data_parallel_backend == "ray":
        from pconf.runtime.ray_backend import ray_launch

        return ray_launch(plan, options.files, options.overrides, options.timeout, options.quiet,
                          command=options.command)
    return launch(plan, options)


def rank_command(options: LaunchOptions) -> list[str]:
    """What each rank runs: the given command, or pconf's check worker on the same files and overrides."""
    if options.command:
        return list(options.command)
    argv = [sys.executable, "-m", "pconf.runtime.worker", *options.files, "--timeout", str(options.timeout)]
    for override in options.overrides:
        argv += ["--set", override]
    return argv


def launch(plan: Plan, options: LaunchOptions, out: TextIO = sys.stderr) -> int:
    """Run node ``options.node``'s ranks to completion; return the exit code (see the module docstring)."""
    from pconf.runtime.store import HOSTED_ENV, connect_store_client, host_store, joined
    from pconf.runtime.verify import JOIN_KEY, arrivals
    from pconf.runtime.worker import REPORT_KEY, report_timings

    ranks = plan.node_ranks(options.node)

    def say(text: str) -> None:
        if not options.quiet:
            print(f"pconf launch: {text}", file=out, flush=True)

    store = host_store(plan, options.timeout) if options.node == 0 else connect_store_client(plan, options.timeout)
    base_env = {**os.environ, **options.extra_env, HOSTED_ENV: "1", "PYTHONUNBUFFERED": "1"}
    base_env.update(_gloo_interface(plan, base_env))
    children: list[RankProcess] = []
    stop = _forward_signals(children)  # before the first child exists: a signal never finds us unprepared
    keys = {r: JOIN_KEY.format(rank=r) for r in ranks}  # this node's ranks' join records
    start = time.monotonic()
    deadline = start + options.timeout
    last_status, last_count = 0.0, -1
    try:
        for r in ranks:
            argv = _bound(plan, r, rank_command(options), options)
            children.append(_spawn(r, argv, {**base_env, **plan.env(r)}, out))
        say(f"node {options.node}: started ranks {rank_span(ranks)} of {plan.world_size}")
        while True:
            if stop:  # before looking for failures: the ranks die of the signal we forwarded
                _stop(children)
                print(f"pconf launch: stopped by signal {stop[0]}", file=out, flush=True)
                return 128 + stop[0]
            failed = next((c for c in children if c.process.poll() not in (None, 0)), None)
            if failed is not None:
                return _fail(failed, children, out)
            if all(c.process.poll() == 0 for c in children):
                break
            now = time.monotonic()
            if now >= deadline:
                running = [c.rank for c in children if c.process.poll() is None]
                _stop(children)
                print(f"pconf launch: timed out after {options.timeout:.0f} s; still running: ranks "
                      f"{rank_span(running)}", file=out, flush=True)
                return EXIT_TIMEOUT
            if not options.quiet and now - last_status >= STATUS_EVERY:
                # The world's count is one counter; only this node's ranks are looked up one by one.
                present = arrivals(store)
                if present < plan.world_size and (present != last_count or now - last_status >= 10):
                    here = set(joined(store, keys))
                    missing = [r for r in ranks if r not in here]
                    elsewhere = plan.world_size - present - len(missing)
                    say(f"waiting: {present}/{plan.world_size} ranks joined; missing {rank_span(missing)}"
                        + (f" here and {elsewhere} on other nodes" if elsewhere > 0 else "")
                        + f"; {deadline - now:.0f} s left")
                    last_count = present
                last_status = now
            time.sleep(0.05)
    finally:
        _restore_signals()
        for child in children:
            for thread in child.threads:
                thread.join(timeout=1)
    say(f"all {len(ranks)} ranks of node {options.node} passed in {time.monotonic() - start:.1f} s")
    if not options.command:
        report_timings(store, ranks, REPORT_KEY, say)
    # Node 0's launcher holds the store: it waits (bounded) until every node's launcher is done with it.
    store.add(LAUNCHERS_DONE_KEY, 1)
    until = time.monotonic() + GRACE_SECONDS * 6
    while options.node == 0 and store.add(LAUNCHERS_DONE_KEY, 0) < plan.nnodes and time.monotonic() < until:
        time.sleep(0.05)
    return 0


def _bound(plan: Plan, rank: int, argv: list[str], options: LaunchOptions) -> list[str]:
    """With numa_bind and a planned binding, the rank runs under numactl with vLLM's arguments (as vLLM wraps
    its workers); without numactl, under ``pconf exec --bind affinity``, which binds its own process and then
    becomes the command."""
    binding = plan.binding(rank)
    if binding is None:
        return argv
    from pconf.runtime.bind import numactl_argv, numactl_path

    numactl = numactl_path()
    if numactl:
        return numactl_argv(binding, argv, numactl)
    sets = [arg for override in options.overrides for arg in ("--set", override)]
    return [sys.executable, "-m", "pconf", "exec", *options.files, *sets, "--rank", str(rank), "--bind",
            "affinity", "--", *argv]


def _spawn(rank: int, argv: list[str], env: dict[str, str], out: TextIO) -> RankProcess:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, bufsize=1)
    child = RankProcess(rank, process)
    for stream, keep in ((process.stdout, False), (process.stderr, True)):
        thread = threading.Thread(target=_pump, args=(stream, child, keep, out), daemon=True)
        thread.start()
        child.threads.append(thread)
    return child


def _pump(stream: IO[str] | None, child: RankProcess, keep: bool, out: TextIO) -> None:
    """Copy a child's output line by line with a ``[rank N]`` prefix (stderr lines are kept for the report)."""
    if stream is None:
        return
    for line in stream:
        if keep:
            child.tail.append(line.rstrip("\n"))
        print(f"[rank {child.rank}] {line}", end="", file=out, flush=True)
    stream.close()


def _fail(failed: RankProcess, children: list[RankProcess], out: TextIO) -> int:
    code = failed.process.returncode
    _stop(children)
    for thread in failed.threads:
        thread.join(timeout=1)
    why = f"killed by signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exited with code {code}"
    lines = [f"pconf launch: rank {failed.rank} (pid {failed.process.pid}) {why}; stopped the other ranks"]
    lines += [f"  {line}" for line in failed.tail]
    print("\n".join(lines), file=out, flush=True)
    return 128 - code if code < 0 else code


def _stop(children: list[RankProcess]) -> None:
    """SIGTERM every running child's process group, then SIGKILL what is left after a grace period."""
    for child in children:
        if child.process.poll() is None:
            _signal_group(child.process, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child.process, signal.SIGKILL)
            child.process.wait()


def _signal_group(process: subprocess.Popen[str], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


_SAVED: dict[int, Any] = {}


def _forward_signals(children: list[RankProcess]) -> list[int]:
    """On SIGINT/SIGTERM, pass the signal to every rank and note it (the loop then stops and reports)."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        for child in children:
            if child.process.poll() is None:
                _signal_group(child.process, signal.Signals(signum))

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            _SAVED[sig] = signal.signal(sig, handler)
    return received


def _restore_signals() -> None:
    for sig, previous in _SAVED.items():
        signal.signal(sig, previous)
    _SAVED.clear()


def _gloo_interface(plan: Plan, env: dict[str, str]) -> dict[str, str]:
    """GLOO_SOCKET_IFNAME for a multi-node run: the interface whose address routes to the master (unless set)."""
    addr = plan.ports.world_addr
    if "GLOO_SOCKET_IFNAME" in env or addr.startswith("127.") or addr in ("localhost", "::1"):
        return {}
    from pconf.runtime.netif import interface_towards

    name = interface_towards(addr)
    return {"GLOO_SOCKET_IFNAME": name} if name else {}
