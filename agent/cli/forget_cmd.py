"""``vaultctl forget --keep-* ... [--group-by KEYS] [--dry-run] [--json]``: restic's keep
policy, applied by the vault under its WORM rules (``vault/worm/forget.py`` has the semantics).

A snapshot no rule keeps is deleted only once its retention lock has expired and no legal
hold is set; until then it is reported as kept by its lock (``prune`` frees the space of what
was deleted). Every deletion is in the audit log.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

from bulwark.agent.cli.common import Context
from bulwark.agent.cli.listing_out import write_json_list
from bulwark.agent.cli.selection import add_selection_args, selection_of
from bulwark.agent.client.snapshots import KeepPolicy, forget
from bulwark.agent.errors import UsageError

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?")
_COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "forget", help="delete snapshots a keep policy no longer needs (WORM rules apply)",
        description="Apply restic's keep policy to each group of snapshots. Snapshots no "
        "rule keeps are deleted once their retention lock allows; locked or held ones are "
        "reported as kept by their lock. Periods are UTC; times are the vault's.",
        epilog="example: vaultctl --config operator.toml forget --keep-daily 7 "
        "--keep-weekly 4 --node gpu-1 --dry-run")
    for name in _COUNTS:
        p.add_argument(f"--keep-{name}", type=int, default=0, metavar="N",
                       help=f"keep the newest of the last N {name.replace('ly', '')} periods"
                       if name != "last" else "keep the N newest snapshots")
    p.add_argument("--keep-within", metavar="DURATION",
                   help="keep snapshots within DURATION (e.g. 1y2m3d4h) of the newest")
    p.add_argument("--keep-tag", action="append", default=[], metavar="T[,T...]",
                   help="keep snapshots with all these tags (repeatable: any of the sets)")
    p.add_argument("--group-by", default="node,paths", metavar="KEYS",
                   help="apply the policy per group of node, tags and/or paths "
                   "(default node,paths; '' for one group)")
    p.add_argument("--dry-run", "-n", action="store_true", help="decide, delete nothing")
    p.add_argument("--json", action="store_true", help="print a JSON list of decisions")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def parse_within(text: str) -> tuple[int, int, int, int]:
    """``1y2m3d4h`` (any part may be left out) -> (years, months, days, hours)."""
    m = _DURATION.fullmatch(text)
    if not text or m is None:
        raise UsageError(f"--keep-within {text!r}: expected a duration such as 30d, 2m, "
                         "1y6m or 12h (y years, m months, d days, h hours)")
    return tuple(int(g or 0) for g in m.groups())  # type: ignore[return-value]


def policy_of(args: argparse.Namespace) -> KeepPolicy:
    for name in _COUNTS:
        if getattr(args, f"keep_{name}") < -1:
            raise UsageError(f"--keep-{name} {getattr(args, f'keep_{name}')}: "
                             "use a count, or -1 for every period")
    tag_sets = tuple(tuple(t.strip() for t in v.split(",")) for v in args.keep_tag)
    if any(not all(ts) for ts in tag_sets):
        raise UsageError("--keep-tag: a tag is empty")
    policy = KeepPolicy(
        **{name: getattr(args, f"keep_{name}") for name in _COUNTS},
        within=parse_within(args.keep_within) if args.keep_within is not None else None,
        tag_sets=tag_sets)
    if policy == KeepPolicy():
        raise UsageError("forget: no --keep-* rule given; refusing to forget every snapshot")
    return policy


def _until(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d")


def run(args: argparse.Namespace, ctx: Context) -> int:
    policy = policy_of(args)
    keys = tuple(k.strip() for k in args.group_by.split(",") if k.strip())
    decisions = forget(ctx.client, selection_of(args), policy, keys, args.dry_run)
    if args.json:
        write_json_list({"snapshot": d.snapshot_id, "node": d.node, "group": d.group,
                         "time": datetime.fromtimestamp(d.time_ns / 1e9, UTC).isoformat(),
                         "outcome": d.outcome, "reasons": list(d.reasons),
                         "retain_until": _until(d.retain_until_ns)} for d in decisions)
        return 0
    group = None
    counts: dict[str, int] = {}
    for d in decisions:
        if d.group != group:
            group = d.group
            print(f"{group or 'all snapshots'}:")
        why = {"keep": "keep (" + ", ".join(d.reasons) + ")",
               "locked": f"kept by lock until {_until(d.retain_until_ns)}",
               "held": "kept by legal hold"}.get(d.outcome, d.outcome)
        when = datetime.fromtimestamp(d.time_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
        print(f"  {d.snapshot_id[:12]}  {when}  {why}")
        counts[d.outcome] = counts.get(d.outcome, 0) + 1
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no snapshots")
    return 0
