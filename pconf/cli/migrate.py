"""``pconf migrate``: move a cluster file to a newer vLLM release, keeping what it means."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pconf.cli.common import EXIT_CHANGED, EXIT_OK, overrides, usage, write


def _migrate_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="the cluster file to migrate (rewritten in place)")
    p.add_argument("--to", required=True, metavar="V", help="the vLLM release to move it to (0.28, 0.34)")
    overrides(p)  # compiled with, as everywhere; not written into the file
    p.add_argument("-o", "--output", metavar="PATH", help="write the migrated file to PATH instead of FILE")
    p.add_argument("--check", action="store_true",
                   help="write nothing: exit 0 if the file needs no change, 1 listing the changes otherwise")
    p.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from pconf.migrate import describe, migrate_file

    if args.file == "-":
        return usage("cannot migrate standard input (-): it rewrites FILE keeping its comments; name the file "
                     "(-o PATH writes elsewhere)", "migrate")
    migration = migrate_file(args.file, args.to, args.overrides)
    if not migration.changed:
        print(f"{args.file}: already vLLM {migration.new_release}; nothing to change")
        return EXIT_OK
    print(f"{args.file}: vLLM {migration.old_release} -> {migration.new_release}")
    for edit in migration.edits:
        print(f"  {describe(edit)}")
    print(f"graph hash: {migration.old_hash} -> {migration.new_hash}")
    if args.check:
        print(f"pconf migrate: {args.file} needs these changes (run without --check to make them)", file=sys.stderr)
        return EXIT_CHANGED
    write(args.output or args.file, migration.text)
    return EXIT_OK


PARSERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"migrate": _migrate_parser}
