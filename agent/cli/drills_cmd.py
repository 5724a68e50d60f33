"""``vaultctl drills [--snapshot ID] [--node NODE] [--json]``: recorded drill reports.

Each record's signature is checked here, and, when this configuration holds the restore
key, whether the signing key is the tenant's drill key for the runner it names
(``signer``: "tenant", "unknown" (valid signature, foreign key) or "BAD SIGNATURE").
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.client.vault import DrillRecordInfo
from bulwark.agent.drill.report import tenant_key_for, verify_report


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drills", help="list recorded restore drills")
    p.add_argument("--snapshot", default="", help="only drills of this snapshot (full id)")
    p.add_argument("--node", default="", help="only drills of this node's snapshots")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=run, needs_config=True)


def _signer(ctx: Context, record: DrillRecordInfo, report: dict) -> str:
    if not verify_report(record.public_key, record.report, record.signature):
        return "BAD SIGNATURE"
    expected = tenant_key_for(ctx.keyring, str(report.get("runner", "")))
    if expected is None:
        return "unchecked"
    return "tenant" if expected == record.public_key else "unknown"


def _row(ctx: Context, record: DrillRecordInfo) -> dict[str, object]:
    try:
        report = json.loads(record.report)
    except ValueError:
        report = {}
    signer = _signer(ctx, record, report)
    return {
        "id": record.id,
        "recorded": datetime.fromtimestamp(record.recorded_ns / 1e9, UTC).isoformat(
            timespec="seconds"),
        "snapshot": record.snapshot_id,
        "node": record.node,
        "runner": report.get("runner"),
        "recorded_by": record.recorded_by,
        "isolation": report.get("isolation"),
        "rto_s": report.get("rto_s"),
        "bytes": report.get("bytes"),
        "files": report.get("files"),
        # a record whose signature does not verify never reads as passed
        "pass": record.passed and signer != "BAD SIGNATURE",
        "signer": signer,
        "failures": report.get("failures", []),
    }


def run(args: argparse.Namespace, ctx: Context) -> int:
    rows = [_row(ctx, r) for r in ctx.client.list_drills(args.snapshot, args.node)]
    if args.json:
        print_json(rows)
        return 0
    print(f"{'RECORDED (UTC)':<26} {'SNAPSHOT':<12} {'NODE':<14} {'RESULT':<7} "
          f"{'RTO':>8} {'SIZE':>12}  ISOLATION  SIGNER")
    for r in rows:
        print(f"{r['recorded']:<26} {str(r['snapshot'])[:12]:<12} {str(r['node'])[:14]:<14} "
              f"{'pass' if r['pass'] else 'FAIL':<7} {r['rto_s'] or 0:>7.1f}s "
              f"{(r['bytes'] or 0) / 1e6:>9,.1f} MB  {r['isolation']!s:<9}  {r['signer']}")
    print(f"{len(rows)} drill{'s' if len(rows) != 1 else ''}")
    return 0
