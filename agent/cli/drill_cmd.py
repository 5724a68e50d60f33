"""``vaultctl drill SNAPSHOT [--validate CMD] [--timeout S] [--isolation I] [--json]``.

Restores SNAPSHOT into a sandbox, checks it, records the signed report in the vault.
Exit 0 only if the drill passed and was recorded; 1 if it failed (or passed but could
not be recorded: an unrecorded drill proves nothing to anyone else).
"""

from __future__ import annotations

import argparse
import sys

from bulwark.agent.cli.common import EXIT_DATA, Context, print_json
from bulwark.agent.cli.progress import ProgressBar
from bulwark.agent.cli.selection import (
    SNAPSHOT_HELP,
    add_selection_args,
    resolve_snapshot,
    snapshot_ref,
)
from bulwark.agent.drill.report import ISOLATION_NAMESPACE, ISOLATION_NONE
from bulwark.agent.drill.runner import latest_of_set, record, run_drill
from bulwark.agent.errors import VaultError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drill", help="restore a snapshot into a sandbox, validate, record",
                       description="Restore SNAPSHOT into a fresh sandbox (mount + network "
                       "namespace, loopback only, private /tmp), verify every file against "
                       "the manifest, run the built-in validators and --validate CMD inside "
                       "it, and record a signed report in the vault.")
    p.add_argument("snapshot", metavar="SNAPSHOT", type=_drill_ref,
                   help=SNAPSHOT_HELP + ", or set:NAME (newest of a backup set)")
    add_selection_args(p)
    p.add_argument("--validate", metavar="CMD",
                   help="shell command run inside the sandbox, in the restored tree "
                   "($BULWARK_DRILL_ROOT); the drill fails unless it exits 0")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="seconds the validate command may run (default 600)")
    p.add_argument("--isolation", choices=(ISOLATION_NAMESPACE, ISOLATION_NONE),
                   default=ISOLATION_NAMESPACE,
                   help="'none' only where namespaces are unavailable; recorded in the report")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run, needs_config=True)


def _drill_ref(text: str) -> str:
    """A snapshot reference (:func:`snapshot_ref`) or ``set:NAME``."""
    if text.startswith("set:"):
        if text == "set:":
            raise argparse.ArgumentTypeError("'set:' names no backup set: give set:NAME")
        return text
    return snapshot_ref(text)


def run(args: argparse.Namespace, ctx: Context) -> int:
    ref = args.snapshot
    if ref.startswith("set:"):
        ref = latest_of_set(ctx.client, ref.removeprefix("set:"))
    else:
        ref = resolve_snapshot(ctx.client, ref, args).id
    bar = ProgressBar("restore", enabled=not args.json)
    try:
        report = run_drill(ctx.client, ctx.keyring, ref, command=args.validate,
                           timeout=args.timeout, isolation=args.isolation,
                           workers=ctx.config.workers, on_progress=bar)
    finally:
        bar.close()
    recorded = None
    try:
        recorded = record(ctx.client, ctx.keyring, report)
    except VaultError as exc:
        print(f"vaultctl: error: drill report not recorded: {exc}", file=sys.stderr)
    if args.json:
        doc = report.to_json()
        doc["record_id"] = recorded.id if recorded else None
        print_json(doc)
    else:
        print(report.summary())
        if recorded:
            print(f"  recorded in the vault as {recorded.id}")
    if not report.passed:
        print(f"vaultctl: error: drill of snapshot {report.snapshot[:12]} FAILED: "
              f"{'; '.join(report.failures)}", file=sys.stderr)
        return EXIT_DATA
    return 0 if recorded else EXIT_DATA
