"""Forget policies: which snapshots a restic-style keep policy still needs.

Pure (no catalog, no clock): :func:`apply_policy` takes the snapshots of one group and a
:class:`ForgetPolicy` and decides, for each, keep (with the rules that keep it) or forget.
The rules follow restic's documented semantics ("Removing snapshots according to a policy"):

- snapshots are considered newest first, by the vault's commit time;
- ``last`` keeps the N newest; ``hourly``/``daily``/``weekly``/``monthly``/``yearly`` keep, for
  each of the last N hours/days/ISO weeks/months/years *that have a snapshot*, the newest
  snapshot of that period; -1 means every period;
- ``within`` keeps every snapshot taken within that duration (years, months, days, hours)
  of the group's newest snapshot, not of now, so a node that stopped backing up keeps its
  last snapshots;
- ``tag_sets`` keeps every snapshot carrying all tags of at least one set;
- a snapshot is kept if any rule keeps it. A policy without any rule is refused.

Where Bulwark differs from restic, and why: periods are UTC calendar periods (restic uses the
local time zone of the machine running ``forget``; the vault's answer must not depend on where
a client runs), and times are the vault's commit times (the node's clock is information only).

What "forget" then does is the caller's business (``vault.rpc.forget_service``): a snapshot
the policy no longer needs is deleted only when its WORM lock has expired and no legal hold
is set; otherwise it is reported as kept by its lock.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bulwark.vault.catalog.db import SnapshotRecord
from bulwark.vault.errors import InvalidRequest

GROUP_KEYS = ("node", "tags", "paths")


@dataclass(frozen=True)
class Within:
    """A calendar duration, as restic's ``--keep-within 1y2m3d4h``."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def before(self, t: datetime) -> datetime:
        """``t`` minus this duration (month ends clamp: 31 March - 1 month = 28/29 Feb)."""
        months = t.year * 12 + (t.month - 1) - self.years * 12 - self.months
        year, month = divmod(months, 12)
        day = min(t.day, calendar.monthrange(year, month + 1)[1])
        return t.replace(year=year, month=month + 1, day=day) - timedelta(
            days=self.days, hours=self.hours)


@dataclass(frozen=True)
class ForgetPolicy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Within | None = None
    tag_sets: tuple[tuple[str, ...], ...] = ()

    def check(self) -> None:
        """InvalidRequest naming the rule: counts below -1, a negative duration, no rule."""
        for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            if getattr(self, name) < -1:
                raise InvalidRequest(f"forget policy: keep-{name} {getattr(self, name)} "
                                     "(use a count, or -1 for every period)")
        if self.within is not None and min(vars(self.within).values()) < 0:
            raise InvalidRequest("forget policy: keep-within must not be negative")
        if any(not ts or not all(ts) for ts in self.tag_sets):
            raise InvalidRequest("forget policy: keep-tag has an empty tag")
        if not self.rules():
            raise InvalidRequest("forget policy: no keep rule given; refusing to forget "
                                 "every snapshot (give at least one --keep-* rule)")

    def rules(self) -> list[str]:
        counted = [n for n in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
                   if getattr(self, n)]
        return counted + (["within"] if self.within else []) + (["tag"] if self.tag_sets else [])


@dataclass
class Decision:
    record: SnapshotRecord
    reasons: list[str] = field(default_factory=list)

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


def _utc(record: SnapshotRecord) -> datetime:
    return datetime.fromtimestamp(record.time_ns / 1e9, UTC)


_PERIODS: dict[str, Callable[[datetime], object]] = {
    "hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "daily": lambda t: (t.year, t.month, t.day),
    "weekly": lambda t: t.isocalendar()[:2],
    "monthly": lambda t: (t.year, t.month),
    "yearly": lambda t: t.year,
}


def apply_policy(records: Iterable[SnapshotRecord], policy: ForgetPolicy) -> list[Decision]:
    """One decision per snapshot of one group, newest first (as restic's ApplyPolicy)."""
    policy.check()
    decisions = [Decision(r) for r in sorted(records, key=lambda r: (r.time_ns, r.id),
                                             reverse=True)]
    if not decisions:
        return decisions
    newest = _utc(decisions[0].record)
    cutoff = policy.within.before(newest) if policy.within else None
    left = {name: getattr(policy, name) for name in ("last", *_PERIODS)}
    last_period: dict[str, object] = {}
    for d in decisions:
        t = _utc(d.record)
        if left["last"]:
            d.reasons.append("last")
            left["last"] -= 1
        for name, period_of in _PERIODS.items():
            period = period_of(t)
            if left[name] and last_period.get(name) != period:
                last_period[name] = period
                d.reasons.append(name)
                left[name] -= 1
        if cutoff is not None and t > cutoff:
            d.reasons.append("within")
        if any(set(ts) <= d.record.all_tags for ts in policy.tag_sets):  # signed or added
            d.reasons.append("tag")
    return decisions


def group_key(record: SnapshotRecord, keys: tuple[str, ...]) -> tuple:
    """The group of ``record`` under ``keys`` (node, tags, paths; tags and paths as sets)."""
    values = {"node": record.node, "tags": tuple(sorted(record.tags)),
              "paths": tuple(sorted(record.paths))}
    unknown = [k for k in keys if k not in values]
    if unknown:
        raise InvalidRequest(f"forget: unknown group key {unknown[0]!r} "
                             f"(use {', '.join(GROUP_KEYS)})")
    return tuple(values[k] for k in keys)


@dataclass(frozen=True)
class Outcome:
    """What forget did with one snapshot (``outcome``: keep, forget, would-forget, locked,
    held; the names ForgetDecision.outcome carries)."""

    record: SnapshotRecord
    group: str
    reasons: tuple[str, ...]
    outcome: str


def _group_text(keys: tuple[str, ...], key: tuple) -> str:
    return " ".join(f"{k}={','.join(v) if isinstance(v, tuple) else v}"
                    for k, v in zip(keys, key, strict=True))


def run_forget(
    records: Iterable[SnapshotRecord],
    policy: ForgetPolicy,
    keys: tuple[str, ...],
    now_ns: int,
    delete: Callable[[SnapshotRecord], None] | None,
) -> Iterable[Outcome]:
    """Apply ``policy`` to each group of ``records`` and yield an outcome per snapshot.

    A snapshot no rule keeps is passed to ``delete`` (None: a dry run) only if its lock has
    expired (``now_ns`` on the compliance clock) and it has no legal hold; otherwise it is
    reported ``locked`` or ``held`` and left alone, so forget never asks anyone to bypass a
    WORM rule. ``delete`` is called before the outcome is yielded. Holds the groups in
    memory (snapshot records, ~1 KiB each).
    """
    policy.check()
    keys = keys or ("node", "paths")
    groups: dict[tuple, list[SnapshotRecord]] = {}
    for record in records:
        groups.setdefault(group_key(record, keys), []).append(record)
    for key, members in groups.items():
        text = _group_text(keys, key)
        for d in apply_policy(members, policy):
            r = d.record
            if d.keep:
                outcome = "keep"
            elif r.retention.legal_hold:
                outcome = "held"
            elif now_ns < r.retention.retain_until_ns:
                outcome = "locked"
            elif delete is None:
                outcome = "would-forget"
            else:
                delete(r)
                outcome = "forget"
            yield Outcome(r, text, tuple(d.reasons), outcome)
