"""``vaultctl verify SNAPSHOT``: read and authenticate every chunk; name damaged files."""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import EXIT_DATA, Context, counted, print_json
from bulwark.agent.cli.selection import (
    SNAPSHOT_HELP,
    add_selection_args,
    resolve_snapshot,
    snapshot_ref,
)
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.restore.verify import run_verify


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="authenticate every chunk and file of a snapshot",
                       epilog="example: vaultctl --config operator.toml verify latest "
                       "--node gpu-1 --tag nightly")
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref, help=SNAPSHOT_HELP)
    add_selection_args(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    ref = resolve_snapshot(ctx.client, args.snapshot, args).id
    result = run_verify(ctx.client, ctx.keyring, ref, ctx.config.workers)
    if args.json:
        print_json(result.summary())
    else:
        state = "ok" if result.ok else "DAMAGED"
        print(f"snapshot {result.snapshot[:12]}: {counted(result.chunks, 'chunk')}, "
              f"{counted(result.files, 'file')}, {result.bytes / 1e6:,.1f} MB: {state}")
        for chunk, files in sorted(result.damaged.items()):
            print(f"  damaged chunk {chunk[:16]}: {', '.join(map(show_path, files))}")
        for path in result.mismatched:
            print(f"  content hash mismatch: {show_path(path)}")
    return 0 if result.ok else EXIT_DATA
