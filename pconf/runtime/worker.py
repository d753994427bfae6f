"""The rank program ``pconf launch`` runs: form every group, check it, exercise the DP helpers, report.

    python -m pconf.runtime.worker FILE... [--set KEY=VALUE]... [--timeout S]

The rank comes from ``RANK`` (set by the launcher from the plan). Each rank compiles the files itself, so the
hash check compares what every process really compiled. Exit codes, as the command line's: 0 every check
passed; 1 a check found a difference (graph hash mismatch, a group or DP check); 2 config error; 3 an environment
fault (the store unreachable or its port taken, ranks that did not join in time, a peer that died or went away);
70 anything else (a bug, with its traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pconf.plan import Plan
    from pconf.runtime.groups import Groups

EXIT_CHECK, EXIT_CONFIG, EXIT_FAULT, EXIT_BUG = 1, 2, 3, 70
EXIT_MISMATCH = EXIT_CHECK
REPORT_KEY = "pconf/report/{rank}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pconf.runtime.worker")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--timeout", type=_seconds, default=None)
    args = parser.parse_args(argv)
    rank = int(os.environ["RANK"])
    code, message = run_checks(args.files, args.overrides, rank, args.timeout)
    if code:
        print(f"pconf rank {rank}: {message}", file=sys.stderr, flush=True)
    return code


def _seconds(text: str) -> float:
    """--timeout: a finite, positive number of seconds."""
    value = float(text)
    if not 0 < value <= 10**9:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number of seconds above 0")
    return value


def run_checks(files: Sequence[str], overrides: Sequence[str], rank: int,
               timeout: float | None) -> tuple[int, str]:
    """Everything one rank does under ``pconf launch`` (or in a Ray rank actor): compile the files, form and
    check every group, run the DP helpers, publish the timings. Returns (exit code, what went wrong)."""
    import traceback

    from torch.distributed import DistError

    from pconf.compile import compile_files
    from pconf.errors import ConfigError, Fault
    from pconf.runtime.groups import GroupCheckFailed, init, shutdown
    from pconf.runtime.verify import GraphMismatch

    plan = None
    try:
        plan = compile_files(files, overrides=overrides).plan()
        start = time.perf_counter()
        groups = init(plan, rank, timeout=timeout)
        groups.timings["init"] = time.perf_counter() - start
        check_dp_helpers(plan, groups)
        groups.store.set(REPORT_KEY.format(rank=rank), json.dumps(groups.timings))
        shutdown(groups)
    except ConfigError as exc:
        return EXIT_CONFIG, f"config error:\n{exc}"
    except GraphMismatch as exc:
        return EXIT_MISMATCH, str(exc)
    except Fault as exc:  # the store unreachable or taken, ranks that did not join (RendezvousTimeout)
        return EXIT_FAULT, str(exc)
    except (GroupCheckFailed, DPCheckFailed) as exc:
        return EXIT_CHECK, str(exc)
    except (DistError, RuntimeError) as exc:  # gloo/NCCL and the store: a peer that died or went away
        if _lost_peer(exc):
            return EXIT_FAULT, lost_peer_message(exc, plan)
        traceback.print_exc()
        return EXIT_BUG, f"internal error: {type(exc).__name__} (a bug in pconf; please report it)"
    except Exception as exc:  # anything else is a bug: say so, with its traceback
        traceback.print_exc()
        return EXIT_BUG, f"internal error: {type(exc).__name__} (a bug in pconf; please report it)"
    return 0, ""


#: How torch and gloo say that the other end of a connection is gone.
_PEER_GONE = ("connection reset", "connection closed", "connection refused", "broken pipe", "timed out",
              "timeout", "socket", "peer", "ECONNRESET", "EPIPE", "DistNetworkError", "DistStoreError")


def _lost_peer(exc: BaseException) -> bool:
    from torch.distributed import DistError

    text = str(exc)
    return isinstance(exc, DistError) or any(word.lower() in text.lower() for word in _PEER_GONE)


def lost_peer_message(exc: BaseException, plan: Plan | None) -> str:
    """One line for a collective or store operation that failed because another process went away."""
    from pconf.netaddr import host_port

    first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    first = first if len(first) <= 160 else first[:157] + "..."
    where = host_port(plan.ports.world_addr, plan.ports.world_port) if plan is not None else "the rendezvous"
    return (f"lost a peer of the run that meets at {where} ({first}); a rank or node died or went away: check the "
            "other nodes' launchers and their output")


class DPCheckFailed(RuntimeError):
    """A DP helper gave a result other than its truth table says."""


def check_dp_helpers(plan: Plan, groups: Groups) -> None:
    """Run sync_dp_state / has_unfinished_dp / sync_kv_cache_memory_size on the rank's DP group with inputs
    that depend on the DP rank, and compare with the truth table computed from the plan."""
    from pconf.runtime.dp import INT64_MAX, has_unfinished_dp, sync_dp_state, sync_kv_cache_memory_size

    group = groups.dp
    if group is None:
        return
    start = time.perf_counter()
    members = [plan.rank(m).dp for m in groups.members["dp"]]
    me, n = plan.rank(groups.rank).dp, len(members)
    # Per case, the DP ranks that have unfinished work and the DP ranks that want to pause.
    cases: list[tuple[set[int], set[int]]] = [({0}, set(members)), (set(), {0}), (set(), set())]
    for unfinished, pause in cases:
        got = sync_dp_state(group, me in unfinished, me in pause)
        pauses = sum(d in pause for d in members)
        want = (any(d in unfinished for d in members) or pauses % n != 0, pauses == n)
        if got != want:
            raise DPCheckFailed(f"sync_dp_state on rank {groups.rank} gave {got}, expected {want}")
    if has_unfinished_dp(group, me == n - 1) is not True:
        raise DPCheckFailed(f"has_unfinished_dp on rank {groups.rank} missed the last DP rank's work")
    kv = -1 if me == 0 else 1000 + me
    want_kv = min([INT64_MAX if d == 0 else 1000 + d for d in members])
    if (got_kv := sync_kv_cache_memory_size(group, kv)) != want_kv:
        raise DPCheckFailed(f"sync_kv_cache_memory_size on rank {groups.rank} gave {got_kv}, expected {want_kv}")
    groups.timings["check:dp-helpers"] = time.perf_counter() - start
    check_stateless_dp_group(plan, groups)


def check_stateless_dp_group(plan: Plan, groups: Groups) -> None:
    """The first rank of each DP replica (where vLLM's engine core runs) forms the stateless DP group through
    the rendezvous store and synchronises on it."""
    from pconf.runtime.dp import stateless_dp_group, sync_dp_state

    me = plan.rank(groups.rank)
    if plan.dp == 1 or (me.pp, me.pcp, me.tp) != (0, 0, 0):
        return
    start = time.perf_counter()
    group, store = stateless_dp_group(plan, me.dp, coord_store=groups.store, name="worker-check")
    got = sync_dp_state(group, me.dp == 0, False)
    del group, store
    if got != (True, False):
        raise DPCheckFailed(f"sync_dp_state on the stateless DP group of DP rank {me.dp} gave {got}")
    groups.timings["check:stateless-dp"] = time.perf_counter() - start


def report_timings(store: Any, ranks: list[int], key: str, say: Callable[[str], None]) -> None:
    """One line per group kind: groups formed and checked, slowest rank's times."""
    from pconf.plan import GROUP_KINDS

    reports = [json.loads(store.get(key.format(rank=r))) for r in ranks]

    def slowest(name: str) -> float:
        return float(max(report.get(name, 0.0) for report in reports)) * 1e3

    say(f"rendezvous + hash check {slowest('rendezvous'):.1f} ms; default group {slowest('world'):.1f} ms")
    for kind in GROUP_KINDS:
        if f"check:{kind}" in reports[0]:
            say(f"{kind:<4} formed in {slowest(kind):.1f} ms, check all-reduce {slowest('check:' + kind):.2f} ms")
    if "check:dp-helpers" in reports[0]:
        say(f"DP helpers (sync_dp_state, has_unfinished_dp, sync_kv_cache_memory_size) "
            f"{slowest('check:dp-helpers'):.2f} ms")
    if any("check:stateless-dp" in report for report in reports):
        say(f"stateless DP group (gloo, port via the rendezvous store) {slowest('check:stateless-dp'):.1f} ms")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reached the rank: its launcher says so, in one line
        sys.exit(130)
