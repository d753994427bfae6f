"""Read a CI lock file (``pconf hash --write-lock``): a regular file of at most 1 MiB holding JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pconf.errors import Issue, LoadError, Location
from pconf.load.files import NotRegularFile, read_bounded

MAX_LOCK_BYTES = 1 << 20  # a lock pconf writes is a few KiB


def read_lock(path: str, problem_of: Callable[[object], str | None]) -> dict[str, Any]:
    """The parsed lock at ``path`` (a FIFO or a device is refused unread); ``problem_of`` says what is wrong with
    its shape (``pconf.hashing.lock_problem``). LoadError naming the file otherwise."""
    lock: Any = None
    try:
        raw = read_bounded(path, MAX_LOCK_BYTES)
    except NotRegularFile:
        problem: str | None = "the lock is not a regular file"
    except OSError as exc:
        problem = f"cannot read the lock: {exc.strerror}"
    else:
        if len(raw) > MAX_LOCK_BYTES:
            problem = "the lock is larger than 1 MiB"
        else:
            try:
                lock = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
                problem = f"the lock is not valid JSON: {exc}"
            else:
                problem = problem_of(lock)
    if problem:
        raise LoadError([Issue((), Location.file(path), "hash.lock_file", problem,
                               hint="write it with `pconf hash FILE --write-lock PATH`")])
    result: dict[str, Any] = lock
    return result
