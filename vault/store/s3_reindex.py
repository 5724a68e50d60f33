"""``vaultd --reindex``: rebuild a stopped vault's catalog from its S3 bucket alone (issue 17).

The bucket is the source of truth (``vault.store.s3_records``); the local ``catalog.sqlite``
is a copy of what the bucket holds. A reindex makes a new copy from the bucket and puts it in
place of the old one, which is kept beside it (``catalog.sqlite.before-reindex-<UTC time>``),
never deleted. The audit log is rebuilt too when the local one does not extend the bucket's
chain (missing, behind it, or different from it); a local log that holds every entry of the
bucket, and perhaps newer ones a failed mirror has not written yet, is kept as it is.

Why a one-shot with vaultd stopped, not an online RPC: every servicer shares one catalog
connection, and the upload leases, quota ledger and compliance clock floor are derived
from it in memory. A rebuild reads the whole bucket (minutes at 100,000 chunks), and a
catalog swapped under live uploads would either miss commits made during the rebuild or
need every writer stopped for its whole length: the vault would be unavailable either way,
with far more ways to lose a lock. A catalog that needs rebuilding is also one the vault
should not serve from meanwhile.

Order, so that nothing is half done: the state folder's ``LOCK`` is taken (a running vaultd
holds it: ``StorageError``), the bucket checked, the new catalog and audit log written to
``*.reindex`` files; only when both are complete are the old files moved aside and the new
ones renamed into place (renames within one folder). A failure before that removes the
``*.reindex`` files and leaves the vault as it was.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from bulwark.vault.audit.log import AuditLog
from bulwark.vault.config import VaultConfig
from bulwark.vault.errors import ConfigError
from bulwark.vault.store.fs import take_lock
from bulwark.vault.store.s3 import S3ChunkStore
from bulwark.vault.store.s3_open import claim_bucket, open_store
from bulwark.vault.store.s3_records import rebuild_audit, rebuild_catalog
from bulwark.vault.worm.clock import SystemClock

SUFFIXES = ("", "-wal", "-shm")  # a SQLite database and its WAL files move together


@dataclass
class ReindexReport:
    """What ``reindex`` did (``vaultd --reindex --json`` prints it)."""

    catalog: str
    snapshots: int = 0
    chunks: int = 0
    hashed: int = 0  # chunks without an index row, whose digest was computed from the blob
    skipped: list[str] = field(default_factory=list)  # snapshot records not restored: why
    previous_catalog: str = ""  # where the old catalog went ("" if there was none)
    audit: str = ""  # "rebuilt" or "kept"
    audit_entries: int = 0  # entries in the bucket's chain
    previous_audit: str = ""
    requests: int = 0
    duration_s: float = 0.0


def reindex(config: VaultConfig,
            then: Callable[[ReindexReport], None] | None = None) -> ReindexReport:
    """Rebuild the catalog (and the audit log where needed) of the S3 vault ``config`` names;
    ``then(report)`` runs after the swap, still under the state folder's lock (vaultd
    audits the reindex there).

    ``ConfigError`` unless ``[store] type = "s3"``; ``StorageError`` if a vaultd holds the
    state folder or serves the bucket (``vault.store.s3_owner``), the bucket fails its
    checks, or the bucket cannot be read."""
    if config.s3 is None:
        raise ConfigError(f"{config.source}: store: --reindex rebuilds the catalog from an S3 "
                          'bucket ([store] type = "s3"); the filesystem store keeps no '
                          "records to rebuild it from")
    state = config.catalog_path.parent
    state.mkdir(parents=True, exist_ok=True)
    lock = take_lock(state)
    try:
        store = open_store(config)
        try:
            claim_bucket(store, config)  # no vaultd may serve the bucket meanwhile
            report = rebuild_in_place(store, config.catalog_path, state / "audit.sqlite")
        finally:
            store.close()
        if then is not None:
            then(report)
        return report
    finally:
        os.close(lock)


def rebuild_in_place(store: S3ChunkStore, catalog_path: Path,
                     audit_path: Path) -> ReindexReport:
    """The steps of ``reindex`` once the lock is held (module docstring, "Order")."""
    started = time.monotonic()
    before = store.requests
    new_catalog, new_audit = _temp(catalog_path), _temp(audit_path)
    for path in (new_catalog, new_audit):
        _remove(path)  # left by a reindex that failed half-way
    try:
        rebuilt = rebuild_catalog(store, new_catalog)
        entries = rebuild_audit(store, new_audit, None)
        keep_audit = _extends(audit_path, new_audit)
    except BaseException:
        for path in (new_catalog, new_audit):
            _remove(path)
        raise
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    report = ReindexReport(str(catalog_path), rebuilt.snapshots, rebuilt.chunks,
                           rebuilt.hashed, rebuilt.skipped, audit_entries=entries)
    report.previous_catalog = _move_aside(catalog_path, stamp)
    os.replace(new_catalog, catalog_path)
    if keep_audit:
        report.audit = "kept"
        _remove(new_audit)
    else:
        report.audit = "rebuilt"
        report.previous_audit = _move_aside(audit_path, stamp)
        os.replace(new_audit, audit_path)
        _remove_file(Path(f"{new_audit}.reserve"))
    report.requests = store.requests - before
    report.duration_s = round(time.monotonic() - started, 2)
    return report


def _extends(local: Path, bucket_copy: Path) -> bool:
    """Whether the audit log at ``local`` holds every entry of ``bucket_copy``, byte for
    byte, at the same sequence numbers (it may hold newer ones)."""
    if not local.exists():
        return False
    mine, theirs = AuditLog(local, SystemClock()), AuditLog(bucket_copy, SystemClock())
    try:
        bucket = list(theirs.entries())
        return list(islice(mine.entries(), len(bucket))) == bucket
    finally:
        mine.close()
        theirs.close()


def _temp(path: Path) -> Path:
    return path.with_name(path.name + ".reindex")


def _move_aside(path: Path, stamp: str) -> str:
    """Rename ``path`` and its WAL files to ``<path>.before-reindex-<stamp>``; "" if none."""
    if not path.exists():
        return ""
    aside = path.with_name(f"{path.name}.before-reindex-{stamp}")
    for suffix in SUFFIXES:
        if Path(f"{path}{suffix}").exists():
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return str(aside)


def _remove(path: Path) -> None:
    for suffix in (*SUFFIXES, ".reserve"):
        _remove_file(Path(f"{path}{suffix}"))


def _remove_file(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
