"""Scheduling: one instance per job, a missed firing runs once at start, interrupted runs
are not counted as done."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from bulwark.agent.daemon.schedule import JobInterrupted, LastRuns, Schedule


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_running_job_is_not_started_twice(tmp_path):
    schedule = Schedule(tmp_path)
    release, runs = threading.Event(), []

    def job() -> None:
        runs.append(1)
        release.wait(10)

    schedule.add("backup", "0 0 1 1 *", job)
    schedule.start()
    try:
        schedule.run_now("backup")
        assert wait_for(lambda: len(runs) == 1)
        schedule.run_now("backup")
        assert wait_for(lambda: schedule.skipped.get("backup", 0) >= 1)
        assert len(runs) == 1
    finally:
        release.set()
        schedule.shutdown()


def test_missed_firings_during_downtime_run_once_at_start(tmp_path):
    now = datetime.now(UTC)
    LastRuns(tmp_path).set("hourly", now - timedelta(hours=5))  # five firings missed
    LastRuns(tmp_path).set("yearly", now - timedelta(minutes=1))
    schedule = Schedule(tmp_path)
    runs: list[str] = []
    schedule.add("hourly", "0 * * * *", lambda: runs.append("hourly"))
    schedule.add("yearly", "0 0 1 1 *", lambda: runs.append("yearly"))
    schedule.add("new", "0 * * * *", lambda: runs.append("new"))  # never seen: counts from now
    schedule.start()
    try:
        assert wait_for(lambda: runs == ["hourly"])
        time.sleep(0.3)
        assert runs == ["hourly"] and schedule.caught_up == ["hourly"]
        assert LastRuns(tmp_path).get("hourly") > now
    finally:
        schedule.shutdown()


def test_an_interrupted_run_is_not_recorded_as_done(tmp_path):
    before = datetime.now(UTC) - timedelta(hours=2)
    LastRuns(tmp_path).set("b", before)
    schedule = Schedule(tmp_path)
    done = threading.Event()

    def job() -> None:
        done.set()
        raise JobInterrupted("SIGTERM")

    schedule.add("b", "0 * * * *", job)
    schedule.start()
    try:
        assert done.wait(10)
        time.sleep(0.2)
    finally:
        schedule.shutdown()
    assert LastRuns(tmp_path).get("b") == before  # so the next start runs it again
