"""``pconf numa`` and ``pconf exec``: this host's topology, and running a command as a rank of the plan."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CONFIG, EXIT_OK, compile_args, inputs, probe_options


def _numa_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sysfs-root", metavar="DIR", default="/",
                   help="read DIR/sys and DIR/proc instead of this host's (a recorded tree)")
    p.add_argument("--format", choices=("table", "json", "toml"), default="table",
                   help="table (default), json, or toml (a [cluster.topology] table to paste into a cluster file)")
    p.set_defaults(handler=_numa)


def _numa(args: argparse.Namespace) -> int:
    from pconf.emit.document import render
    from pconf.emit.table import topology_table
    from pconf.numa.sysfs import read_host_topology

    host = read_host_topology(args.sysfs_root)
    if args.format == "json":
        text = json.dumps(host.to_dict(), indent=2) + "\n"
    elif args.format == "toml":
        text = f"# {host.source}\n" + render({"cluster": {"topology": host.topology_data()}}, "toml")
    else:
        text = topology_table(host.to_dict())
    sys.stdout.write(text)
    return EXIT_OK


def _exec_parser(p: argparse.ArgumentParser) -> None:
    p.epilog = ("pconf exec FILE... --rank R [options] -- CMD ARGS: replaces itself with CMD (so signals and the "
                "exit code are CMD's), with rank R's environment (pconf plan --format env) and, when numa_bind is "
                "on, its CPU affinity and memory policy")
    inputs(p)
    probe_options(p)
    p.add_argument("--rank", type=int, required=True, metavar="R", help="the global rank to run as")
    p.add_argument("--bind", choices=("numactl", "affinity", "none"), default=None,
                   help="how to bind: numactl (as vLLM; the default when installed), affinity (sched_setaffinity "
                   "and set_mempolicy here, then exec), or none")
    p.add_argument("--process-kind", choices=("worker", "EngineCore"), default="worker",
                   help="bind as the rank's worker (default) or as its DP rank's EngineCore")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command line and the variables it would set, and run nothing")
    p.set_defaults(handler=_exec, takes_command=True)


def _exec(args: argparse.Namespace) -> int:
    import shlex

    from pconf.runtime.bind import BindError, exec_bound, numactl_argv, numactl_path

    command: list[str] = list(getattr(args, "command_argv", []))
    if not command:
        print("pconf exec: give the command after --: pconf exec FILE... --rank R -- CMD ARGS", file=sys.stderr)
        return EXIT_CONFIG
    compiled = compile_args(args.files, args)
    plan = compiled.plan()
    if not 0 <= args.rank < plan.world_size:
        print(f"pconf exec: --rank {args.rank} is outside 0..{plan.world_size - 1}", file=sys.stderr)
        return EXIT_CONFIG
    if plan.numa.mode == "runtime" and compiled.resolved.document.cluster.topology is None and args.bind != "none":
        # vLLM would detect the GPU-to-node mapping on this host when the process starts: so does pconf exec.
        args.probe_topology = True
        print("pconf exec: no cluster.topology; reading this host's (probe:/sys), as vLLM detects it at start",
              file=sys.stderr)
        compiled = compile_args(args.files, args)
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
    return EXIT_OK  # exec_bound replaces the process; reached only if it returns


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"numa": _numa_parser, "exec": _exec_parser}
