"""``vaultctl delete SNAPSHOT [--bypass-governance]``: delete one snapshot if its retention
allows (its chunks go at the next prune)."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.admin import admin_client
from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.selection import snapshot_ref


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("delete", help="delete a snapshot whose retention allows it")
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref)
    p.add_argument("--bypass-governance", action="store_true",
                   help="delete before retain-until in governance mode (officer; audited)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    admin = admin_client(ctx)
    try:
        sid = admin.delete(args.snapshot, args.bypass_governance)
    finally:
        admin.close()
    print_json({"deleted": sid}) if args.json else print(
        f"deleted snapshot {sid}; its chunks go at the next prune")
    return 0
