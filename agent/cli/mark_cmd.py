"""``vaultctl mark set|clear SNAPSHOT --reason TEXT``: a snapshot's ransomware-signal mark
(security officer; audited). A mark extends the retention of the node's last clean
snapshots, as the vault's own marks do."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.client.marks import set_mark
from bulwark.agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mark", help="mark a snapshot suspicious or clear its mark (officer)",
                       epilog="example: vaultctl --config officer.toml mark clear 3fa2 "
                       "--reason 'planned re-encryption of the dataset'")
    p.add_argument("action", choices=["set", "clear"])
    p.add_argument("snapshot", metavar="SNAPSHOT", help="id or unique id prefix")
    p.add_argument("--reason", default="", help="why (required; recorded in the audit)")
    p.add_argument("--json", action="store_true", help="print the mark as JSON")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.reason.strip():
        raise UsageError("mark: --reason is required (it is recorded in the audit)")
    mark = set_mark(ctx.client, args.snapshot, args.action == "set", args.reason)
    if args.json:
        print_json({"snapshot": args.snapshot, "mark": mark})
    else:
        state = "suspicious" if mark["suspicious"] else "clean"
        print(f"snapshot {args.snapshot}: {state} (by {mark['set_by']}: {mark['note']})")
    return 0
