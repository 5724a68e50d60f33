"""The gRPC edge of ``bulwark.v1.Airgap``: an air-gap vault's status and manual window,
for its own operators (``vaultctl airgap status|sync --now``).

On a vault without ``[airgap]`` both calls are FAILED_PRECONDITION. ``SyncNow`` runs a
window in the calling thread and answers when it closes; it is audited with the caller.
"""

from __future__ import annotations

from prometheus_client import start_http_server

from bulwark.protos.bulwark.v1 import replication_pb2, replication_pb2_grpc
from bulwark.vault.airgap.metrics import Metrics
from bulwark.vault.airgap.pins import Pins
from bulwark.vault.airgap.runner import Runner
from bulwark.vault.airgap.schedule import Schedule
from bulwark.vault.airgap.state import State, WindowResult
from bulwark.vault.airgap.window import Windows
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.config import VaultConfig, parse_listen
from bulwark.vault.errors import ConfigError, RetentionRefused
from bulwark.vault.keys.registry import Registry
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.primary_client import connect
from bulwark.vault.rpc.status import edge
from bulwark.vault.store.base import ChunkStore
from bulwark.vault.worm.clock import Clock


class NotAirgap(RetentionRefused):
    """This vault has no ``[airgap]`` table (FAILED_PRECONDITION)."""


def result_pb(r: WindowResult) -> replication_pb2.WindowResult:
    return replication_pb2.WindowResult(
        trigger=r.trigger, opened_ns=r.opened_ns, closed_ns=r.closed_ns, outcome=r.outcome,
        snapshots=r.snapshots, chunks=r.chunks, bytes=r.bytes, lag_ns=r.lag_ns,
        error=r.error, pending=r.pending,
        refused=[replication_pb2.Refusal(snapshot_id=x.snapshot_id, node=x.node,
                                         reason=x.reason) for x in r.refused],
    )


class AirgapService(replication_pb2_grpc.AirgapServicer):
    def __init__(self, runner: Runner | None) -> None:
        self.runner = runner

    def _runner(self) -> Runner:
        if self.runner is None:
            raise NotAirgap("this vault is not an air-gap vault (no [airgap] in vault.toml)")
        return self.runner

    @edge
    def GetAirgapStatus(self, request, context):
        runner = self._runner()
        windows = runner.windows
        state = windows.state
        nxt = runner.next_open()
        status = replication_pb2.AirgapStatus(
            primary=windows.config.primary,
            next_window_ns=int(nxt.timestamp() * 1e9) if nxt else 0,
            cursor=replication_pb2.FeedCursor(time_ns=state.cursor.time_ns,
                                              id=state.cursor.id),
            lag_ns=state.last.lag_ns if state.last else 0,
            lag_limit_ns=windows.config.lag_limit_hours * 3600 * 1_000_000_000,
            last_success_ns=state.last_success_ns, pinned_nodes=windows.pins.count(),
            window_open=windows.is_open,
        )
        if state.last is not None:
            status.last.CopyFrom(result_pb(state.last))
        return status

    @edge
    def SyncNow(self, request, context):
        runner = self._runner()
        caller = caller_of(context)
        seconds = request.seconds or runner.schedule.first_duration.total_seconds()
        result = runner.windows.run("manual", seconds, actor=caller.name, role=caller.role)
        return result_pb(result)


def open_airgap(config: VaultConfig, store: ChunkStore, catalog: Catalog, clock: Clock,
                audit: AuditLog) -> Runner | None:
    """The window runner of an air-gap vault (None without ``[airgap]``); not yet started.

    Pins live in the vault's own key registry; the cursor in ``airgap.state`` next to the
    catalog; metrics on ``[airgap] metrics`` if set (served from here on).
    """
    ag = config.airgap
    if ag is None:
        return None
    registry = Registry(config.registry_path or config.catalog_path.parent / "keys.sqlite",
                        clock, config.enroll_file)
    metrics = Metrics()
    if ag.metrics:
        host, port = parse_listen(ag.metrics)
        try:
            start_http_server(port, host, registry=metrics.registry)
        except OSError as exc:
            raise ConfigError(f"{config.source}: airgap.metrics: cannot listen on "
                              f"{ag.metrics}: {exc.strerror or exc}") from None
    windows = Windows(ag, lambda: connect(ag), store, catalog, Pins(registry), audit, clock,
                      config.retention, State(config.catalog_path.parent / "airgap.state"),
                      metrics)
    return Runner(Schedule(ag.windows), windows)
