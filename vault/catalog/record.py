"""A committed snapshot as the vault keeps it, its id, and how a catalog row maps to it.

Shared by the catalog (``vault.catalog.db``), the S3 records (``vault.store.s3_records``), the
air-gap copy and every servicer that returns snapshots; it holds no connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import blake3

from bulwark.vault.worm.retention import GOVERNANCE, Retention
from bulwark.vault.worm.signals import Mark, mark_from_json

BATCH = 500  # ids per IN (...) query; below SQLite's default variable limit
SNAPSHOT_ID_CONTEXT = b"bulwark-snapshot-id-v1"



@dataclass(frozen=True)
class SnapshotRecord:
    """A committed snapshot as the vault keeps it. ``header``/``signature`` are verbatim."""

    id: str
    time_ns: int
    node: str
    header: bytes
    signature: bytes
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    files: int
    bytes: int
    chunk_count: int
    retention: Retention = Retention(GOVERNANCE, 0)  # noqa: RUF009 - frozen, immutable
    mark: Mark = Mark()  # noqa: RUF009 - ransomware signals (vault.worm.signals), frozen
    added_tags: tuple[str, ...] = ()  # added in the vault, not signed (vault.catalog.tags attaches)

    @property
    def all_tags(self) -> frozenset[str]:
        """The signed tags and the added ones: what tag filters match."""
        return frozenset(self.tags) | frozenset(self.added_tags)


def snapshot_id(header: bytes, signature: bytes, time_ns: int) -> str:
    """The id the vault assigns: BLAKE3 over context, header, signature, ingest time (u64 LE)."""
    h = blake3.blake3(SNAPSHOT_ID_CONTEXT + header + signature + time_ns.to_bytes(8, "little"))
    return h.hexdigest()


def batches(items: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def record_of_row(row: sqlite3.Row) -> SnapshotRecord:
    return SnapshotRecord(
        id=row["id"],
        time_ns=row["time_ns"],
        node=row["node"],
        header=bytes(row["header"]),
        signature=bytes(row["signature"]),
        tags=tuple(json.loads(row["tags"])),
        paths=tuple(json.loads(row["paths"])),
        files=row["files"],
        bytes=row["bytes"],
        chunk_count=row["chunk_count"],
        retention=Retention(
            row["retention_mode"], row["retain_until_ns"], bool(row["legal_hold"]),
            row["hold_reason"],
        ),
        mark=mark_from_json(row["mark"]),
    )
