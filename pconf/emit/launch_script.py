"""The one code path of the deployment targets: a node script that starts, on node K, exactly the argv of
``pconf plan FILE --format vllm --node K``.

The targets (``lws``, ``slurm``, ``skypilot``) differ only in where a node learns its rank and the head node's
address at run time (``LWS_WORKER_INDEX`` and ``LWS_LEADER_ADDRESS``, ``SLURM_NODEID`` and the allocation's first
host, ``SKYPILOT_NODE_RANK`` and the first of ``SKYPILOT_NODE_IPS``). Each wraps the script this module writes:

1. The configuration is compiled for the target (``compile_files(..., target=...)``): the head's address is
   ``TARGET_HEAD``, a name that never resolves, located ``target:<name>``.
2. ``serve_commands`` gives every node's argv lists, as for ``--format vllm``.
3. The nodes are grouped into runs whose argv lists differ only in whole-number arguments that grow linearly with
   the node rank (``--node-rank``, ``--data-parallel-start-rank``, ``--data-parallel-rank``); each run becomes one
   branch, the numbers written as ``$((a * node + b))``. Every node of a run is checked to give back its own argv
   exactly, so a run is only a shorter spelling of the per-node lines, never an approximation.
4. ``TARGET_HEAD`` inside an argument becomes ``"$PCONF_HEAD_ADDR"``, which the target's lines set before (only
   when some line needs it: a one-node plan never names the head).

A node runs one line with ``exec`` (the manager's signals reach vllm directly), or, with external DP load
balancing, each of its servers in the background: when one ends, the others are stopped and the node ends with
its status, so the manager sees the node fail. The script is bash (``wait -n``), which every target provides.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from pconf.compile import Compiled
from pconf.emit.vllm import model_argument, serve_commands
from pconf.errors import DEFAULT, Issue, Location, RuleError
from pconf.keypath import KeyPath
from pconf.target import TARGET_HEAD

if TYPE_CHECKING:
    from pconf.plan import Plan

#: The shell variable that holds the head node's address at run time.
HEAD_VAR = "PCONF_HEAD_ADDR"
#: The shell variable that holds this node's rank.
NODE_VAR = "node"
#: What a node says when the model was left for run time and ``MODEL`` is not set there.
MODEL_UNSET = "the model: set MODEL, or write [deploy].model or pconf plan --model"


class Term(NamedTuple):
    """One argument of a branch: text, or (``slope`` not None) the whole number ``slope * node + offset``."""

    text: str
    slope: int | None = None
    offset: int = 0

    def value(self, node: int) -> str:
        return self.text if self.slope is None else str(self.slope * node + self.offset)

    def shell(self) -> str:
        """The argument as bash reads it (``$MODEL``, the model left for run time, must be set then)."""
        if self.slope is not None:
            return _arithmetic(self.slope, self.offset)
        if self.text == "$MODEL":
            return f'"${{MODEL:?{MODEL_UNSET}}}"'

        if TARGET_HEAD not in self.text:
            return _quote(self.text)
        pieces = self.text.split(TARGET_HEAD)
        return f'"${HEAD_VAR}"'.join(_quote(piece) if piece else "" for piece in pieces)


class Branch(NamedTuple):
    """Nodes ``first`` to ``last`` and the command lines each of them runs (``Term`` lists)."""

    first: int
    last: int
    commands: tuple[tuple[Term, ...], ...]


def node_commands(plan: Plan, model: str | None = None) -> list[list[list[str]]]:
    """Every node's argv lists (``serve_commands``), node by node."""
    return [serve_commands(plan, node, model) for node in range(plan.nnodes)]


def branches(commands: Sequence[Sequence[Sequence[str]]]) -> list[Branch]:
    """The nodes' argv lists grouped into branches (the module docstring, step 3), each checked node by node."""
    out: list[Branch] = []
    node = 0
    while node < len(commands):
        best = Branch(node, node, tuple(tuple(Term(arg) for arg in argv) for argv in commands[node]))
        if node + 1 < len(commands):
            template = _fit(commands[node], commands[node + 1], node)
            if template is not None:
                last = node + 1
                while last + 1 < len(commands) and _gives(template, last + 1, commands[last + 1]):
                    last += 1
                best = Branch(node, last, template)
        for k in range(best.first, best.last + 1):  # the promise of the module docstring, checked
            if not _gives(best.commands, k, commands[k]):
                raise AssertionError(f"branch {best.first}..{best.last} does not give node {k}'s lines")
        out.append(best)
        node = best.last + 1
    return out


def _fit(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]], node: int) -> tuple[tuple[Term, ...], ...] | None:
    """The template that gives node ``node`` the lines ``a`` and node ``node + 1`` the lines ``b``; None when
    they differ in more than whole numbers."""
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b, strict=True)):
        return None
    template = []
    for x, y in zip(a, b, strict=True):
        terms = []
        for s, t in zip(x, y, strict=True):
            if s == t:
                terms.append(Term(s))
            elif _number(s) is not None and _number(t) is not None:
                slope = int(t) - int(s)
                terms.append(Term("", slope, int(s) - slope * node))
            else:
                return None
        template.append(tuple(terms))
    return tuple(template)


def _gives(template: Sequence[Sequence[Term]], node: int, lines: Sequence[Sequence[str]]) -> bool:
    return len(template) == len(lines) and all(
        len(terms) == len(argv) and all(term.value(node) == arg for term, arg in zip(terms, argv, strict=True))
        for terms, argv in zip(template, lines, strict=True))


def _number(text: str) -> int | None:
    """A whole number written as Python and bash write it (no sign, no leading zero), else None."""
    return int(text) if text.isascii() and text.isdigit() and str(int(text)) == text else None


def _arithmetic(slope: int, offset: int) -> str:
    if slope == 1 and offset == 0:
        return f'"${NODE_VAR}"'
    if slope == 0:
        return str(offset)
    term = NODE_VAR if slope == 1 else f"{slope} * {NODE_VAR}"
    if offset:
        term += f" {'+' if offset > 0 else '-'} {abs(offset)}"
    return f'"$(({term}))"'


def _quote(arg: str) -> str:
    return shlex.quote(arg)


def needs_head(commands: Sequence[Sequence[Sequence[str]]]) -> bool:
    """Whether some node's lines name the head node's address."""
    return any(TARGET_HEAD in arg for lines in commands for argv in lines for arg in argv)


def node_script(plan: Plan, model: str | None, rank: str, head: Sequence[str] = (), what: str = "node") -> str:
    """The bash script a node runs (the module docstring): its rank from the shell expression ``rank``
    (``"${LWS_WORKER_INDEX}"``), the head's address from the lines ``head`` (which set ``PCONF_HEAD_ADDR``; left out
    when no line names the head), then the branch of its rank. ``what`` names a node in messages (``pod``)."""
    commands = node_commands(plan, model)
    nodes = len(commands)
    lines = ["set -eu", f"{NODE_VAR}={rank}",
             f'case "${NODE_VAR}" in',
             f"  ''|*[!0-9]*) echo \"pconf: the {what} rank '${NODE_VAR}' is not a number\" >&2; exit 2 ;;",
             "esac"]
    if needs_head(commands):
        lines += list(head)
    for i, branch in enumerate(branches(commands)):
        keyword = "if" if i == 0 else "elif"
        if branch.first == branch.last:
            test = f'[ "${NODE_VAR}" -eq {branch.first} ]'
        else:
            test = f'[ "${NODE_VAR}" -ge {branch.first} ] && [ "${NODE_VAR}" -le {branch.last} ]'
        lines.append(f"{keyword} {test}; then")
        lines += _run(branch.commands)
    lines += ["else",
              f"  echo \"pconf: {what} ${NODE_VAR} is not one of this plan's {nodes} {what}{'s' if nodes != 1 else ''} "
              f"(0..{nodes - 1})\" >&2",
              "  exit 2", "fi"]
    return "\n".join(lines) + "\n"


def _run(commands: Sequence[Sequence[Term]]) -> list[str]:
    """A branch's body: ``exec`` its one line, or start its servers together (the module docstring)."""
    shown = [" ".join(term.shell() for term in terms) for terms in commands]
    if len(shown) == 1:
        return [f"  exec {shown[0]}"]
    body = ["  pids="]
    body += [f'  {line} &\n  pids="$pids $!"' for line in shown]
    body += ["  trap 'kill $pids 2>/dev/null' TERM INT",
             "  status=0",
             "  wait -n || status=$?  # the first server to end ends the node",
             "  kill $pids 2>/dev/null || true",
             "  wait || true",
             '  exit "$status"']
    return body


def resolve_head(name: str, nodes: int, wait_s: int = 0, what: str = "the head node") -> list[str]:
    """Lines that set ``PCONF_HEAD_ADDR`` to the address of the host the shell expression ``name`` names
    (``"$LWS_LEADER_ADDRESS"``), asking the resolver (``getent ahosts``: DNS, /etc/hosts; an address stays itself)
    and, in a run over several nodes, skipping loopback addresses (a host often maps its own name to 127.0.1.1,
    which the other nodes cannot reach). With ``wait_s``, retry every 5 s for that long (a record the cluster
    publishes as the pods start; ``PCONF_HEAD_WAIT_S`` in the environment overrides it at run time). Exit 3 when
    nothing is found."""
    loopback = " && $1 !~ /^127[.]/ && $1 != \"::1\"" if nodes > 1 else ""
    return [
        f"# {what}'s address: {name} as the resolver gives it" + (", not a loopback one" if nodes > 1 else "")
        + (f", waiting up to {wait_s} s (PCONF_HEAD_WAIT_S) for it to resolve" if wait_s else ""),
        f"pconf_head_name={name}",
        f"{HEAD_VAR}=",
        "pconf_try=0",
        f"pconf_tries=$((${{PCONF_HEAD_WAIT_S:-{wait_s}}} / 5 + 1))",
        f'while [ -z "${HEAD_VAR}" ] && [ "$pconf_try" -lt "$pconf_tries" ]; do',
        '  [ "$pconf_try" -eq 0 ] || sleep 5',
        "  pconf_try=$((pconf_try + 1))",
        f"  {HEAD_VAR}=`getent ahosts \"$pconf_head_name\" | awk 'NF{loopback} {{ print $1; exit }}'` || true",
        "done",
        f'if [ -z "${HEAD_VAR}" ]; then',
        f'  echo "pconf: cannot resolve {what} ($pconf_head_name) to an address the nodes reach" >&2',
        "  exit 3",
        "fi",
    ]


# -- what every target refuses --------------------------------------------------------------------------------------


def target_warnings(compiled: Compiled, model: str | None) -> list[Issue]:
    """What a target starts only with help at run time (``target.model``: no model, so every node reads ``MODEL``
    from its environment, as ``--format vllm`` leaves ``$MODEL`` for the shell)."""
    if model_argument_of(compiled, model) != "$MODEL":
        return []
    return [Issue(("deploy", "model"), written_at(compiled, ("deploy", "model")), "target.model",
                  f"no model: every node of the {compiled.target} target reads it from MODEL when it starts",
                  "set [deploy].model, or give pconf plan --model NAME", severity="warning")]


def written_at(compiled: Compiled, path: KeyPath) -> Location:
    """Where a key was written, or ``default`` (not a table above it: an unset key is nobody's line)."""
    chain = compiled.merged.chains.get(path)
    return chain[-1].where if chain and not chain[-1].is_reset else DEFAULT


def target_issues(compiled: Compiled) -> list[Issue]:
    """What no deployment target can start (``target.backend``, ``target.ray_cluster``)."""
    from pconf.deployment import processes

    target = compiled.target
    if target is None:
        raise ValueError("compile the files for the target (compile_files(..., target=...)) first")
    r = compiled.resolved
    p, cluster = r.parallel, r.document.cluster
    issues: list[Issue] = []
    backend = p.distributed_executor_backend
    if backend == "external_launcher":
        path = ("parallel", "distributed_executor_backend")
        issues.append(Issue(path, compiled.where(path), "target.backend", f"the {target} target starts vllm serve on "
                            "every node; external_launcher runs your own script under torchrun, which pconf does "
                            "not know", "start the torchrun lines of pconf plan --format vllm from your own "
                            "manifest, or use the mp backend", backend))
    elif (r.derived.use_ray or p.data_parallel_backend == "ray") and processes(r) > cluster.devices_per_node:
        path = ("parallel", "distributed_executor_backend" if r.derived.use_ray else "data_parallel_backend")
        issues.append(Issue(path, compiled.where(path), "target.ray_cluster", f"the run's {processes(r)} ranks need "
                            f"a Ray cluster of several nodes ({cluster.devices_per_node} devices each), which the "
                            f"{target} target does not start", "start Ray with its own tooling (KubeRay, ray start) "
                            "and submit the vllm serve line to it, or use the mp backend across nodes",
                            getattr(p, path[1])))
    return issues


def model_argument_of(compiled: Compiled, model: str | None) -> str:
    """The model the target's lines serve (``model_argument`` of the compiled document)."""
    return model if model is not None else compiled.resolved.document.deploy.model or "$MODEL"


def refuse(issues: Sequence[Issue]) -> None:
    """Raise what a target refuses, in one error."""
    if issues:
        raise RuleError(list(issues))


def default_image(compiled: Compiled) -> str:
    """``[deploy].image``, or vLLM's own image of the file's release (``vllm/vllm-openai:v0.23.0``)."""
    image = compiled.resolved.document.deploy.image
    if image is not None:
        return image
    return f"vllm/vllm-openai:v{compiled.resolved.profile.release}"


def yaml_text(*documents: object) -> str:
    """YAML documents (``---`` between them), keys in the order given, multi-line strings (scripts) as literal
    blocks so they read as written."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    out: str = yaml.dump_all(documents, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                             explicit_start=len(documents) > 1, width=1 << 16)
    return out


__all__ = [
    "HEAD_VAR",
    "Branch",
    "Term",
    "branches",
    "default_image",
    "model_argument",
    "needs_head",
    "node_commands",
    "node_script",
    "refuse",
    "resolve_head",
    "target_issues",
    "target_warnings",
    "written_at",
    "yaml_text",
]
