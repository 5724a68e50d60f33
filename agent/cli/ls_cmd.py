"""``vaultctl ls SNAPSHOT [PATH] [--recursive] [--long] [--json]``: what a snapshot holds.

With ``--long`` each file also shows its stored bytes (blob sizes as the vault keeps them,
``Stats.GetChunkSizes``; a packed small file its slice of the pack: ``listing.stored_share``),
asked for ``IDS_PER_MESSAGE`` chunk ids at a time as the manifest streams.
"""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context
from bulwark.agent.cli.listing_out import iso, opened_manifest, write_json_list
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args, snapshot_ref
from bulwark.agent.client.stats import chunk_sizes
from bulwark.agent.restore.listing import (
    Listed,
    list_entries,
    manifest_path,
    mode_text,
    shown,
    with_stored,
)
from bulwark.protos.contract import IDS_PER_MESSAGE


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ls", help="list the entries of a snapshot",
        description="List PATH of SNAPSHOT (default: its root) and the entries right below "
        "it, or everything below it with --recursive. Paths are shown as restore --path takes "
        "them. Decrypts the manifest on this machine; no file data is read.",
        epilog="example: vaultctl --config operator.toml ls latest /data/ckpt --long")
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref, help=SNAPSHOT_HELP)
    p.add_argument("path", metavar="PATH", nargs="?", default="/",
                   help="absolute as shown, or relative to the snapshot's root (default: /)")
    p.add_argument("--recursive", "-r", action="store_true", help="every entry below PATH")
    p.add_argument("--long", "-l", action="store_true",
                   help="type, mode, size, mtime, chunk count and stored bytes of each entry")
    p.add_argument("--json", action="store_true", help="print a JSON list of entries")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    path = manifest_path(args.path)
    with opened_manifest(ctx, args.snapshot, args) as (_snapshot, manifest):
        entries = list_entries(manifest.entries(), path, args.recursive)
        if not args.long:
            if args.json:
                write_json_list(Listed(e).summary() for e in entries)
            else:
                for e in entries:
                    print(shown(e.path))
            return 0
        sized = with_stored(entries, lambda ids: chunk_sizes(ctx.client, ids), IDS_PER_MESSAGE)
        if args.json:
            write_json_list(Listed(e, stored).summary(True) for e, stored in sized)
            return 0
        for e, stored in sized:
            chunks = f"{len(e.chunks):>5}" if e.chunks else f"{'':>5}"
            print(f"{mode_text(e)} {e.size:>14,} {stored:>14,} {iso(e.mtime_ns)} {chunks}  "
                  f"{shown(e.path)}")
    return 0
