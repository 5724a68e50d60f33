"""Fetches and decrypts chunks in order, overlapping network and decode work.

:func:`fetch_plaintext` turns a stream of ChunkRefs into a stream of plaintexts (or
the IntegrityError that stopped one), in the same order, so a restore can write files
sequentially while the next chunks are already downloading and decrypting.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import IntegrityError
from bulwark.agent.format.blob import decode_blob
from bulwark.agent.format.manifest import ChunkRef

#: One GetChunks call asks for at most FETCH_BATCH ids and FETCH_BATCH_BYTES of plaintext;
#: a call that hits a damaged blob is retried id by id. Bytes, not a count, bound memory:
#: 64 chunks of ~1 MiB with 4 batches in flight held ~650 MiB during a checkpoint restore,
#: while small files want many ids per call (issue #6).
FETCH_BATCH = 512
FETCH_BATCH_BYTES = 8 << 20

#: A ref among the last RECENT distinct refs is served again from memory instead of being
#: downloaded again: the small files of one pack follow each other in manifest order.
RECENT = 8


def _batches(refs: Iterable[ChunkRef]) -> Iterator[list[ChunkRef]]:
    batch: list[ChunkRef] = []
    size = 0
    for ref in refs:
        batch.append(ref)
        size += ref.size
        if len(batch) >= FETCH_BATCH or size >= FETCH_BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _download(client: VaultClient, refs: list[ChunkRef]) -> list[bytes | IntegrityError]:
    """Blobs for ``refs`` in order; a damaged or missing one becomes its error."""
    try:
        blobs = dict(client.get_chunks([r.id for r in refs]))
        return [
            blobs.get(r.id) or IntegrityError(f"chunk {r.id.hex()}: the vault did not return it")
            for r in refs
        ]
    except IntegrityError:
        if len(refs) == 1:
            raise
    out: list[bytes | IntegrityError] = []
    for ref in refs:
        try:
            out.extend(blob for _, blob in client.get_chunks([ref.id]))
        except IntegrityError as exc:
            out.append(exc)
    return out


def _decode(ref: ChunkRef, blob: bytes | IntegrityError) -> bytes | IntegrityError:
    if isinstance(blob, IntegrityError):
        return blob
    try:
        return decode_blob(ref.id, ref.key, blob, ref.size)
    except IntegrityError as exc:
        return exc


def _recent(refs: Iterable[ChunkRef]) -> Iterator[tuple[ChunkRef, bool]]:
    """``(ref, True if among the last RECENT distinct refs)``; the same answers for the same
    sequence, so the download plan and the reader agree on what is in memory."""
    recent: collections.OrderedDict[bytes, None] = collections.OrderedDict()
    for ref in refs:
        hit = ref.id in recent
        if hit:
            recent.move_to_end(ref.id)
        else:
            recent[ref.id] = None
            if len(recent) > RECENT:
                recent.popitem(last=False)
        yield ref, hit


def fetch_plaintext(
    client: VaultClient, refs: Iterable[ChunkRef], workers: int, lookahead: int = 4
) -> Iterator[tuple[ChunkRef, bytes | IntegrityError]]:
    """Yield ``(ref, plaintext or error)`` for every ref, in order.

    A ref repeated within the last RECENT distinct refs (a pack shared by small files) is
    downloaded once. Memory: about ``2 * lookahead * (FETCH_BATCH_BYTES + CHUNK_MAX)``
    bytes in flight plus RECENT plaintexts.
    """
    planned, wanted = itertools.tee(refs)
    fetched = _fetch_in_order(
        client, (ref for ref, hit in _recent(planned) if not hit), workers, lookahead
    )
    kept: dict[bytes, bytes | IntegrityError] = {}
    for ref, hit in _recent(wanted):
        if not hit:
            got, plain = next(fetched)
            kept[got.id] = plain
            if len(kept) > RECENT:  # evict what _recent evicted: the least recently used
                del kept[next(iter(kept))]
        else:
            kept[ref.id] = kept.pop(ref.id)  # most recently used last, as in _recent
        yield ref, kept[ref.id]


def _fetch_in_order(
    client: VaultClient, refs: Iterable[ChunkRef], workers: int, lookahead: int
) -> Iterator[tuple[ChunkRef, bytes | IntegrityError]]:
    """Every ref downloaded and decoded, in order. Downloads run on their own threads and
    never wait for decode work, so the two pools cannot deadlock; at most ``lookahead``
    batches are in flight."""
    with (
        ThreadPoolExecutor(max_workers=lookahead, thread_name_prefix="fetch") as net,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as cpu,
    ):
        def job(batch: list[ChunkRef]) -> list[Future[bytes | IntegrityError]]:
            blobs = _download_safely(client, batch)
            return [cpu.submit(_decode, ref, blob) for ref, blob in zip(batch, blobs, strict=True)]

        in_flight: collections.deque[tuple[list[ChunkRef], Future]] = collections.deque()
        for batch in _batches(refs):
            in_flight.append((batch, net.submit(job, batch)))
            if len(in_flight) > lookahead:
                yield from _ready(in_flight.popleft())
        while in_flight:
            yield from _ready(in_flight.popleft())


def _download_safely(client: VaultClient, batch: list[ChunkRef]) -> list[bytes | IntegrityError]:
    try:
        return _download(client, batch)
    except IntegrityError as exc:
        return [exc]


def _ready(
    item: tuple[list[ChunkRef], Future],
) -> Iterator[tuple[ChunkRef, bytes | IntegrityError]]:
    batch, future = item
    for ref, decoded in zip(batch, future.result(), strict=True):
        yield ref, decoded.result()
