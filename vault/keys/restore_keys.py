"""Restore key announcements (FORMAT.md "Restore key rotation"), in ``keys.sqlite``.

Table::

    restore_keys(generation INTEGER PK, announcement BLOB(40), signature BLOB(64),
                 published_ns, published_by)

The vault keeps what operators publish and serves it to every role; it cannot check the
signature (the restore key authority's public key is in the tenant's key files, which the
vault never sees), so the nodes check it. What the vault does guarantee: one announcement
per generation, never replaced (a second, different one for the same generation is refused,
so whoever holds an operator certificate cannot swap a published key), and at most
:data:`MAX_GENERATIONS` of them, so a caller cannot grow the list without bound.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from bulwark.protos.contract import SIGNATURE_SIZE, restore_key_generation
from bulwark.vault.errors import InvalidRequest, LimitExceeded, PermissionDenied, StorageError
from bulwark.vault.worm.clock import Clock, SystemClock

#: Rotations a vault keeps announcements for (one a day for ten years fits many times over).
MAX_GENERATIONS = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS restore_keys (
    generation INTEGER PRIMARY KEY, announcement BLOB NOT NULL, signature BLOB NOT NULL,
    published_ns INTEGER NOT NULL, published_by TEXT NOT NULL);
"""


@dataclass(frozen=True)
class RestoreKeyRecord:
    generation: int
    announcement: bytes
    signature: bytes
    published_ns: int
    published_by: str


class RestoreKeyLog:
    """Thread-safe: one connection behind a lock, each method one short transaction."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"open restore key log {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def publish(self, announcement: bytes, signature: bytes, by: str) -> RestoreKeyRecord:
        """Keep ``announcement``; the same bytes again return the first record.

        InvalidRequest for a malformed announcement or signature, PermissionDenied for a
        generation that already holds another announcement, LimitExceeded past
        :data:`MAX_GENERATIONS`."""
        generation = restore_key_generation(announcement)
        if generation is None:
            raise InvalidRequest("announcement: not a restore key announcement (40 bytes, "
                                 "magic BWRK, generation >= 1)")
        if len(signature) != SIGNATURE_SIZE:
            raise InvalidRequest(f"signature: {len(signature)} bytes, expected {SIGNATURE_SIZE}")
        with self._lock:
            try:
                row = self._row(generation)
                if row is None:
                    (count,) = self._db.execute("SELECT count(*) FROM restore_keys").fetchone()
                    if count >= MAX_GENERATIONS:
                        raise LimitExceeded(f"restore keys: {count} generations kept, the "
                                            f"most a vault keeps is {MAX_GENERATIONS}")
                    self._db.execute("INSERT INTO restore_keys VALUES (?, ?, ?, ?, ?)",
                                     (generation, announcement, signature,
                                      self._clock.now_ns(), by))
                    row = self._row(generation)
            except sqlite3.Error as exc:
                raise StorageError(f"restore key log {self.path}: {exc}") from exc
        assert row is not None
        if (row.announcement, row.signature) != (announcement, signature):
            raise PermissionDenied(
                f"restore key generation {generation} was already published by "
                f"{row.published_by}; a generation's key never changes (rotate again for a "
                "new generation)")
        return row

    def list(self) -> list[RestoreKeyRecord]:
        """Every announcement, oldest generation first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM restore_keys ORDER BY generation").fetchall()
        return [RestoreKeyRecord(r[0], bytes(r[1]), bytes(r[2]), r[3], r[4]) for r in rows]

    def _row(self, generation: int) -> RestoreKeyRecord | None:
        r = self._db.execute("SELECT * FROM restore_keys WHERE generation = ?",
                             (generation,)).fetchone()
        return None if r is None else RestoreKeyRecord(r[0], bytes(r[1]), bytes(r[2]), r[3], r[4])
