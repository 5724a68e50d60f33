"""The compliance clock: monotonic while running, restart rules, bounded re-sync, jumps."""

from __future__ import annotations

import json

import pytest

from bulwark.vault.errors import StorageError
from bulwark.vault.worm.clock import (
    DAY,
    JUMP_THRESHOLD_NS,
    MAX_DOWNTIME_NS,
    RESYNC_PER_YEAR,
    SECOND,
    YEAR,
    ComplianceClock,
)

T0 = 1_800_000_000 * SECOND


class Host:
    """A fake machine: wall clock, monotonic clock, uptime and boot id, all settable."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono = 5 * SECOND
        self.up = 100 * SECOND
        self.boot = "boot-a"

    def run(self, ns: int) -> None:  # real time passes
        self.wall += ns
        self.mono += ns
        self.up += ns

    def clock(self, path, **kw) -> ComplianceClock:
        return ComplianceClock(path, monotonic=lambda: self.mono, wall=lambda: self.wall,
                               uptime=lambda: self.up, boot_id=lambda: self.boot, **kw)


@pytest.fixture
def host():
    return Host()


def test_first_start_takes_the_wall_clock_then_follows_monotonic_time(tmp_path, host):
    c = host.clock(tmp_path / "clock.state")
    events = c.start(background=False)
    assert [e.action for e in events] == ["clock.init"]
    assert c.now_ns() == T0
    host.run(10 * SECOND)
    assert c.now_ns() == T0 + 10 * SECOND
    host.wall += 400 * DAY  # someone sets the wall clock forward while running
    host.mono += SECOND
    assert c.now_ns() < T0 + 12 * SECOND + (SECOND * RESYNC_PER_YEAR // YEAR) + 1
    c.stop()


def test_wall_clock_forward_while_stopped_expires_nothing_early(tmp_path, host):
    path = tmp_path / "clock.state"
    c = host.clock(path)
    c.start(background=False)
    host.run(60 * SECOND)
    c.stop()
    saved = c.now_ns()
    host.run(30 * SECOND)  # real downtime, same boot
    host.wall += 400 * DAY  # and the wall clock set forward while vaultd is stopped
    c2 = host.clock(path)
    events = c2.start(background=False)
    assert c2.now_ns() == saved + 30 * SECOND  # downtime counted from uptime, jump ignored
    jump = [e for e in events if e.action == "clock.jump"]
    assert jump and jump[0].outcome == "refused" and "+400" in jump[0].detail


def test_after_a_reboot_downtime_is_not_counted_and_catch_up_is_bounded(tmp_path, host):
    path = tmp_path / "clock.state"
    c = host.clock(path)
    c.start(background=False)
    c.stop()
    saved = c.now_ns()
    host.boot, host.up = "boot-b", 5 * SECOND  # rebooted ...
    host.wall += 10 * DAY  # ... after ten days powered off
    c2 = host.clock(path)
    events = c2.start(background=False)
    assert "reboot" in events[0].detail
    assert c2.now_ns() == saved
    host.run(YEAR)  # one year of running: catches up by at most 7 days
    assert c2.now_ns() == saved + YEAR + RESYNC_PER_YEAR
    host.run(YEAR)  # the remaining 3 days, never beyond the wall clock
    assert c2.now_ns() == host.wall


def test_never_moves_backward(tmp_path, host):
    c = host.clock(tmp_path / "clock.state")
    c.start(background=False)
    host.run(SECOND)
    before = c.now_ns()
    host.wall -= 30 * DAY  # wall clock set back
    host.mono += 1
    after = c.now_ns()
    assert after >= before
    c.stop()


def test_a_jump_while_running_is_reported(tmp_path, host):
    c = host.clock(tmp_path / "clock.state")
    seen = []
    c.on_event = seen.append
    c.start(background=False)
    host.wall += JUMP_THRESHOLD_NS + DAY
    host.mono += SECOND
    c.now_ns()
    for _ in range(200):  # reported from a thread of its own
        if seen:
            break
        import time
        time.sleep(0.01)
    assert seen and seen[0].action == "clock.jump"


def test_missing_state_resumes_from_the_newest_recorded_time(tmp_path, host):
    floor = T0 + 50 * DAY
    c = host.clock(tmp_path / "clock.state", floor_ns=floor)
    events = c.start(background=False)
    assert c.now_ns() == floor  # not the wall clock, which may have been moved
    assert events[0].outcome == "error"


def test_unreadable_state_refuses_to_guess(tmp_path, host):
    path = tmp_path / "clock.state"
    path.write_text("{not json")
    with pytest.raises(StorageError, match="refusing to guess"):
        host.clock(path).start(background=False)


def test_state_is_persisted_atomically(tmp_path, host):
    path = tmp_path / "clock.state"
    c = host.clock(path)
    c.start(background=False)
    host.run(7 * SECOND)
    c.stop()
    state = json.loads(path.read_text())
    assert state["compliance_ns"] == T0 + 7 * SECOND and state["boot_id"] == "boot-a"
    assert not (tmp_path / "clock.state.tmp").exists()


def test_a_time_namespace_winding_boot_time_forward_counts_no_extra_downtime(tmp_path, host):
    """Attack 5: vaultd restarted in a time namespace (``unshare --time --boottime N``) sees
    uptime N seconds ahead; the wall clock saved at shutdown disagrees, and the smaller of
    the two is counted, with the disagreement reported."""
    path = tmp_path / "clock.state"
    c = host.clock(path)
    c.start(background=False)
    host.run(60 * SECOND)
    c.stop()
    saved = c.now_ns()
    host.run(11 * 60 * SECOND)  # 11 minutes of real downtime
    host.up += 400 * DAY  # the namespace's boot-time offset
    c2 = host.clock(path)
    events = c2.start(background=False)
    assert c2.now_ns() == saved + 11 * 60 * SECOND
    resume = [e for e in events if e.action == "clock.resume"]
    assert resume and resume[0].outcome == "refused"
    assert "+400" in resume[0].detail and "boot time" in resume[0].detail


def test_one_restart_adds_at_most_the_cap_even_if_both_sources_agree(tmp_path, host):
    path = tmp_path / "clock.state"
    c = host.clock(path)
    c.start(background=False)
    c.stop()
    saved = c.now_ns()
    host.run(20 * DAY)  # root winds both the wall clock and boot time, or a long outage
    c2 = host.clock(path)
    events = c2.start(background=False)
    assert c2.now_ns() == saved + MAX_DOWNTIME_NS
    resume = [e for e in events if e.action == "clock.resume"]
    assert resume[0].outcome == "refused" and "at most" in resume[0].detail
