"""Prometheus metrics of the air-gap vault (``[airgap] metrics = "HOST:PORT"``).

A registry of its own (not the process-global one), served on its own port when configured:

    bulwark_airgap_window_open                 1 while a window is open
    bulwark_airgap_windows_total{outcome}      windows by outcome: complete, cut, failed
    bulwark_airgap_snapshots_copied_total      snapshots committed
    bulwark_airgap_bytes_copied_total          blob bytes pulled and stored
    bulwark_airgap_refusals_total              snapshots refused (bad blob, key, signature)
    bulwark_airgap_lag_seconds                 age of the oldest uncopied primary snapshot
    bulwark_airgap_lag_alert                   1 if the last window ended above the lag limit
    bulwark_airgap_last_success_timestamp_seconds
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from bulwark.vault.airgap.state import WindowResult


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.open = Gauge("bulwark_airgap_window_open", "1 while a sync window is open",
                          registry=r)
        self.windows = Counter("bulwark_airgap_windows", "Sync windows by outcome",
                               ["outcome"], registry=r)
        self.snapshots = Counter("bulwark_airgap_snapshots_copied", "Snapshots copied",
                                 registry=r)
        self.bytes = Counter("bulwark_airgap_bytes_copied", "Blob bytes copied", registry=r)
        self.refusals = Counter("bulwark_airgap_refusals", "Snapshots refused", registry=r)
        self.lag = Gauge("bulwark_airgap_lag_seconds",
                         "Age of the oldest primary snapshot not yet copied", registry=r)
        self.alert = Gauge("bulwark_airgap_lag_alert",
                           "1 if the last window ended with lag above the limit", registry=r)
        self.last_success = Gauge("bulwark_airgap_last_success_timestamp_seconds",
                                  "Close time of the last complete window", registry=r)

    def window(self, result: WindowResult, alert: bool) -> None:
        self.windows.labels(result.outcome).inc()
        self.snapshots.inc(result.snapshots)
        self.bytes.inc(result.bytes)
        self.refusals.inc(len(result.refused))
        self.lag.set(result.lag_ns / 1e9)
        self.alert.set(1 if alert else 0)
        if result.outcome == "complete":
            self.last_success.set(result.closed_ns / 1e9)

    def text(self) -> bytes:
        return generate_latest(self.registry)
