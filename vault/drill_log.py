"""The drill log: every restore-drill report the vault was given, in its own SQLite file.

A drill report is evidence that a snapshot was restored and checked (docs/drills.md). The
log keeps the report bytes exactly as signed, the signature and the runner's public key, so
anyone can re-verify a record offline, plus what the vault itself knows: when it recorded
it and who (the authenticated caller). Records are append-only: there is no update and no
delete, and recording the same signed report twice returns the first record.

It lives beside the catalog (``drills.sqlite``) rather than in it: drills reference
snapshots by id but never take part in a snapshot's commit, retention or GC.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from bulwark.protos.contract import DRILL_RECORD_FIELDS
from bulwark.vault.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drills (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    recorded_ns  INTEGER NOT NULL,
    snapshot_id  TEXT NOT NULL,
    node         TEXT NOT NULL,
    passed       INTEGER NOT NULL,
    report       BLOB NOT NULL,
    signature    BLOB NOT NULL,
    public_key   BLOB NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_role TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_snapshot ON drills(snapshot_id);
CREATE INDEX IF NOT EXISTS drills_node ON drills(node);
"""

_COLUMNS = ", ".join(DRILL_RECORD_FIELDS)  # the DrillRecord message's fields, in order
_MARKS = ",".join("?" * len(DRILL_RECORD_FIELDS))


@dataclass(frozen=True)
class DrillEntry:
    id: str
    recorded_ns: int
    snapshot_id: str
    node: str
    passed: bool
    report: bytes
    signature: bytes
    public_key: bytes
    recorded_by: str
    recorded_role: str


def drill_id(report: bytes, signature: bytes) -> str:
    """A record's id: the first 16 bytes of SHA-256 over the signature and the report."""
    return hashlib.sha256(signature + report).hexdigest()[:32]


def _entry(row: tuple) -> DrillEntry:
    return DrillEntry(row[0], row[1], row[2], row[3], bool(row[4]), bytes(row[5]),
                      bytes(row[6]), bytes(row[7]), row[8], row[9])


class DrillLog:
    """Append-only store of drill records. Thread-safe (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"drill log {self.path}: cannot open: {exc}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, entry: DrillEntry) -> DrillEntry:
        """Store ``entry`` durably; if its id is already recorded, return the stored one."""
        with self._lock:
            try:
                self._db.execute(
                    f"INSERT OR IGNORE INTO drills ({_COLUMNS}) VALUES ({_MARKS})",
                    (entry.id, entry.recorded_ns, entry.snapshot_id, entry.node,
                     int(entry.passed), entry.report, entry.signature, entry.public_key,
                     entry.recorded_by, entry.recorded_role),
                )
                row = self._db.execute(
                    f"SELECT {_COLUMNS} FROM drills WHERE id = ?", (entry.id,)).fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"drill log {self.path}: cannot record: {exc}") from None
        return _entry(row)

    def list(self, snapshot_id: str = "", node: str = "") -> list[DrillEntry]:
        """Records, oldest first, filtered by snapshot id and/or node when given."""
        query = f"SELECT {_COLUMNS} FROM drills WHERE 1=1"
        params: list[str] = []
        if snapshot_id:
            query += " AND snapshot_id = ?"
            params.append(snapshot_id)
        if node:
            query += " AND node = ?"
            params.append(node)
        with self._lock:
            try:
                rows = self._db.execute(query + " ORDER BY seq", params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"drill log {self.path}: cannot read: {exc}") from None
        return [_entry(r) for r in rows]
