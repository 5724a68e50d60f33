"""Tags added to committed snapshots in the vault (``bulwark.v1.Tags``, ``vaultctl tag``).

A snapshot carries two kinds of tags. The node's are in its signed header (``snapshots.tags``):
they are part of what the node signed, so nobody changes or removes them. An operator's are
kept here, in ``snapshot_tags`` (migration ``snapshot-tags``, ``vault.catalog.schema``), with
who added them and when; every change is audited by the edge. Tag filters (``vault.
snapshot_query``) and ``forget --keep-tag`` (``vault.worm.forget``) match either kind
(``SnapshotRecord.all_tags``); listings show both, apart.

A tag is 1..255 bytes of UTF-8 without a comma (``--tag a,b`` separates tags with commas)
and without control characters.

Reads and writes go through a connection of this module's own to the catalog file (WAL:
readers never block the catalog's writers; a write waits for the catalog's, up to
``BUSY_SECONDS``). A snapshot's rows go with it when it is deleted (foreign key cascade).

A catalog with a ``mirror_tags(snapshot_id, added)`` method and a ``record_lock`` (the S3
store's ``BucketCatalog``) is told each snapshot's new added tags inside the transaction,
before it commits, under that lock: if the mirror fails, nothing changes.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.errors import InvalidRequest, NotFound, RetentionRefused, StorageError, short_id

MAX_TAG_BYTES = 255
BUSY_SECONDS = 10.0
_BATCH = 500  # ids per IN (...) query

AddedTag = tuple[str, int, str]  # (tag, added_ns, added_by)


def check_tag(tag: str) -> None:
    """InvalidRequest naming ``tag`` if it could not be a tag."""
    if not tag or len(tag.encode("utf-8", "surrogatepass")) > MAX_TAG_BYTES:
        raise InvalidRequest(f"tag {tag!r}: must be 1..{MAX_TAG_BYTES} bytes")
    if "," in tag or any(ord(c) < 0x20 or ord(c) == 0x7F for c in tag) or tag != tag.strip():
        raise InvalidRequest(
            f"tag {tag!r}: a comma, a control character or surrounding blanks")


class TagRefused(RetentionRefused):
    """Removing a tag the node signed: the signed header never changes."""


@dataclasses.dataclass(frozen=True)
class TagChange:
    """What one SetTags call changed (tags already there, or absent, are not listed)."""

    snapshot_id: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


class SnapshotTags:
    """The added tags of the catalog at ``path``. Thread-safe (one connection, one lock)."""

    def __init__(self, path: Path,
                 mirror: Callable[[str, Sequence[AddedTag]], None] | None = None,
                 guard: AbstractContextManager[Any] | None = None) -> None:
        self._mirror = mirror
        self._guard = guard if guard is not None else nullcontext()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_SECONDS)
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StorageError(f"open catalog {path} for tags: {exc}") from exc
        self.path = Path(path)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def added(self, snapshot_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The added tags of each of ``snapshot_ids`` that has any, sorted."""
        ids = list(dict.fromkeys(snapshot_ids))
        found: dict[str, list[str]] = {}
        with self._lock:
            for i in range(0, len(ids), _BATCH):
                batch = ids[i:i + _BATCH]
                rows = self._db.execute(
                    "SELECT snapshot_id, tag FROM snapshot_tags WHERE snapshot_id IN"
                    f" ({','.join('?' * len(batch))}) ORDER BY snapshot_id, tag", batch)
                for sid, tag in rows:
                    found.setdefault(sid, []).append(tag)
        return {sid: tuple(tags) for sid, tags in found.items()}

    def attach(self, records: Sequence[SnapshotRecord]) -> list[SnapshotRecord]:
        """``records`` with their ``added_tags`` filled in (one query per 500 records)."""
        added = self.added(r.id for r in records)
        return [dataclasses.replace(r, added_tags=added[r.id]) if r.id in added else r
                for r in records]

    def set_tags(self, snapshot_id: str, add: Sequence[str], remove: Sequence[str],
                 actor: str, now_ns: int) -> TagChange:
        """Add then remove tags of ``snapshot_id`` in one transaction; returns what changed.

        InvalidRequest for a bad tag or a tag both added and removed; NotFound for an
        unknown snapshot; TagRefused (and nothing changed) for removing a signed tag.
        Adding a tag the node signed changes nothing: it is already there, signed.
        """
        for tag in (*add, *remove):
            check_tag(tag)
        both = sorted(set(add) & set(remove))
        if both:
            raise InvalidRequest(f"tag {both[0]!r}: both added and removed")
        with self._guard, self._lock:
            try:
                return self._set(snapshot_id, add, remove, actor, now_ns)
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageError(f"catalog {self.path}: {exc}") from exc

    def _set(self, snapshot_id: str, add: Sequence[str], remove: Sequence[str], actor: str,
             now_ns: int) -> TagChange:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT tags FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
            if row is None:
                raise NotFound(f"snapshot {short_id(snapshot_id, 12)}: no such snapshot")
            signed = set(json.loads(row[0]))  # the signed tags (vault.catalog.db)
            refused = sorted(set(remove) & signed)
            if refused:
                raise TagRefused(
                    f"snapshot {short_id(snapshot_id, 12)}: tag {refused[0]!r} was signed by "
                    "the node and cannot be removed (only tags added in the vault can)")
            have = {t for (t,) in db.execute(
                "SELECT tag FROM snapshot_tags WHERE snapshot_id = ?", (snapshot_id,))}
            added = sorted(set(add) - have - signed)
            removed = sorted(set(remove) & have)
            db.executemany("INSERT INTO snapshot_tags VALUES (?, ?, ?, ?)",
                           [(snapshot_id, t, now_ns, actor) for t in added])
            db.executemany("DELETE FROM snapshot_tags WHERE snapshot_id = ? AND tag = ?",
                           [(snapshot_id, t) for t in removed])
            if self._mirror is not None and (added or removed):
                self._mirror(snapshot_id, self._rows(snapshot_id))
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return TagChange(snapshot_id, tuple(added), tuple(removed))


    def rows(self, snapshot_id: str) -> list[AddedTag]:
        """The added tags of ``snapshot_id`` with when and by whom, sorted by tag."""
        with self._lock:
            return self._rows(snapshot_id)

    def _rows(self, snapshot_id: str) -> list[AddedTag]:
        return [(t, ns, by) for t, ns, by in self._db.execute(
            "SELECT tag, added_ns, added_by FROM snapshot_tags WHERE snapshot_id = ?"
            " ORDER BY tag", (snapshot_id,))]

    def restore(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        """Insert ``(snapshot_id, tag, added_ns, added_by)`` rows as they were (a catalog
        rebuilt from the S3 bucket, ``vault.store.s3_records``), in one transaction."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR REPLACE INTO snapshot_tags VALUES (?, ?, ?, ?)",
                                     list(rows))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageError(f"catalog {self.path}: restore tags: {exc}") from exc


_OPEN: weakref.WeakKeyDictionary[Catalog, SnapshotTags] = weakref.WeakKeyDictionary()
_OPEN_LOCK = threading.Lock()


def tags_of(catalog: Catalog) -> SnapshotTags:
    """The one SnapshotTags of ``catalog`` (opened on first use, kept as long as it is)."""
    with _OPEN_LOCK:
        tags = _OPEN.get(catalog)
        if tags is None:
            tags = _OPEN[catalog] = SnapshotTags(
                catalog.path, getattr(catalog, "mirror_tags", None),
                getattr(catalog, "record_lock", None))
        return tags
