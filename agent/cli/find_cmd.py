"""``vaultctl find PATTERN... [--snapshot S]... [--newest N] [--json]``: search snapshots.

Snapshots are searched newest first, one manifest at a time (each streamed, then closed), so
memory holds one manifest's spool whatever the number of snapshots or files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from bulwark.agent.cli.common import Context
from bulwark.agent.cli.listing_out import iso, write_json_list
from bulwark.agent.cli.selection import add_selection_args, selection_of, snapshot_ref
from bulwark.agent.client.snapshots import query_snapshots, resolve
from bulwark.agent.client.vault import SnapshotInfo
from bulwark.agent.errors import UsageError
from bulwark.agent.restore.listing import Listed, matcher, mode_text, shown
from bulwark.agent.restore.reader import fetch_manifest, open_snapshot


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "find", help="find files by name or path pattern across snapshots",
        description="Search snapshots, newest first, for entries whose name matches PATTERN "
        "(or, for a pattern with '/', whose whole path does): shell globs * ? [...].",
        epilog="example: vaultctl --config operator.toml find '*.safetensors' --node gpu-1 "
        "--newest 5")
    p.add_argument("patterns", metavar="PATTERN", nargs="+", help="glob or exact name")
    p.add_argument("--snapshot", action="append", default=[], metavar="S", type=snapshot_ref,
                   help="search only this snapshot (repeatable; id, prefix or 'latest')")
    p.add_argument("--newest", type=int, default=0, metavar="N",
                   help="search only the N newest matching snapshots")
    p.add_argument("--ignore-case", "-i", action="store_true", help="match case-insensitively")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of matches, each with its snapshot")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def _snapshots(args: argparse.Namespace, ctx: Context) -> Iterator[SnapshotInfo]:
    selection = selection_of(args)
    if args.snapshot:
        infos = [resolve(ctx.client, ref, selection) for ref in args.snapshot]
        yield from sorted(infos, key=lambda s: s.time_ns, reverse=True)
    else:
        yield from query_snapshots(ctx.client, selection, newest_first=True, limit=args.newest)


def _matches(args: argparse.Namespace, ctx: Context) -> Iterator[tuple[SnapshotInfo, Listed]]:
    match = matcher(args.patterns, args.ignore_case)
    for n, info in enumerate(_snapshots(args, ctx), start=1):
        if sys.stderr.isatty() and not args.json:
            print(f"\rfind: snapshot {n}: {info.id[:12]}", end="", file=sys.stderr)
        snapshot = open_snapshot(ctx.client, ctx.keyring, info.id)
        with fetch_manifest(ctx.client, snapshot, ctx.config.workers) as manifest:
            for entry in manifest.entries():
                if match(entry):
                    yield info, Listed(entry)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.newest < 0:
        raise UsageError(f"--newest {args.newest}: must be a positive count")
    matcher(args.patterns)  # a bad pattern is a usage error before anything is fetched
    if args.json:
        write_json_list({"snapshot": info.id, "node": info.node, **item.summary()}
                        for info, item in _matches(args, ctx))
        return 0
    current = None
    count = 0
    for info, item in _matches(args, ctx):
        if info.id != current:
            current = info.id
            print("\r\x1b[2K" if sys.stderr.isatty() else "", end="", file=sys.stderr)
            print(f"snapshot {info.id[:12]} of {info.node} at {iso(info.time_ns)}:")
        e = item.entry
        print(f"  {mode_text(e)} {e.size:>14,} {iso(e.mtime_ns)}  {shown(e.path)}")
        count += 1
    print(f"{count} match{'es' if count != 1 else ''}")
    return 0
