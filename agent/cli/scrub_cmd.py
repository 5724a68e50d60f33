"""``vaultctl scrub [--json]``: the vault re-hashes every stored blob; exit 1 on damage."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.admin import admin_client
from bulwark.agent.cli.common import EXIT_DATA, Context, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scrub", help="re-hash every stored blob and report damage")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    admin = admin_client(ctx)
    try:
        r = admin.scrub()
    finally:
        admin.close()
    if args.json:
        print_json({"blobs": r.blobs, "bytes": r.bytes, "damaged": r.damaged})
    else:
        print(f"scrubbed {r.blobs} blob(s), {r.bytes / 1e6:,.1f} MB: "
              f"{len(r.damaged)} damaged")
        for d in r.damaged:
            print(f"  chunk {d['chunk_id']}: {d['problem']}; snapshots: "
                  f"{', '.join(d['snapshots']) or 'none'}")
        if r.damaged:
            print("restore or verify those snapshots to learn which files are affected "
                  "(vaultctl verify SNAPSHOT)")
    return EXIT_DATA if r.damaged else 0
