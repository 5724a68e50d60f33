"""The vault's certificate watch: expiry gauges for Prometheus and a WARNING from 30 days out;
the registry it serves also holds the vault's other metrics.

``[server] metrics = "127.0.0.1:9466"`` serves, from a registry of its own::

    bulwark_vault_certificate_expiry_timestamp_seconds{cert="server"|"ca"}
    bulwark_vault_snapshots_marked_total{node}    marked suspicious (worm.quarantine)
    bulwark_vault_node_*{node} and their *_limit  per-node quotas (ingest.quota_metrics)

and every ``CHECK_SECONDS`` (and at start) vaultd logs a WARNING for a certificate that
expires within ``vault.keys.signer.WARN_DAYS`` days (docs/operations.md "Monitoring" has the
alert rules). The server certificate is re-read each time, so a renewal shows at once.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from bulwark.vault.ingest.quota_metrics import QUOTA_METRICS
from bulwark.vault.keys.signer import expiry_warning, not_after_s
from bulwark.vault.worm.clock import Clock, SystemClock
from bulwark.vault.worm.quarantine import MARKED

log = logging.getLogger("vaultd")
CHECK_SECONDS = 6 * 3600


class CertWatch:
    def __init__(self, certs: dict[str, Path], clock: Clock | None = None) -> None:
        self.certs = certs
        self.clock = clock or SystemClock()
        self.registry = CollectorRegistry()
        self.expiry = Gauge("bulwark_vault_certificate_expiry_timestamp_seconds",
                            "Unix time the vault's certificate expires", ["cert"],
                            registry=self.registry)
        self.registry.register(MARKED)  # vault.worm.quarantine: snapshots marked suspicious
        self.registry.register(QUOTA_METRICS)  # vault.ingest.quota_metrics: per-node quotas
        self._server = None
        self._stop = threading.Event()

    def check(self) -> list[str]:
        """Update the gauges; log and return the warnings."""
        warnings = []
        for label, path in self.certs.items():
            try:
                self.expiry.labels(label).set(not_after_s(path))
                warning = expiry_warning(f"the vault's {label} certificate", path, self.clock)
            except (OSError, ValueError) as exc:
                warning = f"cannot read the vault's {label} certificate {path}: {exc}"
            if warning:
                log.warning("%s", warning)
                warnings.append(warning)
        return warnings

    def start(self, listen: tuple[str, int] | None) -> int | None:
        """Check now and every CHECK_SECONDS; serve metrics on ``listen``; the bound port."""
        self.check()
        threading.Thread(target=self._run, name="cert-watch", daemon=True).start()
        if listen is None:
            return None
        self._server, _ = start_http_server(listen[1], addr=listen[0], registry=self.registry)
        return self._server.server_address[1]

    def _run(self) -> None:
        while not self._stop.wait(CHECK_SECONDS):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
