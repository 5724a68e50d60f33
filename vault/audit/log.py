"""The tamper-evident audit log: an append-only BLAKE3 hash chain (FORMAT.md "Audit log").

Every retention change, legal hold, delete, prune, scrub and refusal is appended here, allowed
or refused. An entry is::

    record    = canonical JSON (sorted keys, no spaces, UTF-8) of
                {"action", "actor", "detail", "outcome", "role", "seq", "target",
                 "time_ns", "wall_ns"}
    prev_hash = hash of entry seq-1 (32 zero bytes for seq 1)
    hash      = BLAKE3-256(prev_hash || record)

On a full disk the log gives back the space it keeps in reserve (``vault.audit.reserve``) and
retries, so refusals are still recorded; an append that still fails raises, and the caller
does not do what it could not audit (fail closed).

Storage: a SQLite file of its own (``audit.sqlite`` next to the catalog), WAL journal with
``synchronous=FULL``; ``append`` returns only after its transaction is durable. It is kept
apart from the catalog so that no catalog operation (a prune transaction, a migration) can
rewrite it, and so that the file can be copied and checked on its own.

What the chain proves: changing, inserting or deleting any entry breaks every later hash, which
``verify_chain`` finds offline (it recomputes, it does not trust the stored hashes). Cutting off
the newest entries is detectable only against a head hash recorded elsewhere (``vaultctl audit
verify`` prints it for that purpose).
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulwark.protos.contract import AUDIT_GENESIS, AUDIT_RECORD_FIELDS, audit_chain_hash
from bulwark.protos.contract import audit_record as canonical
from bulwark.vault.audit.reserve import ReserveSettings, SpaceReserve
from bulwark.vault.errors import StorageError
from bulwark.vault.worm.clock import Clock

HASH_SIZE = len(AUDIT_GENESIS)
GENESIS = AUDIT_GENESIS
OUTCOMES = ("allowed", "refused", "error")
FIELDS = AUDIT_RECORD_FIELDS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    record BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
)
"""
# Entries by target, newest first (vault.worm.ledger looks up a snapshot's retention here). The
# expression is over the hashed record itself, so the index cannot say what the record does not.
_TARGET = "json_extract(CAST(record AS TEXT), '$.target')"
_TARGET_INDEX = f"CREATE INDEX IF NOT EXISTS audit_target ON audit({_TARGET}, seq)"


def _entry(seq, record, prev_hash, hash_) -> AuditEntry:
    """A stored row as an entry. A record stored as TEXT (not as this log writes it) is
    taken as its UTF-8 bytes, so the chain check names that entry instead of the whole
    read failing; any other type becomes its repr, which no hash matches."""
    if isinstance(record, str):
        record = record.encode("utf-8", "surrogateescape")
    elif not isinstance(record, bytes | bytearray | memoryview):
        record = repr(record).encode()
    return AuditEntry(int(seq), bytes(record), _blob(prev_hash), _blob(hash_))


def _blob(value) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value.encode()
    return repr(value).encode()


chain_hash = audit_chain_hash  # BLAKE3-256(prev_hash || record), protos.contract


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain, exactly as stored and as sent over ``ReadAudit``."""

    seq: int
    record: bytes
    prev_hash: bytes
    hash: bytes

    @property
    def fields(self) -> dict[str, Any]:
        """The decoded record (``{}`` if it is not a JSON object)."""
        try:
            value = json.loads(self.record)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def to_json(self) -> dict[str, Any]:
        """The export line of ``vaultctl audit --json`` (hashes in hex, record verbatim)."""
        return {
            "seq": self.seq,
            "record": self.record.decode("utf-8", "replace"),
            "prev_hash": self.prev_hash.hex(),
            "hash": self.hash.hex(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AuditEntry:
        """Inverse of ``to_json``; ``ValueError`` if a key is missing or malformed."""
        try:
            return cls(
                seq=int(value["seq"]),
                record=str(value["record"]).encode(),
                prev_hash=bytes.fromhex(value["prev_hash"]),
                hash=bytes.fromhex(value["hash"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # seq: Infinity
            raise ValueError(f"not an audit entry: {exc}") from None


def broken_reason(entry: AuditEntry, prev: AuditEntry | None) -> str | None:
    """Why ``entry`` does not follow ``prev`` (``None`` for the first entry read), or ``None``.

    A first entry with seq 1 must start from ``GENESIS``; a first entry with a higher seq (a
    partial read) is taken as the anchor for its ``prev_hash``.
    """
    if prev is not None and entry.seq != prev.seq + 1:
        return f"seq {entry.seq} follows seq {prev.seq}"
    if prev is None and entry.seq == 1 and entry.prev_hash != GENESIS:
        return "seq 1 does not start from 32 zero bytes"
    if prev is not None and entry.prev_hash != prev.hash:
        return "prev_hash is not the hash of the previous entry"
    if chain_hash(entry.prev_hash, entry.record) != entry.hash:
        return "hash does not match BLAKE3(prev_hash || record)"
    fields = entry.fields
    if set(fields) != set(FIELDS) or canonical(fields) != entry.record:
        return "record is not the canonical JSON of an audit entry"
    if fields["seq"] != entry.seq:
        return f"record says seq {fields['seq']}"
    return None


def verify_chain(entries: Iterable[AuditEntry]) -> int | None:
    """The seq of the first broken entry, or ``None`` if the chain holds (pure; recomputes)."""
    prev: AuditEntry | None = None
    for entry in entries:
        if broken_reason(entry, prev) is not None:
            return entry.seq
        prev = entry
    return None


class AuditLog:
    """The audit chain in the SQLite file ``path`` (created if new). Thread-safe.

    ``clock`` stamps ``time_ns`` (the compliance clock in vaultd); ``wall`` stamps ``wall_ns``
    (the host's wall clock, for comparison only); ``reserve`` sizes the space kept back for
    a full disk (``[audit]`` of vault.toml).
    """

    def __init__(
        self, path: Path, clock: Clock, wall: Callable[[], int] = time.time_ns,
        reserve: ReserveSettings = ReserveSettings(),  # noqa: B008 - frozen, immutable
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            self._db.execute(_TARGET_INDEX)
        except sqlite3.Error as exc:
            raise StorageError(f"open audit log {self.path}: {exc}") from exc
        self._reserve = SpaceReserve(self.path.with_name(self.path.name + ".reserve"),
                                     reserve.size, reserve.retry_s)
        self._reserve.ensure()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(
        self, actor: str, role: str, action: str, target: str, outcome: str, detail: str = ""
    ) -> AuditEntry:
        """Append one entry; durable (fsynced) before it returns.

        ``outcome`` is ``allowed``, ``refused`` or ``error``. Raises ``StorageError`` if the
        entry cannot be written: callers must then not perform the action they audit.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {outcome!r}")
        try:
            entry = self._append(actor, role, action, target, outcome, detail)
        except StorageError as exc:
            if not (exc.disk_full and self._reserve.release()):
                raise
            entry = self._append(actor, role, action, target, outcome, detail)
        self._reserve.ensure()
        return entry

    def _append(self, actor: str, role: str, action: str, target: str, outcome: str,
                detail: str) -> AuditEntry:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    row = self._db.execute(
                        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                    seq, prev_hash = (row[0] + 1, bytes(row[1])) if row else (1, GENESIS)
                    record = canonical({
                        "seq": seq,
                        "time_ns": self._clock.now_ns(),
                        "wall_ns": self._wall(),
                        "actor": actor,
                        "role": role,
                        "action": action,
                        "target": target,
                        "outcome": outcome,
                        "detail": detail,
                    })
                    entry = AuditEntry(seq, record, prev_hash, chain_hash(prev_hash, record))
                    self._db.execute(
                        "INSERT INTO audit VALUES (?, ?, ?, ?)",
                        (entry.seq, entry.record, entry.prev_hash, entry.hash),
                    )
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                full = (getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL
                        or "disk is full" in str(exc))
                raise StorageError(f"append to audit log {self.path}: {exc}",
                                   errno.ENOSPC if full else None) from exc
        return entry

    def entries(self, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries with ``seq >= from_seq``, oldest first (read in pages; safe while appending)."""
        page = 1000
        next_seq = max(1, from_seq)
        for _ in range(1 << 40):  # bounded: every page advances next_seq
            with self._lock:
                try:
                    rows = self._db.execute(
                        "SELECT seq, record, prev_hash, hash FROM audit WHERE seq >= ?"
                        " ORDER BY seq LIMIT ?",
                        (next_seq, page),
                    ).fetchall()
                except sqlite3.Error as exc:
                    raise StorageError(f"read audit log {self.path}: {exc}") from exc
            for row in rows:
                yield _entry(*row)
            if len(rows) < page:
                return
            next_seq = rows[-1][0] + 1

    def head(self) -> AuditEntry | None:
        """The newest entry, or ``None`` if the log is empty."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, record, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return _entry(*row) if row else None

    def latest(self, target: str, actions: tuple[str, ...]) -> AuditEntry | None:
        """The newest entry about ``target`` whose action is one of ``actions`` (indexed)."""
        marks = ",".join("?" * len(actions))
        with self._lock:
            try:
                rows = self._db.execute(
                    f"SELECT seq, record, prev_hash, hash FROM audit WHERE {_TARGET} = ?"
                    f" AND json_extract(CAST(record AS TEXT), '$.action') IN ({marks})"
                    " ORDER BY seq DESC LIMIT 1", (target, *actions),
                ).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"read audit log {self.path}: {exc}") from exc
        return _entry(*rows[0]) if rows else None
