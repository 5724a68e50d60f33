"""``vaultctl prune [--dry-run|--yes] [--json]``: report (default) or delete what retention
no longer protects."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.admin import admin_client
from bulwark.agent.cli.common import Context, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", help="delete expired snapshots and unreferenced chunks")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="only report (the default)")
    mode.add_argument("--yes", action="store_true", help="really delete")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    admin = admin_client(ctx)
    try:
        r = admin.prune(dry_run=not args.yes)
    finally:
        admin.close()
    if args.json:
        print_json({"dry_run": r.dry_run, "snapshots": r.snapshots, "chunks": r.chunks,
                    "bytes": r.bytes, "kept_held": r.kept_locked, "orphans": r.orphans})
        return 0
    verb = "would delete" if r.dry_run else "deleted"
    print(f"{verb} {len(r.snapshots)} snapshot(s), {r.chunks} chunk(s), "
          f"{r.bytes / 1e6:,.1f} MB, {r.orphans} orphan blob(s)")
    for sid in r.snapshots:
        print(f"  {sid}")
    if r.kept_locked:
        print(f"kept {len(r.kept_locked)} expired snapshot(s) under legal hold")
    if r.dry_run:
        print("dry run: nothing deleted; run with --yes to delete")
    return 0
