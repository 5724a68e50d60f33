"""Opens a committed snapshot for reading: header signature, sealed root, manifest.

Everything that restore and verify need before they touch any file data, checked in
this order: the node's Ed25519 signature over the header, that the vault's listing
agrees with the signed header, that the restore key opens the sealed root, and that
the manifest chunks decrypt and hash to the digest the root states.

The manifest plaintext is spooled (memory up to ``SPOOL_MEMORY``, then an unlinked
temporary file) and decoded as a stream, as many times as the reader needs, so memory does
not grow with the number of files (issue #6). A restore reads it twice: once to validate
every entry before the first write, once to restore.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import blake3

from bulwark.agent.client.vault import SnapshotInfo, VaultClient
from bulwark.agent.errors import IntegrityError, KeyMaterialError, ManifestError
from bulwark.agent.format.crypto import open_root, sealed_root_generation, verify_header
from bulwark.agent.format.manifest import Entry, ManifestRoot, decode_manifest, decode_root
from bulwark.agent.format.snapshot import SnapshotHeader, decode_header
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.restore.fetcher import fetch_plaintext


@dataclass(frozen=True)
class OpenedSnapshot:
    info: SnapshotInfo
    header: SnapshotHeader
    root: ManifestRoot


def open_snapshot(client: VaultClient, keyring: KeyRing, ref: str) -> OpenedSnapshot:
    """Resolve ``ref`` and authenticate the snapshot's header and sealed root.

    Raises SnapshotNotFound, ManifestError (forged, re-signed or altered record) or
    KeyMaterialError (this key cannot check the signer or open the root: write-only or
    wrong tenant key).
    """
    info = client.get_snapshot(ref)
    header = decode_header(info.header)
    try:
        verify_header(header.node_public_key, info.header, info.signature)
    except ManifestError:
        raise ManifestError(
            f"snapshot {info.id}: the signed header was altered (signature does not verify)"
        ) from None
    check_signer(info.id, header, keyring)
    if (info.node, info.files, info.bytes, info.chunk_count) != (
        header.node, header.files, header.bytes, header.chunk_count
    ):
        raise ManifestError(
            f"snapshot {info.id}: the vault's record disagrees with the signed header"
        )
    root = decode_root(open_root(restore_key(info.id, header, keyring), header.sealed_root))
    return OpenedSnapshot(info, header, root)


def check_signer(snapshot: str, header: SnapshotHeader, keyring: KeyRing) -> None:
    """Bind the header's key to its node, from the key ring alone: the key in the header
    proves nothing by itself (DESIGN.md §4, issue #4). The tenant key derives every node's
    key, a joined node's from the token its header names (FORMAT.md "Joined nodes' signing
    keys"); a node key file knows only its own. The vault's registry is never asked: whoever
    writes it (the vault's host, its disks) could otherwise vouch for a key of their own.

    Raises ManifestError naming the snapshot and why, or KeyMaterialError when this key
    ring cannot tell (another node's key file).
    """
    node, joined = header.node, header.joined
    if joined is not None and not joined.covers(node):
        raise ManifestError(f"snapshot {snapshot}: the header names {joined.describe()}, "
                            f"which does not cover node {node!r} (forged header)")
    expected = keyring.signing_public_key(node, joined)
    if expected is None and keyring.master is None and node != keyring.node:
        raise KeyMaterialError(
            f"snapshot {snapshot}: node {node!r}'s signing key cannot be checked with the "
            f"key file of node {keyring.node!r} (a node key file knows only its own key): "
            "use the tenant key (operator.toml)")
    if header.node_public_key != expected:
        source = (f"{joined.describe()} gives it another" if joined else
                  "the tenant key gives it another, and the header names no join token")
        raise ManifestError(
            f"snapshot {snapshot}: not signed with the signing key of node {node!r} "
            f"({source}): forged or re-signed header")


def restore_key(snapshot: str, header: SnapshotHeader, keyring: KeyRing) -> bytes:
    """The restore private key of the generation the header's sealed root names (0 for
    every root written before rotation); KeyMaterialError naming the snapshot and the
    generation when this key ring does not hold it (FORMAT.md "Restore key rotation")."""
    try:
        return keyring.restore_key_for(sealed_root_generation(header.sealed_root))
    except KeyMaterialError as exc:
        raise KeyMaterialError(f"snapshot {snapshot}: {exc}") from None


#: The manifest spool stays in memory up to this size (~20k files' entries).
SPOOL_MEMORY = 4 << 20

_READ = 1 << 20


class Manifest:
    """A snapshot's authenticated manifest plaintext; :meth:`entries` decodes it."""

    def __init__(self, spool: BinaryIO, size: int) -> None:
        self._spool = spool
        self.size = size

    def entries(self) -> Iterator[Entry]:
        """Stream the entries from the start, validating each (decode_manifest raises
        ManifestError or UnsafePathError at the first bad one). Several streams may be
        read side by side on one thread: each keeps its own position."""
        return decode_manifest(self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        position = 0
        while position < self.size:
            self._spool.seek(position)
            piece = self._spool.read(min(_READ, self.size - position))
            if not piece:
                return
            position += len(piece)
            yield piece

    def close(self) -> None:
        self._spool.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch_manifest(client: VaultClient, snapshot: OpenedSnapshot, workers: int) -> Manifest:
    """Fetch and authenticate the manifest (size and BLAKE3 as the sealed root states).

    Raises IntegrityError if a manifest chunk is damaged, ManifestError if the manifest's
    digest or size differ from the sealed root. Entries are validated as they are decoded.
    """
    spool = tempfile.SpooledTemporaryFile(SPOOL_MEMORY)
    try:
        hasher = blake3.blake3()
        size = 0
        for _, plain in fetch_plaintext(client, snapshot.root.chunks, workers):
            if isinstance(plain, IntegrityError):
                raise IntegrityError(
                    f"manifest of snapshot {snapshot.info.id} is damaged: {plain}"
                )
            spool.write(plain)
            hasher.update(plain)
            size += len(plain)
        if (size, hasher.digest()) != (snapshot.root.manifest_size, snapshot.root.manifest_hash):
            raise ManifestError(
                f"manifest of snapshot {snapshot.info.id} does not match its root"
            )
    except BaseException:
        spool.close()
        raise
    return Manifest(spool, size)
