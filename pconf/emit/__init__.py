"""Output: every rendering of a compiled document, a plan, a host or a report, one module per kind.

Each module reads values that ``Compiled``, ``Plan`` and the library functions build (``Compiled.to_dict``,
``Plan.to_dict``, ``Plan.rank_dict``, ``pconf.compare.compare``) and returns text; nothing here computes a
configuration or feeds back into the stages before it.

- ``document``: JSON, TOML, YAML of any plain document;
- ``table``: the plan, one rank, a NUMA binding and a host's topology for people;
- ``env``: a rank's environment as ``NAME=value`` lines;
- ``vllm``: the ``vllm serve`` (or ``torchrun``) lines that start a plan, node by node;
- ``reports``: ``explain``, ``hash`` and ``diff`` answers.

``PLAN_FORMATS`` names the formats of ``pconf plan``; a new format is a module here plus a row there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pconf.plan import Plan


class PlanFormat(NamedTuple):
    """A ``pconf plan --format``: what it writes, and whether it needs ``--rank``."""

    help: str
    needs_rank: bool = False


PLAN_FORMATS: dict[str, PlanFormat] = {
    "table": PlanFormat("every rank for people (default)"),
    "json": PlanFormat("the plan as JSON"),
    "toml": PlanFormat("the plan as TOML"),
    "yaml": PlanFormat("the plan as YAML"),
    "env": PlanFormat("one rank's environment (with --rank)", needs_rank=True),
    "vllm": PlanFormat("`vllm serve` lines, node by node (with --node: one node)"),
}


def plan_text(plan: Plan, fmt: str, *, rank: int | None = None, node: int | None = None, model: str = "$MODEL") -> str:
    """``pconf plan``'s output in format ``fmt``: the whole plan, one node's ranks (``node``) or one rank."""
    if fmt == "env":
        from pconf.emit.env import env_lines

        if rank is None:
            raise ValueError("the env format is one rank's: give rank")
        return env_lines(plan.env(rank))
    if fmt == "vllm":
        from pconf.emit.vllm import vllm_text

        return vllm_text(plan, node, model)
    if fmt == "table":
        from pconf.emit.table import plan_table, rank_table

        return plan_table(plan, node) if rank is None else rank_table(plan, rank)
    from pconf.emit.document import render

    return render(plan.to_dict(node) if rank is None else plan.rank_dict(rank), fmt)
