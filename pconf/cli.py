"""The ``pconf`` command line. Only this module prints or exits.

Exit codes: 0 success; 2 a config error (every issue listed on stderr, no traceback); 1 an internal bug
(with its traceback), or a negative answer where the command is a check: ``pconf hash --check`` when the
graph changed, ``pconf diff`` when the configs differ (like diff(1)). ``PCONF_TRACEBACK=1`` re-raises
config errors too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pconf.compile import Compiled
    from pconf.errors import Issue

EXIT_OK, EXIT_BUG, EXIT_CONFIG = 0, 1, 2
EXIT_CHANGED = 1  # a check's negative answer: `hash --check` found changes, `diff` found differences
_MAX_LOCK_BYTES = 1 << 20  # a lock pconf writes is a few KiB


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    after: list[str] = []
    if "--" in argv:  # `pconf launch FILE -- CMD ARGS`: everything after `--` is the command, options included
        cut = argv.index("--")
        argv, after = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.command_argv = after
    handler: Callable[[argparse.Namespace], int] = args.handler
    from pconf.errors import ConfigError

    try:
        return handler(args)
    except ConfigError as exc:
        if os.environ.get("PCONF_TRACEBACK") == "1":
            raise
        _print_issues(exc.issues)
        return EXIT_CONFIG
    except BrokenPipeError:  # e.g. `pconf compile x.toml | head`
        sys.stderr.close()
        return EXIT_OK
    except Exception:  # an internal bug: say so, with the traceback
        traceback.print_exc()
        print("pconf: internal error (this is a bug in pconf; please report it with the input)", file=sys.stderr)
        return EXIT_BUG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pconf",
        description="Compile layered TOML/YAML cluster files into a validated vLLM parallel configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def inputs(p: argparse.ArgumentParser, files: bool = True) -> None:
        if files:
            p.add_argument("files", nargs="+", metavar="FILE", help="cluster files, merged left to right")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="override a key (applied last, in order); --set ~KEY resets KEY to its default")
        p.add_argument("--vllm-env", action="store_true",
                       help="vLLM-environment mode: read VLLM_DP_*, RANK, ... from this process's environment")

    p = sub.add_parser("compile", help="print the resolved document")
    inputs(p)
    _probe_options(p)
    p.add_argument("--format", choices=("json", "toml", "yaml"), default="json", help="output format")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.set_defaults(handler=_compile)

    p = sub.add_parser("validate", help="check each file on its own; exit 2 listing every error")
    inputs(p)
    p.set_defaults(handler=_validate)

    p = sub.add_parser("plan", help="what every rank does: node, local rank, coordinates, groups, ports, env")
    inputs(p)
    _probe_options(p)
    p.add_argument("--format", choices=("table", "json", "toml", "yaml", "env", "vllm"), default="table",
                   help="table (default), json/toml/yaml, env (with --rank), vllm (`vllm serve` lines, with --node)")
    p.add_argument("--rank", type=int, metavar="R", help="only global rank R")
    p.add_argument("--node", type=int, metavar="N", help="only the ranks of node N")
    p.add_argument("--model", default="$MODEL", help="the model argument of --format vllm (default: $MODEL)")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.set_defaults(handler=_plan)

    p = sub.add_parser("numa", help="this host's NUMA nodes, their CPUs and memory, and where each GPU and NIC sits")
    p.add_argument("--sysfs-root", metavar="DIR", default="/",
                   help="read DIR/sys and DIR/proc instead of this host's (a recorded tree)")
    p.add_argument("--format", choices=("table", "json", "toml"), default="table",
                   help="table (default), json, or toml (a [cluster.topology] table to paste into a cluster file)")
    p.set_defaults(handler=_numa)

    p = sub.add_parser("exec", help="run a command as rank R would run: its environment and NUMA binding",
                       epilog="pconf exec FILE... --rank R [options] -- CMD ARGS: replaces itself with CMD (so "
                       "signals and the exit code are CMD's), with rank R's environment (pconf plan --format env) "
                       "and, when numa_bind is on, its CPU affinity and memory policy")
    inputs(p)
    _probe_options(p)
    p.add_argument("--rank", type=int, required=True, metavar="R", help="the global rank to run as")
    p.add_argument("--bind", choices=("numactl", "affinity", "none"), default=None,
                   help="how to bind: numactl (as vLLM; the default when installed), affinity (sched_setaffinity "
                   "and set_mempolicy here, then exec), or none")
    p.add_argument("--process-kind", choices=("worker", "EngineCore"), default="worker",
                   help="bind as the rank's worker (default) or as its DP rank's EngineCore")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command line and the variables it would set, and run nothing")
    p.set_defaults(handler=_exec)

    p = sub.add_parser("launch", help="start this node's ranks: rendezvous, hash check, every group, checks",
                       epilog="pconf launch FILE... [options] -- CMD ARGS: run CMD in each rank with the rank's "
                       "environment instead of pconf's group check")
    inputs(p)
    p.add_argument("--node-rank", type=int, default=None, metavar="K",
                   help="which node this is (default: parallel.node_rank of the files)")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="ranks to start here; must match the plan's ranks per node (a check, not an override)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="give up after S seconds (default: distributed_timeout_seconds, else 300)")
    p.add_argument("--quiet", action="store_true", help="print only failures")
    p.set_defaults(handler=_launch)

    p = sub.add_parser("doctor", help="run the config's groups on this host, sized to fit, and give a verdict")
    inputs(p)
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="give up after S seconds")
    p.add_argument("--quiet", action="store_true", help="print only the verdict and failures")
    p.set_defaults(handler=_doctor)

    p = sub.add_parser("hash", help="print the graph hash; write or check a CI lock")
    inputs(p)
    p.add_argument("--json", action="store_true", help="the hash and every factor with its value and digest")
    lock = p.add_mutually_exclusive_group()
    lock.add_argument("--write-lock", metavar="PATH", help="record the hash and factor values in PATH")
    lock.add_argument("--check", metavar="PATH",
                      help="compare with a lock: exit 0 if the graph is unchanged, else 1 listing each change")
    p.set_defaults(handler=_hash)

    p = sub.add_parser("diff", help="every key that differs between two configs, and whether the hash changes")
    p.add_argument("old", metavar="OLD", help="the old cluster file")
    p.add_argument("new", metavar="NEW", help="the new cluster file")
    inputs(p, files=False)
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(handler=_diff)

    p = sub.add_parser("explain", help="show a key's value and every layer that set it")
    p.add_argument("args", nargs="+", metavar="FILE... KEY", help="cluster files, then a dotted key")
    inputs(p, files=False)
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    p.set_defaults(handler=_explain)

    p = sub.add_parser("schema", help="print the JSON Schema of cluster files (for editors and CI)")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.set_defaults(handler=_schema)

    p = sub.add_parser("docs", help="write the field reference (docs/reference.md) from the field metadata")
    p.add_argument("-o", "--output", metavar="PATH", default="docs/reference.md",
                   help="the reference file (default: docs/reference.md)")
    p.add_argument("--check", action="store_true",
                   help="do not write: exit 0 if the file is current, else 1 saying it is out of date")
    p.set_defaults(handler=_docs)
    return parser


def _compile_args(files: Sequence[str], args: argparse.Namespace) -> Compiled:
    from pconf.compile import compile_files

    probe = getattr(args, "sysfs_root", None) or getattr(args, "probe_topology", False)
    compiled = compile_files(files, overrides=args.overrides, env=os.environ if args.vllm_env else None,
                             probe_topology=probe)
    _print_issues(compiled.warnings)
    return compiled


def _probe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--probe-topology", action="store_true",
                   help="fill cluster.topology from this host's sysfs (source probe:/sys); never done otherwise")
    p.add_argument("--sysfs-root", metavar="DIR", default=None,
                   help="probe DIR/sys and DIR/proc (a recorded tree) instead of this host; implies --probe-topology")


def _numa(args: argparse.Namespace) -> int:
    from pconf.emit import render
    from pconf.numa.sysfs import read_host_topology

    host = read_host_topology(args.sysfs_root)
    if args.format == "json":
        text = json.dumps(host.to_dict(), indent=2) + "\n"
    elif args.format == "toml":
        text = f"# {host.source}\n" + render({"cluster": {"topology": host.topology_data()}}, "toml")
    else:
        text = _topology_table(host.to_dict())
    sys.stdout.write(text)
    return EXIT_OK


def _topology_table(doc: dict[str, Any]) -> str:
    """``pconf numa`` for people: nodes, GPUs in CUDA order, NICs, and the Priority Core Turbo facts."""
    nodes = doc["nodes"]
    lines = [f"{len(nodes)} NUMA node{'s' if len(nodes) != 1 else ''} ({doc['source']})"]
    rows = [[str(n["id"]), n["cpus"] or "-", f"{n['memory_mb']} MiB" if n["memory_mb"] is not None else "?",
             " ".join(map(str, n["distances"]))] for n in nodes]
    lines += _aligned(("node", "cpus", "memory", "distances"), rows)
    if doc["gpus"]:
        lines.append("GPUs (CUDA order: PCI bus id):")
        rows = [[str(g["index"]), g["pci"], g["vendor_name"], str(g["numa_node"]), str(g["bind_node"]),
                 g["local_cpus"] or "-"] for g in doc["gpus"]]
        lines += _aligned(("gpu", "pci", "vendor", "numa_node", "binds_to", "local_cpus"), rows)
    else:
        lines.append("GPUs: none found")
    if doc["nics"]:
        lines.append("NICs:")
        rows = [[n["pci"], ",".join(n["interfaces"]) or "-", str(n["numa_node"]), n["local_cpus"] or "-"]
                for n in doc["nics"]]
        lines += _aligned(("pci", "interfaces", "numa_node", "local_cpus"), rows)
    cpu = f"CPU: {doc['cpu_model'] or 'unknown'}"
    if doc["highest_perf"] is not None:
        cpu += f"; cpu0 highest_perf {doc['highest_perf']}"
    lines.append(cpu + (f"; Priority Core Turbo cores {doc['pct_cpus']}" if doc["pct_cpus"] else ""))
    return "\n".join(lines) + "\n"


def _aligned(header: Sequence[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    return ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            for row in [list(header), *rows]]


def _exec(args: argparse.Namespace) -> int:
    import shlex

    from pconf.runtime.bind import BindError, exec_bound, numactl_argv, numactl_path

    command: list[str] = list(getattr(args, "command_argv", []))
    if not command:
        print("pconf exec: give the command after --: pconf exec FILE... --rank R -- CMD ARGS", file=sys.stderr)
        return EXIT_CONFIG
    compiled = _compile_args(args.files, args)
    plan = compiled.plan()
    if not 0 <= args.rank < plan.world_size:
        print(f"pconf exec: --rank {args.rank} is outside 0..{plan.world_size - 1}", file=sys.stderr)
        return EXIT_CONFIG
    if plan.numa.mode == "runtime" and compiled.resolved.document.cluster.topology is None and args.bind != "none":
        # vLLM would detect the GPU-to-node mapping on this host when the process starts: so does pconf exec.
        args.probe_topology = True
        print("pconf exec: no cluster.topology; reading this host's (probe:/sys), as vLLM detects it at start",
              file=sys.stderr)
        compiled = _compile_args(args.files, args)
        plan = compiled.plan()
    binding = plan.binding(args.rank, args.process_kind) if args.bind != "none" else None
    env = {**os.environ, **plan.env(args.rank)}
    if args.dry_run:
        argv = command
        if binding is not None and (args.bind or ("numactl" if numactl_path() else "affinity")) == "numactl":
            argv = numactl_argv(binding, command)
        for name, value in plan.env(args.rank).items():
            print(f"{name}={shlex.quote(value)}")
        how = ""
        if binding is not None and argv is command:
            how = f"  # affinity {binding.cpus or 'of NUMA node ' + ','.join(map(str, binding.nodes))}, memory " \
                  f"bound to node {','.join(map(str, binding.nodes))}"
        print(shlex.join(argv) + how)
        return EXIT_OK
    mechanism = None if args.bind in (None, "none") else args.bind
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        exec_bound(command, env, binding, mechanism,
                   warn=lambda text: print(f"pconf exec: warning: {text}", file=sys.stderr, flush=True))
    except BindError as exc:
        print(f"pconf exec: cannot bind rank {args.rank}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # the command cannot be run: the shell's exit codes
        print(f"pconf exec: {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126


def _compile(args: argparse.Namespace) -> int:
    from pconf.emit import render

    text = render(_compile_args(args.files, args).to_dict(), args.format)
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _write(path: str, text: str) -> None:
    """Write an output file the user named; a failure is the user's to fix (exit 2), not a bug."""
    from pconf.errors import ConfigError, Issue, Location

    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError([Issue((), Location(path), "output.write", f"cannot write the file: {exc.strerror}",
                                 hint="check the directory exists and is writable")]) from None


def _validate(args: argparse.Namespace) -> int:
    from pconf.errors import ConfigError

    issues: list[Issue] = []
    for path in args.files:
        try:
            _compile_args([path], args)
        except ConfigError as exc:
            issues.extend(exc.issues)
        else:
            print(f"{path}: ok")
    if issues:
        _print_issues(issues)
        return EXIT_CONFIG
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    if len(args.args) < 2:
        print("pconf explain: give one or more files, then a dotted key", file=sys.stderr)
        return EXIT_CONFIG
    *files, key = args.args
    explanation = _compile_args(files, args).explain(key)
    if args.json:
        layers = [{"where": str(s.where), "value": None if s.is_reset else s.value, "reset": s.is_reset}
                  for s in explanation.chain if not isinstance(s.value, dict)]
        json.dump({"key": explanation.key, "value": explanation.value, "source": explanation.source,
                   "layers": layers}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(f"{explanation.key} = {_show(explanation.value)}")
    print(f"source: {explanation.source}")
    settings = [s for s in explanation.chain if not isinstance(s.value, dict)]
    if settings:
        print("layers (last wins):")
        width = max(len(str(s.where)) for s in settings)
        for s in settings:
            what = "reset to default" if s.is_reset else _show(s.value)
            print(f"  {s.where!s:<{width}}  {what}")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from pconf.emit import env_lines, plan_table, render

    compiled = _compile_args(args.files, args)
    plan = compiled.plan()
    for option, value, limit in (("--rank", args.rank, plan.world_size), ("--node", args.node, plan.nnodes)):
        if value is not None and not 0 <= value < limit:
            return _usage(f"{option} {value} is outside 0..{limit - 1}")
    if args.format == "env":
        if args.rank is None:
            return _usage("--format env needs --rank R")
        text = env_lines(plan.env(args.rank))
    elif args.format == "vllm":
        from pconf.serve_args import render as render_commands
        from pconf.serve_args import serve_commands

        nodes = [args.node] if args.node is not None else range(plan.nnodes)
        text = "".join(("" if plan.nnodes == 1 else f"# node {n}\n")
                       + render_commands(serve_commands(plan, n, args.model)) for n in nodes)
        if compiled.resolved.parallel.distributed_executor_backend == "external_launcher":
            from pconf.serve_args import llm_kwargs

            text = f"# $SCRIPT builds {llm_kwargs(plan)}\n" + text
    elif args.format == "table":
        text = plan_table(plan, args.node) if args.rank is None else plan_table_rank(plan, args.rank)
    else:
        doc = plan.to_dict(args.node) if args.rank is None else rank_dict(plan, args.rank)
        text = render(doc, args.format)
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def rank_dict(plan: Any, rank: int) -> dict[str, Any]:
    """One rank's slice: its row, the members of each of its groups, its environment."""
    from pconf.plan import GROUP_KINDS

    doc = {"world_size": plan.world_size, "graph_hash": plan.graph_hash, "rank": plan.rank(rank).as_dict(),
           "groups": {kind: plan.group_of(kind, rank) for kind in GROUP_KINDS}, "env": plan.env(rank)}
    if plan.numa.mode != "off":  # the binding only when numa_bind is on: other plans keep their shape
        doc["numa"] = plan.numa_dict([rank])
    return doc


def plan_table_rank(plan: Any, rank: int) -> str:
    doc = rank_dict(plan, rank)
    coords = " ".join(f"{k}={v}" for k, v in doc["rank"].items() if k != "rank")
    lines = [f"rank {rank} of {plan.world_size}: {coords}"]
    lines += [f"  {kind:<4} {members}" for kind, members in doc["groups"].items()]
    from pconf.emit import numa_lines

    lines += numa_lines(plan, [rank])
    return "\n".join(lines) + "\n"


def _launch(args: argparse.Namespace) -> int:
    command = list(args.command_argv)
    compiled = _compile_args(args.files, args)
    plan = compiled.plan()
    node = args.node_rank if args.node_rank is not None else compiled.resolved.parallel.node_rank
    if not 0 <= node < plan.nnodes:
        return _usage(f"--node-rank {node} is outside 0..{plan.nnodes - 1}", "launch")
    if args.nproc is not None and args.nproc != len(plan.node_ranks(node)):
        return _usage(f"--nproc {args.nproc}, but the plan runs {len(plan.node_ranks(node))} ranks on node {node} "
                      "(change the parallel sizes or nnodes in the file)", "launch")
    timeout = args.timeout or float(compiled.resolved.parallel.distributed_timeout_seconds or 300)
    if importlib.util.find_spec("torch") is None:
        print("pconf launch: the ranks need torch: pip install torch==2.13.0 (the CPU wheel), then "
              "pip install 'pconf[runtime]'", file=sys.stderr)
        return EXIT_CONFIG
    p = compiled.resolved.parallel
    if p.distributed_executor_backend == "ray" or p.data_parallel_backend == "ray":
        from pconf.runtime.ray_backend import ray_launch

        return ray_launch(plan, args.files, args.overrides, timeout, args.quiet, command=command)
    from pconf.runtime.launch import LaunchOptions, launch

    return launch(plan, LaunchOptions(files=args.files, overrides=args.overrides, node=node, timeout=timeout,
                                      quiet=args.quiet, command=command))


def _doctor(args: argparse.Namespace) -> int:
    from pconf.runtime.doctor import doctor

    return doctor(args.files, args.overrides, args.timeout, args.quiet)


def _usage(message: str, command: str = "plan") -> int:
    print(f"pconf {command}: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _hash(args: argparse.Namespace) -> int:
    from pconf.hashing import check_lock, graph_hash, lock_dict, lock_problem

    gh = graph_hash(_compile_args(args.files, args).resolved)
    if args.write_lock:
        _write(args.write_lock, json.dumps(lock_dict(gh), indent=2, sort_keys=True) + "\n")
        print(gh)
        return EXIT_OK
    if args.check:
        lock = _read_lock(args.check, lock_problem)
        result = check_lock(lock["scheme"], lock["factors"], gh)
        if result.scheme_changed:
            print(f"note: {args.check} was written with hash scheme {result.locked_scheme}; this pconf uses "
                  f"{gh.scheme}. Factor values are compared instead; rewrite the lock with --write-lock.",
                  file=sys.stderr)
        if result.unchanged:
            print(f"{gh}: unchanged")
            return EXIT_OK
        print(f"graph changed: {lock['graph_hash']} -> {gh}")
        for change in result.changes:
            print(f"  {change.name}: {_show(change.old)} -> {_show(change.new)}")
        return EXIT_CHANGED
    if args.json:
        json.dump({"graph_hash": str(gh), "scheme": gh.scheme,
                   "factors": [{"name": f.name, "value": f.value, "digest": f.digest} for f in gh.factors]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(gh)
    return EXIT_OK


def _read_lock(path: str, problem_of: Callable[[object], str | None]) -> dict[str, Any]:
    """Read a lock file: a regular file of at most 1 MiB (a FIFO or a device is refused unread), JSON."""
    from pconf.errors import Issue, LoadError, Location
    from pconf.load.files import NotRegularFile, read_bounded

    lock: Any = None
    try:
        raw = read_bounded(path, _MAX_LOCK_BYTES)
    except NotRegularFile:
        problem: str | None = "the lock is not a regular file"
    except OSError as exc:
        problem = f"cannot read the lock: {exc.strerror}"
    else:
        if len(raw) > _MAX_LOCK_BYTES:
            problem = "the lock is larger than 1 MiB"
        else:
            try:
                lock = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
                problem = f"the lock is not valid JSON: {exc}"
            else:
                problem = problem_of(lock)
    if problem:
        raise LoadError([Issue((), Location(path), "hash.lock_file", problem,
                               hint="write it with `pconf hash FILE --write-lock PATH`")])
    result: dict[str, Any] = lock
    return result


def _diff(args: argparse.Namespace) -> int:
    from pconf.hashing import FACTOR_NAMES, graph_hash

    old, new = _compile_args([args.old], args), _compile_args([args.new], args)
    a, b = _flatten(old.to_dict()), _flatten(new.to_dict())
    factors = {f"parallel.{name}" for name in FACTOR_NAMES}
    keys = [*a, *(k for k in b if k not in a)]
    changes = [(k, a.get(k), b.get(k), k in factors) for k in keys if a.get(k) != b.get(k)]
    ha, hb = graph_hash(old.resolved), graph_hash(new.resolved)
    if args.json:
        json.dump({"changes": [{"key": k, "old": x, "new": y, "graph": g} for k, x, y, g in changes],
                   "graph_hash": {"old": str(ha), "new": str(hb), "changes": ha != hb}}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max((len(f"{k}: {_show(x)} -> {_show(y)}") for k, x, y, _ in changes), default=0)
        for k, x, y, g in changes:
            line = f"{k}: {_show(x)} -> {_show(y)}"
            print(f"{line:<{width}}  [graph]" if g else line)
        print(f"graph hash: {'changes' if ha != hb else 'unchanged'} ({ha}{' -> ' + str(hb) if ha != hb else ''})")
    return EXIT_OK if not changes else EXIT_CHANGED


def _flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """Dotted key -> value for the parallel, scheduler and cluster tables (what a diff compares)."""
    out: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict) and key != "ray_runtime_env":
                walk(value, f"{prefix}{key}.")
            else:
                out[prefix + key] = value

    for section in ("parallel", "scheduler", "cluster"):
        walk(doc[section], f"{section}.")
    return out


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # `(absent)`: a factor only one side has (a lock from another scheme)
        return repr(value)


def _print_issues(issues: Sequence[Issue]) -> None:
    for issue in issues:
        prefix = "warning: " if issue.severity == "warning" else ""
        print(prefix + issue.render(), file=sys.stderr)
    errors = sum(1 for i in issues if i.severity == "error")
    if errors:
        print(f"pconf: {errors} error{'s' if errors != 1 else ''}", file=sys.stderr)


def _schema(args: argparse.Namespace) -> int:
    from pconf.introspect import schema_text

    text = schema_text()
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _docs(args: argparse.Namespace) -> int:
    from pconf.introspect import reference_markdown

    text = reference_markdown()
    if not args.check:
        _write(args.output, text)
        print(f"{args.output}: written")
        return EXIT_OK
    try:
        with open(args.output, encoding="utf-8") as f:
            current = f.read() == text
    except OSError as exc:
        print(f"pconf docs: cannot read {args.output}: {exc.strerror}; run `pconf docs` to write it", file=sys.stderr)
        return EXIT_CHANGED
    if not current:
        print(f"pconf docs: {args.output} is out of date; run `pconf docs` to regenerate it", file=sys.stderr)
        return EXIT_CHANGED
    print(f"{args.output}: up to date")
    return EXIT_OK
