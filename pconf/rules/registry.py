"""The rule registry: every cross-field check with its id, vLLM source, documentation and severity.

A check is a function of a ResolvedConfig returning the problems it finds (``found``: an unplaced Issue about a
key path); ``check_all`` places each one with the location of its key and the rule's id and severity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from pconf.errors import MISSING, Issue, Location, Severity, problem
from pconf.keypath import KeyPath
from pconf.resolve import ResolvedConfig

RuleCheck = Callable[[ResolvedConfig], "Issue | list[Issue] | None"]


class Rule(NamedTuple):
    """One named check; ``source`` says which part of vLLM makes it, ``doc`` what it requires."""

    id: str
    source: str
    doc: str
    severity: Severity
    check: RuleCheck


RULES: list[Rule] = []


def rule(rule_id: str, source: str, severity: Severity = "error") -> Callable[[RuleCheck], RuleCheck]:
    """Register a check under ``rule_id``; its docstring is the rule's documentation."""

    def register(check: RuleCheck) -> RuleCheck:
        RULES.append(Rule(rule_id, source, " ".join((check.__doc__ or "").split()), severity, check))
        return check

    return register


def found(path: KeyPath, message: str, hint: str, got: object = MISSING) -> Issue:
    """What a check found about the key at ``path``: the message, the fix and the offending value (unplaced; the
    registry adds the rule id, the severity and the location)."""
    return problem(path, "", message, hint, got)


def check_all(resolved: ResolvedConfig, where: Callable[[KeyPath], Location]) -> list[Issue]:
    """Run every rule; return the errors and warnings found, each located by ``where``."""
    issues = []
    for r in RULES:
        result = r.check(resolved)
        for f in [result] if isinstance(result, Issue) else result or ():
            issues.append(f.placed(where(f.path), rule=r.id, severity=r.severity))
    return issues


def rules_by_id() -> dict[str, Rule]:
    """Every rule, by id (for docs and tests)."""
    return {r.id: r for r in RULES}


def par(key: str) -> KeyPath:
    """The key path of a ``[parallel]`` field."""
    return ("parallel", key)


POST_INIT = "vLLM ParallelConfig.__post_init__"
VALIDATE = "vLLM ParallelConfig._validate_parallel_config"
VERIFY = "vLLM ParallelConfig._verify_args"
ENGINE = "vLLM EngineArgs.create_engine_config"
VLLM = "vLLM VllmConfig.__post_init__"
