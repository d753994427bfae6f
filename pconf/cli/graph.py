"""``pconf hash`` and ``pconf diff``: the graph hash, CI locks, and what changed between two configurations."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CHANGED, EXIT_OK, compile_args, inputs, write


def _hash_parser(p: argparse.ArgumentParser) -> None:
    inputs(p)
    p.add_argument("--json", action="store_true", help="the hash and every factor with its value and digest")
    lock = p.add_mutually_exclusive_group()
    lock.add_argument("--write-lock", metavar="PATH", help="record the hash and factor values in PATH")
    lock.add_argument("--check", metavar="PATH",
                      help="compare with a lock: exit 0 if the graph is unchanged, else 1 listing each change")
    p.set_defaults(handler=_hash)


def _hash(args: argparse.Namespace) -> int:
    from pconf.emit.reports import hash_json, lock_check_text, lock_json
    from pconf.hashing import check_lock, lock_dict, lock_problem

    gh = compile_args(args.files, args).graph_hash
    if args.write_lock:
        write(args.write_lock, lock_json(lock_dict(gh)))
        print(gh)
        return EXIT_OK
    if args.check:
        from pconf.load.lock import read_lock
        from pconf.versions import DEFAULT

        lock = read_lock(args.check, lock_problem)
        result = check_lock(lock["scheme"], lock["factors"], gh, lock.get("vllm_version", DEFAULT))
        if result.scheme_changed:
            print(f"note: {args.check} was written with hash scheme {result.locked_scheme}; this pconf uses "
                  f"{gh.scheme}. Factor values are compared instead; rewrite the lock with --write-lock.",
                  file=sys.stderr)
        sys.stdout.write(lock_check_text(gh, lock["graph_hash"], result))
        return EXIT_OK if result.unchanged else EXIT_CHANGED
    sys.stdout.write(hash_json(gh) if args.json else f"{gh}\n")
    return EXIT_OK


def _diff_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", metavar="OLD", help="the old cluster file")
    p.add_argument("new", metavar="NEW", help="the new cluster file")
    inputs(p, files=False)
    p.add_argument("--json", action="store_true", help="print the differences as JSON")
    p.set_defaults(handler=_diff)


def _diff(args: argparse.Namespace) -> int:
    from pconf.compare import compare
    from pconf.emit.reports import diff_json, diff_text

    comparison = compare(compile_args([args.old], args), compile_args([args.new], args))
    sys.stdout.write(diff_json(comparison) if args.json else diff_text(comparison))
    return EXIT_OK if not comparison.changes else EXIT_CHANGED


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"hash": _hash_parser, "diff": _diff_parser}
