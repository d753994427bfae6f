"""The checks every parsed value passes before it leaves ``pconf.load``: nesting, value count, 64-bit integers, NUL.

TOML and ``--set`` values are checked here after parsing, in one walk without recursion; the YAML walker makes
the same checks while it builds the values (it must: aliases can expand a small file into a huge document).
Each check reports an unplaced Issue (``pconf.errors.problem``: a key path, a rule id and the words), which the
caller places with its own location.
"""

from __future__ import annotations

from typing import Any

from pconf.errors import MISSING, Issue, problem
from pconf.keypath import KeyPath
from pconf.load.layer import MAX_DEPTH, MAX_INT, MAX_VALUES, MIN_INT


def too_deep(path: KeyPath) -> Issue:
    return problem(path, "load.too_deep", f"nesting deeper than {MAX_DEPTH} levels",
                   "a cluster document is a few tables deep")


def too_many_values(path: KeyPath, aliases: bool) -> Issue:
    if aliases:
        return problem(path, "load.too_many_values", f"the document expands to more than {MAX_VALUES} values",
                       "YAML aliases can multiply a document; write the values out")
    return problem(path, "load.too_many_values", f"the document has more than {MAX_VALUES} values",
                   "a cluster document has a few dozen")


def int_range(path: KeyPath, value: object = MISSING) -> Issue:
    return problem(path, "load.int_range", "the integer does not fit in 64 bits",
                   f"use a whole number from {MIN_INT} to {MAX_INT}", value)


def nul(path: KeyPath, in_key: bool) -> Issue:
    where = "key" if in_key else "value"
    return problem(path, "load.nul", f"the {where} contains a NUL character (\\u0000)", "remove it")


def out_of_range(value: object) -> bool:
    """Whether ``value`` is an integer outside TOML's 64-bit range (booleans are not integers here)."""
    return type(value) is int and not MIN_INT <= value <= MAX_INT


def check_values(data: Any, prefix: KeyPath = ()) -> Issue | None:
    """The first problem of parsed ``data`` in document order, or None.

    ``prefix`` is where ``data`` sits (a ``--set`` key's path), so nesting counts from the document's top and
    the problem's path is the full one.
    """
    count = 0
    stack: list[tuple[KeyPath, Any]] = [(prefix, data)]
    while stack:
        path, node = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return too_many_values(path, aliases=False)
        if len(path) > MAX_DEPTH:
            return too_deep(path[: MAX_DEPTH + 1])
        if isinstance(node, dict):
            for key in node:
                if "\x00" in key:
                    return nul((*path, key), in_key=True)
            stack.extend(((*path, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))
        elif isinstance(node, str):
            if "\x00" in node:
                return nul(path, in_key=False)
        elif out_of_range(node):
            return int_range(path, node)
    return None


__all__ = ["check_values", "int_range", "nul", "out_of_range", "too_deep", "too_many_values"]
