"""The vault's only source of time (STYLE.md: time is a dependency).

Snapshot ingest times, retain-until dates and every expiry decision come from a ``Clock``.
Tests pass a fake one; ``vaultd`` runs a :class:`ComplianceClock` (docs/worm.md "Compliance
clock"), modelled on NetApp SnapLock's ComplianceClock:

* **First start**: the compliance time is initialized once from the wall clock (or, if the
  state file is missing but the vault already holds data, from the newest time the vault has
  recorded: never earlier than what it has already said).
* **While running** it advances with elapsed monotonic time, whatever the wall clock does.
* **Restart on the same boot** (``/proc/sys/kernel/random/boot_id`` unchanged): the downtime
  counted is the smaller of the kernel's uptime delta (``/proc/uptime``, read from the file,
  so no ``LD_PRELOAD`` time faker and no ``date -s`` changes it) and the wall-clock delta
  since the last persist (a time namespace, ``unshare --time --boottime``, shifts uptime but
  not the wall clock), and at most ``MAX_DOWNTIME_NS`` (1 day) per restart. Sources that
  disagree, or the cap, are reported as a refused ``clock.resume`` (vaultd audits it).
* **Restart after a reboot**: the downtime cannot be measured by anything the wall clock
  cannot fake, so it is **not counted**: the clock resumes from the last persisted value.
* **Re-sync**: while running, if the wall clock is ahead, the compliance time drifts toward
  it by at most ``RESYNC_PER_YEAR`` (7 days) per 365 days of running — never backward, never
  faster. Lag left by a reboot is therefore made up slowly; setting the wall clock forward
  (even while vaultd is stopped) can gain an attacker at most 7 days per year of running.
* A wall-clock step of more than ``JUMP_THRESHOLD_NS`` relative to the compliance time (at
  start or between ticks) is logged and reported through ``on_event`` (vaultd audits it).

The state file (``clock.state``, JSON) is rewritten atomically (temp file, fsync, rename,
directory fsync) every ``PERSIST_INTERVAL_S`` seconds from a thread and on ``stop``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bulwark.vault.durable import replace_json
from bulwark.vault.errors import StorageError

log = logging.getLogger(__name__)

SECOND = 1_000_000_000
DAY = 86_400 * SECOND
RESYNC_PER_YEAR = 7 * DAY  # how far the clock may drift toward the wall clock per year
YEAR = 365 * DAY
JUMP_THRESHOLD_NS = 300 * SECOND  # a wall-clock step larger than this is logged and audited
MAX_DOWNTIME_NS = DAY  # what one restart may add to the compliance time
PERSIST_INTERVAL_S = 10.0
STATE_VERSION = 1


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current vault time in nanoseconds since the Unix epoch."""
        ...


class SystemClock:
    """The host's wall clock (tests and tools only; vaultd uses ``ComplianceClock``)."""

    def now_ns(self) -> int:
        return time.time_ns()


def read_boot_id() -> str:
    """The kernel's random id of this boot ("" if unavailable)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def read_uptime_ns() -> int | None:
    """Time since boot from ``/proc/uptime`` (a file read, not a faked libc call)."""
    try:
        seconds = Path("/proc/uptime").read_text().split()[0]
    except (OSError, IndexError):
        return None
    whole, _, frac = seconds.partition(".")
    return int(whole) * SECOND + int((frac + "000000000")[:9])


@dataclass(frozen=True)
class ClockEvent:
    """Something the audit log should record: ``action`` is ``clock.init``, ``clock.resume``
    or ``clock.jump``; ``detail`` says what happened in words."""

    action: str
    outcome: str
    detail: str


def _days(ns: int) -> str:
    return f"{ns / DAY:+.2f} days"


def _downtime(by_boot: int, saved_wall, wall: int) -> tuple[int, str, str]:
    """Downtime to count on the same boot: the smaller of what boot time and the wall clock
    (saved at shutdown) say, at most ``MAX_DOWNTIME_NS``; with the words for the audit and
    ``refused`` if boot time claims more than the wall clock by over ``JUMP_THRESHOLD_NS``
    (a wall clock ahead is the ``clock.jump`` that ``start`` reports) or the cap applied.

    A Linux time namespace shifts boot time (``/proc/uptime``) but not the wall clock; a
    wall clock set forward moves no boot time: winding the clock needs both, i.e. root on
    the host, and then gains at most the cap per restart (docs/worm.md)."""
    by_wall = wall - saved_wall if isinstance(saved_wall, int) else by_boot
    down = max(0, min(by_boot, by_wall))
    words = (f"boot time says {by_boot / SECOND:.1f} s ({_days(by_boot)}), the wall clock "
             f"{by_wall / SECOND:.1f} s ({_days(by_wall)})")
    if by_boot - by_wall > JUMP_THRESHOLD_NS:
        outcome, why = "refused", f"; they disagree: {words}, the smaller is counted"
    else:
        outcome, why = "allowed", ""
    if down > MAX_DOWNTIME_NS:
        outcome = "refused"
        why += (f"; {down / SECOND:.0f} s is more than one restart may add, counted at most "
                f"{MAX_DOWNTIME_NS // SECOND} s (the clock catches up by at most 7 days/year)")
        down = MAX_DOWNTIME_NS
    return down, f"resumed on the same boot; {down / SECOND:.1f} s of downtime counted{why}", \
        outcome


class ComplianceClock:
    """A persisted clock that cannot be moved forward by the wall clock (module docstring).

    ``floor_ns`` is the newest time the vault has already recorded (snapshots, audit): the
    clock never starts below it. ``monotonic``, ``wall``, ``uptime`` and ``boot_id`` are
    injectable for tests. Call ``start()`` (loads state, starts the persist thread) before
    use and ``stop()`` on shutdown.
    """

    def __init__(
        self,
        state_path: Path,
        *,
        floor_ns: int = 0,
        monotonic: Callable[[], int] = time.monotonic_ns,
        wall: Callable[[], int] = time.time_ns,
        uptime: Callable[[], int | None] = read_uptime_ns,
        boot_id: Callable[[], str] = read_boot_id,
        persist_interval_s: float = PERSIST_INTERVAL_S,
    ) -> None:
        self.state_path = Path(state_path)
        self._floor = floor_ns
        self._monotonic = monotonic
        self._wall = wall
        self._uptime = uptime
        self._boot_id = boot_id
        self._interval = persist_interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._now = 0
        self._last_mono = 0
        self._skew = 0  # wall - compliance at the last tick
        self.on_event: Callable[[ClockEvent], None] | None = None
        self.started = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, background: bool = True) -> list[ClockEvent]:
        """Load (or initialize) the state, persist it, start the persist thread.

        Returns what happened, for the caller to audit (the audit log needs this clock, so
        it cannot be written from here).
        """
        events = self._load()
        self._last_mono = self._monotonic()
        wall = self._wall()
        self._skew = wall - self._now
        if abs(self._skew) > JUMP_THRESHOLD_NS:
            events.append(self._jump_event(self._skew, at_start=True))
        self.started = True
        self.persist()
        if background:
            self._thread = threading.Thread(
                target=self._run, name="compliance-clock", daemon=True
            )
            self._thread.start()
        for event in events:
            log.log(logging.WARNING if event.outcome != "allowed" else logging.INFO,
                    "compliance clock: %s", event.detail)
        return events

    def stop(self) -> None:
        """Stop the persist thread and persist the final value."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self._interval + 5)
        if self.started:
            self.persist()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.now_ns()
                self.persist()
            except Exception:  # keep ticking; the next persist may succeed
                log.exception("compliance clock: cannot persist %s", self.state_path)

    def _load(self) -> list[ClockEvent]:
        try:
            state = json.loads(self.state_path.read_text())
            saved = int(state["compliance_ns"])
            saved_uptime = state.get("uptime_ns")
            saved_boot = str(state.get("boot_id", ""))
            saved_wall = state.get("wall_ns")
        except FileNotFoundError:
            state = None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"compliance clock state {self.state_path}: unreadable ({exc}); refusing to "
                "guess the time. Restore the file from a backup of the vault's state directory"
            ) from None
        if state is None:
            if self._floor:
                self._now = self._floor
                return [ClockEvent(
                    "clock.init", "error",
                    f"state file {self.state_path} missing although the vault holds records: "
                    f"resuming from the newest recorded time, not the wall clock",
                )]
            self._now = self._wall()
            return [ClockEvent("clock.init", "allowed", "initialized from the wall clock")]
        uptime = self._uptime()
        boot = self._boot_id()
        if (boot and boot == saved_boot and uptime is not None
                and isinstance(saved_uptime, int) and uptime >= saved_uptime):
            down, detail, outcome = _downtime(uptime - saved_uptime, saved_wall, self._wall())
            self._now = saved + down
        else:
            outcome = "allowed"
            self._now = saved
            detail = ("resumed after a reboot; downtime not counted (the clock catches up "
                      "with the wall clock by at most 7 days per year)")
        if self._now < self._floor:
            self._now = self._floor
            detail += "; raised to the newest recorded time"
        return [ClockEvent("clock.resume", outcome, detail)]

    def persist(self) -> None:
        """Write the state atomically and durably."""
        with self._lock:
            state = {
                "version": STATE_VERSION,
                "compliance_ns": self._tick(),
                "uptime_ns": self._uptime(),
                "boot_id": self._boot_id(),
                "wall_ns": self._wall(),
            }
        try:
            replace_json(self.state_path, state)
        except OSError as exc:
            raise StorageError.from_os(f"persist clock state {self.state_path}", exc) from exc

    # -- time ----------------------------------------------------------------------------

    def _tick(self) -> int:
        """Advance by elapsed monotonic time plus bounded catch-up. Caller holds the lock."""
        mono = self._monotonic()
        elapsed = max(0, mono - self._last_mono)
        self._last_mono = max(mono, self._last_mono)
        self._now += elapsed
        wall = self._wall()
        lag = wall - self._now
        if lag > 0 and elapsed:
            self._now += min(lag, elapsed * RESYNC_PER_YEAR // YEAR)
        skew = wall - self._now
        if abs(skew - self._skew) > JUMP_THRESHOLD_NS and self.started:
            event = self._jump_event(skew - self._skew, at_start=False)
            log.warning("compliance clock: %s", event.detail)
            if self.on_event is not None:
                # Reported outside the lock by a thread of its own would be nicer; the audit
                # log takes its own lock and reads this clock, so hand it off.
                threading.Thread(target=self.on_event, args=(event,), daemon=True).start()
        self._skew = skew
        return self._now

    def _jump_event(self, step: int, at_start: bool) -> ClockEvent:
        where = "at start, the wall clock is" if at_start else "the wall clock stepped"
        return ClockEvent(
            "clock.jump", "refused",
            f"{where} {_days(step)} relative to the compliance clock; compliance time not "
            "moved (it follows elapsed monotonic time and re-syncs by at most 7 days per year)",
        )

    def now_ns(self) -> int:
        if not self.started:
            raise RuntimeError("ComplianceClock.now_ns before start()")
        with self._lock:
            return self._tick()

    def skew_ns(self) -> int:
        """Wall clock minus compliance clock, now."""
        now = self.now_ns()
        return self._wall() - now
