"""numactl CPU lists: vLLM's grammar (spec §7.3), parsing with a located error, canonical formatting."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pconf.cpulist import (
    MAX_CPU,
    CpuListError,
    canonical_cpu_list,
    cpu_list_problem,
    format_cpu_list,
    parse_cpu_list,
    parse_sysfs_cpu_list,
)

CPU_SETS = st.sets(st.integers(0, 300), max_size=60)

#: vLLM's accepted examples (spec §7.3), with the CPUs they name.
ACCEPTED = {
    "0-3": (0, 1, 2, 3),
    "0,2,4-7": (0, 2, 4, 5, 6, 7),
    "1-1": (1,),
    "00-03": (0, 1, 2, 3),
    "1,2,3": (1, 2, 3),
    "2-10": tuple(range(2, 11)),
}

#: vLLM's rejected examples (spec §7.3) -> pconf's message and the 1-based column where the problem starts.
SYNTAX = "CPU list entries must use numactl syntax, for example '0-3' or '0,2,4-7'"
REJECTED = {
    "3-0": ("CPU ranges must be ascending, but '3-0' is not", 1),
    "10-2": ("CPU ranges must be ascending, but '10-2' is not", 1),
    "0-3,7-5": ("CPU ranges must be ascending, but '7-5' is not", 5),
    "a": (SYNTAX, 1),
    "0-": (SYNTAX, 1),
    "0--3": (SYNTAX, 1),
    "0-3-5": (SYNTAX, 1),
    "-1": (SYNTAX, 1),
    "0:3": (SYNTAX, 2),
    " 0-3": (SYNTAX, 1),
    "0-3 ": (SYNTAX, 4),
    "0-3,": (SYNTAX, 5),
    "1,,2": (SYNTAX, 3),
    "": ("CPU list entries must not be empty", 1),
}


class TestCpuListProblem:
    @pytest.mark.parametrize(("text", "cpus"), ACCEPTED.items(), ids=list(ACCEPTED))
    def test_vllm_accepted(self, text: str, cpus: tuple[int, ...]) -> None:
        """Every list vLLM's validator accepts has no problem and names the same CPUs."""
        assert cpu_list_problem(text) is None
        assert parse_cpu_list(text) == cpus

    @pytest.mark.parametrize(("text", "expected"), REJECTED.items(), ids=[repr(k) for k in REJECTED])
    def test_vllm_rejected(self, text: str, expected: tuple[str, int]) -> None:
        """Every list vLLM's validator rejects has a problem, with the message vLLM's test matches on."""
        assert cpu_list_problem(text) == expected[0]

    def test_beyond_any_machine(self) -> None:
        """A CPU number past MAX_CPU is refused before anything is expanded (a range cannot eat memory)."""
        assert cpu_list_problem(f"0-{10**12}") == f"CPU {10**12} is beyond any machine (at most {MAX_CPU})"
        assert cpu_list_problem(f"0-{MAX_CPU}") is None


class TestParseCpuList:
    @pytest.mark.parametrize(("text", "expected"), REJECTED.items(), ids=[repr(k) for k in REJECTED])
    def test_error_has_location(self, text: str, expected: tuple[str, int]) -> None:
        """A bad list raises CpuListError carrying the message and the column where the problem starts."""
        with pytest.raises(CpuListError) as caught:
            parse_cpu_list(text)
        message, column = expected
        assert (caught.value.message, caught.value.column, caught.value.text) == (message, column, text)
        assert str(caught.value) == f"{message} (at column {column} of {text!r})"

    def test_is_a_value_error(self) -> None:
        """CpuListError is a ValueError, so callers that catch ValueError keep working."""
        with pytest.raises(ValueError, match="ascending"):
            parse_cpu_list("3-1")

    def test_sorted_and_deduplicated(self) -> None:
        """Overlapping and unordered parts give each CPU once, in order."""
        assert parse_cpu_list("7,0-3,2-4,1") == (0, 1, 2, 3, 4, 7)

    @pytest.mark.parametrize(("text", "cpus"), [("0-3\n", (0, 1, 2, 3)), ("\n", ()), ("", ()),
                                                ("0-31,64-95\n", (*range(32), *range(64, 96)))])
    def test_sysfs(self, text: str, cpus: tuple[int, ...]) -> None:
        """A kernel cpulist file: trailing newline ignored, empty for a node without CPUs."""
        assert parse_sysfs_cpu_list(text) == cpus


class TestFormatCpuList:
    @pytest.mark.parametrize(("cpus", "text"), [
        ([], ""), ([5], "5"), ([0, 1, 2, 5], "0-2,5"), ([3, 2, 1, 0], "0-3"), ([0, 2, 4], "0,2,4"),
        ([0, 1], "0-1"), ([1, 1, 2], "1-2"), (range(64, 96), "64-95"),
    ])
    def test_examples(self, cpus: list[int], text: str) -> None:
        """Runs of two or more consecutive CPUs become ranges; the rest are listed; order does not matter."""
        assert format_cpu_list(cpus) == text

    @given(CPU_SETS)
    @example(set())
    @example({0, 1, 2, 3, 8, 9, 10, 11})  # two runs
    @example({0, 2, 4, 6})  # no runs
    def test_round_trip(self, cpus: set[int]) -> None:
        """Formatting then parsing gives back the same CPUs."""
        text = format_cpu_list(cpus)
        assert (parse_cpu_list(text) if text else ()) == tuple(sorted(cpus))

    @given(CPU_SETS.filter(bool))
    def test_canonical_form(self, cpus: set[int]) -> None:
        """The formatted list is valid, canonical (formatting it again changes nothing) and has no mergeable runs."""
        text = format_cpu_list(cpus)
        assert cpu_list_problem(text) is None
        assert canonical_cpu_list(text) == text
        bounds = [tuple(map(int, part.split("-"))) if "-" in part else (int(part), int(part))
                  for part in text.split(",")]
        assert all(hi < lo2 - 1 for (_, hi), (lo2, _) in itertools.pairwise(bounds))

    @given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 20)), min_size=1, max_size=10))
    def test_any_valid_spelling_has_one_canonical_form(self, parts: list[tuple[int, int]]) -> None:
        """Every valid spelling of a CPU set (ranges in any order, overlapping, repeated) canonicalises alike."""
        text = ",".join(f"{lo}-{lo + n}" if n else str(lo) for lo, n in parts)
        cpus = {c for lo, n in parts for c in range(lo, lo + n + 1)}
        assert canonical_cpu_list(text) == format_cpu_list(cpus)
