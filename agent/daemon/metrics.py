"""The node daemon's Prometheus metrics, served on loopback by default (docs/daemon.md).

One registry per daemon (not prometheus_client's global one), so tests can run several.
Names: ``bulwark_backup_*{set}``, ``bulwark_drill_*{drill}``, ``bulwark_job_running{job}``,
and the node's own certificate (agent.daemon.renewal): ``bulwark_agent_certificate_*``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

DEFAULT_LISTEN = "127.0.0.1:9464"


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.backup_last_success = Gauge(
            "bulwark_backup_last_success_timestamp_seconds",
            "Unix time the set's last successful backup finished", ["set"], registry=r)
        self.backup_duration = Gauge(
            "bulwark_backup_last_duration_seconds", "Duration of the set's last backup",
            ["set"], registry=r)
        self.backup_bytes = Counter(
            "bulwark_backup_bytes", "Bytes of files backed up (scanned)", ["set"], registry=r)
        self.backup_new_bytes = Counter(
            "bulwark_backup_new_bytes", "Blob bytes sent to the vault", ["set"], registry=r)
        self.backup_new_chunks = Counter(
            "bulwark_backup_new_chunks", "Chunks sent to the vault", ["set"], registry=r)
        # A backup that could not read everything still commits a snapshot (restic's exit 3):
        # these say so, per set, so an alert need not read the log.
        self.backup_last_skipped = Gauge(
            "bulwark_backup_last_skipped",
            "Entries the set's last backup could not read (not in its snapshot)", ["set"],
            registry=r)
        self.backup_last_changed = Gauge(
            "bulwark_backup_last_changed",
            "Files that changed while the set's last backup read them (stored, flagged)",
            ["set"], registry=r)
        self.backup_skipped = Counter(
            "bulwark_backup_skipped", "Entries backups could not read", ["set"], registry=r)
        self.backup_changed = Counter(
            "bulwark_backup_changed", "Files that changed while a backup read them", ["set"],
            registry=r)
        self.backup_failures = Counter(
            "bulwark_backup_failures", "Backups that failed or were interrupted", ["set"],
            registry=r)
        self.drill_last_success = Gauge(
            "bulwark_drill_last_success_timestamp_seconds",
            "Unix time the drill last passed", ["drill"], registry=r)
        self.drill_rto = Gauge(
            "bulwark_drill_last_rto_seconds", "Recovery time of the drill's last run",
            ["drill"], registry=r)
        self.drill_bytes = Gauge(
            "bulwark_drill_last_bytes", "Bytes restored by the drill's last run", ["drill"],
            registry=r)
        self.drill_passed = Gauge(
            "bulwark_drill_last_passed", "1 if the drill's last run passed, else 0", ["drill"],
            registry=r)
        self.drill_failures = Counter(
            "bulwark_drill_failures", "Drills that failed (or could not run)", ["drill"],
            registry=r)
        self.job_running = Gauge(
            "bulwark_job_running", "1 while the job runs", ["job"], registry=r)
        self.cert_expiry = Gauge(
            "bulwark_agent_certificate_expiry_timestamp_seconds",
            "Unix time the agent's [tls] certificate expires", registry=r)
        self.cert_renewals = Counter(
            "bulwark_agent_certificate_renewals", "Certificates the daemon renewed", registry=r)
        self.cert_renew_failures = Counter(
            "bulwark_agent_certificate_renew_failures",
            "Renewals that were due and failed (retried at the next check)", registry=r)
        self._server = None

    def serve(self, host: str, port: int) -> tuple[str, int]:
        """Start the HTTP endpoint; returns the bound address (port 0 picks one)."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return host, self._server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
