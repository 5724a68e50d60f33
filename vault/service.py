"""The gRPC edge: ``bulwark.v1.Vault`` on top of the store and the catalog.

This module and ``vault.server`` are the only vault modules that touch ``*_pb2`` types.
Domain code raises ``vault.errors``; ``status_for`` maps them to gRPC status codes, once:

    NotFound        -> NOT_FOUND            InvalidRequest -> INVALID_ARGUMENT
    IntegrityError  -> DATA_LOSS            MissingChunks  -> FAILED_PRECONDITION
    StorageError    -> RESOURCE_EXHAUSTED (disk full), else INTERNAL
    PermissionDenied -> PERMISSION_DENIED   Unauthenticated -> UNAUTHENTICATED
    RetentionRefused -> FAILED_PRECONDITION (RoleRefused is a PermissionDenied)

Limits: at most ``MAX_IDS_PER_MESSAGE`` ids in a FindMissingRequest (the contract's limit);
every id and digest is 32 bytes. ChunkIdBatch and GetChunksRequest are bounded only by the
server's message size cap.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import blake3
import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from protos.bulwark.v1 import vault_pb2, vault_pb2_grpc
from vault.catalog import Catalog, SnapshotRecord, snapshot_id
from vault.clock import Clock
from vault.errors import (
    IntegrityError,
    InvalidRequest,
    MissingChunks,
    NotFound,
    PermissionDenied,
    RetentionRefused,
    StorageError,
    Unauthenticated,
    VaultError,
)
from vault.identity import caller_of
from vault.retention import MODE_CODES, RetentionPolicy, retention_at_commit
from vault.store.base import ID_SIZE, ChunkStore, blob_digest
from vault.upload_guard import UploadGuard

log = logging.getLogger(__name__)

MAX_IDS_PER_MESSAGE = 4096
HEADER_FORMAT_VERSION = 1
SIGNATURE_SIZE = 64  # Ed25519
PUBLIC_KEY_SIZE = 32  # Ed25519
SIGNATURE_CONTEXT = b"bulwark-snapshot-v1\x00"  # FORMAT.md "Header signing" (agent.format)

_STATUS: list[tuple[type[VaultError], grpc.StatusCode]] = [
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (IntegrityError, grpc.StatusCode.DATA_LOSS),
    (MissingChunks, grpc.StatusCode.FAILED_PRECONDITION),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (RetentionRefused, grpc.StatusCode.FAILED_PRECONDITION),
]


def status_for(exc: VaultError) -> grpc.StatusCode:
    """The gRPC status code for a vault error (the one mapping in the vault)."""
    if isinstance(exc, StorageError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED if exc.disk_full else grpc.StatusCode.INTERNAL
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def _abort(context: grpc.ServicerContext, method: str, exc: Exception) -> None:
    if not context.is_active():
        log.info("%s: cancelled by the client", method)
        context.abort(grpc.StatusCode.CANCELLED, f"{method}: cancelled")
    if isinstance(exc, VaultError):
        code = status_for(exc)
        log.log(logging.ERROR if code == grpc.StatusCode.INTERNAL else logging.INFO,
                "%s: %s: %s", method, code.name, exc)
        context.abort(code, str(exc))
    log.exception("%s: unexpected error", method)
    context.abort(grpc.StatusCode.INTERNAL, f"{method}: internal error: {type(exc).__name__}")


def edge(method: Callable) -> Callable:
    """Turn exceptions raised by an RPC method into gRPC statuses (generators included)."""
    name = method.__name__
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as exc:
                _abort(context, name, exc)

        return stream

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as exc:
            _abort(context, name, exc)

    return unary


def check_ids(ids: Sequence[bytes], field: str, limit: int | None = None) -> None:
    """Raise ``InvalidRequest`` for more than ``limit`` ids or an id that is not 32 bytes."""
    if limit is not None and len(ids) > limit:
        raise InvalidRequest(f"{field}: {len(ids)} ids in one message, at most {limit}")
    for i, cid in enumerate(ids):
        if len(cid) != ID_SIZE:
            raise InvalidRequest(f"{field}[{i}]: {len(cid)} bytes, expected {ID_SIZE}")


def parse_header(signed: vault_pb2.SignedHeader) -> vault_pb2.SnapshotHeader:
    """Decode and shape-check a signed header (the signature itself is not verified yet)."""
    try:
        header = vault_pb2.SnapshotHeader.FromString(signed.header)
    except DecodeError as exc:
        raise InvalidRequest(f"SignedHeader.header: not a SnapshotHeader: {exc}") from None
    if header.format_version != HEADER_FORMAT_VERSION:
        raise InvalidRequest(
            f"SnapshotHeader.format_version: {header.format_version}, "
            f"this vault accepts {HEADER_FORMAT_VERSION}"
        )
    if not header.node:
        raise InvalidRequest("SnapshotHeader.node: empty")
    if len(header.chunk_ids_digest) != 32:
        raise InvalidRequest(
            f"SnapshotHeader.chunk_ids_digest: {len(header.chunk_ids_digest)} bytes, expected 32"
        )
    if len(header.node_public_key) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(
            f"SnapshotHeader.node_public_key: {len(header.node_public_key)} bytes, "
            f"expected {PUBLIC_KEY_SIZE}"
        )
    if len(signed.signature) != SIGNATURE_SIZE:
        raise InvalidRequest(
            f"SignedHeader.signature: {len(signed.signature)} bytes, expected {SIGNATURE_SIZE}"
        )
    return header


def chunk_ids_digest(ids: Iterable[bytes]) -> bytes:
    """BLAKE3-256 of the sorted distinct ids, concatenated (SnapshotHeader.chunk_ids_digest)."""
    return blake3.blake3(b"".join(sorted(set(ids)))).digest()


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
            mode=MODE_CODES.get(rec.retention.mode, 0),
            retain_until_ns=rec.retention.retain_until_ns,
            legal_hold=rec.retention.legal_hold,
        ),
    )


class VaultService(vault_pb2_grpc.VaultServicer):
    """``bulwark.v1.Vault``. Thread-safe: store and catalog serialize what they must."""

    def __init__(self, store: ChunkStore, catalog: Catalog, clock: Clock, registry=None,
                 policy: RetentionPolicy | None = None,
                 guard: UploadGuard | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.registry = registry  # vault.registry.Registry: enrolled node signing keys
        self.policy = policy or RetentionPolicy()  # [retention] in vault.toml
        # Held per PutChunks message and per prune batch, so prune never deletes a chunk an
        # upload is recording (docs/worm.md, concurrency table).
        self.guard = guard or UploadGuard()

    def _lease_until(self) -> int:
        """Chunks reported present or put now stay safe from prune until then."""
        return self.clock.now_ns() + self.policy.lease_hours * 3_600_000_000_000

    # Node isolation (issue #4): a caller with role "node" commits only as itself, lists,
    # resolves and reads only its own snapshots. FindMissing/PutChunks stay tenant-wide so
    # nodes of a tenant still share chunks (ids are keyed; equality is all they reveal).

    def _own_node(self, context, requested: str) -> str | None:
        """The node filter to apply: the caller's own name for role node, else ``requested``."""
        caller = caller_of(context)
        if caller.role != "node":
            return requested or None
        if requested and requested != caller.name:
            raise PermissionDenied(
                f"node {caller.name!r} may read only its own snapshots, not {requested!r}'s"
            )
        return caller.name

    def _check_signer(self, context, header, signed) -> None:
        """The header is signed by the enrolled key of ``header.node``; a node commits only
        as itself."""
        caller = caller_of(context)
        if caller.role == "node" and header.node != caller.name:
            raise PermissionDenied(
                f"node {caller.name!r} may not commit a snapshot for node {header.node!r}"
            )
        enrolled = self.registry.node_key(header.node) if self.registry is not None else None
        if enrolled is None:
            raise PermissionDenied(
                f"node {header.node!r} is not enrolled: enroll its signing key first "
                "(vaultctl pki issue --role node, or vaultctl keys enroll)"
            )
        if header.node_public_key != enrolled:
            raise PermissionDenied(
                f"SnapshotHeader.node_public_key is not the key enrolled for node {header.node!r}"
            )
        try:
            Ed25519PublicKey.from_public_bytes(enrolled).verify(
                signed.signature, SIGNATURE_CONTEXT + signed.header
            )
        except InvalidSignature:
            raise InvalidRequest(
                f"SignedHeader.signature: does not verify with node {header.node!r}'s key"
            ) from None

    @edge
    def FindMissing(self, request_iterator, context):
        for req in request_iterator:
            ids = list(req.chunk_ids)
            check_ids(ids, "FindMissingRequest.chunk_ids", MAX_IDS_PER_MESSAGE)
            missing = self.catalog.missing_chunks(ids, lease_until_ns=self._lease_until())
            yield vault_pb2.FindMissingResponse(missing=missing)

    @edge
    def PutChunks(self, request_iterator, context):
        """Per message: verify every blob, make new ones durable, then record them.

        A bad blob refuses its whole message (nothing of it stored); earlier messages of the
        stream stay stored and recorded.
        """
        stored = present = stored_bytes = 0
        for req in request_iterator:
            items = [(b.chunk_id, b.data, b.digest) for b in req.blobs]
            del req  # the parsed message holds a second copy of every blob
            with self.guard.upload():
                results = self.store.put_many(items)
                rows = [(cid, len(data), digest) for cid, data, digest in items]
                self.catalog.record_chunks(self._fix_orphans(rows, results),
                                           lease_until_ns=self._lease_until())
            stored += sum(results)
            present += len(results) - sum(results)
            stored_bytes += sum(
                len(d) for (_, d, _), new in zip(items, results, strict=True) if new)
        return vault_pb2.PutChunksResponse(
            stored=stored, already_present=present, stored_bytes=stored_bytes
        )

    def _fix_orphans(self, rows: list[tuple[bytes, int, bytes]], results: list[bool]):
        """Rows for blobs the store already held but the catalog lacks (left by a crash
        between store and catalog) describe the stored blob, not the one just sent."""
        old = [row[0] for row, new in zip(rows, results, strict=True) if not new]
        orphans = set(self.catalog.missing_chunks(old)) if old else set()
        for cid, size, digest in rows:
            if cid in orphans:
                data = self.store.get(cid)
                size, digest = len(data), blob_digest(data)
            yield cid, size, digest

    @edge
    def CommitSnapshot(self, request_iterator, context):
        messages = iter(request_iterator)
        first = next(messages, None)
        if first is None or first.WhichOneof("part") != "header":
            what = "empty stream" if first is None else "first message has no header"
            raise InvalidRequest(f"CommitSnapshot: {what}; send the SignedHeader first")
        signed = first.header
        header = parse_header(signed)
        self._check_signer(context, header, signed)
        ids: set[bytes] = set()
        for n, req in enumerate(messages, start=2):
            if req.WhichOneof("part") != "chunks":
                raise InvalidRequest(f"CommitSnapshot message {n}: expected chunk ids")
            batch = list(req.chunks.chunk_ids)
            check_ids(batch, f"CommitSnapshot message {n}: ChunkIdBatch.chunk_ids")
            ids.update(batch)
        if len(ids) != header.chunk_count:
            raise InvalidRequest(
                f"CommitSnapshot: header says chunk_count {header.chunk_count}, "
                f"stream carried {len(ids)} distinct ids"
            )
        if chunk_ids_digest(ids) != header.chunk_ids_digest:
            raise InvalidRequest("CommitSnapshot: chunk ids do not match header chunk_ids_digest")
        time_ns = self.clock.now_ns()
        record = SnapshotRecord(
            id=snapshot_id(signed.header, signed.signature, time_ns),
            time_ns=time_ns,
            node=header.node,
            header=signed.header,
            signature=signed.signature,
            tags=tuple(header.tags),
            paths=tuple(header.paths),
            files=header.files,
            bytes=header.bytes,
            chunk_count=len(ids),
            retention=retention_at_commit(
                self.policy, time_ns, header.requested_retention_days
            ),
        )
        self.catalog.commit_snapshot(record, ids)
        log.info("snapshot %s committed: node %s, %d chunks", record.id, record.node, len(ids))
        return vault_pb2.CommitSnapshotResponse(snapshot=snapshot_pb(record))

    @edge
    def ListSnapshots(self, request, context):
        records = self.catalog.list_snapshots(node=self._own_node(context, request.node))
        return vault_pb2.ListSnapshotsResponse(snapshots=[snapshot_pb(r) for r in records])

    @edge
    def GetSnapshot(self, request, context):
        node = self._own_node(context, request.node)
        return snapshot_pb(self.catalog.resolve(request.ref, node=node))

    @edge
    def GetChunks(self, request, context) -> Iterator[vault_pb2.Blob]:
        """Checks every id is held before streaming; re-hashes each blob as it is read."""
        ids = list(request.chunk_ids)
        check_ids(ids, "GetChunksRequest.chunk_ids")
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
