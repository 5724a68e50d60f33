"""Cron-scheduled jobs with at most one instance each and catch-up of missed runs.

apscheduler's ``BackgroundScheduler`` fires the jobs; ``max_instances=1`` means a job
still running when its next time comes is not started twice (the firing is skipped and
logged), ``coalesce=True`` folds a backlog of firings into one.

apscheduler cannot know about firings missed while the daemon was down, so the schedule
remembers, in ``state_dir/last_runs.json``, when each job last *finished* (success or
failure; an interrupted run does not count). At start a job whose next firing after that
time is already past runs once, immediately: a node that was off over its backup window
backs up when it comes back, once. A job never seen before starts counting from now.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

#: How late apscheduler may still start a firing (e.g. after a long GC pause or suspend).
MISFIRE_GRACE_S = 3600


class JobInterrupted(Exception):
    """Raised by a job stopped before it finished; its run is not recorded as done."""


class LastRuns:
    """``{job: ISO time of the last finished run}``, persisted atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "last_runs.json"
        self._lock = threading.Lock()
        try:
            raw = json.loads(self.path.read_text())
            self._times = {k: datetime.fromisoformat(v) for k, v in raw.items()}
        except FileNotFoundError:
            self._times = {}
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); treating every job as new", self.path, exc)
            self._times = {}

    def get(self, job: str) -> datetime | None:
        with self._lock:
            return self._times.get(job)

    def set(self, job: str, when: datetime) -> None:
        with self._lock:
            self._times[job] = when
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({k: v.isoformat() for k, v in self._times.items()}))
            os.replace(tmp, self.path)


class Schedule:
    """The daemon's jobs. ``add`` them, then ``start``; ``shutdown`` stops firing."""

    def __init__(self, state_dir: Path, timezone: str = "UTC",
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.timezone = timezone
        self.last_runs = LastRuns(state_dir)
        self._now = now
        self._scheduler = BackgroundScheduler(timezone=timezone)
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        self.skipped: dict[str, int] = {}
        self.caught_up: list[str] = []

    def _skipped(self, event: JobExecutionEvent) -> None:
        self.skipped[event.job_id] = self.skipped.get(event.job_id, 0) + 1
        log.warning("job %s: still running, this firing is skipped", event.job_id)

    def missed(self, name: str, schedule: str) -> bool:
        """True if a firing of ``schedule`` fell after the job's last finished run."""
        last = self.last_runs.get(name)
        now = self._now()
        if last is None:
            self.last_runs.set(name, now)  # start counting from now
            return False
        trigger = CronTrigger.from_crontab(schedule, timezone=self.timezone)
        due = trigger.get_next_fire_time(None, last)
        return due is not None and due <= now

    def add(self, name: str, schedule: str, func: Callable[[], None]) -> None:
        """Schedule ``func``; runs it once right after ``start`` if a firing was missed."""

        def run() -> None:
            try:
                func()
            except JobInterrupted:
                return  # not finished: it runs again at the next start
            except Exception:
                log.exception("job %s failed", name)
            self.last_runs.set(name, self._now())

        trigger = CronTrigger.from_crontab(schedule, timezone=self.timezone)
        kwargs = {}
        if self.missed(name, schedule):
            self.caught_up.append(name)
            kwargs["next_run_time"] = datetime.now(UTC)
        self._scheduler.add_job(run, trigger, id=name, name=name, max_instances=1,
                                coalesce=True, misfire_grace_time=MISFIRE_GRACE_S, **kwargs)

    def run_now(self, name: str) -> None:
        """Fire ``name`` now (skipped like any firing if it is still running)."""
        self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop firing; running jobs are not waited for (the daemon bounds that)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
