"""numactl CPU lists (``"0-3"``, ``"0,2,4-7"``): checking with vLLM's grammar, parsing and formatting."""

from __future__ import annotations

import re

_SYNTAX = re.compile(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*\Z")


def cpu_list_problem(text: str) -> str | None:
    """Say what is wrong with a CPU list under vLLM's rules (spec §7.3), or None when it is valid."""
    if text == "":
        return "CPU list entries must not be empty"
    if not _SYNTAX.match(text):
        return "CPU list entries must use numactl syntax, for example '0-3' or '0,2,4-7'"
    for part in text.split(","):
        low, _, high = part.partition("-")
        if high and int(low) > int(high):
            return f"CPU ranges must be ascending, but {part!r} is not"
    return None


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """The sorted, de-duplicated CPU numbers of a valid CPU list."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return tuple(sorted(cpus))


def format_cpu_list(cpus: tuple[int, ...] | list[int] | set[int]) -> str:
    """Canonical numactl spelling: sorted, consecutive runs merged (``[0,1,2,5]`` -> ``"0-2,5"``)."""
    ordered = sorted(set(cpus))
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)
