"""Config errors as values: every problem names its key path, where the value came from, and a rule id."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from pconf.keypath import KeyPath, format_path

Severity = Literal["error", "warning"]


#: What produced a value or a problem: a file position, a ``--set`` override, vLLM's default, an environment
#: variable (vLLM-environment mode), the host's sysfs (``--probe-topology``), a derivation rule, a command-line or
#: API argument (``<command line>``, ``<dict>``, ``--format toml``), a deployment target that supplies the value when
#: it runs (``target:lws``: the head node's address); ``nowhere`` marks a problem not yet placed.
LocationKind = Literal["file", "override", "default", "env", "probe", "derived", "argument", "target", "nowhere"]


class Location(NamedTuple):
    """Where a value (or a problem) came from, as a value: its ``kind`` and the kind's own facts.

    ``source`` is the file path (file), the variable's name (env), the sysfs directory (probe) or the argument
    as written (argument); ``line`` and ``col`` are 1-based and 0 when unknown; ``detail`` is the override's
    text, the derivation rule, or why an env value was taken (``reset`` marks a file's ``reset`` entry).
    (A NamedTuple: loaders make one per key, so construction cost matters; build them with the class methods.)
    """

    kind: LocationKind
    source: str = ""
    line: int = 0
    col: int = 0
    detail: str = ""

    @classmethod
    def file(cls, path: str, line: int = 0, col: int = 0, detail: str = "") -> Location:
        return cls("file", path, line, col, detail)

    @classmethod
    def override(cls, text: str) -> Location:
        """A ``--set`` override, ``text`` as typed."""
        return cls("override", "--set", 0, 0, text)

    @classmethod
    def env(cls, name: str, detail: str = "") -> Location:
        return cls("env", name, 0, 0, detail)

    @classmethod
    def derived(cls, why: str) -> Location:
        return cls("derived", "", 0, 0, why)

    @classmethod
    def probe(cls, sysfs: str) -> Location:
        """A value read from the host's sysfs directory ``sysfs`` (``/sys``, or a recorded tree's)."""
        return cls("probe", sysfs)

    @classmethod
    def argument(cls, text: str) -> Location:
        """A command-line or API argument: ``<command line>``, ``<dict>``, ``--format toml``, an output path."""
        return cls("argument", text)

    @classmethod
    def target(cls, name: str) -> Location:
        """A value the deployment target ``name`` (``lws``, ``slurm``, ``skypilot``) supplies at run time."""
        return cls("target", name)

    @property
    def is_file(self) -> bool:
        """Whether this is a position in a file (a line is known)."""
        return self.line > 0

    def __str__(self) -> str:
        kind = self.kind
        if kind == "file":
            if self.line:
                return f"{self.source}:{self.line}:{self.col}" if self.col else f"{self.source}:{self.line}"
            return self.source
        if kind == "override":  # the override as typed, cut short: a value can be a whole document
            if self.detail.startswith("~"):  # a reset, in the spelling every shell leaves alone (zsh expands ~KEY)
                return f"--reset {shorten(self.detail[1:], 100)}".rstrip()
            return f"--set {shorten(self.detail, 100)}" if self.detail else "--set"
        if kind == "env":
            return f"env:{self.source} ({self.detail})" if self.detail else f"env:{self.source}"
        if kind == "derived":
            return f"derived: {self.detail}" if self.detail else "derived"
        if kind == "probe":
            return f"probe:{self.source}"
        if kind == "target":
            return f"target:{self.source}"
        if kind == "nowhere":
            return "<unplaced>"
        return self.source or kind


DEFAULT = Location("default")
#: The location of a problem found before it is placed (``problem``); ``Issue.placed`` gives it a real one.
NOWHERE = Location("nowhere")


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

    def placed(self, where: Location, under: KeyPath = (), rule: str = "", severity: Severity | None = None) -> Issue:
        """This issue located at ``where``, its path below ``under`` (a problem's path is relative to where the
        check started); ``rule`` and ``severity`` fill in what a rule registry knows and the check did not."""
        return Issue((*under, *self.path), where, rule or self.rule, self.message, self.hint, self.got,
                     severity or self.severity)

    def render(self) -> str:
        """``FILE:LINE:COL: dotted.key: what is wrong (got X); how to fix [rule]``, always one line: control
        characters from a file name, a key or an override (a newline, a terminal escape) are shown escaped."""
        text = f"{self.where}: {self.key}: {self.message}"
        if self.got is not MISSING:
            text += f" (got {show_value(self.got)})"
        if self.hint:
            text += f"; {self.hint}"
        return _CONTROL.sub(_escape_control, f"{text} [{self.rule}]")


def problem(path: KeyPath, rule: str, message: str, hint: str = "", got: object = MISSING) -> Issue:
    """An Issue found by a check that does not know where the value came from (a value check, a rule, a limit):
    the caller places it (``Issue.placed``) with the location of ``path``."""
    return Issue(path, NOWHERE, rule, message, hint, got)


def refusal(rule: str, message: str, hint: str, got: object, index: int | None = None) -> SchemaError:
    """What a value check raises to refuse a value: a SchemaError holding one unplaced Issue (its path the list
    index, if any), which ``pconf.structure`` places at the field's key and location."""
    return SchemaError([problem(() if index is None else (index,), rule, message, hint, got)])


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


class Fault(PconfError, RuntimeError):
    """An environment fault while running a plan: the rendezvous store is unreachable or its port is taken, ranks
    did not join in time, a peer died. Not the configuration's fault, nor a bug: ``message`` says what happened
    (naming ``address:port`` where there is one) and ``hint`` what to check. The command line exits 3."""

    def __init__(self, message: str, hint: str = "") -> None:
        self.message, self.hint = message, hint
        super().__init__(f"{message}; {hint}" if hint else message)

    def __reduce__(self) -> tuple[type[Fault], tuple[str, str]]:
        return (type(self), (self.message, self.hint))


for _cls in (PconfError, ConfigError, LoadError, SchemaError, RuleError, Fault):
    _cls.__module__ = "pconf"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean `x`?`` hint for a misspelt name, or an empty string."""
    options = list(choices)
    if not options:
        return ""
    same_letters = [c for c in options if c.lower() == word.lower() and c != word]
    if same_letters:
        return f"did you mean `{same_letters[0]}`? (names are case-sensitive)"
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def issue_order(issue: Issue) -> tuple[int, str, int, int, str]:
    """Sort key for reports: issues in files first, in file order, then the others by key."""
    where = issue.where
    return (0 if where.line else 1, where.source, where.line, where.col, issue.key)
