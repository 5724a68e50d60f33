"""An in-process primary for unit tests of the air-gap pull: a real catalog, store and key
registry read directly, no gRPC (tests/e2e/test_airgap.py runs the real thing over mTLS).
Blobs are format-v2 content addresses (the id is the BLAKE3 of the bytes)."""

from __future__ import annotations

from collections.abc import Iterator

import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bulwark.protos.bulwark.v1 import vault_pb2
from bulwark.protos.contract import SNAPSHOT_SIGNATURE_CONTEXT, chunk_ids_digest
from bulwark.vault.airgap.puller import FeedEntry, FeedInfo
from bulwark.vault.airgap.state import Cursor
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog, SnapshotRecord, snapshot_id
from bulwark.vault.errors import IntegrityError
from bulwark.vault.ingest.rules import Header, SignedHeader
from bulwark.vault.keys.registry import Registry
from bulwark.vault.store.memory import MemoryStore
from bulwark.vault.worm.retention import Retention
from tests.lib.clock import FakeClock


class Vault:
    """Catalog, store, registry and audit log of one vault in ``root``."""

    def __init__(self, root, clock) -> None:
        root.mkdir()
        self.clock = clock
        self.catalog = Catalog(root / "catalog.sqlite", clock)
        self.store = MemoryStore()
        self.registry = Registry(root / "keys.sqlite", clock)
        self.audit = AuditLog(root / "audit.sqlite", clock)


class InProcessPrimary:
    """``puller.Source`` reading a primary's catalog directly; ``damaged`` ids fail like a
    primary's GetChunks does (IntegrityError), ``served`` counts blobs sent."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.damaged: set[bytes] = set()
        self.served: list[bytes] = []

    def feed(self, after: Cursor) -> tuple[FeedInfo, Iterator[FeedEntry]]:
        key = None if after.empty else (after.time_ns, after.id)
        records = self.vault.catalog.snapshot_page(None, False, key, 1000)
        first = records[0].time_ns if records else 0
        info = FeedInfo(self.vault.clock.now_ns(), len(records), first)
        return info, (self._entry(r) for r in records)

    def _entry(self, rec: SnapshotRecord) -> FeedEntry:
        pb = vault_pb2.SnapshotHeader.FromString(rec.header)
        header = Header(pb.format_version, pb.node, pb.node_public_key, pb.chunk_count,
                        pb.chunk_ids_digest, (), (), 0, 0, pb.requested_retention_days)
        return FeedEntry(rec, SignedHeader(header, rec.header, rec.signature),
                         self.vault.registry.node_key(rec.node) or b"",
                         self.vault.catalog.snapshot_chunk_ids(rec.id))

    def get_chunks(self, ids):
        for cid in ids:
            if cid in self.damaged:
                raise IntegrityError(f"chunk {cid.hex()}: stored blob fails its hash")
            self.served.append(cid)
            data = self.vault.store.get(cid)
            yield cid, data, blake3.blake3(data).digest()


def backup(primary: Vault, key: Ed25519PrivateKey, node: str, blobs: list[bytes],
           clock: FakeClock) -> str:
    ids = [blake3.blake3(b).digest() for b in blobs]
    primary.store.put_many([(i, b, i) for i, b in zip(ids, blobs, strict=True)])
    primary.catalog.record_chunks([(i, len(b), i) for i, b in zip(ids, blobs, strict=True)])
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    primary.registry.enroll(node, public)
    raw = vault_pb2.SnapshotHeader(
        format_version=1, node=node, chunk_count=len(set(ids)),
        chunk_ids_digest=chunk_ids_digest(ids), node_public_key=public,
        requested_retention_days=400).SerializeToString()
    sig = key.sign(SNAPSHOT_SIGNATURE_CONTEXT + raw)
    t = clock.advance(seconds=60)
    rec = SnapshotRecord(snapshot_id(raw, sig, t), t, node, raw, sig, (), ("/d",), 1, 1,
                         len(set(ids)), Retention("governance", t + 10**12))
    primary.catalog.commit_snapshot(rec, ids)
    return rec.id


def close(*vaults: Vault) -> None:
    for v in vaults:
        v.catalog.close()
        v.registry.close()
        v.audit.close()
