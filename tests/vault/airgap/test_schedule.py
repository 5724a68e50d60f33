"""Sync windows on injected time: no test waits for a cron expression to fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bulwark.vault.airgap.config import WindowSpec
from bulwark.vault.airgap.schedule import Schedule, trigger


def at(h: int, m: int = 0, s: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 3, day, h, m, s, tzinfo=UTC)


def test_a_nightly_window_is_open_for_its_duration_only():
    sched = Schedule((WindowSpec("0 2 * * *", 2 * 3600),))
    assert sched.current(at(1, 59, 59)) is None
    assert sched.current(at(2)) == at(4)
    assert sched.current(at(3, 59, 59)) == at(4)
    assert sched.current(at(4)) is None
    assert sched.next_open(at(2, 30)) == at(2, day=2)
    assert sched.next_open(at(1)) == at(2)


def test_six_fields_count_seconds_and_overlapping_windows_merge():
    sched = Schedule((WindowSpec("*/10 * * * * *", 3), WindowSpec("0 * * * * *", 15)))
    assert sched.current(at(5, 0, 2)) == at(5, 0, 15)  # both open at :00, the later close wins
    assert sched.current(at(5, 0, 12)) == at(5, 0, 15)
    assert sched.current(at(5, 0, 24)) is None
    assert sched.current(at(5, 0, 21)) == at(5, 0, 23)
    assert sched.next_open(at(5, 0, 21)) == at(5, 0, 30)
    assert sched.first_duration == timedelta(seconds=3)


@pytest.mark.parametrize("expr", ["* * *", "61 * * * *", "0 2 * * * * *", "x 2 * * *"])
def test_bad_cron_expressions_say_what_is_wrong(expr):
    with pytest.raises(ValueError, match=r"cron fields|'.*'"):
        trigger(expr)
