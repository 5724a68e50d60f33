"""``vaultctl snapshots [--json]``: list the snapshots the vault holds, oldest first."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bulwark.agent.cli.common import Context, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("snapshots", help="list snapshots")
    p.add_argument("--node", default="", help="only this node's snapshots")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=run, needs_config=True)


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).isoformat(timespec="seconds")


def _retention(s) -> str:
    """``compliance until 2027-03-01T00:00:00+00:00`` plus ``HOLD`` under a legal hold."""
    text = f"{s.retention_mode[:10]} until {_iso(s.retain_until_ns)[:10]}"
    return text + (" HOLD" if s.legal_hold else "")


def run(args: argparse.Namespace, ctx: Context) -> int:
    snapshots = ctx.client.list_snapshots(args.node)
    if args.json:
        print_json([
            {"id": s.id, "time": _iso(s.time_ns), "node": s.node, "tags": list(s.tags),
             "paths": list(s.paths), "files": s.files, "bytes": s.bytes,
             "retention": {"mode": s.retention_mode, "retain_until": _iso(s.retain_until_ns),
                           "legal_hold": s.legal_hold}}
            for s in snapshots
        ])
        return 0
    print(f"{'ID':<12} {'TIME (UTC)':<25} {'NODE':<16} {'FILES':>7} {'SIZE':>12}  "
          f"{'RETENTION':<33} PATHS")
    for s in snapshots:
        print(f"{s.id[:12]:<12} {_iso(s.time_ns):<25} {s.node[:16]:<16} {s.files:>7} "
              f"{s.bytes / 1e6:>9,.1f} MB  {_retention(s):<33} {' '.join(s.paths)}"
              + (f"  [{', '.join(s.tags)}]" if s.tags else ""))
    print(f"{len(snapshots)} snapshot{'s' if len(snapshots) != 1 else ''}")
    return 0
