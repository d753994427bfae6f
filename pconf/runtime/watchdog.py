"""A launcher's watchdog: stops the ranks when the launcher dies without stopping them (``kill -9``, a crash).

``pconf launch`` starts this file as a script (standard library only, so it starts in milliseconds) in a session
of its own, and tells it on stdin, one line each, the process group of every rank it starts (``+PGID``) and
``done`` once it has reaped them. When stdin ends without ``done``, the launcher is gone: the watchdog sends
SIGTERM to every group, waits up to ``GRACE_SECONDS`` for them to go, then sends SIGKILL to what is left. The end
of a pipe is how a process learns of its parent's death whatever killed it, and works for a rank's whole process
group (PR_SET_PDEATHSIG reaches only the direct child, not what a command started).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 3.0


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a group we may not signal is one we did not start: nothing to stop
        return False
    return True


def stop_groups(groups: set[int], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM every group, then SIGKILL the groups still alive after ``grace`` seconds."""
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.05)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def watch(lines: object) -> bool:
    """Follow the launcher's lines; True when it said ``done``, False when they ended without it."""
    groups: set[int] = set()
    for line in lines:  # type: ignore[attr-defined]  # a text stream or any iterable of lines
        text = line.strip()
        if text == "done":
            return True
        if text[:1] in "+-" and text[1:].isdigit():
            (groups.add if text[0] == "+" else groups.discard)(int(text[1:]))
    stop_groups(groups)
    return False


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):  # only the launcher's end stops the watch
        signal.signal(sig, signal.SIG_IGN)
    watch(sys.stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
