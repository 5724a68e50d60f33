"""``vaultctl restore SNAPSHOT TARGET [--path SUBPATH]``: restore files under TARGET."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bulwark.agent.cli.common import EXIT_DATA, Context, print_json
from bulwark.agent.cli.progress import ProgressBar
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args, resolve_snapshot
from bulwark.agent.restore.run import run_restore


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="restore a snapshot under a target folder",
                       description="Paths are restored as backed up, under TARGET: /data/x "
                       "restored into /tmp/r becomes /tmp/r/data/x.",
                       epilog="example: vaultctl --config operator.toml restore latest /tmp/r "
                       "--node gpu-1 --path /data/ckpt/model.safetensors",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", metavar="SNAPSHOT", help=SNAPSHOT_HELP)
    p.add_argument("target", metavar="TARGET", type=Path)
    p.add_argument("--path", dest="subpath",
                   help="restore only this path, as `vaultctl ls` shows it (absolute, or "
                   "relative to the snapshot's root)")
    add_selection_args(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    bar = ProgressBar("restore", enabled=not args.json)
    try:
        ref = resolve_snapshot(ctx.client, args.snapshot, args).id
        result = run_restore(ctx.client, ctx.keyring, ref, args.target, args.subpath,
                             ctx.config.workers, bar)
    finally:
        bar.close()
    if args.json:
        print_json(result.summary())
    else:
        rate = result.bytes / max(result.duration_s, 1e-6) / 1e6
        print(f"restored snapshot {result.snapshot[:12]}: {result.files} files, "
              f"{result.bytes / 1e6:,.1f} MB in {result.duration_s:.1f}s ({rate:,.0f} MB/s) "
              f"to {args.target}")
    if result.failed:
        for path, error in result.failed:
            print(f"vaultctl: error: {path}: not restored: {error}", file=sys.stderr)
        return EXIT_DATA
    return 0
