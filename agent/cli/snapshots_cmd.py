"""``vaultctl snapshots [filters] [--group-by KEYS] [--json]``: the snapshots the vault holds.

Oldest first. The vault filters and streams the listing (``Snapshots/QuerySnapshots``), so it
is printed as it arrives and no listing is one message, whatever the number of snapshots;
``--group-by`` keeps the listing in memory to group it (metadata only, ~1 KiB a snapshot).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.listing_out import write_json_list
from bulwark.agent.cli.selection import add_selection_args, selection_of
from bulwark.agent.client.snapshots import query_snapshots
from bulwark.agent.client.vault import SnapshotInfo
from bulwark.agent.errors import UsageError

GROUP_KEYS = ("node", "tags", "paths")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("snapshots", help="list snapshots",
                       epilog="example: vaultctl --config operator.toml snapshots --node gpu-1 "
                       "--tag nightly --group-by paths")
    p.add_argument("--group-by", default="", metavar="KEYS",
                   help="group by node, tags and/or paths (comma-separated, e.g. node,paths)")
    p.add_argument("--latest", type=int, default=0, metavar="N",
                   help="only the N newest snapshots (of each group with --group-by)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).isoformat(timespec="seconds")


def _retention(s) -> str:
    """``compliance until 2027-03-01T00:00:00+00:00`` plus ``HOLD`` under a legal hold."""
    text = f"{s.retention_mode[:10]} until {_iso(s.retain_until_ns)[:10]}"
    return text + (" HOLD" if s.legal_hold else "")


def _json(s: SnapshotInfo) -> dict[str, object]:
    return {"id": s.id, "time": _iso(s.time_ns), "node": s.node, "tags": list(s.tags),
            "added_tags": list(s.added_tags),
            "paths": list(s.paths), "files": s.files, "bytes": s.bytes,
            "retention": {"mode": s.retention_mode, "retain_until": _iso(s.retain_until_ns),
                          "legal_hold": s.legal_hold},
            "mark": {"suspicious": s.suspicious, "score": s.mark_score_ppm / 1e6,
                     "reasons": list(s.mark_reasons), "set_by": s.mark_set_by,
                     "note": s.mark_note}}


def _tags(s: SnapshotInfo) -> str:
    """``  [nightly, +reviewed]``: signed tags, then added ones marked ``+``."""
    names = [*s.tags, *(f"+{t}" for t in s.added_tags)]
    return f"  [{', '.join(names)}]" if names else ""


def _group_keys(text: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in text.split(",") if k.strip()) if text else ()
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad:
        raise UsageError(f"--group-by {text!r}: unknown key {bad[0]!r} "
                         f"(use {', '.join(GROUP_KEYS)})")
    return keys


def group_of(s: SnapshotInfo, keys: tuple[str, ...]) -> dict[str, object]:
    """The group a snapshot belongs to: tags and paths compare as sorted sets."""
    values = {"node": s.node, "tags": sorted(s.tags), "paths": sorted(s.paths)}
    return {k: values[k] for k in keys}


def _print_table(snapshots, indent: str = "") -> int:
    print(f"{indent}{'ID':<12} {'TIME (UTC)':<25} {'NODE':<16} {'FILES':>7} {'SIZE':>12}  "
          f"{'RETENTION':<33} PATHS")
    n = 0
    for s in snapshots:
        print(f"{indent}{s.id[:12]:<12} {_iso(s.time_ns):<25} {s.node[:16]:<16} {s.files:>7} "
              f"{s.bytes / 1e6:>9,.1f} MB  {_retention(s):<33} {' '.join(s.paths)}"
              + _tags(s))
        if s.suspicious:
            why = "; ".join(s.mark_reasons) or s.mark_note
            print(f"{indent}  SUSPICIOUS{' (by ' + s.mark_set_by + ')' if s.mark_set_by else ''}"
                  f": {why}")
        n += 1
    return n


def run(args: argparse.Namespace, ctx: Context) -> int:
    keys = _group_keys(args.group_by)
    if args.latest < 0:
        raise UsageError(f"--latest {args.latest}: must be a positive count")
    selection = selection_of(args)
    if not keys:
        if args.latest:  # the N newest, printed oldest first
            snapshots = reversed(list(query_snapshots(ctx.client, selection, True, args.latest)))
        else:
            snapshots = query_snapshots(ctx.client, selection)
        if args.json:
            write_json_list(_json(s) for s in snapshots)
            return 0
        n = _print_table(snapshots)
        print(f"{n} snapshot{'s' if n != 1 else ''}")
        return 0
    groups: dict[str, tuple[dict[str, object], list[SnapshotInfo]]] = {}
    for s in query_snapshots(ctx.client, selection):
        group = group_of(s, keys)
        groups.setdefault(repr(group), (group, []))[1].append(s)
    cut = slice(-args.latest, None) if args.latest else slice(None)
    if args.json:
        print_json([{"group": g, "snapshots": [_json(s) for s in items[cut]]}
                    for g, items in groups.values()])
        return 0
    for group, items in groups.values():
        print(", ".join(f"{k} {' '.join(v) if isinstance(v, list) else v}"
                        for k, v in group.items()) + ":")
        _print_table(items[cut], indent="  ")
    total = sum(len(items[cut]) for _, items in groups.values())
    print(f"{total} snapshot{'s' if total != 1 else ''} in {len(groups)} "
          f"group{'s' if len(groups) != 1 else ''}")
    return 0
