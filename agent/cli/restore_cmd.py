"""``vaultctl restore SNAPSHOT TARGET [--path SUBPATH] [--overwrite RULE] [--delete]
[--dry-run] [--verify]``: restore files under TARGET (agent.restore.run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bulwark.agent.cli.common import EXIT_DATA, EXIT_PARTIAL, Context, counted, print_json
from bulwark.agent.cli.progress import ProgressBar
from bulwark.agent.cli.selection import (
    SNAPSHOT_HELP,
    add_selection_args,
    resolve_snapshot,
    snapshot_ref,
)
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.restore.listing import manifest_path
from bulwark.agent.restore.overwrite import DEFAULT, Overwrite
from bulwark.agent.restore.run import Options, RestoreResult, run_restore


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="restore a snapshot under a target folder",
                       description="Paths are restored as backed up, under TARGET: /data/x "
                       "restored into /tmp/r becomes /tmp/r/data/x.",
                       epilog="example: vaultctl --config operator.toml restore latest /tmp/r "
                       "--node gpu-1 --path /data/ckpt/model.safetensors",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref, help=SNAPSHOT_HELP)
    p.add_argument("target", metavar="TARGET", type=Path)
    p.add_argument("--path", dest="subpath",
                   help="restore only this path, as `vaultctl ls` shows it (absolute, or "
                   "relative to the snapshot's root)")
    add_selection_args(p)
    p.add_argument("--overwrite", choices=[o.value for o in Overwrite], default=DEFAULT.value,
                   help="what to do where something already exists: never (default: local "
                   "files are never lost by surprise, a second run changes nothing), "
                   "if-changed, if-newer, always; a directory is never replaced by a file")
    p.add_argument("--delete", action="store_true",
                   help="remove what the restored directories hold and the snapshot does not")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be created, replaced, kept or deleted; write nothing")
    p.add_argument("--verify", action="store_true",
                   help="read every written file back and check it against the snapshot")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    # a bad --path is a usage error (exit 2) before the vault is asked
    subpath = manifest_path(args.subpath, "--path") if args.subpath else None
    bar = ProgressBar("restore", enabled=not args.json)
    try:
        ref = resolve_snapshot(ctx.client, args.snapshot, args).id
        options = Options(Overwrite(args.overwrite), args.delete, args.dry_run, args.verify)
        result = run_restore(ctx.client, ctx.keyring, ref, args.target, subpath,
                             ctx.config.workers, None if args.dry_run else bar, options)
    finally:
        bar.close()
    if args.json:
        print_json(result.summary())
    else:
        _print_text(result, args.target)
    for path, reason in result.kept:
        print(f"vaultctl: kept {show_path(path)}: {reason}", file=sys.stderr)
    for path, reason in result.skipped:
        print(f"vaultctl: warning: {show_path(path)}: {reason}", file=sys.stderr)
    if result.owners_not_set:
        print(f"vaultctl: warning: not root: {counted(result.owners_not_set, 'entry', 'entries')}"
              f" belong to uid {os.geteuid()} here, not to the owner the snapshot names (as "
              "tar does; restore as root to set owners)", file=sys.stderr)
    if result.failed:
        for path, error in result.failed:
            print(f"vaultctl: error: {show_path(path)}: not restored: {error}", file=sys.stderr)
        return EXIT_DATA
    return EXIT_PARTIAL if result.skipped else 0


def _print_text(result: RestoreResult, target: Path) -> None:
    if result.planned is not None:
        for path, action in result.planned:
            print(f"{action:9} {show_path(path)}")
        return
    rate = result.bytes / max(result.duration_s, 1e-6) / 1e6
    noun = "file" if result.files == 1 else "files"
    print(f"restored snapshot {result.snapshot[:12]}: {result.files} {noun}, "
          f"{result.bytes / 1e6:,.1f} MB in {result.duration_s:.1f}s ({rate:,.0f} MB/s) "
          f"to {target}")
    extra = [f"{n} {what}" for n, what in ((result.unchanged, "unchanged"),
                                           (len(result.kept), "kept"),
                                           (len(result.deleted), "deleted"),
                                           (result.verified, "verified")) if n]
    if extra:
        print("  " + ", ".join(extra))
