"""Prometheus gauges for the per-node quotas and commit rate (issue 15), read at each scrape.

Served with vaultd's other metrics (``vault.monitor``, ``[server] metrics = "HOST:PORT"``)::

    bulwark_vault_node_stored_bytes{node}              blob bytes the node put first, still held
    bulwark_vault_node_uncommitted_bytes{node}         of them, referenced by no snapshot yet
    bulwark_vault_node_snapshots_last_hour{node}       commits in the last sliding hour
    bulwark_vault_node_stored_bytes_limit              [limits] node_stored_bytes (0: no quota)
    bulwark_vault_node_uncommitted_bytes_limit         [limits] node_uncommitted_bytes
    bulwark_vault_node_snapshots_per_hour_limit        [limits] snapshots_per_hour (0: no limit)

The byte numbers are the ones PutChunks enforces and ``Quotas/GetQuotas`` reports
(``Quotas.usage``: one indexed pass over the upload rows per scrape); the hour's commits are
``CommitRate``'s window, which a restart empties (as the limit itself forgets). A node
appears once it put a chunk or committed in the last hour. Before ``watch`` (a process that
serves no vault) every family is collected empty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bulwark.vault.ingest.limits import CommitRate
from bulwark.vault.ingest.quota import Quotas


class QuotaCollector(Collector):
    """Collects the gauges above from the quotas and commit rate it was last given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: tuple[Quotas, CommitRate, Callable[[], int]] | None = None

    def watch(self, quotas: Quotas, rate: CommitRate, now_ns: Callable[[], int]) -> None:
        """Report ``quotas`` and ``rate`` from now on (``now_ns``: the clock commits use)."""
        with self._lock:
            self._source = (quotas, rate, now_ns)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            source = self._source
        families = {
            "stored": GaugeMetricFamily(
                "bulwark_vault_node_stored_bytes",
                "Blob bytes a node put first that the vault still holds", labels=["node"]),
            "uncommitted": GaugeMetricFamily(
                "bulwark_vault_node_uncommitted_bytes",
                "Of a node's stored bytes, those no snapshot references yet", labels=["node"]),
            "hour": GaugeMetricFamily(
                "bulwark_vault_node_snapshots_last_hour",
                "Snapshots a node committed in the last sliding hour", labels=["node"]),
        }
        limits = [
            GaugeMetricFamily("bulwark_vault_node_stored_bytes_limit",
                              "[limits] node_stored_bytes (0: no quota)"),
            GaugeMetricFamily("bulwark_vault_node_uncommitted_bytes_limit",
                              "[limits] node_uncommitted_bytes (0: no quota)"),
            GaugeMetricFamily("bulwark_vault_node_snapshots_per_hour_limit",
                              "[limits] snapshots_per_hour (0: no limit)"),
        ]
        if source is not None:
            quotas, rate, now_ns = source
            for usage in quotas.usage():
                families["stored"].add_metric([usage.node], usage.stored_bytes)
                families["uncommitted"].add_metric([usage.node], usage.uncommitted_bytes)
            for node, count in sorted(rate.counts(now_ns()).items()):
                families["hour"].add_metric([node], count)
            values = (quotas.limits.node_stored_bytes, quotas.limits.node_uncommitted_bytes,
                      quotas.limits.snapshots_per_hour)
            for family, value in zip(limits, values, strict=True):
                family.add_metric([], value)
        yield from families.values()
        yield from limits


#: Registered into vaultd's metrics registry by vault.monitor; vault.rpc.server points it at
#: the quotas and commit rate it builds.
QUOTA_METRICS = QuotaCollector()
