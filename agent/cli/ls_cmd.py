"""``vaultctl ls SNAPSHOT [PATH] [--recursive] [--long] [--json]``: what a snapshot holds."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context
from bulwark.agent.cli.listing_out import iso, opened_manifest, write_json_list
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args
from bulwark.agent.restore.listing import Listed, list_entries, manifest_path, mode_text, shown


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ls", help="list the entries of a snapshot",
        description="List PATH of SNAPSHOT (default: its root) and the entries right below "
        "it, or everything below it with --recursive. Paths are shown as restore --path takes "
        "them. Decrypts the manifest on this machine; no file data is read.",
        epilog="example: vaultctl --config operator.toml ls latest /data/ckpt --long")
    p.add_argument("snapshot", metavar="SNAPSHOT", help=SNAPSHOT_HELP)
    p.add_argument("path", metavar="PATH", nargs="?", default="/",
                   help="absolute as shown, or relative to the snapshot's root (default: /)")
    p.add_argument("--recursive", "-r", action="store_true", help="every entry below PATH")
    p.add_argument("--long", "-l", action="store_true",
                   help="type, mode, size, mtime and chunk count of each entry")
    p.add_argument("--json", action="store_true", help="print a JSON list of entries")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    path = manifest_path(args.path)
    with opened_manifest(ctx, args.snapshot, args) as (_snapshot, manifest):
        entries = list_entries(manifest.entries(), path, args.recursive)
        if args.json:
            write_json_list(Listed(e).summary(args.long) for e in entries)
            return 0
        for e in entries:
            if args.long:
                chunks = f"{len(e.chunks):>5}" if e.chunks else f"{'':>5}"
                print(f"{mode_text(e)} {e.size:>14,} {iso(e.mtime_ns)} {chunks}  {shown(e.path)}")
            else:
                print(shown(e.path))
    return 0
