"""``vaultctl diff SNAPSHOT SNAPSHOT [--json]``: what changed, from the two manifests."""

from __future__ import annotations

import argparse
import json
import sys

from bulwark.agent.cli.common import Context
from bulwark.agent.cli.listing_out import opened_manifest, write_json_list
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args, snapshot_ref
from bulwark.agent.restore.diff import (
    ADDED,
    METADATA,
    MODIFIED,
    REMOVED,
    Change,
    DiffTotals,
    diff_entries,
)
from bulwark.agent.restore.listing import shown

_MARK = {ADDED: "+", REMOVED: "-", MODIFIED: "M", METADATA: "U"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff", help="show what changed between two snapshots",
        description="Compare two snapshots' manifests: + added, - removed, M content "
        "modified (with the bytes of changed chunks), U metadata only. No file data is read.",
        epilog="example: vaultctl --config operator.toml diff 3fa2 latest --node gpu-1")
    p.add_argument("old", metavar="SNAPSHOT", type=snapshot_ref, help=SNAPSHOT_HELP)
    p.add_argument("new", metavar="SNAPSHOT", type=snapshot_ref,
                   help="the newer snapshot, as the first")
    p.add_argument("--json", action="store_true",
                   help="print {old, new, changes: [...], totals: {...}}")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def _counted(change: Change, totals: DiffTotals) -> Change:
    totals.add(change)
    return change


def run(args: argparse.Namespace, ctx: Context) -> int:
    totals = DiffTotals()
    with (opened_manifest(ctx, args.old, args) as (old, old_manifest),
          opened_manifest(ctx, args.new, args) as (new, new_manifest)):
        changes = diff_entries(old_manifest.entries(), new_manifest.entries())
        if args.json:
            # One JSON object, written as it is produced: the change list can be long.
            sys.stdout.write(json.dumps({"old": old.info.id, "new": new.info.id})[:-1]
                             + ', "changes": ')
            write_json_list((_counted(c, totals).summary() for c in changes), end="")
            sys.stdout.write(f', "totals": {json.dumps(totals.summary())}}}\n')
            return 0
        for change in changes:
            totals.add(change)
            size = f"{change.bytes:>14,}" if change.kind != METADATA else f"{'':>14}"
            print(f"{_MARK[change.kind]} {size}  {shown(change.path)}")
    s = totals.summary()
    print(f"{old.info.id[:12]} -> {new.info.id[:12]}: "
          f"{s[ADDED]['entries']} added ({s[ADDED]['bytes']:,} B), "
          f"{s[REMOVED]['entries']} removed ({s[REMOVED]['bytes']:,} B), "
          f"{s[MODIFIED]['entries']} modified ({s[MODIFIED]['bytes']:,} B changed), "
          f"{s[METADATA]['entries']} metadata only")
    return 0
