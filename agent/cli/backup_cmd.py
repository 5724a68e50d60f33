"""``vault-agent backup PATH... [--tag TAG] [--exclude P] ...``: one backup, now, as one
snapshot. What to leave out follows restic's flags and rules (``agent.backup.exclude``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bulwark.agent.backup.exclude import PathFilter, read_files_from, read_patterns
from bulwark.agent.backup.run import run_backup
from bulwark.agent.cli.common import EXIT_PARTIAL, Context, counted, print_json
from bulwark.agent.cli.progress import ProgressBar
from bulwark.agent.errors import ConfigError
from bulwark.agent.format.pathtext import show_path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup", help="back up paths now as one snapshot",
        epilog="example: vault-agent --config agent.toml backup /data/ckpt --tag nightly "
        "--exclude '*.tmp' --exclude-caches\n"
        "exit 3: the snapshot was saved, but some entries could not be read (listed on "
        "stderr and in --json 'skipped')",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", metavar="PATH", nargs="*",
                   help="what to back up (and/or --files-from)")
    p.add_argument("--tag", action="append", default=[], help="tag the snapshot (repeatable)")
    p.add_argument("--retention-days", type=int, default=0, metavar="N",
                   help="ask the vault to keep this snapshot at least N days (it applies "
                   "its own default and minimum when longer; 0: the vault's default)")
    _add_filter_flags(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run, needs_config=True)


def _add_filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exclude", "-e", action="append", default=[], metavar="PATTERN",
                   help="leave out what matches (restic patterns: '*' within a name, '**' "
                   "across folders, leading '/' anchors, '!' re-includes; repeatable)")
    p.add_argument("--iexclude", action="append", default=[], metavar="PATTERN",
                   help="as --exclude, ignoring case")
    p.add_argument("--exclude-file", action="append", default=[], type=Path, metavar="FILE",
                   help="read --exclude patterns from FILE, one a line ('#' comments)")
    p.add_argument("--iexclude-file", action="append", default=[], type=Path, metavar="FILE",
                   help="read --iexclude patterns from FILE")
    p.add_argument("--files-from", action="append", default=[], type=Path, metavar="FILE",
                   help="back up the paths (or globs) FILE lists, one a line")
    p.add_argument("--one-file-system", "-x", action="store_true",
                   help="do not cross file-system boundaries (mount points stay, empty)")
    p.add_argument("--exclude-caches", action="store_true",
                   help="leave out the contents of folders with a valid CACHEDIR.TAG")


def path_filter(args: argparse.Namespace) -> tuple[list[str], PathFilter]:
    """The paths to back up and what to leave out; ConfigError (exit 2) names a bad file,
    line or pattern, or no path at all."""
    paths = list(args.paths)
    for f in args.files_from:
        paths += read_files_from(f)
    if not paths:
        raise ConfigError("backup: give at least one PATH or --files-from FILE")
    exclude = list(args.exclude)
    for f in args.exclude_file:
        exclude += read_patterns(f)
    iexclude = list(args.iexclude)
    for f in args.iexclude_file:
        iexclude += read_patterns(f)
    return paths, PathFilter.build(exclude, iexclude, args.one_file_system,
                                   args.exclude_caches)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.retention_days < 0:
        raise ConfigError(f"--retention-days must be 0 or more, got {args.retention_days}")
    paths, leave_out = path_filter(args)
    bar = ProgressBar("backup", enabled=not args.json)
    try:
        # no bar, no progress: its total costs a second walk of the tree
        result = run_backup(ctx.client, ctx.keyring, paths, args.tag,
                            ctx.config.cache_dir, ctx.config.workers,
                            bar if bar.enabled else None, exclude=leave_out,
                            retention_days=args.retention_days)
    finally:
        bar.close()
    for path, reason in result.skipped:
        print(f"vault-agent: warning: skipped {show_path(path)}: {reason}", file=sys.stderr)
    for path in result.changed:
        print(f"vault-agent: warning: {show_path(path)} changed while it was read (stored, "
              "flagged in the snapshot)", file=sys.stderr)
    code = EXIT_PARTIAL if result.skipped else 0
    if args.json:
        print_json(result.summary())
        return code
    rate = result.bytes / max(result.duration_s, 1e-6) / 1e6
    print(f"snapshot {result.snapshot.id[:12]} saved: {counted(result.files, 'file')}, "
          f"{result.bytes / 1e6:,.1f} MB in {result.duration_s:.1f}s ({rate:,.0f} MB/s); "
          f"added {counted(result.new_chunks, 'chunk')}, {result.new_bytes / 1e6:,.1f} MB stored")
    if result.skipped:
        print(f"{counted(len(result.skipped), 'entry', 'entries')} could not be read completely "
              "(exit 3)")
    return code
