"""vaultd's way into a vault on the S3 store (issue 17): the store, the bucket's claim, the
catalog (rebuilt from the bucket when missing or behind it) and the audit log, as
``vault.rpc.server`` opens them. The records themselves are ``vault.store.s3_records``'s."""

from __future__ import annotations

import logging
import os
import time

from bulwark.vault.config import VaultConfig
from bulwark.vault.store.fs import take_lock
from bulwark.vault.store.s3 import HOUR_NS, S3ChunkStore
from bulwark.vault.store.s3_records import (
    BucketAuditLog,
    BucketCatalog,
    BucketRecords,
    rebuild_audit,
    rebuild_catalog,
)
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.retention import DAY_NS

log = logging.getLogger(__name__)


def open_store(config: VaultConfig, check: bool = True) -> S3ChunkStore:
    """The S3 store ``config`` names, in the vault's retention mode, new blobs locked for the
    upload lease (``[retention] lease_hours``)."""
    assert config.s3 is not None
    return S3ChunkStore(config.s3, mode=config.retention.mode,
                        put_lock_ns=config.retention.lease_hours * HOUR_NS,
                        lock_step_ns=config.s3.lock_step_days * DAY_NS, check=check)


def open_bucket(config: VaultConfig) -> tuple[S3ChunkStore, BucketCatalog]:
    """Store and catalog of a vault on the S3 store (``vault.rpc.server.open_backends``).

    The local state folder's ``LOCK`` is taken first and held until ``store.close()``
    (``StorageError`` if another vaultd, or ``vaultd --reindex``, holds it). The bucket is
    checked (``StorageError`` saying what to fix) and claimed (``vault.store.s3_owner``:
    ``StorageError`` naming the holder if another vaultd serves it; heartbeats until
    ``store.close()``). A missing catalog is rebuilt from the bucket before it opens (a new
    or lost vault host)."""
    config.catalog_path.parent.mkdir(parents=True, exist_ok=True)
    lock = take_lock(config.catalog_path.parent)
    try:
        store = open_store(config)
    except BaseException:
        os.close(lock)
        raise
    store.state_lock = lock
    try:
        if claim_bucket(store, config) and config.catalog_path.exists():
            from bulwark.vault.store.s3_reindex import rebuild_in_place

            report = rebuild_in_place(store, config.catalog_path,
                                      config.catalog_path.parent / "audit.sqlite")
            log.warning("s3://%s was served from another state folder since this one: catalog "
                        "rebuilt from the bucket (%d snapshot(s), %d chunk(s); audit log %s; "
                        "the old kept as %s)", store.bucket, report.snapshots, report.chunks,
                        report.audit, report.previous_catalog)
        if not config.catalog_path.exists():
            started = time.monotonic()
            report = rebuild_catalog(store, config.catalog_path)
            log.info("catalog %s rebuilt from s3://%s in %.1f s: %d snapshot(s), %d chunk(s)%s",
                     config.catalog_path, store.bucket, time.monotonic() - started,
                     report.snapshots, report.chunks,
                     "".join(f"; skipped {s}" for s in report.skipped))
        records = BucketRecords(store, audit_days=max(1, config.retention.default_days))
        return store, BucketCatalog(config.catalog_path, store, records)
    except BaseException:
        store.close()
        raise


def claim_bucket(store: S3ChunkStore, config: VaultConfig) -> bool:
    """Claim ``store``'s bucket for this process and start its heartbeats (released by
    ``store.close()``); ``StorageError`` naming the holder if another vaultd serves it.
    True if another state folder (or host) served the bucket last: the local catalog and
    audit log may be behind the bucket."""
    from bulwark.vault.store.s3_owner import BucketOwner

    assert config.s3 is not None
    state = config.catalog_path.parent
    owner = BucketOwner(store, state, config.s3.heartbeat_seconds)
    previous = owner.claim(take_over=config.s3.take_over)
    store.owner = owner
    owner.start()
    return previous is not None and not previous.served_from(state)


def open_bucket_audit(config: VaultConfig, clock: Clock) -> BucketAuditLog:
    """The audit log of a vault on the S3 store (``vault.rpc.server.open_audit``); rebuilt
    from the bucket first if the local file is missing."""
    store = open_store(config, check=False)
    path = config.catalog_path.parent / "audit.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        count = rebuild_audit(store, path, clock)
        if count:
            log.info("audit log %s rebuilt from s3://%s: %d entries", path, store.bucket, count)
    return BucketAuditLog(path, clock, BucketRecords(store, max(1, config.retention.default_days)),
                          reserve=config.audit_reserve)
