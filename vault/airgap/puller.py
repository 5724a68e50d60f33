"""The pull: copy the primary's committed snapshots after the cursor, verified, in order.

For each snapshot the primary's feed names (its commit order), inside a window:

1. Check the record against itself: the id is the primary's id rule over the signed header,
   signature and the primary's commit time; the node named by the record is the header's.
2. Pin or check the node's signing key (``pins``), verify the Ed25519 signature with the
   pinned key, and check the chunk-id list against the signed ``chunk_count`` and
   ``chunk_ids_digest`` (so the primary cannot add, drop or swap a chunk).
3. Ask the local catalog which chunks it lacks; pull only those with ``GetChunks``; check
   every blob (``check_blob``) and store it, durable before it is recorded.
4. Commit the local record (``copy.local_record``) in one catalog transaction, then advance
   the cursor (``state``). A snapshot the local catalog already holds is stepped over.

A snapshot whose check fails, or whose blobs fail theirs (or the primary reports one
damaged), is refused: not committed, audited with the reason, and the window goes on with
the next one (the cursor moves past it; refusals are listed in the window's result). The
window's deadline is checked before every feed entry and every blob: when it passes, blobs
already received are made durable, the current snapshot is left uncommitted and the pull
stops (``WindowCut``); the next window resumes from the cursor and pulls only what the local
store still lacks. Memory: one snapshot's chunk-id list and at most ``FLUSH_BYTES`` of blobs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bulwark.protos.contract import chunk_ids_digest, legacy_blob_problem
from bulwark.vault.airgap.copy import local_record
from bulwark.vault.airgap.pins import KeyChanged, Pins
from bulwark.vault.airgap.state import Cursor, Refusal, State, WindowResult
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.caller import Caller
from bulwark.vault.catalog.db import Catalog, SnapshotRecord, snapshot_id
from bulwark.vault.errors import IntegrityError, InvalidRequest, NotFound, PermissionDenied
from bulwark.vault.ingest.rules import SignedHeader, check_signer
from bulwark.vault.store.base import ChunkStore, blob_digest
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.retention import RetentionPolicy

log = logging.getLogger(__name__)

IDS_PER_CALL = 64  # ids per GetChunks call: what a cut window may have in flight
FLUSH_BYTES = 8 << 20  # blobs received are made durable in batches of about this size
REPLICA = Caller("airgap", "replica")


@dataclass(frozen=True)
class FeedInfo:
    now_ns: int
    pending: int
    oldest_pending_ns: int


@dataclass(frozen=True)
class FeedEntry:
    """One snapshot of the feed as the edge decoded it. ``signed`` is None when the header
    does not decode (``problem`` says why): such a snapshot is refused."""

    record: SnapshotRecord
    signed: SignedHeader | None
    node_key: bytes
    chunk_ids: list[bytes]
    problem: str = ""


class Source(Protocol):
    """The primary, as the puller sees it (``vault.rpc.primary_client`` over mTLS).

    ``get_chunks`` yields ``(chunk_id, blob, digest)`` in request order and raises
    ``IntegrityError`` for a blob the primary reports damaged, ``NotFound`` for one it lacks,
    ``VaultError`` if the primary cannot be reached.
    """

    def feed(self, after: Cursor) -> tuple[FeedInfo, Iterator[FeedEntry]]: ...

    def get_chunks(self, ids: Sequence[bytes]) -> Iterator[tuple[bytes, bytes, bytes]]: ...


class WindowCut(Exception):
    """The window's deadline passed; the pull stopped at a message boundary."""


class Refused(Exception):
    """This snapshot is not copied; the message says why."""


class Limiter:
    """Bandwidth limit: ``take(n)`` returns once ``n`` more bytes fit ``rate`` bytes/s."""

    def __init__(self, rate: int, now: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self._now, self._sleep = rate, now, sleep
        self._start = now()
        self._sent = 0

    def take(self, n: int, expired: Callable[[], bool]) -> None:
        if not self.rate:
            return
        self._sent += n
        for _ in range(1 << 20):  # bounded; each pass sleeps at most 0.25 s
            wait = self._sent / self.rate - (self._now() - self._start)
            if wait <= 0 or expired():
                return
            self._sleep(min(wait, 0.25))


def check_blob(chunk_id: bytes, data: bytes, digest: bytes) -> str | None:
    """Why a pulled blob is not acceptable as ``chunk_id`` (None: it is).

    The digest must be the BLAKE3-256 of the bytes. A format-v2 blob's id is that digest; a
    format-v1 blob (id not its hash) must have the v1 shape and name ``chunk_id`` itself.
    """
    computed = blob_digest(data)
    if computed != digest:
        return f"chunk {chunk_id.hex()}: blob fails its digest (sent {digest.hex()[:16]}…, " \
               f"computed {computed.hex()[:16]}…)"
    if computed != chunk_id:
        problem = legacy_blob_problem(chunk_id, data)
        if problem is not None:
            return f"chunk {chunk_id.hex()}: {problem}"
    return None


class Puller:
    """One window's pull. ``expired()`` is the window's deadline test."""

    def __init__(self, source: Source, store: ChunkStore, catalog: Catalog, pins: Pins,
                 audit: AuditLog, clock: Clock, policy: RetentionPolicy, state: State,
                 expired: Callable[[], bool], limiter: Limiter | None = None) -> None:
        self.source, self.store, self.catalog, self.pins = source, store, catalog, pins
        self.audit, self.clock, self.policy, self.state = audit, clock, policy, state
        self.expired = expired
        self.limiter = limiter or Limiter(0)

    def run(self, result: WindowResult) -> None:
        """Pull until the feed ends (outcome "complete") or the window closes ("cut");
        fills ``result``. Errors reaching the primary propagate (the window fails)."""
        info, entries = self.source.feed(self.state.cursor)
        started = self.clock.now_ns()
        done = 0
        first_left = info.oldest_pending_ns
        result.outcome = "cut"
        try:
            for entry in entries:
                first_left = entry.record.time_ns
                if self.expired():
                    raise WindowCut()
                self._one(entry, result)
                done += 1
            result.outcome, first_left, done = "complete", 0, info.pending
        except WindowCut:
            log.info("air-gap window closed mid-transfer; resuming next window")
        finally:
            close = getattr(entries, "close", None)
            if close is not None:
                close()
        result.pending = max(info.pending - done, 0)
        elapsed = self.clock.now_ns() - started
        result.lag_ns = max(info.now_ns + elapsed - first_left, 0) if first_left else 0

    def _one(self, entry: FeedEntry, result: WindowResult) -> None:
        rec = entry.record
        cursor = Cursor(rec.time_ns, rec.id)
        if self.catalog.has_snapshot(rec.id):
            self.state.advance(cursor)
            return
        try:
            signed = self._check(entry)
            self._pull(entry.chunk_ids, rec, result)
        except Refused as exc:
            result.refused.append(Refusal(rec.id, rec.node, str(exc)))
            log.error("air-gap: snapshot %s of node %s refused: %s", rec.id, rec.node, exc)
            self.audit.append(REPLICA.name, REPLICA.role, "airgap.copy", rec.id, "refused",
                              str(exc))
            self.state.advance(cursor)
            return
        local = local_record(rec, signed.header.requested_retention_days, self.clock.now_ns(),
                             self.policy)
        self.catalog.commit_snapshot(local, entry.chunk_ids)
        self.state.advance(cursor)
        result.snapshots += 1
        self.audit.append(REPLICA.name, REPLICA.role, "airgap.copy", rec.id, "allowed",
                          f"node {rec.node}, {len(entry.chunk_ids)} chunks, retain until "
                          f"{local.retention.retain_until_ns}")
        log.info("air-gap: copied snapshot %s of node %s", rec.id, rec.node)

    def _check(self, entry: FeedEntry) -> SignedHeader:
        rec, signed = entry.record, entry.signed
        if signed is None:
            raise Refused(f"header does not decode: {entry.problem}")
        if snapshot_id(rec.header, rec.signature, rec.time_ns) != rec.id:
            raise Refused("the snapshot id is not the id of its signed header and time")
        if signed.raw != rec.header or signed.signature != rec.signature:
            raise Refused("the decoded header is not the recorded one")
        if signed.header.node != rec.node:
            raise Refused(f"record names node {rec.node!r}, header {signed.header.node!r}")
        try:
            key, new = self.pins.key_for(rec.node, entry.node_key, signed.header.node_public_key)
            check_signer(REPLICA, signed, key)
        except KeyChanged as exc:
            self.audit.append(REPLICA.name, REPLICA.role, "airgap.pin", rec.node, "refused",
                              str(exc))
            raise Refused(str(exc)) from None
        except (PermissionDenied, InvalidRequest) as exc:
            raise Refused(str(exc)) from None
        if new:
            self.audit.append(REPLICA.name, REPLICA.role, "airgap.pin", rec.node, "allowed",
                              f"pinned signing key {key.hex()}")
        ids = entry.chunk_ids
        if len(set(ids)) != len(ids) or len(ids) != signed.header.chunk_count \
                or chunk_ids_digest(ids) != signed.header.chunk_ids_digest:
            raise Refused("the chunk-id list does not match the signed header "
                          "(chunk_count / chunk_ids_digest)")
        return signed

    def _pull(self, ids: list[bytes], rec: SnapshotRecord, result: WindowResult) -> None:
        lease = self.clock.now_ns() + self.policy.lease_hours * 3_600_000_000_000
        missing = self.catalog.missing_chunks(ids, lease_until_ns=lease)
        pending: list[tuple[bytes, bytes, bytes]] = []
        size = 0
        try:
            for start in range(0, len(missing), IDS_PER_CALL):
                asked = missing[start:start + IDS_PER_CALL]
                got = 0
                for cid, data, digest in self.source.get_chunks(asked):
                    if got >= len(asked) or cid != asked[got]:
                        raise Refused(f"the primary sent chunk {cid.hex()[:16]}… out of order")
                    got += 1
                    problem = check_blob(cid, data, digest)
                    if problem:
                        raise Refused(problem)
                    pending.append((cid, data, digest))
                    size += len(data)
                    self.limiter.take(len(data), self.expired)
                    if size >= FLUSH_BYTES:
                        self._flush(pending, lease, result)
                        pending, size = [], 0
                    if self.expired():  # after keeping this blob: a received one is not lost
                        raise WindowCut()
                if got != len(asked):
                    raise Refused(f"the primary sent {got} of {len(asked)} chunks asked for")
        except (IntegrityError, NotFound) as exc:
            raise Refused(f"the primary could not serve a chunk: {exc}") from None
        finally:
            # Verified blobs are kept even when the window closes or the snapshot is
            # refused: the next window does not pull them again.
            if pending:
                self._flush(pending, lease, result)

    def _flush(self, items: list[tuple[bytes, bytes, bytes]], lease: int,
               result: WindowResult) -> None:
        new = self.store.put_many(items)
        self.catalog.record_chunks([(c, len(d), g) for c, d, g in items], lease_until_ns=lease)
        result.chunks += sum(new)
        result.bytes += sum(len(d) for (_, d, _), n in zip(items, new, strict=True) if n)
