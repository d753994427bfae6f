"""Output: every rendering of a compiled document, a plan, a host or a report, one module per kind.

Each module reads values that ``Compiled``, ``Plan`` and the library functions build (``Compiled.to_dict``,
``Plan.to_dict``, ``Plan.rank_dict``, ``pconf.compare.compare``) and returns text; nothing here computes a
configuration or feeds back into the stages before it.

- ``document``: JSON, TOML, YAML of any plain document;
- ``table``: the plan, one rank, a NUMA binding and a host's topology for people;
- ``env``: a rank's environment as ``NAME=value`` lines;
- ``vllm``: the ``vllm serve`` (or ``torchrun``) lines that start a plan, node by node;
- ``reports``: ``explain``, ``hash`` and ``diff`` answers;
- ``picture`` (what the pictures share: layout, styles, colours), ``svg``, ``html``, ``mermaid``, ``grid``: the
  plan drawn;
- the deployment targets, each a wrapper of ``launch_script``'s node script (the one code path that starts node
  K's ``vllm`` lines): ``lws`` (a Kubernetes LeaderWorkerSet and its Service), ``slurm`` (an sbatch script),
  ``skypilot`` (a SkyPilot task).

``PLAN_FORMATS`` names the formats of ``pconf plan``; a new format is a module here plus a row there.
``plan_chunks`` gives the same text in pieces: ``stream`` writes a whole plan as JSON, YAML or TOML rank by rank
(the same bytes as ``document`` on ``Plan.to_dict``), and ``table`` its table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pconf.compile import Compiled
    from pconf.plan import Plan


class PlanFormat(NamedTuple):
    """A ``pconf plan --format``: what it writes, whether it needs ``--rank``, which of ``--rank``/``--node`` it
    takes (``slices``), which picture options (``groups``, ``color_by``, ``color``) it reads, and whether it is a
    deployment target (compiled with ``target=`` its name, rendered by ``target_text``)."""

    help: str
    needs_rank: bool = False
    slices: tuple[str, ...] = ("rank", "node")
    options: tuple[str, ...] = ()
    target: bool = False


PLAN_FORMATS: dict[str, PlanFormat] = {
    "table": PlanFormat("every rank for people (default)"),
    "json": PlanFormat("the plan as JSON"),
    "toml": PlanFormat("the plan as TOML"),
    "yaml": PlanFormat("the plan as YAML"),
    "env": PlanFormat("one rank's environment (with --rank)", needs_rank=True),
    "vllm": PlanFormat("`vllm serve` lines, node by node (with --node: one node)"),
    "svg": PlanFormat("a picture: nodes x GPUs, every rank, every group outlined", slices=(),
                      options=("groups", "color_by")),
    "html": PlanFormat("the SVG picture in one self-contained page: hover a rank, click a group kind", slices=(),
                       options=("groups", "color_by")),
    "mermaid": PlanFormat("a Mermaid flowchart for Markdown (small plans)", slices=(), options=("color_by",)),
    "grid": PlanFormat("nodes x local ranks in the terminal (with --node: one node)", slices=("node",),
                       options=("color_by", "color")),
    "lws": PlanFormat("a Kubernetes LeaderWorkerSet and its Service (kubectl apply -f)", slices=(), target=True),
    "slurm": PlanFormat("an sbatch script (sbatch)", slices=(), target=True),
    "skypilot": PlanFormat("a SkyPilot task (sky launch)", slices=(), target=True),
}


def plan_text(plan: Plan, fmt: str, *, rank: int | None = None, node: int | None = None, model: str | None = None,
              groups: Sequence[str] | None = None, color_by: str | None = None, color: bool = False) -> str:
    """``pconf plan``'s output in format ``fmt``: the whole plan, one node's ranks (``node``) or one rank.

    The pictures draw the outlines of the group kinds ``groups`` (default: all) and colour each cell by its group
    of ``color_by`` (default: ``picture.default_colour_kind``); ``color`` turns on the grid's ANSI colours.
    ``pconf.emit.mermaid.TooLarge`` for a Mermaid picture of too many ranks.
    """
    if fmt == "svg":
        from pconf.emit.svg import plan_svg

        return plan_svg(plan, groups, color_by)
    if fmt == "html":
        from pconf.emit.html import plan_html

        return plan_html(plan, groups, color_by)
    if fmt == "mermaid":
        from pconf.emit.mermaid import plan_mermaid

        return plan_mermaid(plan, color_by)
    if fmt == "grid":
        from pconf.emit.grid import plan_grid

        return plan_grid(plan, node, color_by, color)
    if fmt == "env":
        from pconf.emit.env import env_lines

        if rank is None:
            raise ValueError("the env format is one rank's: give rank")
        return env_lines(plan.env(rank))
    if fmt == "vllm":
        from pconf.emit.vllm import vllm_text

        return vllm_text(plan, node, model)
    if PLAN_FORMATS.get(fmt, PLAN_FORMATS["table"]).target:
        raise ValueError(f"{fmt} is a deployment target: compile for it and use target_text")
    if fmt == "table":
        from pconf.emit.table import plan_table, rank_table

        return plan_table(plan, node) if rank is None else rank_table(plan, rank)
    if rank is None:
        return "".join(plan_chunks(plan, fmt, node=node))
    from pconf.emit.document import render

    return render(plan.rank_dict(rank), fmt)


def target_text(compiled: Compiled, fmt: str, model: str | None = None) -> str:
    """A deployment target's manifest (``lws``, ``slurm``, ``skypilot``) for a configuration compiled for it
    (``compile_files(..., target=fmt)``); ``model`` over ``[deploy].model``. RuleError for what the target cannot
    start."""
    if compiled.target != fmt:
        raise ValueError(f"compile the files for the {fmt} target (compile_files(..., target={fmt!r})) first")
    if fmt == "lws":
        from pconf.emit.lws import lws_text

        return lws_text(compiled, model)
    if fmt == "slurm":
        from pconf.emit.slurm import slurm_text

        return slurm_text(compiled, model)
    if fmt == "skypilot":
        from pconf.emit.skypilot import skypilot_text

        return skypilot_text(compiled, model)
    raise ValueError(f"unknown deployment target {fmt!r}")


def plan_chunks(plan: Plan, fmt: str, *, rank: int | None = None, node: int | None = None, model: str = "$MODEL",
                groups: Sequence[str] | None = None, color_by: str | None = None,
                color: bool = False) -> Iterator[str]:
    """``plan_text`` in pieces, for writing as it is made: the whole plan (or one node's ranks) as json, yaml, toml
    or a table comes rank by rank and group by group (``pconf.emit.stream``, ``pconf.emit.table``), in memory that
    does not grow with the plan's output; a single rank, and the other formats, in one piece (made before this
    returns, so their errors are raised here)."""
    if rank is None and fmt in ("json", "yaml", "toml"):
        from pconf.emit.stream import plan_chunks as stream

        return stream(plan, fmt, node)
    if rank is None and fmt == "table":
        from pconf.emit.table import plan_table_chunks

        return plan_table_chunks(plan, node)
    return iter((plan_text(plan, fmt, rank=rank, node=node, model=model, groups=groups, color_by=color_by,
                           color=color),))
