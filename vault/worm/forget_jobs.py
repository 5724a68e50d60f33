"""Scheduled forget policies: ``[[forget]]`` tables in vault.toml, run by vaultd on cron
schedules (as Proxmox Backup Server runs prune jobs), with the same rules as
``bulwark.v1.Forget`` (``vault.worm.forget``).

::

    [[forget]]
    name = "nightly"                 # unique; names the job in the audit log
    schedule = "30 3 * * *"          # cron in UTC: 5 fields, or 6 with seconds first
    node = "gpu-1"                   # optional filters, as `vaultctl forget --node/--tag/...`
    hosts = ["gpu-1.example"]
    tags = ["nightly"]               # each entry "a,b": a snapshot with every tag of one entry
    paths = ["/data/ckpt"]
    group_by = ["node", "paths"]     # default node and paths
    keep_last = 3                    # keep_hourly, keep_daily, keep_weekly, keep_monthly,
    keep_daily = 7                   #   keep_yearly: counts, -1 every period
    keep_within = "1y2m3d4h"         # restic's --keep-within
    keep_tag = ["release"]           # each entry "a,b" as tags

How forget and prune relate. A forget (scheduled or ``vaultctl forget``) deletes the snapshot
records its policy no longer needs once their lock allows; ``prune`` frees the chunks no
snapshot references. When vault.toml has any ``[[forget]]`` table, snapshots leave the vault
only through forget or an explicit ``vaultctl delete``: prune no longer deletes a snapshot
because its lock expired (the lock is then a floor, the policy decides the rest: PBS's prune
job and garbage collection). Without ``[[forget]]`` tables prune keeps deleting expired
snapshots, as before.

Every run is audited (``forget.job``, actor ``vaultd``, role ``system``, target
``forget:<name>``: what was kept, forgotten and kept by lock), every deletion before it is
made (``snapshot.delete``), and a failed run as an ``error`` entry. A job still running when
its next time comes is skipped; firings missed while vaultd was down are not caught up (the
next firing applies the same policy).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from bulwark.vault.airgap.schedule import trigger
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.catalog.query import SnapshotQuery, query_snapshots
from bulwark.vault.errors import ConfigError, InvalidRequest
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.forget import GROUP_KEYS, ForgetPolicy, Outcome, Within, run_forget
from bulwark.vault.worm.retention import date

log = logging.getLogger(__name__)

_COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
KEYS = {"name", "schedule", "node", "hosts", "tags", "paths", "group_by", "keep_within",
        "keep_tag", *(f"keep_{c}" for c in _COUNTS)}
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?")
#: How late a firing may still start (a long pause of the process).
MISFIRE_GRACE_S = 600


@dataclass(frozen=True)
class ForgetJob:
    name: str
    schedule: str
    query: SnapshotQuery
    policy: ForgetPolicy
    group_by: tuple[str, ...] = ("node", "paths")


def parse_within(text: str) -> Within:
    """``1y2m3d4h`` (parts optional) -> Within; ValueError naming the expected form."""
    m = _DURATION.fullmatch(text)
    if not text or m is None:
        raise ValueError(f"{text!r} is not a duration such as 30d, 2m, 1y6m or 12h")
    return Within(*(int(g or 0) for g in m.groups()))


def _tag_sets(values: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(t.strip() for t in v.split(",")) for v in values)


def parse_forget_jobs(source: Path, entries: Any) -> tuple[ForgetJob, ...]:
    """Validate ``[[forget]]``; ConfigError names the file, ``forget[i].key`` and reason."""
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: forget: must be an array of tables, e.g. [[forget]]")
    jobs: list[ForgetJob] = []
    for i, entry in enumerate(entries):
        where = f"forget[{i}]"

        def fail(key: str, reason: str, where: str = where) -> ConfigError:
            return ConfigError(f"{source}: {where}.{key}: {reason}")

        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {where}: must be a table")
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(KEYS))})")
        for key in ("name", "schedule"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise fail(key, "required, a non-empty string")
        if entry["name"] in {j.name for j in jobs}:
            raise fail("name", f"{entry['name']!r} is used by an earlier [[forget]]")
        try:
            trigger(entry["schedule"])
        except ValueError as exc:
            raise fail("schedule", str(exc)) from None
        for key in ("hosts", "tags", "paths", "group_by", "keep_tag"):
            value = entry.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise fail(key, f"must be a list of strings, got {value!r}")
        counts = {}
        for c in _COUNTS:
            value = entry.get(f"keep_{c}", 0)
            if not isinstance(value, int) or isinstance(value, bool):
                raise fail(f"keep_{c}", f"must be an integer, got {value!r}")
            counts[c] = value
        within = None
        if "keep_within" in entry:
            try:
                within = parse_within(str(entry["keep_within"]))
            except ValueError as exc:
                raise fail("keep_within", f"{exc} (y years, m months, d days, h hours)") from None
        group_by = tuple(entry.get("group_by", ["node", "paths"]))
        bad = [k for k in group_by if k not in GROUP_KEYS]
        if bad:
            raise fail("group_by", f"unknown key {bad[0]!r} (use {', '.join(GROUP_KEYS)})")
        query = SnapshotQuery(node=str(entry.get("node", "")), hosts=tuple(entry.get("hosts", [])),
                              tag_sets=_tag_sets(entry.get("tags", [])),
                              paths=tuple(entry.get("paths", [])))
        policy = ForgetPolicy(**counts, within=within,
                              tag_sets=_tag_sets(entry.get("keep_tag", [])))
        try:
            query.check()
            policy.check()
        except InvalidRequest as exc:
            raise fail("keep_*" if "policy" in str(exc) else "filter", str(exc)) from None
        jobs.append(ForgetJob(entry["name"], entry["schedule"], query, policy, group_by))
    return tuple(jobs)


def forget_run(
    catalog: Catalog, clock: Clock, audit: AuditLog, actor: tuple[str, str],
    query: SnapshotQuery, policy: ForgetPolicy, group_by: tuple[str, ...],
    host: Callable[[SnapshotRecord], str], dry_run: bool, why: str = "forget",
) -> Iterator[Outcome]:
    """Select, decide (``vault.worm.forget.run_forget``) and delete: each deletion is audited as
    ``snapshot.delete`` by ``actor`` (name, role) before the catalog drops the snapshot.
    InvalidRequest for a bad query or policy, before anything is deleted."""
    query.check()
    policy.check()
    rules = ", ".join(policy.rules())
    name, role = actor

    def delete(record: SnapshotRecord) -> None:
        audit.append(name, role, "snapshot.delete", f"snapshot:{record.id}", "allowed",
                     f"{why}: kept by no rule ({rules}); retention expired "
                     f"{date(record.retention.retain_until_ns)}")
        catalog.delete_snapshot(record.id)
        log.info("snapshot %s forgotten by %s (%s)", record.id, name, why)

    records = list(query_snapshots(catalog, query, host))
    yield from run_forget(records, policy, group_by, clock.now_ns(),
                          None if dry_run else delete)


class ForgetJobs:
    """vaultd's ``[[forget]]`` jobs on an apscheduler ``BackgroundScheduler`` (UTC)."""

    def __init__(self, jobs: Iterable[ForgetJob], catalog: Catalog, clock: Clock,
                 audit: AuditLog, host: Callable[[SnapshotRecord], str]) -> None:
        self.jobs = tuple(jobs)
        self.catalog, self.clock, self.audit, self.host = catalog, clock, audit, host
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._lock = threading.Lock()  # one job at a time: they may share snapshots

    def run(self, job: ForgetJob) -> dict[str, int]:
        """Run ``job`` now; returns outcome counts. Audits the run, or its failure."""
        counts: dict[str, int] = {}
        try:
            with self._lock:
                for out in forget_run(self.catalog, self.clock, self.audit,
                                      ("vaultd", "system"), job.query, job.policy,
                                      job.group_by, self.host, dry_run=False,
                                      why=f"forget job {job.name}"):
                    counts[out.outcome] = counts.get(out.outcome, 0) + 1
        except Exception as exc:
            log.error("forget job %s failed: %s", job.name, exc)
            self.audit.append("vaultd", "system", "forget.job", f"forget:{job.name}", "error",
                              str(exc))
            raise
        detail = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no snapshots"
        self.audit.append("vaultd", "system", "forget.job", f"forget:{job.name}", "allowed",
                          f"{', '.join(job.policy.rules())}: {detail}")
        log.info("forget job %s: %s", job.name, detail)
        return counts

    def start(self) -> None:
        for job in self.jobs:
            self._scheduler.add_job(self._fire, trigger(job.schedule), args=(job,),
                                    id=job.name, max_instances=1, coalesce=True,
                                    misfire_grace_time=MISFIRE_GRACE_S)
        if self.jobs:
            self._scheduler.start()

    def _fire(self, job: ForgetJob) -> None:
        try:
            self.run(job)
        except Exception:  # audited and logged in run(); the next firing tries again
            pass

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
