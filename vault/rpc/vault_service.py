"""The gRPC edge: ``bulwark.v1.Vault`` on top of the store and the catalog.

Translates only: messages become ``vault.ingest.rules`` types, the rules live there, errors map to
gRPC statuses through ``vault.rpc.status.edge`` (which audits every refusal). Limits: at
most ``IDS_PER_MESSAGE`` ids in a FindMissingRequest (``protos/contract.py``); every id and
digest is 32 bytes; every message at most ``[server] max_message_bytes``; a CommitSnapshot
stream carries at most the header's ``chunk_count`` distinct ids; a node commits at most
``[limits] snapshots_per_hour`` snapshots an hour (vault.ingest.limits); a PutChunks message stays
within the caller's ``[limits] node_stored_bytes`` and ``node_uncommitted_bytes``
(vault.ingest.quota).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import nullcontext

from google.protobuf.message import DecodeError

from bulwark.protos.bulwark.v1 import signals_pb2, vault_pb2, vault_pb2_grpc
from bulwark.protos.contract import (
    IDS_PER_MESSAGE,
    PPM,
    RETENTION_MODES,
    SIGNAL_SCORING_MEASURES,
)
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog, SnapshotRecord, snapshot_id
from bulwark.vault.catalog.tags import tags_of
from bulwark.vault.errors import IntegrityError, InvalidRequest, NotFound, PermissionDenied
from bulwark.vault.ingest import rules as ingest
from bulwark.vault.ingest.limits import CommitRate
from bulwark.vault.ingest.quota import Quotas
from bulwark.vault.ingest.upload_guard import UploadGuard
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge, status_for  # noqa: F401 - status_for re-exported
from bulwark.vault.store.base import ChunkStore, blob_digest
from bulwark.vault.worm import ledger
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.quarantine import marked, protect_clean
from bulwark.vault.worm.retention import RetentionPolicy, retention_at_commit
from bulwark.vault.worm.signals import Mark, SignalPolicy, judge

log = logging.getLogger(__name__)


def parse_header(signed: vault_pb2.SignedHeader) -> ingest.SignedHeader:
    """Decode a signed header and check its shape (the signature itself is checked later)."""
    try:
        pb = vault_pb2.SnapshotHeader.FromString(signed.header)
    except DecodeError as exc:
        raise InvalidRequest(f"SignedHeader.header: not a SnapshotHeader: {exc}") from None
    header = ingest.Header(
        format_version=pb.format_version, node=pb.node, node_public_key=pb.node_public_key,
        chunk_count=pb.chunk_count, chunk_ids_digest=pb.chunk_ids_digest, tags=tuple(pb.tags),
        paths=tuple(pb.paths), files=pb.files, bytes=pb.bytes,
        requested_retention_days=pb.requested_retention_days,
        signal_measures={m: getattr(pb.signals, f"{m}_ppm") for m in SIGNAL_SCORING_MEASURES}
        if pb.HasField("signals") else None,
        ransom_note_dirs=pb.signals.ransom_note_dirs,
    )
    parsed = ingest.SignedHeader(header, bytes(signed.header), bytes(signed.signature))
    ingest.check_header_shape(parsed)
    return parsed


def snapshot_pb(rec: SnapshotRecord) -> vault_pb2.Snapshot:
    return vault_pb2.Snapshot(
        id=rec.id,
        time_ns=rec.time_ns,
        signed=vault_pb2.SignedHeader(header=rec.header, signature=rec.signature),
        node=rec.node,
        tags=rec.tags,
        paths=rec.paths,
        files=rec.files,
        bytes=rec.bytes,
        chunk_count=rec.chunk_count,
        retention=vault_pb2.SnapshotRetention(
            mode=RETENTION_MODES.get(rec.retention.mode, 0),
            retain_until_ns=rec.retention.retain_until_ns,
            legal_hold=rec.retention.legal_hold,
        ),
        mark=mark_pb(rec.mark),
        added_tags=rec.added_tags,
    )


def mark_pb(mark: Mark) -> signals_pb2.SnapshotMark:
    return signals_pb2.SnapshotMark(
        suspicious=mark.suspicious, score_ppm=mark.score_ppm, reasons=mark.reasons,
        set_by=mark.set_by, note=mark.note, set_ns=mark.set_ns,
        new_chunks_ppm=mark.new_chunks_ppm)


class VaultService(vault_pb2_grpc.VaultServicer):
    """``bulwark.v1.Vault``. Thread-safe: store and catalog serialize what they must."""

    def __init__(self, store: ChunkStore, catalog: Catalog, clock: Clock, registry=None,
                 policy: RetentionPolicy | None = None,
                 guard: UploadGuard | None = None, audit: AuditLog | None = None,
                 rate: CommitRate | None = None,
                 signals: SignalPolicy | None = None, quotas: Quotas | None = None) -> None:
        self.store = store
        self.quotas = quotas  # [limits] node_*_bytes, charged per PutChunks message
        self.signals = signals or SignalPolicy()  # [signals] in vault.toml
        # Every refusal (status.edge) and every commit, with the retention it sets, before
        # the catalog (vault.worm.ledger); without an audit log (unit tests) neither is recorded.
        self.audit = audit
        self.rate = rate or CommitRate(0)  # [limits] snapshots_per_hour
        self.catalog = catalog
        self.clock = clock
        self.registry = registry  # vault.keys.registry.Registry: enrolled node signing keys
        self.policy = policy or RetentionPolicy()  # [retention] in vault.toml
        # Held per PutChunks message and per prune batch, so prune never deletes a chunk an
        # upload is recording (docs/worm.md, concurrency table).
        self.guard = guard or UploadGuard()

    def _lease_until(self) -> int:
        """Chunks reported present or put now stay safe from prune until then."""
        return self.clock.now_ns() + self.policy.lease_ns

    def _own_node(self, context, requested: str) -> str | None:
        return ingest.node_filter(caller_of(context), requested)

    @edge
    def FindMissing(self, request_iterator, context):
        for req in request_iterator:
            ids = list(req.chunk_ids)
            ingest.check_ids(ids, "FindMissingRequest.chunk_ids", IDS_PER_MESSAGE)
            missing = self.catalog.missing_chunks(ids, lease_until_ns=self._lease_until())
            yield vault_pb2.FindMissingResponse(missing=missing)

    @edge
    def PutChunks(self, request_iterator, context):
        """Per message: verify every blob, make new ones durable, then record them.

        A bad blob, or one over the caller's quota (vault.ingest.quota), refuses its whole message
        (nothing of it stored); earlier messages of the stream stay stored and recorded.
        """
        stored = present = stored_bytes = 0
        uploader = caller_of(context).name
        for req in request_iterator:
            items = [(b.chunk_id, b.data, b.digest) for b in req.blobs]
            del req  # the parsed message holds a second copy of every blob
            ingest.check_content_addresses(items)
            with self.guard.upload(), self._charge(uploader, items):
                results = self.store.put_many(items)
                rows = [(cid, len(data), digest) for cid, data, digest in items]
                self.catalog.record_chunks(
                    ingest.rows_for_catalog(self.store, self.catalog, rows, results),
                    lease_until_ns=self._lease_until(), uploader=uploader)
            stored += sum(results)
            present += len(results) - sum(results)
            stored_bytes += sum(
                len(d) for (_, d, _), new in zip(items, results, strict=True) if new)
        return vault_pb2.PutChunksResponse(
            stored=stored, already_present=present, stored_bytes=stored_bytes
        )

    def _charge(self, uploader: str, items: list[tuple[bytes, bytes, bytes]]):
        """Charge the blobs of ``items`` the vault lacks to ``uploader``'s quotas for the
        ``with`` body (vault.ingest.quota); a no-op context without quotas."""
        if self.quotas is None or not self.quotas.enabled:
            return nullcontext()
        missing = set(self.catalog.missing_chunks(list({cid for cid, _, _ in items})))
        sizes = {cid: len(data) for cid, data, _ in items if cid in missing}
        return self.quotas.charge(uploader, list(sizes.values()))

    @edge
    def CommitSnapshot(self, request_iterator, context):
        messages = iter(request_iterator)
        first = next(messages, None)
        if first is None or first.WhichOneof("part") != "header":
            what = "empty stream" if first is None else "first message has no header"
            raise InvalidRequest(f"CommitSnapshot: {what}; send the SignedHeader first")
        signed = parse_header(first.header)
        header = signed.header
        enrolled = self.registry.node_key(header.node) if self.registry is not None else None
        caller = caller_of(context)
        ingest.check_signer(caller, signed, enrolled)
        ids = ingest.collect_commit_ids(header, self._id_batches(messages))
        time_ns = self.clock.now_ns()
        self.rate.admit(header.node, time_ns)
        record = SnapshotRecord(
            id=snapshot_id(signed.raw, signed.signature, time_ns),
            time_ns=time_ns,
            node=header.node,
            header=signed.raw,
            signature=signed.signature,
            tags=header.tags,
            paths=header.paths,
            files=header.files,
            bytes=header.bytes,
            chunk_count=len(ids),
            retention=retention_at_commit(
                self.policy, time_ns, header.requested_retention_days
            ),
            mark=judge(header.signal_measures, header.ransom_note_dirs,
                       self.catalog.new_chunk_count(header.node, ids) * PPM // max(len(ids), 1),
                       self.signals, time_ns),
        )
        if self.audit is not None:  # durable before the commit: a commit is never unaudited
            self.audit.append(caller.name, caller.role, ledger.COMMIT, ledger.target(record.id),
                              "allowed", f"node {record.node}, {len(ids)} chunks "
                              + ledger.mark(record.retention.retain_until_ns,
                                            record.retention.mode))
        if record.mark.suspicious:
            marked(self.audit, self.catalog, self.signals, record, caller, self.clock.now_ns())
        self.catalog.commit_snapshot(record, ids)
        log.info("snapshot %s committed: node %s, %d chunks", record.id, record.node, len(ids))
        if record.mark.suspicious:
            protect_clean(self.audit, self.catalog, self.signals, record, caller,
                          self.clock.now_ns())
        return vault_pb2.CommitSnapshotResponse(snapshot=snapshot_pb(record))

    @staticmethod
    def _id_batches(messages) -> Iterator[list[bytes]]:
        for n, req in enumerate(messages, start=2):
            if req.WhichOneof("part") != "chunks":
                raise InvalidRequest(f"CommitSnapshot message {n}: expected chunk ids")
            yield list(req.chunks.chunk_ids)

    @edge
    def ListSnapshots(self, request, context):
        records = self.catalog.list_snapshots(node=self._own_node(context, request.node))
        records = tags_of(self.catalog).attach(records)
        return vault_pb2.ListSnapshotsResponse(snapshots=[snapshot_pb(r) for r in records])

    @edge
    def GetSnapshot(self, request, context):
        node = self._own_node(context, request.node)
        record = self.catalog.resolve(request.ref, node=node)
        return snapshot_pb(tags_of(self.catalog).attach([record])[0])

    @edge
    def GetChunks(self, request, context) -> Iterator[vault_pb2.Blob]:
        """Checks every id is held before streaming; re-hashes each blob as it is read."""
        ids = list(request.chunk_ids)
        ingest.check_ids(ids, "GetChunksRequest.chunk_ids")
        own = self._own_node(context, "")
        if own is not None:
            # Same answer whether the chunk is absent or someone else's: no existence oracle.
            mine = self.catalog.chunks_of_node(own, ids)
            foreign = next((c for c in ids if c not in mine), None)
            if foreign is not None:
                raise PermissionDenied(
                    f"chunk {foreign.hex()}: not referenced by any snapshot of node {own!r}"
                )
        missing = self.catalog.missing_chunks(ids)
        if missing:
            raise NotFound(f"chunk {missing[0].hex()}: not held by the vault")
        for cid in ids:
            digest = self.catalog.chunk_digest(cid)
            try:
                data = self.store.get(cid)
            except NotFound:
                raise IntegrityError(
                    f"chunk {cid.hex()}: recorded in the catalog but its blob is gone"
                ) from None
            computed = blob_digest(data)
            if computed != digest:
                raise IntegrityError(
                    f"chunk {cid.hex()}: stored blob fails its hash "
                    f"(recorded {digest.hex()[:16]}…, computed {computed.hex()[:16]}…)"
                )
            yield vault_pb2.Blob(chunk_id=cid, data=data, digest=digest)
