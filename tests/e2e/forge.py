"""Builds hostile snapshots the way a compromised node could: valid keys and
signatures, hostile content. Uses the library's own primitives, bypassing its checks."""

from __future__ import annotations

import time
from pathlib import Path

import blake3

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.constants import MANIFEST_MAGIC
from bulwark.agent.format.crypto import (
    chunk_ids_digest,
    public_signing_key,
    seal_root,
    sign_header,
)
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.format.manifest import ChunkRef, ManifestRoot, encode_root
from bulwark.agent.format.snapshot import SnapshotHeader, encode_header
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.protos.bulwark.v1 import manifest_pb2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def upload(client: VaultClient, keyring: KeyRing, data: bytes) -> ChunkRef:
    sealed = seal_chunk(keyring.id_key, data)
    client.put_blobs([[(sealed.chunk_id, sealed.blob, sealed.chunk_id)]])
    return ChunkRef(sealed.chunk_id, sealed.key, len(data))


def chunk_ids_of(client: VaultClient, keyring: KeyRing, ref: str, path: Path) -> list[bytes]:
    """The chunk ids the snapshot ``ref`` stores the file at absolute ``path`` in (read from
    its manifest with the operator's key, as a restore would)."""
    from bulwark.agent.restore.reader import fetch_manifest, open_snapshot

    snapshot = open_snapshot(client, keyring, ref)
    with fetch_manifest(client, snapshot, workers=1) as manifest:
        for entry in manifest.entries():
            if "/" + entry.path == str(path):
                return [c.id for c in entry.chunks]
    raise AssertionError(f"{path} is not in snapshot {ref}")


def file_entry(path: bytes, ref: ChunkRef, content: bytes) -> manifest_pb2.Entry:
    return manifest_pb2.Entry(
        path=path, type=manifest_pb2.ENTRY_TYPE_FILE, mode=0o644, mtime_ns=time.time_ns(),
        size=len(content), content_hash=blake3.blake3(content).digest(),
        chunks=[manifest_pb2.ChunkRef(id=ref.id, key=ref.key, size=ref.size)])


def commit_raw_manifest(client: VaultClient, keyring: KeyRing,
                        entries: list[manifest_pb2.Entry], data_refs: list[ChunkRef],
                        joined: JoinOrigin | None = None) -> str:
    """Commit a correctly signed and sealed snapshot whose manifest is ``entries``, signed
    with ``keyring``'s seed as ``keyring.node``, its header naming ``joined``."""
    manifest = MANIFEST_MAGIC + b"".join(
        _varint(len(raw)) + raw for raw in (e.SerializeToString() for e in entries))
    manifest_ref = upload(client, keyring, manifest)
    root = ManifestRoot((manifest_ref,), blake3.blake3(manifest).digest(), len(manifest))
    ids = sorted({manifest_ref.id, *(r.id for r in data_refs)})
    header = encode_header(SnapshotHeader(
        node=keyring.node, hostname="forged", paths=("/x",), tags=("forged",),
        client_time_ns=time.time_ns(), files=len(data_refs),
        bytes=sum(r.size for r in data_refs),
        sealed_root=seal_root(keyring.restore_public, encode_root(root)),
        chunk_count=len(ids), chunk_ids_digest=chunk_ids_digest(ids),
        node_public_key=public_signing_key(keyring.signing_seed), joined=joined))
    return client.commit(header, sign_header(keyring.signing_seed, header), ids).id
