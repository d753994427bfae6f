"""``pconf launch``: start this node's ranks as subprocesses, watch them, and report.

The launcher of node 0 hosts the rendezvous store (so it can say which ranks have joined, and a dying rank
cannot take the store with it); every node's launcher joins it first. Every rank gets its environment from the
plan and, with ``numa_bind``, runs under numactl with its planned binding. While ranks join it prints what it
waits for. SIGINT (Ctrl-C) and SIGTERM are forwarded to every rank's process group; the launcher then stops them
all, says so in one line (the ranks' own last output is dropped) and exits 128+N (130 for Ctrl-C). A watchdog
process (``pconf.runtime.watchdog``) stops the ranks within seconds if the launcher itself dies (``kill -9``). On
success it prints one line per group kind with the slowest rank's timings.

Faults are one line naming the rendezvous ``address:port`` and what to check, exit 3: the store's port taken
or its address not this host's (node 0), nobody answering at it (other nodes), ranks or nodes that did not join
before ``--timeout``, a rank killed by a signal, the store lost (node 0's launcher died). pconf's own check run
must finish within ``--timeout``; with ``-- CMD`` (a server, say) the deadline covers only the rendezvous of the
nodes' launchers, and the command then runs as long as it runs. Other exit codes: 0 when every rank passed; a
rank's own code (2 a config error, 1 a check that found a difference, a command's code) with the end of its
stderr; 128+N when the launcher itself got signal N (SIGINT, SIGTERM).
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

EXIT_FAULT = 3
GRACE_SECONDS = 5.0
#: How much longer than --timeout the launcher gives its ranks: they give up on the rendezvous at --timeout and
#: say why first.
RANK_GRACE = 3.0
STATUS_EVERY = 2.0
TAIL_LINES = 20
LAUNCHERS_DONE_KEY = "pconf/launchers-done"
LAUNCHER_KEY = "pconf/launcher/{node}"


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
    #: Variables of this process the ranks do not inherit (what the command line set for the launcher alone).
    child_env_unset: tuple[str, ...] = ()


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
    """Run node ``options.node``'s ranks to completion; return the exit code (see the module docstring).

    Fault (exit 3 on the command line) when the rendezvous store cannot be hosted or reached."""
    from torch.distributed import DistError

    from pconf.runtime.store import HOSTED_ENV, connect_store_client, host_store, joined, lost_store
    from pconf.runtime.verify import JOIN_KEY
    from pconf.runtime.worker import REPORT_KEY, report_timings

    ranks = plan.node_ranks(options.node)
    muted = threading.Event()  # set on SIGINT/SIGTERM: the ranks' last words are not the launcher's report

    def say(text: str) -> None:
        if not options.quiet:
            print(f"pconf launch: {text}", file=out, flush=True)

    store = host_store(plan, options.timeout) if options.node == 0 else connect_store_client(plan, options.timeout)
    store.set(LAUNCHER_KEY.format(node=options.node), "1")
    base_env = {**{k: v for k, v in os.environ.items() if k not in options.child_env_unset}, **options.extra_env,
                HOSTED_ENV: "1", "PYTHONUNBUFFERED": "1"}
    base_env.update(_gloo_interface(plan, base_env))
    children: list[RankProcess] = []
    stop = _forward_signals(children, muted)  # before the first child exists: a signal never finds us unprepared
    watchdog = _Watchdog()  # stops the ranks if this launcher dies without doing so (kill -9)
    keys = {r: JOIN_KEY.format(rank=r) for r in ranks}  # this node's ranks' join records
    launchers = {n: LAUNCHER_KEY.format(node=n) for n in range(plan.nnodes)}
    start = time.monotonic()
    # pconf's own check run must finish in time (its ranks give up on the rendezvous at --timeout, a little
    # earlier, and say why); a command's deadline covers only the rendezvous of the nodes' launchers.
    deadline = start + options.timeout + (0.0 if options.command else RANK_GRACE)
    met = not options.command  # a command's run: met once every node's launcher has joined
    last_status, last_count, last_alive = 0.0, -1, start
    try:
        for r in ranks:
            argv = _bound(plan, r, rank_command(options), options)
            children.append(_spawn(r, argv, {**base_env, **plan.env(r)}, out, muted))
            watchdog.watch(children[-1].process.pid)
        say(f"node {options.node}: started ranks {rank_span(ranks)} of {plan.world_size}")
        while True:
            if stop:  # before looking for failures: the ranks die of the signal we forwarded
                _stop(children)
                name = signal.Signals(stop[0]).name
                print(f"pconf launch: interrupted ({name}); stopped the {len(children)} rank"
                      f"{'s' if len(children) != 1 else ''} of node {options.node}", file=out, flush=True)
                return 128 + stop[0]
            failed = next((c for c in children if c.process.poll() not in (None, 0)), None)
            if failed is not None:
                return _fail(failed, children, out, plan, store, options)
            if all(c.process.poll() == 0 for c in children):
                break
            now = time.monotonic()
            try:
                if not met:
                    met = len(joined(store, launchers)) == plan.nnodes
                    if met:
                        say(f"every node's launcher joined ({plan.nnodes}); the command runs without a deadline")
                if not met or not options.command:
                    if now >= deadline:
                        _stop(children)
                        print(f"pconf launch: {_missing_line(plan, store, options)}", file=out, flush=True)
                        return EXIT_FAULT
                    if not options.quiet and now - last_status >= STATUS_EVERY:
                        last_count = _status(plan, store, keys, launchers, options, deadline - now, last_count, say,
                                             force=now - last_status >= 10)
                        last_status = now
                if options.node and now - last_alive >= STATUS_EVERY:  # node 0's launcher holds the store
                    store.check([launchers[0]])
                    last_alive = now
            except DistError as exc:  # the store went away: node 0's launcher died
                _stop(children)
                print(f"pconf launch: {lost_store(exc, plan)}", file=out, flush=True)
                return EXIT_FAULT
            time.sleep(0.05)
    finally:
        if any(c.process.poll() is None for c in children):  # an error of pconf's own: no rank outlives it
            _stop(children)
        watchdog.done()
        _restore_signals()
        for child in children:
            for thread in child.threads:
                thread.join(timeout=1)
    say(f"all {len(ranks)} ranks of node {options.node} passed in {time.monotonic() - start:.1f} s")
    try:
        if not options.command:
            report_timings(store, ranks, REPORT_KEY, say)
        # Node 0's launcher holds the store: it waits (bounded) until every node's launcher is done with it.
        store.add(LAUNCHERS_DONE_KEY, 1)
        until = time.monotonic() + GRACE_SECONDS * 6
        while options.node == 0 and store.add(LAUNCHERS_DONE_KEY, 0) < plan.nnodes and time.monotonic() < until:
            time.sleep(0.05)
    except DistError as exc:
        print(f"pconf launch: {lost_store(exc, plan)}", file=out, flush=True)
        return EXIT_FAULT
    return 0


def _status(plan: Plan, store: Any, keys: dict[int, str], launchers: dict[int, str], options: LaunchOptions,
            left: float, last_count: int, say: Any, force: bool) -> int:
    """Say what the run waits for (ranks, or with a command the other nodes' launchers); return the count. The
    world's ranks are one counter (``verify.arrivals``); only this node's ranks are looked up one by one."""
    from pconf.runtime.store import joined
    from pconf.runtime.verify import arrivals

    if options.command:
        present = joined(store, launchers)
        if len(present) < plan.nnodes and (len(present) != last_count or force):
            missing = [n for n in range(plan.nnodes) if n not in set(present)]
            say(f"waiting: {len(present)}/{plan.nnodes} nodes joined; missing {rank_span(missing)}; "
                f"{max(left, 0):.0f} s left")
        return len(present)
    count = arrivals(store)
    if count < plan.world_size and (count != last_count or force):
        here = set(joined(store, keys))
        missing = [r for r in keys if r not in here]
        elsewhere = plan.world_size - count - len(missing)
        say(f"waiting: {count}/{plan.world_size} ranks joined; missing {rank_span(missing) or 'none'} here"
            + (f" and {elsewhere} on other nodes" if elsewhere > 0 else "") + f"; {max(left, 0):.0f} s left")
    return count


def _missing_line(plan: Plan, store: Any, options: LaunchOptions) -> str:
    """The one line of a rendezvous that did not complete: who is missing, where they should have joined, what
    to check."""
    from pconf.netaddr import host_port
    from pconf.runtime.store import joined
    from pconf.runtime.verify import join_keys

    where = host_port(plan.ports.world_addr, plan.ports.world_port)
    waited = f"within {options.timeout:.0f} s"
    if options.command:
        launchers = {n: LAUNCHER_KEY.format(node=n) for n in range(plan.nnodes)}
        nodes = [n for n in range(plan.nnodes) if n not in set(joined(store, launchers))]
        return (f"node{'s' if len(nodes) != 1 else ''} {rank_span(nodes)} did not join the rendezvous at {where} "
                f"{waited}; start `pconf launch FILE --node-rank K -- ...` on each of them and check that it reaches "
                f"{where}")
    missing = [r for r in range(plan.world_size) if r not in set(joined(store, join_keys(plan.world_size)))]
    if not missing:
        return f"the ranks did not finish {waited} (their output is above); raise --timeout if the host is slow"
    nodes = sorted({plan.rank(r).node for r in missing})
    remote = [n for n in nodes if n != options.node]
    whose = f"node{'s' if len(nodes) != 1 else ''} {rank_span(nodes)}"
    text = f"rank{'s' if len(missing) != 1 else ''} {rank_span(missing)} ({whose}) did not join the rendezvous at " \
        f"{where} {waited}; "
    if remote:
        return text + (f"start `pconf launch FILE --node-rank K` on node{'s' if len(remote) != 1 else ''} "
                       f"{rank_span(remote)} and check that it reaches {where} (the address is node 0's, the port "
                       "open between the nodes)")
    return text + "they started here but never reached the store: see their output above"


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


def _spawn(rank: int, argv: list[str], env: dict[str, str], out: TextIO, muted: threading.Event) -> RankProcess:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, bufsize=1)
    child = RankProcess(rank, process)
    for stream, keep in ((process.stdout, False), (process.stderr, True)):
        thread = threading.Thread(target=_pump, args=(stream, child, keep, out, muted), daemon=True)
        thread.start()
        child.threads.append(thread)
    return child


def _pump(stream: IO[str] | None, child: RankProcess, keep: bool, out: TextIO, muted: threading.Event) -> None:
    """Copy a child's output line by line with a ``[rank N]`` prefix (stderr lines are kept for the report);
    after an interrupt, the ranks' output (a KeyboardInterrupt's traceback, a server's shutdown) is dropped."""
    if stream is None:
        return
    for line in stream:
        if muted.is_set():
            continue
        if keep:
            child.tail.append(line.rstrip("\n"))
        print(f"[rank {child.rank}] {line}", end="", file=out, flush=True)
    stream.close()


def _fail(failed: RankProcess, children: list[RankProcess], out: TextIO, plan: Plan, store: Any,
          options: LaunchOptions) -> int:
    """Stop the other ranks and report the first that failed: one line for a fault (a rank killed by a signal,
    a rendezvous that did not complete, a lost peer) and exit 3; otherwise the rank's code and the end of its
    stderr (a config error 2, a check that found a difference 1, a command's own code)."""
    from torch.distributed import DistError

    code = failed.process.returncode
    _stop(children)
    for thread in failed.threads:
        thread.join(timeout=1)
    node = plan.rank(failed.rank).node
    if code < 0:
        name = signal.Signals(-code).name
        print(f"pconf launch: rank {failed.rank} (pid {failed.process.pid}, node {node}) was killed by signal "
              f"{-code} ({name}); stopped the other ranks: a rank died, check the node's memory and logs (dmesg)",
              file=out, flush=True)
        return EXIT_FAULT
    if code == EXIT_FAULT and not options.command:  # pconf's check worker says: an environment fault
        try:
            line = _missing_line(plan, store, options)
        except DistError:
            line = ""
        if not line or line.startswith("the ranks did not finish"):
            own = next((t for t in reversed(failed.tail) if t.startswith(f"pconf rank {failed.rank}: ")), "")
            line = f"rank {failed.rank} (node {node}): {own.split(': ', 1)[-1] or 'an environment fault'}"
        print(f"pconf launch: {line}", file=out, flush=True)
        return EXIT_FAULT
    lines = [f"pconf launch: rank {failed.rank} (pid {failed.process.pid}) exited with code {code}; stopped the "
             "other ranks"]
    lines += [f"  {line}" for line in failed.tail]
    print("\n".join(lines), file=out, flush=True)
    return code


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


def _forward_signals(children: list[RankProcess], muted: threading.Event) -> list[int]:
    """On SIGINT/SIGTERM, pass the signal to every rank and note it (the loop then stops and reports); the
    ranks' output is muted from then on."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        muted.set()
        received.append(signum)
        for child in children:
            if child.process.poll() is None:
                _signal_group(child.process, signal.Signals(signum))

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            _SAVED[sig] = signal.signal(sig, handler)
    return received


class _Watchdog:
    """The watchdog process (pconf/runtime/watchdog.py) that stops the ranks' process groups when this launcher
    dies without doing so; told of every rank, and ``done`` once they are reaped."""

    def __init__(self) -> None:
        from pconf.runtime import watchdog

        self.process = subprocess.Popen([sys.executable, "-I", watchdog.__file__], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                                        start_new_session=True)

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a watchdog gone already has nothing to hear
            assert self.process.stdin is not None
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def watch(self, pid: int) -> None:
        self._say(f"+{pid}")  # start_new_session: the rank's pid is its process group

    def done(self) -> None:
        self._say("done")
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _restore_signals() -> None:
    for sig, previous in _SAVED.items():
        signal.signal(sig, previous)
    _SAVED.clear()


def _gloo_interface(plan: Plan, env: dict[str, str]) -> dict[str, str]:
    """GLOO_SOCKET_IFNAME for a multi-node run: the interface whose address routes to the master (unless set)."""
    from pconf.netaddr import is_local_only

    addr = plan.ports.world_addr
    if "GLOO_SOCKET_IFNAME" in env or is_local_only(addr):  # [cluster.network].socket_ifname sets it for the ranks
        return {}
    from pconf.runtime.netif import interface_towards

    name = interface_towards(addr)
    return {"GLOO_SOCKET_IFNAME": name} if name else {}
