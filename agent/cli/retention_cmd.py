"""``vaultctl retention show SNAPSHOT [--json]`` and
``vaultctl retention extend SNAPSHOT --until DATE|--days N [--bypass-governance]``."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.admin import admin_client, parse_date, retention_json, retention_text
from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.selection import snapshot_ref
from bulwark.agent.errors import ConfigError

DAY_NS = 86_400 * 1_000_000_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retention", help="show or extend a snapshot's retention")
    p.add_argument("action", choices=["show", "extend"])
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref,
                   help="id, unique prefix or 'latest'")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--until", metavar="DATE", help="new retain-until (UTC), e.g. 2027-03-01")
    when.add_argument("--days", type=int, metavar="N", help="retain-until = vault now + N days")
    p.add_argument("--bypass-governance", action="store_true",
                   help="shorten a governance-mode lock (security officer only; audited)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    admin = admin_client(ctx)
    try:
        if args.action == "show":
            view = admin.get_retention(args.snapshot)
        else:
            if args.until is None and args.days is None:
                raise ConfigError("retention extend: give --until DATE or --days N")
            if args.until is not None:
                until = parse_date(args.until)
            else:
                if args.days < 0:
                    raise ConfigError("--days must be 0 or more")
                now, _ = admin.clock()
                until = now + args.days * DAY_NS
            view = admin.set_retention(args.snapshot, until, args.bypass_governance)
    finally:
        admin.close()
    print_json(retention_json(view)) if args.json else print(retention_text(view))
    return 0
