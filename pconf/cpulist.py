"""numactl CPU lists (``"0-3"``, ``"0,2,4-7"``): checking with vLLM's grammar, parsing and formatting.

Two grammars, on purpose:

- user input (``numa_bind_cpus``, ``cluster.topology.nodes[].cpus``) follows vLLM's validator (spec §7.3):
  ``^\\d+(?:-\\d+)?(?:,\\d+(?:-\\d+)?)*$`` with ascending ranges; no spaces, no empty parts;
- the kernel's sysfs files (``node*/cpulist``, ``local_cpulist``) use the same syntax plus a trailing newline,
  and are empty for a node without CPUs; ``parse_sysfs_cpu_list`` reads those.

``format_cpu_list`` writes the canonical form: sorted, de-duplicated, consecutive runs merged (``0-2,5``).
``parse_cpu_list(format_cpu_list(s)) == s`` for every set ``s``, and formatting is idempotent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_SYNTAX = re.compile(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*\Z", re.ASCII)
_PART = re.compile(r"(\d+)(?:-(\d+))?\Z", re.ASCII)
#: Far beyond any machine (Linux's NR_CPUS tops out at 8192); keeps "0-99999999999" from eating memory.
MAX_CPU = 1 << 16
#: The most CPUs all the CPU lists of one document may name together (counting repeats): the checks that
#: compare the lists expand them, so this bounds their work (a document names a few thousand at most).
MAX_NAMED_CPUS = 1 << 20


class CpuListError(ValueError):
    """A CPU list that does not parse; ``column`` is the 1-based character where the problem starts."""

    def __init__(self, text: str, message: str, column: int) -> None:
        self.text, self.message, self.column = text, message, column
        super().__init__(f"{message} (at column {column} of {text!r})")


def cpu_list_problem(text: str) -> str | None:
    """Say what is wrong with a CPU list under vLLM's rules (spec §7.3), or None when it is valid."""
    found = _problem(text)
    return found[0] if found else None


def _problem(text: str) -> tuple[str, int] | None:
    """(message, 1-based column) of the first problem of a CPU list, or None."""
    if text == "":
        return "CPU list entries must not be empty", 1
    column = 1
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            bad = next((i for i, c in enumerate(part) if not (c.isdigit() or c == "-")), 0)
            return "CPU list entries must use numactl syntax, for example '0-3' or '0,2,4-7'", column + bad
        low, high = match.group(1), match.group(2)
        longest = max(low.lstrip("0"), (high or "").lstrip("0"), key=len)
        if len(longest) > len(str(MAX_CPU)):  # checked before int(): thousands of digits make it raise
            return f"CPU {_short(longest)} is beyond any machine (at most {MAX_CPU})", column
        if high is not None and int(low) > int(high):
            return f"CPU ranges must be ascending, but {part!r} is not", column
        if int(high or low) > MAX_CPU:
            return f"CPU {int(high or low)} is beyond any machine (at most {MAX_CPU})", column
        column += len(part) + 1
    return None


def _short(digits: str) -> str:
    return digits if len(digits) <= 20 else f"{digits[:17]}..."


def cpu_count(text: str) -> int:
    """How many CPUs a valid CPU list names, counting repeats, without expanding it (0 for ``""``)."""
    total = 0
    for part in text.split(",") if text else ():
        low, _, high = part.partition("-")
        total += int(high or low) - int(low) + 1
    return total


@functools.lru_cache(maxsize=4096)  # plans bind thousands of ranks to the same few lists
def parse_cpu_list(text: str) -> tuple[int, ...]:
    """The sorted, de-duplicated CPU numbers of a CPU list; CpuListError (with the column) if it is invalid."""
    found = _problem(text)
    if found:
        raise CpuListError(text, *found)
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return tuple(sorted(cpus))


def parse_sysfs_cpu_list(text: str) -> tuple[int, ...]:
    """A kernel cpulist file's CPUs: surrounding whitespace ignored, empty for a node without CPUs."""
    stripped = text.strip()
    return parse_cpu_list(stripped) if stripped else ()


def format_cpu_list(cpus: Iterable[int]) -> str:
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


def canonical_cpu_list(text: str) -> str:
    """The canonical spelling of a valid CPU list (``"3,0-2,2"`` -> ``"0-3"``)."""
    return format_cpu_list(parse_cpu_list(text))


__all__ = [
    "MAX_CPU",
    "MAX_NAMED_CPUS",
    "CpuListError",
    "canonical_cpu_list",
    "cpu_count",
    "cpu_list_problem",
    "format_cpu_list",
    "parse_cpu_list",
    "parse_sysfs_cpu_list",
]
