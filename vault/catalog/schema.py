"""The catalog's SQLite schema and its migrations (``vault.catalog.db`` uses them).

Two mechanisms, oldest first:

- ``schema_version`` (1 or 2): the numbered schema of the first releases. A new file gets
  schema 2 at once; a version-1 file is migrated (its snapshots get governance retention
  of ``MIGRATED_RETENTION_DAYS`` from their commit time).
- ``MIGRATIONS``: named, append-only steps after schema 2, each applied once, in list order,
  in its own transaction, and recorded in ``catalog_migrations``. A step is never edited or
  removed once released: add a new one. Named (not numbered) so features developed side by
  side add steps without renumbering each other's.

A catalog that names a migration this vaultd does not know was written by a newer vaultd:
it is refused with a clear error rather than half understood (docs/operations.md).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bulwark.vault.errors import StorageError

SCHEMA_VERSION = 2
MIGRATED_RETENTION_DAYS = 30  # v1 snapshots had no retention: governance, commit time + 30 d

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE chunks (
    id BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    digest BLOB NOT NULL,
    stored_ns INTEGER NOT NULL
);
CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    node TEXT NOT NULL,
    header BLOB NOT NULL,
    signature BLOB NOT NULL,
    tags TEXT NOT NULL,
    paths TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    retention_mode TEXT NOT NULL DEFAULT 'governance',
    retain_until_ns INTEGER NOT NULL DEFAULT 0,
    legal_hold INTEGER NOT NULL DEFAULT 0,
    hold_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX snapshots_by_node_time ON snapshots (node, time_ns);
CREATE INDEX snapshots_by_time ON snapshots (time_ns);
CREATE TABLE snapshot_chunks (
    snapshot_id TEXT NOT NULL REFERENCES snapshots (id),
    chunk_id BLOB NOT NULL REFERENCES chunks (id),
    PRIMARY KEY (snapshot_id, chunk_id)
) WITHOUT ROWID;
CREATE INDEX snapshot_chunks_by_chunk ON snapshot_chunks (chunk_id);
"""

# Added by schema version 2 (also run, after the column additions, to migrate a v1 catalog).
_SCHEMA_V2 = """
CREATE TABLE chunk_locks (
    chunk_id BLOB PRIMARY KEY,
    locked_until_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE chunk_leases (
    chunk_id BLOB PRIMARY KEY,
    lease_until_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE damaged_chunks (
    chunk_id BLOB PRIMARY KEY,
    problem TEXT NOT NULL,
    found_ns INTEGER NOT NULL
) WITHOUT ROWID;
"""
_MIGRATE_V1 = f"""
ALTER TABLE snapshots ADD COLUMN retention_mode TEXT NOT NULL DEFAULT 'governance';
ALTER TABLE snapshots ADD COLUMN retain_until_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
UPDATE snapshots SET retain_until_ns = time_ns + {MIGRATED_RETENTION_DAYS} * 86400000000000;
{_SCHEMA_V2}
INSERT INTO chunk_locks SELECT sc.chunk_id, MAX(s.retain_until_ns)
    FROM snapshot_chunks sc JOIN snapshots s ON s.id = sc.snapshot_id GROUP BY sc.chunk_id;
UPDATE schema_version SET version = 2;
"""

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS catalog_migrations (
    name TEXT PRIMARY KEY,
    applied_ns INTEGER NOT NULL
) WITHOUT ROWID
"""

#: (name, SQL statements separated by ";"): append only, never edit a released step.
MIGRATIONS: list[tuple[str, str]] = [
    # issue 18: the ransomware-signal mark (vault.worm.signals.Mark as JSON; "" unmarked)
    ("snapshot-marks", """
ALTER TABLE snapshots ADD COLUMN suspicious INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN mark TEXT NOT NULL DEFAULT ''
"""),
    # issue 19: tags added in the vault (vault.catalog.tags), beside the ones the node signed; a
    # snapshot's rows go with it (ON DELETE CASCADE: the catalog enables foreign keys)
    ("snapshot-tags", """
CREATE TABLE snapshot_tags (
    snapshot_id TEXT NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    added_ns INTEGER NOT NULL,
    added_by TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, tag)
) WITHOUT ROWID;
CREATE INDEX snapshot_tags_by_tag ON snapshot_tags (tag)
"""),
    # issue 15: which caller first put each blob, for the per-node quotas (vault.ingest.quota);
    # a chunk's row goes with it (ON DELETE CASCADE when prune deletes the chunk)
    ("chunk-uploads", """
CREATE TABLE chunk_uploads (
    chunk_id BLOB PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX chunk_uploads_by_node ON chunk_uploads (node)
"""),
    # issue 20: upload leases live in memory (vault.ingest.leases); a restarted vaultd leases every
    # chunk for lease_hours instead, which covers whatever rows this drops
    ("leases-in-memory", """
DROP TABLE chunk_leases
"""),
    # issue 20: per node, the chunks its live snapshots reference and how many of them do, so
    # the signals' new-chunk share and GetChunks' node isolation are one indexed lookup per id
    # (not a walk over every snapshot sharing the chunk); kept by vault.catalog.db's commit and
    # snapshot deletion, backfilled here from snapshot_chunks
    ("node-chunks", """
CREATE TABLE node_chunks (
    node TEXT NOT NULL,
    chunk_id BLOB NOT NULL,
    refs INTEGER NOT NULL,
    PRIMARY KEY (node, chunk_id)
) WITHOUT ROWID;
INSERT INTO node_chunks SELECT s.node, sc.chunk_id, count(*)
    FROM snapshot_chunks sc JOIN snapshots s ON s.id = sc.snapshot_id
    GROUP BY s.node, sc.chunk_id
"""),
]


def _run(db: sqlite3.Connection, script: str) -> None:
    for stmt in script.split(";"):
        if stmt.strip():
            db.execute(stmt)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the catalog at ``path`` (open as ``db``, autocommit mode) to this release's
    schema. Raises StorageError for a catalog a newer vaultd wrote."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not exists:
        db.execute("BEGIN IMMEDIATE")
        _run(db, _SCHEMA + _SCHEMA_V2)
        db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")
    else:
        (version,) = db.execute("SELECT version FROM schema_version").fetchone()
        if version == 1:
            db.execute("BEGIN IMMEDIATE")
            _run(db, _MIGRATE_V1)
            db.execute("COMMIT")
        elif version != SCHEMA_VERSION:
            raise StorageError(
                f"catalog {path}: schema version {version}, this vaultd reads {SCHEMA_VERSION}"
            )
    db.execute(_MIGRATIONS_TABLE)
    applied = {name for (name,) in db.execute("SELECT name FROM catalog_migrations")}
    known = [name for name, _ in MIGRATIONS]
    unknown = sorted(applied - set(known))
    if unknown:
        raise StorageError(
            f"catalog {path}: written by a newer vaultd (migrations {', '.join(unknown)} are "
            "unknown to this one); upgrade vaultd, never downgrade a catalog"
        )
    for name, script in MIGRATIONS:
        if name in applied:
            continue
        db.execute("BEGIN IMMEDIATE")
        _run(db, script)
        db.execute("INSERT INTO catalog_migrations VALUES (?, ?)", (name, time.time_ns()))
        db.execute("COMMIT")
