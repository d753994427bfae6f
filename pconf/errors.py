"""Config errors as values: every problem names its key path, where the value came from, and a rule id."""

from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from pconf.keypath import KeyPath, format_path

Severity = Literal["error", "warning"]


class Location(NamedTuple):
    """Where a value came from: a file position, a ``--set`` override, an env variable, a default, a rule.

    ``source`` is a file path, ``"--set"``, ``"env:NAME"``, ``"default"`` or ``"derived"``; ``line`` and
    ``col`` are 1-based and 0 when unknown; ``detail`` is the override text or the derivation rule.
    (A NamedTuple: loaders make one per key, so construction cost matters.)
    """

    source: str
    line: int = 0
    col: int = 0
    detail: str = ""

    @property
    def is_file(self) -> bool:
        return self.line > 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.source}:{self.line}:{self.col}" if self.col else f"{self.source}:{self.line}"
        if not self.detail:
            return self.source
        if self.source == "--set":  # the override as typed, cut short: a value can be a whole document
            return f"--set {shorten(self.detail, 100)}"
        if self.source == "derived":
            return f"derived: {self.detail}"
        return f"{self.source} ({self.detail})"


DEFAULT = Location("default")


class _Missing:
    """The "no value" marker: one instance, kept as itself through copy and pickle."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def show_value(value: object) -> str:
    """Render a value as users write it in a config file (JSON spelling: true, null, "text"; dates as written)."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError):
        try:
            text = repr(value)
        except ValueError:  # an int too long for str() (Python's int_max_str_digits)
            text = f"<a {type(value).__name__} too long to show>"
    return shorten(text, 80)


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` where it was cut: one issue stays one
    readable line however long a value, a list or an override is."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Characters that would break an issue's single line or drive the terminal (line breaks, escapes, DEL, C1).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r"}.get(char, f"\\u{ord(char):04x}")


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem (or warning) found in a document."""

    path: KeyPath
    where: Location
    rule: str
    message: str
    hint: str = ""
    got: object = MISSING
    severity: Severity = "error"

    @property
    def key(self) -> str:
        return format_path(self.path)

    def render(self) -> str:
        """``FILE:LINE:COL: dotted.key: what is wrong (got X); how to fix [rule]``, always one line: control
        characters from a file name, a key or an override (a newline, a terminal escape) are shown escaped."""
        text = f"{self.where}: {self.key}: {self.message}"
        if self.got is not MISSING:
            text += f" (got {show_value(self.got)})"
        if self.hint:
            text += f"; {self.hint}"
        return _CONTROL.sub(_escape_control, f"{text} [{self.rule}]")


class PconfError(Exception):
    """Base of every error pconf raises on purpose."""


class ConfigError(PconfError, ValueError):
    """A document is wrong in ways the user can fix; carries every issue found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        super().__init__("\n".join(i.render() for i in self.issues))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[tuple[Issue, ...]]]:
        return (type(self), (self.issues,))


class LoadError(ConfigError):
    """A file cannot be read or parsed, an ``extends`` chain is broken, or an override does not parse."""


class SchemaError(ConfigError):
    """Keys, types, bounds or choices do not match the schema."""


class RuleError(ConfigError):
    """Fields are individually fine but break a rule across fields (vLLM's checks)."""


for _cls in (PconfError, ConfigError, LoadError, SchemaError, RuleError):
    _cls.__module__ = "pconf"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean `x`?`` hint for a misspelt name, or an empty string."""
    options = list(choices)
    same_letters = [c for c in options if c.lower() == word.lower() and c != word]
    if same_letters:
        return f"did you mean `{same_letters[0]}`? (names are case-sensitive)"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def issue_order(issue: Issue) -> tuple[int, str, int, int, str]:
    """Sort key for reports: issues in files first, in file order, then the others by key."""
    where = issue.where
    return (0 if where.line else 1, where.source, where.line, where.col, issue.key)
