"""Restore key rotation: new generations in the tenant key file, the signed announcements
that tell nodes about them, and which restore public key a backup seals to.

FORMAT.md "Restore key rotation" has the bytes. In short:

- ``vaultctl keys rotate-restore`` adds generation N+1 (32 random bytes, an X25519 private
  key) to the tenant key file, which keeps every older generation, and publishes the
  announcement ``BWRK | N+1 | public key`` signed by the tenant's restore key authority
  (Ed25519, derived from the master) in the vault (``bulwark.v1.RestoreKeys``).
- Before each backup a node lists the announcements, keeps those that verify with the
  authority public key in its key file, and seals to the newest generation it has seen. It
  remembers that announcement in its cache folder (``restore-key``), so a vault that later
  withholds it cannot move the node back to an older key; a vault that never passes one on
  only delays the node's switch (the header's sealed root shows which generation it used).
- Nobody copies a private key to a node: the announcement holds only the public key, and
  only a holder of the master can sign one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.format.constants import KEY_FILE_VERSION_ROTATED, KEY_SIZE
from bulwark.agent.keys.keyfile import (
    KIND_TENANT,
    KeyRing,
    _b64,
    _read_doc,
    _write_new_private_file,
    load_keyring,
    restore_authority_seed,
    rotated_restore_keys,
)
from bulwark.protos.contract import (
    RESTORE_KEY_GENERATION_MAX,
    RESTORE_KEY_MAGIC,
    RESTORE_KEY_SIGNATURE_CONTEXT,
    SIGNATURE_SIZE,
    restore_key_generation,
)

log = logging.getLogger(__name__)

#: The node's memory of the newest announcement it accepted, in its cache folder.
STATE_FILE = "restore-key"


@dataclass(frozen=True)
class SealingKey:
    """The restore public key a backup seals its root to, and where it came from."""

    generation: int
    public: bytes
    source: str  # "key file", "vault" or "cache"


def rotate_key_file(path: Path) -> int:
    """Add a new restore key generation to the tenant key file at ``path``; return it.

    The file is replaced as a whole by one that holds everything it held plus the new
    generation (written beside it as ``<name>.rotating`` with O_EXCL, fsynced, renamed), so
    a crash leaves the old file or the new one, and two rotations at once cannot both
    succeed: the second finds ``.rotating`` and stops (remove it if no rotation runs).
    """
    path = Path(path)
    doc = _read_doc(path)
    if doc.get("kind", KIND_TENANT) != KIND_TENANT:
        raise KeyMaterialError(f"{path}: is a {doc.get('kind')!r} key file; only the tenant "
                               "key file holds restore keys to rotate")
    held = rotated_restore_keys(path, doc)
    generation = (held[-1][0] if held else 0) + 1
    if generation > RESTORE_KEY_GENERATION_MAX:
        raise KeyMaterialError(f"{path}: no restore key generation left to rotate to")
    doc["version"] = KEY_FILE_VERSION_ROTATED
    doc["restore_keys"] = [{"generation": g, "private": _b64(k)} for g, k in held] + [
        {"generation": generation, "private": _b64(os.urandom(KEY_SIZE))}]
    tmp = path.with_name(path.name + ".rotating")
    _write_new_private_file(tmp, tomli_w.dumps(doc).encode("utf-8"))
    try:
        load_keyring(tmp, "rotation-check")  # what was written loads, with the new generation
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return generation


def sign_announcement(keyring: KeyRing) -> tuple[bytes, bytes]:
    """``(announcement, signature)`` of ``keyring``'s newest restore key generation."""
    if keyring.master is None:
        raise KeyMaterialError("only the tenant key file can sign a restore key announcement")
    if keyring.restore_generation == 0:
        raise KeyMaterialError("this key file has not been rotated: restore key generation 0 "
                               "derives from the master and is never announced")
    data = (RESTORE_KEY_MAGIC + keyring.restore_generation.to_bytes(4, "little")
            + keyring.restore_public)
    signer = Ed25519PrivateKey.from_private_bytes(restore_authority_seed(keyring.master))
    return data, signer.sign(RESTORE_KEY_SIGNATURE_CONTEXT + data)


def verify_announcement(authority: bytes, data: bytes, signature: bytes) -> SealingKey:
    """The generation and public key ``data`` announces, if ``authority`` signed it;
    KeyMaterialError naming what is wrong otherwise."""
    generation = restore_key_generation(data)
    if generation is None:
        raise KeyMaterialError("not a restore key announcement")
    try:
        if len(signature) != SIGNATURE_SIZE:
            raise InvalidSignature
        Ed25519PublicKey.from_public_bytes(authority).verify(
            signature, RESTORE_KEY_SIGNATURE_CONTEXT + data)
    except (InvalidSignature, ValueError):
        raise KeyMaterialError(f"restore key announcement for generation {generation}: the "
                               "signature does not verify with this tenant's restore key "
                               "authority") from None
    return SealingKey(generation, bytes(data[8:]), "vault")


def sealing_key(keyring: KeyRing, offered: Iterable[tuple[bytes, bytes]],
                state_dir: Path | None) -> SealingKey:
    """The restore key a backup seals to: the newest generation among the key file's own,
    the one remembered in ``state_dir`` and the ``offered`` (announcement, signature) pairs
    that verify. Never older than the key file's or the remembered one; announcements that
    do not verify are logged and ignored. A key file without ``restore_authority`` (written
    before rotation existed) cannot check any: it keeps its own key and says so."""
    best = SealingKey(keyring.restore_generation, keyring.restore_public, "key file")
    offered = list(offered)
    if keyring.restore_authority is None:
        newest = max((restore_key_generation(a) or 0 for a, _ in offered), default=0)
        if newest > best.generation:
            log.warning("the vault announces restore key generation %d, but this node's key "
                        "file has no restore_authority to check it with: still sealing to "
                        "generation %d; give the node a key file made after rotation "
                        "(vaultctl pki issue)", newest, best.generation)
        return best
    state = Path(state_dir) / STATE_FILE if state_dir is not None else None
    remembered = _read_state(state)
    candidates = ([(remembered, "cache")] if remembered else []) + [(o, "vault") for o in offered]
    chosen = b""
    for (data, signature), source in candidates:
        try:
            found = verify_announcement(keyring.restore_authority, data, signature)
        except KeyMaterialError as exc:
            log.warning("ignoring a restore key announcement (%s): %s", source, exc)
            continue
        if found.generation > best.generation:
            best, chosen = SealingKey(found.generation, found.public, source), data + signature
    if best.source == "vault" and state is not None:
        _write_state(state, chosen)  # from now on, nothing older
    if keyring.restore_keys and best.generation not in dict(keyring.restore_keys):
        log.warning("sealing to restore key generation %d, which this key file does not "
                    "hold: restoring this snapshot needs the rotated tenant key file",
                    best.generation)
    return best


def _read_state(path: Path | None) -> tuple[bytes, bytes] | None:
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyMaterialError(f"{path}: cannot read: {exc.strerror}") from None
    return raw[:-SIGNATURE_SIZE], raw[-SIGNATURE_SIZE:]


def _write_state(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
