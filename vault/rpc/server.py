"""Assemble the gRPC server: the Vault service, health checking and reflection.

``build_server`` binds but does not start; the caller starts and stops it. The transport
credential choice lives in ``server_credentials`` alone: mTLS (client certificates required,
signed by ``[tls] ca``) unless vault.toml says ``[server] insecure = true``, which is logged
as a WARNING at every start. Every call passes ``vault.rpc.authz.AuthzInterceptor`` first.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bulwark.protos.bulwark.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    check_pb2,
    check_pb2_grpc,
    drills_pb2,
    drills_pb2_grpc,
    forget_pb2,
    forget_pb2_grpc,
    key_admin_pb2,
    key_admin_pb2_grpc,
    keys_pb2,
    keys_pb2_grpc,
    quota_pb2,
    quota_pb2_grpc,
    replication_pb2,
    replication_pb2_grpc,
    restore_keys_pb2,
    restore_keys_pb2_grpc,
    retention_pb2,
    retention_pb2_grpc,
    signals_pb2_grpc,
    snapshots_pb2,
    snapshots_pb2_grpc,
    stats_pb2,
    stats_pb2_grpc,
    tags_pb2,
    tags_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from bulwark.protos.contract import KEEPALIVE_MIN_PING_MS
from bulwark.vault.airgap.runner import Runner
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.config import VaultConfig
from bulwark.vault.errors import ConfigError
from bulwark.vault.ingest.limits import CallLimiter, CommitRate
from bulwark.vault.ingest.quota import Quotas
from bulwark.vault.ingest.quota_metrics import QUOTA_METRICS
from bulwark.vault.ingest.upload_guard import UploadGuard
from bulwark.vault.keys.registry import Registry
from bulwark.vault.keys.restore_keys import RestoreKeyLog
from bulwark.vault.rpc.admission import AdmissionInterceptor
from bulwark.vault.rpc.airgap_service import AirgapService
from bulwark.vault.rpc.authz import AuthzInterceptor
from bulwark.vault.rpc.check_service import CheckService
from bulwark.vault.rpc.drills_service import DrillsService
from bulwark.vault.rpc.enrollment import Enrollment, add_fleet, reloading_credentials
from bulwark.vault.rpc.forget_service import ForgetService
from bulwark.vault.rpc.key_admin_service import KeyAdminService
from bulwark.vault.rpc.keys_service import KeysService
from bulwark.vault.rpc.quota_service import QuotaService
from bulwark.vault.rpc.replication_service import ReplicationService
from bulwark.vault.rpc.restore_key_service import RestoreKeyService
from bulwark.vault.rpc.retention_service import AuditService, RetentionService
from bulwark.vault.rpc.revocation import Revocations
from bulwark.vault.rpc.signals_service import SERVICE_NAME as SIGNALS_SERVICE_NAME
from bulwark.vault.rpc.signals_service import SignalsService
from bulwark.vault.rpc.snapshots_service import SnapshotsService
from bulwark.vault.rpc.stats_service import StatsService
from bulwark.vault.rpc.tags_service import TagsService
from bulwark.vault.rpc.vault_service import VaultService
from bulwark.vault.store import marker
from bulwark.vault.store.base import ChunkStore
from bulwark.vault.store.fs import FilesystemStore
from bulwark.vault.store.s3_drills import open_drill_log
from bulwark.vault.store.s3_open import open_bucket, open_bucket_audit
from bulwark.vault.worm.clock import Clock, ComplianceClock, SystemClock
from bulwark.vault.worm.prune import CatalogLocks

SERVICE_NAME = vault_pb2.DESCRIPTOR.services_by_name["Vault"].full_name  # "bulwark.v1.Vault"
HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
KEYS_SERVICE_NAME = keys_pb2.DESCRIPTOR.services_by_name["Keys"].full_name
DRILLS_SERVICE_NAME = drills_pb2.DESCRIPTOR.services_by_name["Drills"].full_name
RETENTION_SERVICE_NAME = retention_pb2.DESCRIPTOR.services_by_name["Retention"].full_name
AUDIT_SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["Audit"].full_name
SNAPSHOTS_SERVICE_NAME = snapshots_pb2.DESCRIPTOR.services_by_name["Snapshots"].full_name
STATS_SERVICE_NAME = stats_pb2.DESCRIPTOR.services_by_name["Stats"].full_name
TAGS_SERVICE_NAME = tags_pb2.DESCRIPTOR.services_by_name["Tags"].full_name
KEY_ADMIN_SERVICE_NAME = key_admin_pb2.DESCRIPTOR.services_by_name["KeyAdmin"].full_name
FORGET_SERVICE_NAME = forget_pb2.DESCRIPTOR.services_by_name["Forget"].full_name
RESTORE_KEYS_SERVICE_NAME = restore_keys_pb2.DESCRIPTOR.services_by_name["RestoreKeys"].full_name
#: vault.catalog.check and vault.ingest.quota (issue 15)
CHECK_QUOTA_SERVICE_NAMES = (check_pb2.DESCRIPTOR.services_by_name["Check"].full_name,
                             quota_pb2.DESCRIPTOR.services_by_name["Quotas"].full_name)
REPLICATION_SERVICE_NAMES = tuple(
    s.full_name for s in replication_pb2.DESCRIPTOR.services_by_name.values())
INSECURE_WARNING = (
    "INSECURE: [server] insecure = true: plaintext gRPC, no client identities, every caller "
    "is treated as role 'operator'. Never use this outside a test bench."
)
log = logging.getLogger(__name__)
#: Keepalive enforcement: the vault pings an idle connection every minute and drops it when
#: the ping goes unanswered for 20 s (a cut network frees its calls); a client pinging more
#: often than every 10 s without data (KEEPALIVE_MIN_PING_MS) is sent GOAWAY after two
#: strikes; the agent pings every 20 s (agent.client.channel).
KEEPALIVE = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MIN_PING_MS),
    ("grpc.http2.max_ping_strikes", 2),
]


def open_backends(config: VaultConfig, init_store: bool = False) -> tuple[FilesystemStore,
                                                                         Catalog]:
    """Open the filesystem store and the catalog the config names.

    The store must carry a marker (``vault.store.marker.check_store``: ``ConfigError``
    naming the file and path otherwise; ``StorageError`` for a newer format) unless
    ``init_store`` creates it in a new or empty folder. The store's lock is held from here
    on (``StorageError`` if another vaultd holds it); the catalog is created if missing.
    """
    if config.s3 is not None:  # issue 17: blobs and records in an Object Lock bucket
        return open_bucket(config)  # type: ignore[return-value]
    try:
        if init_store:
            marker.init_store(config.store_path)
        marker.check_store(config.store_path)
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    store = FilesystemStore(config.store_path)
    try:
        config.catalog_path.parent.mkdir(parents=True, exist_ok=True)
        return store, Catalog(config.catalog_path)
    except BaseException:
        store.close()
        raise


def server_credentials(config: VaultConfig) -> grpc.ServerCredentials | None:
    """mTLS credentials for the listening port; ``None`` (plaintext) only when insecure."""
    if config.insecure:
        log.warning(INSECURE_WARNING)
        return None
    assert config.tls is not None  # load_config guarantees it when not insecure
    try:
        ca = config.tls.ca.read_bytes()
        cert = config.tls.cert.read_bytes()
        key = config.tls.key.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{config.source}: tls: cannot read {exc.filename}: {exc.strerror}"
        ) from None
    return reloading_credentials(config.tls.cert, config.tls.key, ca, (key, cert))


def open_audit(config: VaultConfig, clock: Clock) -> AuditLog:
    """The vault's one audit log (``audit.sqlite`` next to the catalog)."""
    if config.s3 is not None:  # issue 17: every entry mirrored to the bucket
        return open_bucket_audit(config, clock)
    config.catalog_path.parent.mkdir(parents=True, exist_ok=True)
    return AuditLog(config.catalog_path.parent / "audit.sqlite", clock,
                    reserve=config.audit_reserve)


def open_clock(config: VaultConfig, catalog: Catalog) -> tuple[ComplianceClock, list]:
    """Start the compliance clock (``clock.state`` next to the catalog); returns it and its
    start events, for the caller to audit once the audit log is open (docs/worm.md)."""
    clock = ComplianceClock(config.catalog_path.parent / "clock.state",
                            floor_ns=catalog.newest_time_ns())
    return clock, clock.start()


def build_server(
    config: VaultConfig,
    store: ChunkStore,
    catalog: Catalog,
    clock: Clock | None = None,
    audit: AuditLog | None = None,
    enrollment: Enrollment | None = None,
    airgap: Runner | None = None,
) -> tuple[grpc.Server, int]:
    """A bound, not yet started server and the port it bound (resolves port 0).

    Messages larger than ``config.max_message_bytes`` either way fail with
    RESOURCE_EXHAUSTED. Raises ``ConfigError`` naming ``server.listen`` if the bind fails.
    Every vault serves the replica role's feed (``Replication``); ``airgap`` (an air-gap
    vault's window runner, ``vault.rpc.airgap_service.open_airgap``) backs ``Airgap``.
    """
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),  # a second vaultd on the same port must fail, not share
        *KEEPALIVE,
    ]
    clock = clock or SystemClock()
    audit = audit or open_audit(config, clock)
    registry = Registry(config.registry_path or config.catalog_path.parent / "keys.sqlite",
                        clock, config.enroll_file)
    credentials = server_credentials(config)
    revocations = Revocations(config.source, config.tls) if credentials is not None else None
    interceptor = AuthzInterceptor(
        revocations.is_revoked if revocations else (lambda serial: False), audit,
        is_retired=registry.is_retired,
    )
    limits = config.limits  # vault.ingest.limits: per-caller calls, a reserve, idle streams
    admission = AdmissionInterceptor(CallLimiter(limits), limits.idle_stream_seconds, audit)
    server = grpc.server(
        ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="vault-rpc"),
        options=options, interceptors=[interceptor, admission],
    )
    guard = UploadGuard()  # uploads x prune (docs/worm.md, concurrency table)
    store.set_lock_oracle(CatalogLocks(catalog, clock))
    # Upload leases live in memory: the previous process's are gone, so every chunk is
    # leased for lease_hours from this start (vault.ingest.leases, docs/worm.md "Leases").
    catalog.hold_all_leases(clock.now_ns() + config.retention.lease_ns)
    quotas = Quotas(catalog.path, limits)  # [limits] node_*_bytes (vault.ingest.quota)
    rate = CommitRate(limits.snapshots_per_hour)
    QUOTA_METRICS.watch(quotas, rate, clock.now_ns)  # served by vault.monitor
    vault_pb2_grpc.add_VaultServicer_to_server(
        VaultService(store, catalog, clock, registry, policy=config.retention, guard=guard,
                     audit=audit, rate=rate, signals=config.signals, quotas=quotas),
        server,
    )
    quota_pb2_grpc.add_QuotasServicer_to_server(QuotaService(quotas), server)
    check_pb2_grpc.add_CheckServicer_to_server(CheckService(store, catalog), server)
    retention_pb2_grpc.add_RetentionServicer_to_server(
        RetentionService(store, catalog, clock, audit, guard,
                         expire_snapshots=not config.forget), server
    )
    audit_pb2_grpc.add_AuditServicer_to_server(AuditService(audit), server)
    keys_pb2_grpc.add_KeysServicer_to_server(KeysService(registry, audit), server)
    add_fleet(server, enrollment, audit)  # tokens and renewals (needs [enroll] to sign)
    drills_pb2_grpc.add_DrillsServicer_to_server(
        DrillsService(open_drill_log(config), clock), server
    )
    snapshots_pb2_grpc.add_SnapshotsServicer_to_server(SnapshotsService(catalog), server)
    signals_pb2_grpc.add_SignalsServicer_to_server(
        SignalsService(catalog, clock, audit, config.signals), server)
    stats_pb2_grpc.add_StatsServicer_to_server(StatsService(catalog), server)
    tags_pb2_grpc.add_TagsServicer_to_server(TagsService(catalog, clock, audit), server)
    key_admin_pb2_grpc.add_KeyAdminServicer_to_server(
        KeyAdminService(registry, catalog, audit), server)
    restore_keys_pb2_grpc.add_RestoreKeysServicer_to_server(RestoreKeyService(
        RestoreKeyLog(registry.path, clock), audit), server)  # the same keys.sqlite
    forget_pb2_grpc.add_ForgetServicer_to_server(ForgetService(catalog, clock, audit), server)
    replication_pb2_grpc.add_ReplicationServicer_to_server(
        ReplicationService(catalog, registry, clock), server)
    replication_pb2_grpc.add_AirgapServicer_to_server(AirgapService(airgap), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME, KEYS_SERVICE_NAME, DRILLS_SERVICE_NAME,
                 RETENTION_SERVICE_NAME, AUDIT_SERVICE_NAME, SNAPSHOTS_SERVICE_NAME,
                 FORGET_SERVICE_NAME, STATS_SERVICE_NAME, SIGNALS_SERVICE_NAME,
                 TAGS_SERVICE_NAME, KEY_ADMIN_SERVICE_NAME, RESTORE_KEYS_SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    for name in (*REPLICATION_SERVICE_NAMES, *CHECK_QUOTA_SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, KEYS_SERVICE_NAME, DRILLS_SERVICE_NAME, RETENTION_SERVICE_NAME,
         AUDIT_SERVICE_NAME, SNAPSHOTS_SERVICE_NAME, FORGET_SERVICE_NAME, STATS_SERVICE_NAME,
         SIGNALS_SERVICE_NAME, TAGS_SERVICE_NAME, KEY_ADMIN_SERVICE_NAME, HEALTH_SERVICE_NAME,
         RESTORE_KEYS_SERVICE_NAME,
         *REPLICATION_SERVICE_NAMES, *CHECK_QUOTA_SERVICE_NAMES, reflection.SERVICE_NAME),
        server
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(config.listen)
        else:
            port = server.add_secure_port(config.listen, credentials)
    except RuntimeError as exc:
        raise ConfigError(
            f"{config.source}: server.listen: cannot bind {config.listen}: {exc}"
        ) from None
    if port == 0:
        raise ConfigError(f"{config.source}: server.listen: cannot bind {config.listen}")
    return server, port
