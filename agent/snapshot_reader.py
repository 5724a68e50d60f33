"""Opens a committed snapshot for reading: header signature, sealed root, manifest.

Everything that restore and verify need before they touch any file data, checked in
this order: the node's Ed25519 signature over the header, that the vault's listing
agrees with the signed header, that the restore key opens the sealed root, and that
the manifest chunks decrypt and hash to the digest the root states.
"""

from __future__ import annotations

from dataclasses import dataclass

import blake3

from agent.crypto import open_root, verify_header
from agent.errors import IntegrityError, ManifestError
from agent.fetcher import fetch_plaintext
from agent.keys import KeyRing
from agent.manifest import Entry, ManifestRoot, decode_manifest, decode_root
from agent.snapshot import SnapshotHeader, decode_header
from agent.vault_client import SnapshotInfo, VaultClient


@dataclass(frozen=True)
class OpenedSnapshot:
    info: SnapshotInfo
    header: SnapshotHeader
    root: ManifestRoot


def open_snapshot(client: VaultClient, keyring: KeyRing, ref: str) -> OpenedSnapshot:
    """Resolve ``ref`` and authenticate the snapshot's header and sealed root.

    Raises SnapshotNotFound, ManifestError (forged, re-signed or altered record) or
    KeyMaterialError (this key cannot open the root: write-only or wrong tenant key).
    """
    info = client.get_snapshot(ref)
    header = decode_header(info.header)
    try:
        verify_header(header.node_public_key, info.header, info.signature)
    except ManifestError:
        raise ManifestError(
            f"snapshot {info.id}: the signed header was altered (signature does not verify)"
        ) from None
    # The key in the header proves nothing by itself: bind it to the node. The tenant key
    # derives every node's key; a node key file knows its own; else ask the vault's
    # enrollment (DESIGN.md §4, issue #4).
    expected = keyring.signing_public_key(header.node) or client.enrolled_key(header.node)
    if expected is None:
        raise ManifestError(f"snapshot {info.id}: node {header.node!r} has no enrolled key")
    if header.node_public_key != expected:
        raise ManifestError(
            f"snapshot {info.id}: signed by a key that is not node {header.node!r}'s "
            "(forged or re-signed header)"
        )
    if (info.node, info.files, info.bytes, info.chunk_count) != (
        header.node, header.files, header.bytes, header.chunk_count
    ):
        raise ManifestError(
            f"snapshot {info.id}: the vault's record disagrees with the signed header"
        )
    root = decode_root(open_root(keyring.restore_private, header.sealed_root))
    return OpenedSnapshot(info, header, root)


def read_manifest(client: VaultClient, snapshot: OpenedSnapshot, workers: int) -> list[Entry]:
    """Fetch, authenticate and decode the whole manifest (all paths validated).

    Raises IntegrityError if a manifest chunk is damaged or the manifest's digest or
    size differ from the sealed root; UnsafePathError/ManifestError for a hostile one.
    """
    pieces = []
    for ref, plain in fetch_plaintext(client, snapshot.root.chunks, workers):
        if isinstance(plain, IntegrityError):
            raise IntegrityError(f"manifest of snapshot {snapshot.info.id} is damaged: {plain}")
        pieces.append(plain)
    manifest = b"".join(pieces)
    if (len(manifest), blake3.blake3(manifest).digest()) != (
        snapshot.root.manifest_size, snapshot.root.manifest_hash
    ):
        raise ManifestError(f"manifest of snapshot {snapshot.info.id} does not match its root")
    return list(decode_manifest([manifest]))
