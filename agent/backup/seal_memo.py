"""The node's seal memo: which blob id a chunk plaintext sealed to, so an unchanged chunk
inside a changed file is not compressed and encrypted again only to learn its id.

Since blob format v2 a chunk id is the hash of the sealed blob, so a node must seal a chunk
before it can ask the vault whether it holds it. A fine-tuned checkpoint or an appended
shard changes a few chunks of a large file; without the memo every other chunk of that file
would be sealed again. The memo maps (the chunk key's companion tag, the codec hint) to the
chunk id and the codec's facts (for the ransomware signals), one row per chunk this node
sealed, in ``seal-memo.sqlite`` next to the file cache.

Why it is safe: sealing is a pure function of the plaintext, the hint and the tenant key,
so a row is true forever once written; it is written only from a real seal on this node.
A row whose blob the vault no longer holds costs one seal again (the uploader re-seals
what FindMissing names missing and checks that the id matches the row; a mismatch is an
integrity error that names this file). The tag is the keyed BLAKE3 of the plaintext (the
v1 chunk id), so the memo reveals no more than the file cache beside it (which holds
chunk keys). Rows are never deleted by a backup; the memo is dropped whole when its
generation (blob format and facts layout) changes.

Thread-safe: the seal lanes call :meth:`recall` and :meth:`note` from their threads.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from pathlib import Path

from bulwark.agent.format.codec import TensorHint
from bulwark.agent.format.constants import BLOB_V2_VERSION
from bulwark.agent.format.facts import ChunkFacts

FILE_NAME = "seal-memo.sqlite"
#: Dropped whole when this changes: the blob format, or the facts' fields.
GENERATION = f"v{BLOB_V2_VERSION}:" + ",".join(f.name for f in dataclasses.fields(ChunkFacts))
#: Rows written per transaction (a crash loses at most these: they are re-learnt).
FLUSH_ROWS = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memo (
    tag BLOB NOT NULL,
    hint INTEGER NOT NULL,
    chunk_id BLOB NOT NULL,
    facts TEXT NOT NULL,
    PRIMARY KEY (tag, hint)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generation (value TEXT NOT NULL);
"""


def hint_code(hint: TensorHint | None) -> int:
    """0 for no hint, else a number unique to (width, phase)."""
    return 0 if hint is None else hint.width * 16 + hint.phase + 1


class SealMemo:
    """``recall(tag, hint)`` → (chunk id, facts) or None; ``note`` remembers a seal."""

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(cache_dir / FILE_NAME, check_same_thread=False,
                                   isolation_level=None)
        self._lock = threading.Lock()
        self._pending: dict[tuple[bytes, int], tuple[bytes, str]] = {}
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM generation").fetchone()
            if row is None or row[0] != GENERATION:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM memo")
                self._db.execute("DELETE FROM generation")
                self._db.execute("INSERT INTO generation VALUES (?)", (GENERATION,))
                self._db.execute("COMMIT")

    def recall(self, tag: bytes, hint: TensorHint | None
               ) -> tuple[bytes, ChunkFacts | None] | None:
        key = (bytes(tag), hint_code(hint))
        with self._lock:
            row = self._pending.get(key) or self._db.execute(
                "SELECT chunk_id, facts FROM memo WHERE tag = ? AND hint = ?", key).fetchone()
        if row is None:
            return None
        chunk_id, facts = row
        return bytes(chunk_id), (ChunkFacts(*map(int, facts.split(","))) if facts else None)

    def note(self, tag: bytes, hint: TensorHint | None, chunk_id: bytes,
             facts: ChunkFacts | None) -> None:
        text = ",".join(str(int(v)) for v in dataclasses.astuple(facts)) if facts else ""
        with self._lock:
            self._pending[(bytes(tag), hint_code(hint))] = (bytes(chunk_id), text)
            if len(self._pending) >= FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?, ?, ?)",
                                 [(*key, *row) for key, row in self._pending.items()])
            self._db.execute("COMMIT")
            self._pending = {}

    def close(self) -> None:
        with self._lock:
            try:
                self._flush()
            finally:
                self._db.close()
