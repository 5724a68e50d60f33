"""Windows on injected time: the runner opens a window only inside the schedule, runs the
hooks around the connection, records the result, and alerts on lag above the limit."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bulwark.vault.airgap.config import AirgapConfig, WindowSpec
from bulwark.vault.airgap.pins import Pins
from bulwark.vault.airgap.runner import Runner
from bulwark.vault.airgap.schedule import Schedule
from bulwark.vault.airgap.state import State
from bulwark.vault.airgap.window import Windows
from bulwark.vault.worm.retention import RetentionPolicy
from tests.lib.airgap import InProcessPrimary, Vault, backup, close
from tests.lib.clock import FakeClock

NIGHT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC).timestamp()


class Time:
    """Wall and monotonic time that move only when the test (or a hook) says so."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig(tmp_path):
    clock = FakeClock(step=1)
    primary, airgap = Vault(tmp_path / "primary", clock), Vault(tmp_path / "airgap", clock)
    log = tmp_path / "hooks.log"
    config = AirgapConfig(
        "primary:7443", tmp_path / "ca", tmp_path / "crt", tmp_path / "key",
        (WindowSpec("0 2 * * *", 3600),), lag_limit_hours=1,
        on_open=("sh", "-c", f"echo open >> {log}"), on_close=("sh", "-c", f"echo close >> {log}"))
    now = Time(NIGHT - 600)
    connects = []

    @contextmanager
    def connect():
        connects.append(now())
        with open(log, "a") as out:
            out.write("connected\n")
        yield InProcessPrimary(primary)

    windows = Windows(config, connect, airgap.store, airgap.catalog, Pins(airgap.registry),
                      airgap.audit, clock, RetentionPolicy(), State(tmp_path / "state"),
                      wall=now, monotonic=now)
    yield primary, airgap, clock, Runner(Schedule(config.windows), windows, wall=now), now, \
        connects, log
    close(primary, airgap)


def test_the_runner_connects_only_inside_a_window_between_the_hooks(rig):
    primary, airgap, clock, runner, now, connects, log = rig
    key = Ed25519PrivateKey.generate()
    snap = backup(primary, key, "gpu-a", [b"weights" * 1000], clock)
    assert runner.step() == 600.0 and connects == []  # ten minutes before the window
    now.t = NIGHT + 60
    wait = runner.step()
    assert connects == [NIGHT + 60] and log.read_text().split() == ["open", "connected", "close"]
    assert wait == pytest.approx(86_400 - 60)  # next night
    assert [s.id for s in airgap.catalog.list_snapshots()] == [snap]
    state = runner.windows.state
    assert state.last.outcome == "complete" and state.cursor.id == snap
    actions = [e.fields["action"] for e in airgap.audit.entries()]
    assert actions[-1] == "airgap.window.close" and "airgap.window.open" in actions
    now.t = NIGHT + 3600  # the window has closed: nothing runs
    runner.step()
    assert len(connects) == 1


def test_lag_above_the_limit_after_a_window_is_an_alert(rig, caplog):
    primary, _, clock, runner, now, _, _ = rig
    backup(primary, Ed25519PrivateKey.generate(), "gpu-a", [b"x" * 100], clock)
    clock.advance(seconds=7200)  # the primary's snapshot is two hours old, limit one hour
    now.t = NIGHT + 3599.5
    runner.windows.stopping.set()  # the window closes at once: nothing is copied
    with caplog.at_level(logging.ERROR):
        result = runner.windows.run("manual", 1)
    assert result.outcome == "cut" and result.pending == 1 and result.lag_ns > 3600 * 10**9
    assert "ALERT" in caplog.text
    assert b"bulwark_airgap_lag_alert 1.0" in runner.windows.metrics.text()
