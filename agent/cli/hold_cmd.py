"""``vaultctl hold set|clear SNAPSHOT --reason TEXT``: legal holds (security officer)."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.admin import admin_client, retention_json, retention_text
from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.selection import snapshot_ref


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hold", help="set or clear a legal hold (security officer)")
    p.add_argument("action", choices=["set", "clear"])
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref)
    p.add_argument("--reason", default="", help="why (required to set; recorded in the audit)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    admin = admin_client(ctx)
    try:
        view = admin.set_hold(args.snapshot, args.action == "set", args.reason)
    finally:
        admin.close()
    print_json(retention_json(view)) if args.json else print(retention_text(view))
    return 0
