"""``vault-agent run``: the node daemon (docs/daemon.md).

Runs the configured backup sets and drills on their cron schedules (``agent.daemon.schedule``),
talks to systemd (``agent.daemon.sdnotify``: READY=1 once scheduling, STATUS= with the current
job and every set whose last backup was partial or failed, WATCHDOG=1 keepalives, STOPPING=1),
serves Prometheus metrics (``agent.daemon.metrics``),
and renews its certificate before it expires (``agent.daemon.renewal``, at start and every
``[daemon] renew_every`` seconds). After a renewal the next job uses a new channel with the
new certificate; a job already running finishes on the channel it started with, which is
closed once no job uses it.

SIGTERM/SIGINT: stop firing, ask the running jobs to stop (a backup stops at its next
chunk boundary after making what it read durable, see ``agent.backup.run``), wait at most
``[daemon] stop_timeout`` seconds, exit 0. The interrupted run is not recorded as finished,
so it runs again at the next start, and FindMissing keeps it from re-sending anything.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3

from bulwark.agent.backup.run import BackupCancelled, BackupResult, run_backup
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.daemon.config import BackupSet, DaemonConfig, DrillJob
from bulwark.agent.daemon.metrics import Metrics
from bulwark.agent.daemon.renewal import Clock, Renewer, WallClock
from bulwark.agent.daemon.schedule import JobInterrupted, Schedule
from bulwark.agent.daemon.sdnotify import Notifier
from bulwark.agent.drill.runner import latest_of_set, record, run_drill
from bulwark.agent.errors import AgentError, ConfigError
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.site.config import AgentConfig

log = logging.getLogger("vault-agent")


def set_cache_dir(cache_dir: Path, set_name: str) -> Path:
    """The file cache folder of one backup set: ``<cache>/sets/<name>-<hash>``.

    Each set has its own cache because a backup replaces its cache with exactly the files
    it saw: with one cache for all sets, every run of one set made the next run of the
    others read all their files again. The name is kept readable; the hash keeps two names
    that differ only in characters a folder name cannot hold apart."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", set_name)[:48]
    return cache_dir / "sets" / f"{readable}-{blake3.blake3(set_name.encode()).hexdigest()[:12]}"


@dataclass
class Daemon:
    config: AgentConfig
    daemon: DaemonConfig
    keyring: KeyRing
    client: VaultClient
    notifier: Notifier
    clock: Clock | None = None  # for the renewal rule; default the wall clock

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.metrics = Metrics()
        self.renewer = Renewer(self.config, self.daemon.renew_share, self.metrics,
                               self._reopen_client, self.clock or WallClock())
        self._retired: list[VaultClient] = []
        self._opened: list[VaultClient] = []
        self.schedule = Schedule(self.daemon.state_dir, self.daemon.timezone)
        self._running: dict[str, threading.Event] = {}
        # set -> how its last backup ended, when not clean ("2 skipped, 1 changed", "FAILED")
        self._outcomes: dict[str, str] = {}
        self._lock = threading.Lock()
        if self.daemon.drills and not self.keyring.can_restore:
            raise ConfigError(
                f"{self.daemon.path}: [[drill]] {self.daemon.drills[0].name!r}: this "
                "configuration's key file is write-only and cannot restore; run drills "
                "from drill.toml (vault-drill.service), not from the node's agent.toml")

    # -- jobs ------------------------------------------------------------------------------

    def _job(self, name: str, body: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self.stop.is_set():
                return
            done = threading.Event()
            with self._lock:
                self._running[name] = done
                status = self.status_text(list(self._running))
            self.metrics.job_running.labels(name).set(1)
            self.notifier.status(status)
            try:
                body()
            finally:
                self.metrics.job_running.labels(name).set(0)
                with self._lock:
                    del self._running[name]
                    others = list(self._running)
                    if not others:
                        self._close_retired()
                    status = self.status_text(others)
                done.set()
                self.notifier.status(status)
        return run

    def status_text(self, running: list[str]) -> str:
        """systemd's STATUS= line: the jobs running (or ``idle``), then each set whose last
        backup did not end clean, e.g. ``idle; ckpt: 2 skipped, 1 changed; data: FAILED``."""
        now = f"running {', '.join(running)}" if running else "idle"
        return "; ".join([now, *(f"{name}: {how}" for name, how in sorted(self._outcomes.items()))])

    def _outcome(self, name: str, how: str) -> None:
        with self._lock:
            if how:
                self._outcomes[name] = how
            else:
                self._outcomes.pop(name, None)

    def backup(self, spec: BackupSet) -> BackupResult | None:
        """Run one backup of ``spec``; its result, or None if it failed (logged, counted)."""
        tags = [*spec.tags, f"set:{spec.name}"]
        started = time.monotonic()
        client = self.client  # a renewal swaps it; this run keeps the one it started with
        log.info("backup %s: starting (%s)", spec.name, ", ".join(spec.paths))
        try:
            result = run_backup(client, self.keyring, spec.paths, tags,
                                set_cache_dir(self.config.cache_dir, spec.name),
                                self.config.workers,
                                exclude=spec.exclude, should_stop=self.stop.is_set,
                                retention_days=spec.retention_days or 0)
        except BackupCancelled as exc:
            self.metrics.backup_failures.labels(spec.name).inc()
            log.warning("backup %s: interrupted: %s; resumes at next start", spec.name, exc)
            raise JobInterrupted(str(exc)) from None
        except AgentError as exc:
            self.metrics.backup_failures.labels(spec.name).inc()
            self._outcome(spec.name, "FAILED")
            log.error("backup %s: FAILED: %s", spec.name, exc)
            return None
        finally:
            self.metrics.backup_duration.labels(spec.name).set(time.monotonic() - started)
        m = self.metrics
        m.backup_last_success.labels(spec.name).set(time.time())
        m.backup_bytes.labels(spec.name).inc(result.bytes)
        m.backup_new_bytes.labels(spec.name).inc(result.new_bytes)
        m.backup_new_chunks.labels(spec.name).inc(result.new_chunks)
        self._report_partial(spec.name, result)
        log.info("backup %s: snapshot %s, %d files (%d read), %d bytes, %d new bytes in %.1fs",
                 spec.name, result.snapshot.id[:12], result.files, result.files_read,
                 result.bytes, result.new_bytes, result.duration_s)
        return result

    def _report_partial(self, name: str, result: BackupResult) -> None:
        """What the backup could not read, or read while it changed: one log line per path
        (in agent.format.pathtext's form), the counts in the metrics and in STATUS=."""
        skipped, changed = len(result.skipped), len(result.changed)
        m = self.metrics
        m.backup_last_skipped.labels(name).set(skipped)
        m.backup_last_changed.labels(name).set(changed)
        m.backup_skipped.labels(name).inc(skipped)
        m.backup_changed.labels(name).inc(changed)
        for path, reason in result.skipped:
            log.warning("backup %s: skipped %s: %s", name, show_path(path), reason)
        for path in result.changed:
            log.warning("backup %s: %s changed while it was read (stored, flagged in the "
                        "snapshot)", name, show_path(path))
        partial = skipped or changed
        if partial:
            log.warning("backup %s: PARTIAL: snapshot %s: %d skipped (not in it), %d changed "
                        "while read (flagged)", name, result.snapshot.id[:12], skipped, changed)
        self._outcome(name, f"{skipped} skipped, {changed} changed" if partial else "")

    def drill(self, spec: DrillJob) -> None:
        m, client = self.metrics, self.client
        try:
            ref = latest_of_set(client, spec.set, spec.node)
            report = run_drill(client, self.keyring, ref, command=spec.validate,
                               timeout=spec.timeout, isolation=spec.isolation,
                               workers=self.config.workers)
            record(client, self.keyring, report)
        except AgentError as exc:
            m.drill_failures.labels(spec.name).inc()
            m.drill_passed.labels(spec.name).set(0)
            log.error("drill %s: FAILED to run: %s", spec.name, exc)
            return
        m.drill_rto.labels(spec.name).set(report.rto_s)
        m.drill_bytes.labels(spec.name).set(report.bytes)
        m.drill_passed.labels(spec.name).set(1 if report.passed else 0)
        if report.passed:
            m.drill_last_success.labels(spec.name).set(time.time())
            log.info("drill %s: %s", spec.name, report.summary())
        else:
            m.drill_failures.labels(spec.name).inc()
            log.error("drill %s: %s", spec.name, report.summary())

    # -- certificate -----------------------------------------------------------------------

    def _reopen_client(self) -> None:
        """After a renewal: new jobs get a channel with the new certificate."""
        fresh = VaultClient.from_config(self.config)
        with self._lock:
            self._retired.append(self.client)
            self.client = fresh
            self._opened.append(fresh)
            if not self._running:
                self._close_retired()

    def _close_retired(self) -> None:
        """Close the channels no job uses any more (caller holds ``_lock``). The first
        client belongs to whoever made the daemon, which closes it."""
        for old in self._retired:
            if old in self._opened:
                old.close()
                self._opened.remove(old)
        self._retired.clear()

    def _renew_loop(self) -> None:
        while not self.stop.wait(self.daemon.renew_every):
            self.renewer.check()

    # -- lifecycle -------------------------------------------------------------------------

    def wait_for_jobs(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._running.values())
            if not pending:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            pending[0].wait(min(left, 0.5))

    def run(self) -> int:
        self.daemon.state_dir.mkdir(parents=True, exist_ok=True)
        if self.daemon.metrics_listen is not None:
            host, port = self.metrics.serve(*self.daemon.metrics_listen)
            (self.daemon.state_dir / "metrics.addr").write_text(f"{host}:{port}\n")
            log.info("metrics on http://%s:%d/metrics", host, port)
        self.renewer.check()
        threading.Thread(target=self._renew_loop, name="renew", daemon=True).start()
        for spec in self.daemon.backup_sets:
            self.schedule.add(spec.name, spec.schedule,
                              self._job(spec.name, lambda s=spec: self.backup(s)))
        for spec in self.daemon.drills:
            self.schedule.add(spec.name, spec.schedule,
                              self._job(spec.name, lambda s=spec: self.drill(s)))
        if self.schedule.caught_up:
            log.info("missed while down, running once now: %s",
                     ", ".join(self.schedule.caught_up))
        self.schedule.start()
        jobs = len(self.daemon.backup_sets) + len(self.daemon.drills)
        self.notifier.ready(f"idle; {jobs} scheduled jobs")
        log.info("vault-agent running: %d backup sets, %d drills",
                 len(self.daemon.backup_sets), len(self.daemon.drills))
        self.notifier.start_watchdog(self.stop)
        self.stop.wait()
        self.notifier.stopping()
        log.info("vault-agent stopping (at most %.0fs)", self.daemon.stop_timeout)
        self.schedule.shutdown()
        clean = self.wait_for_jobs(self.daemon.stop_timeout)
        if not clean:
            log.error("a job did not stop within %.0fs; exiting anyway", self.daemon.stop_timeout)
        self.metrics.close()
        with self._lock:
            self._retired.extend(self._opened)
            self._close_retired()
        log.info("vault-agent stopped")
        return 0
