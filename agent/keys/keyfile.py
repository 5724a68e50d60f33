"""Key files and the key hierarchy derived from a tenant's master secret.

::

    master (32 random bytes, tenant key file, operators / drill runners / escrow only)
     ├── id key       = derive_key("… chunk id key", master)            chunk ids + chunk keys
     ├── restore key  = X25519(derive_key("… restore key", master))     opens manifest roots
     ├── signing seed = derive_key("… node signing key", master || node) Ed25519, per node
     └── join token secret = derive_key("… join token secret", master || token id || scope)
           └── joined node's signing seed = derive_key("… joined node signing key",
                                                      secret || node)

(``derive_key`` is BLAKE3 in key-derivation mode.) A node made by ``vaultctl init`` or
``pki issue`` signs with the first seed; a node that joined with a token with the second, and
its key file and every header it signs name that token (:class:`JoinOrigin`), so whoever
holds the master derives either key without asking the vault (FORMAT.md "Joined nodes'
signing keys").

A node key file is *write-only*: it carries the id key, the restore **public** key and the
node's signing seed, never the master nor the restore private key (FORMAT.md "Key hierarchy").

Restore key rotation (FORMAT.md "Restore key rotation", ``agent.keys.rotation``): generation
0 of the restore key is the one the master derives; each rotation adds a random generation
to the tenant key file (``[[restore_keys]]``, version 2), which keeps every older one, so a
key ring opens a root sealed to any generation it holds and seals new roots to the newest.
A node key file holds one generation's public key (``restore_generation``) and the public
key of the tenant's restore key authority (``restore_authority``), which signs the
announcements that tell nodes of a newer generation.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path

import blake3
import tomli_w
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.format.constants import (
    KDF_CONTEXT_CHUNK_ID,
    KDF_CONTEXT_JOIN_SECRET,
    KDF_CONTEXT_JOINED_NODE_SIGNING,
    KDF_CONTEXT_NODE_SIGNING,
    KDF_CONTEXT_RESTORE,
    KDF_CONTEXT_RESTORE_AUTHORITY,
    KEY_FILE_VERSION,
    KEY_FILE_VERSION_ROTATED,
    KEY_SIZE,
    MASTER_SIZE,
)
from bulwark.agent.format.crypto import WRITE_ONLY_MESSAGE, public_signing_key
from bulwark.agent.format.joined import JoinOrigin

KIND_TENANT = "tenant"
KIND_NODE = "node"


@dataclass(frozen=True)
class KeyRing:
    """Everything the agent needs for one tenant on one node.

    ``restore_private`` is None when loaded from a write-only node key file.
    ``restore_public`` and ``restore_private`` are generation ``restore_generation``, the
    newest this ring knows: new roots are sealed to it. ``restore_keys`` holds every
    (generation, private key) of a tenant key file, oldest first; empty for a node.
    """

    tenant: str
    id_key: bytes
    restore_public: bytes
    restore_private: bytes | None
    signing_seed: bytes
    node: str
    master: bytes | None = None  # tenant key files only; derives any node's signing key
    joined: JoinOrigin | None = None  # a joined node's key file: the token its seed derives from
    restore_generation: int = 0
    restore_keys: tuple[tuple[int, bytes], ...] = ()
    restore_authority: bytes | None = None  # Ed25519 public key; None: an older node key file

    @property
    def can_restore(self) -> bool:
        return self.restore_private is not None

    def signing_public_key(self, node: str, joined: JoinOrigin | None = None) -> bytes | None:
        """The Ed25519 public key ``node`` must sign with when its headers state ``joined``
        (None: a node made from the tenant key), if this key ring can tell: any node and
        any token with the tenant master (None for a name the token does not cover); only
        its own node and token with a node key file. Never asks anyone: derived or known."""
        if self.master is not None:
            if joined is None:
                seed = derive_key(KDF_CONTEXT_NODE_SIGNING, self.master + node.encode("utf-8"))
            elif joined.covers(node):
                seed = joined_signing_seed(join_token_secret(self.master, joined), node)
            else:
                return None
            return public_signing_key(seed)
        if node == self.node and joined == self.joined:
            return public_signing_key(self.signing_seed)
        return None

    def restore_key_for(self, generation: int) -> bytes:
        """The restore private key of ``generation`` (what a sealed root names). Raises
        KeyMaterialError: write-only, or naming the generation this key file lacks."""
        if not self.restore_keys:
            raise KeyMaterialError(WRITE_ONLY_MESSAGE)
        for held, key in self.restore_keys:
            if held == generation:
                return key
        have = ", ".join(str(g) for g, _ in self.restore_keys)
        raise KeyMaterialError(
            f"sealed to restore key generation {generation}, which this key file does not "
            f"hold (it holds generation{'s' if len(self.restore_keys) > 1 else ''} {have}): "
            "use the tenant key file that holds it, e.g. recover the newest escrowed copy "
            "(vaultctl keys recover)")

    def __repr__(self) -> str:  # never print key bytes into logs or tracebacks
        return (
            f"KeyRing(tenant={self.tenant!r}, node={self.node!r}, "
            f"can_restore={self.can_restore})"
        )


def derive_key(context: str, material: bytes) -> bytes:
    """BLAKE3 in derive_key mode, 32 bytes."""
    return blake3.blake3(material, derive_key_context=context).digest()


def join_token_secret(master: bytes, origin: JoinOrigin) -> bytes:
    """The secret of the join token ``origin`` names: its creator makes it from the master,
    so a reader with the master can make it again. ``master`` is 32 bytes and the token id
    16, so ``master || id || scope`` is unambiguous."""
    material = master + origin.token_id.encode("ascii") + origin.scope.encode("utf-8")
    return derive_key(KDF_CONTEXT_JOIN_SECRET, material)


def joined_signing_seed(secret: bytes, node: str) -> bytes:
    """The Ed25519 seed of ``node`` joined with the token whose secret is ``secret``."""
    return derive_key(KDF_CONTEXT_JOINED_NODE_SIGNING, secret + node.encode("utf-8"))


def restore_authority_seed(master: bytes) -> bytes:
    """The Ed25519 seed of the tenant's restore key authority (signs announcements)."""
    return derive_key(KDF_CONTEXT_RESTORE_AUTHORITY, master)


def x25519_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def derive_keyring(master: bytes, tenant: str, node: str,
                   rotated: tuple[tuple[int, bytes], ...] = ()) -> KeyRing:
    """The full key ring (restore private keys included) from a tenant master secret and
    the rotated restore keys ``(generation >= 1, private)`` its key file holds."""
    if len(master) != MASTER_SIZE:
        raise KeyMaterialError(f"master secret must be {MASTER_SIZE} bytes, got {len(master)}")
    keys = ((0, derive_key(KDF_CONTEXT_RESTORE, master)), *sorted(rotated))
    generation, restore_private = keys[-1]
    return KeyRing(
        tenant=tenant,
        id_key=derive_key(KDF_CONTEXT_CHUNK_ID, master),
        restore_public=x25519_public(restore_private),
        restore_private=restore_private,
        signing_seed=derive_key(KDF_CONTEXT_NODE_SIGNING, master + node.encode("utf-8")),
        node=node,
        master=master,
        restore_generation=generation,
        restore_keys=keys,
        restore_authority=public_signing_key(restore_authority_seed(master)),
    )


def generate_tenant_key_file(path: Path, tenant: str | None = None) -> None:
    """Create a tenant key file with a fresh random master secret (mode 0600, never overwrites)."""
    tenant = tenant if tenant is not None else str(uuid.uuid4())
    _check_name(path, "tenant", tenant)
    doc = {
        "version": KEY_FILE_VERSION,
        "kind": KIND_TENANT,
        "tenant": tenant,
        "master": _b64(os.urandom(MASTER_SIZE)),
    }
    _write_new_private_file(Path(path), tomli_w.dumps(doc).encode("utf-8"))


def write_node_key_file(tenant_key_path: Path, node: str, path: Path) -> None:
    """Write a write-only key file for ``node`` derived from a tenant key file (mode 0600)."""
    _check_name(path, "node", node)
    doc = _read_doc(Path(tenant_key_path))
    if doc.get("kind", KIND_TENANT) != KIND_TENANT:
        raise KeyMaterialError(
            f"{tenant_key_path}: is a {doc.get('kind')!r} key file; a node key file can only "
            "be made from the tenant key file"
        )
    ring = derive_keyring(_field_bytes(tenant_key_path, doc, "master", MASTER_SIZE),
                          _field_str(tenant_key_path, doc, "tenant"), node,
                          rotated_restore_keys(tenant_key_path, doc))
    out = {
        "version": KEY_FILE_VERSION_ROTATED if ring.restore_generation else KEY_FILE_VERSION,
        "kind": KIND_NODE,
        "tenant": ring.tenant,
        "node": node,
        "id_key": _b64(ring.id_key),
        "restore_public": _b64(ring.restore_public),
        "signing_seed": _b64(ring.signing_seed),
        "restore_authority": _b64(ring.restore_authority or b""),
        **({"restore_generation": ring.restore_generation} if ring.restore_generation else {}),
    }
    _write_new_private_file(Path(path), tomli_w.dumps(out).encode("utf-8"))


def write_joined_node_key_file(path: Path, tenant: str, node: str, id_key: bytes,
                               restore_public: bytes, seed: bytes, origin: JoinOrigin, *,
                               restore_generation: int = 0,
                               restore_authority: bytes | None = None) -> None:
    """Write a write-only key file for a node that joined with a token (agent.keys.join):
    the tenant's write material from the token's bundle, ``seed`` (derived on the node from
    the token's secret and ``node``; its public key is what the vault enrolled) and
    ``origin``, the token the seed derives from, which every header the node signs names;
    the bundle's restore key generation and authority (absent from older tokens' bundles)."""
    _check_name(path, "node", node)
    if (len(id_key) != KEY_SIZE or len(restore_public) != KEY_SIZE or len(seed) != KEY_SIZE
            or (restore_authority is not None and len(restore_authority) != KEY_SIZE)):
        raise KeyMaterialError(f"{path}: the join bundle's keys have the wrong size")
    if not origin.covers(node):
        raise KeyMaterialError(f"{path}: {origin.describe()} does not cover node {node!r}")
    out = {
        "version": KEY_FILE_VERSION,
        "kind": KIND_NODE,
        "tenant": tenant,
        "node": node,
        "id_key": _b64(id_key),
        "restore_public": _b64(restore_public),
        "signing_seed": _b64(seed),
        "join_token": origin.token_id,
        **({"join_name": origin.name} if origin.name else {"join_prefix": origin.prefix}),
        **({"restore_authority": _b64(restore_authority)} if restore_authority else {}),
        **({"restore_generation": restore_generation} if restore_generation else {}),
    }
    if restore_generation:
        out["version"] = KEY_FILE_VERSION_ROTATED
    _write_new_private_file(Path(path), tomli_w.dumps(out).encode("utf-8"))


def load_keyring(path: Path, node: str) -> KeyRing:
    """Load a tenant key file (full key ring) or a node key file (write-only key ring)."""
    path = Path(path)
    doc = _read_doc(path)
    kind = doc.get("kind", KIND_TENANT)
    tenant = _field_str(path, doc, "tenant")
    if kind == KIND_TENANT:
        return derive_keyring(_field_bytes(path, doc, "master", MASTER_SIZE), tenant, node,
                              rotated_restore_keys(path, doc))
    if kind != KIND_NODE:
        raise KeyMaterialError(
            f"{path}: unknown key file kind {kind!r} (expected 'tenant' or 'node')"
        )
    file_node = _field_str(path, doc, "node")
    if file_node != node:
        raise KeyMaterialError(
            f"{path}: this key file belongs to node {file_node!r}, not {node!r}; "
            "make one for this node with the tenant key file"
        )
    restore_public = _field_bytes(path, doc, "restore_public", KEY_SIZE)
    return KeyRing(
        tenant=tenant,
        id_key=_field_bytes(path, doc, "id_key", KEY_SIZE),
        restore_public=restore_public,
        restore_private=None,
        signing_seed=_field_bytes(path, doc, "signing_seed", KEY_SIZE),
        node=node,
        joined=_join_origin(path, doc, node),
        restore_generation=_node_generation(path, doc),
        restore_authority=(_field_bytes(path, doc, "restore_authority", KEY_SIZE)
                           if "restore_authority" in doc else None),
    )


def rotated_restore_keys(path: Path | str, doc: dict) -> tuple[tuple[int, bytes], ...]:
    """A tenant key file's ``[[restore_keys]]``: (generation, private), generations >= 1,
    distinct; only in a version-2 file (an older reader must refuse it, not ignore it)."""
    entries = doc.get("restore_keys", [])
    if not isinstance(entries, list):
        raise KeyMaterialError(f"{path}: 'restore_keys' must be an array of tables")
    keys: dict[int, bytes] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: restore_keys[{i}]"
        generation = entry.get("generation") if isinstance(entry, dict) else None
        if type(generation) is not int or not 1 <= generation <= 0xFFFF_FFFF:
            raise KeyMaterialError(f"{where}.generation: must be an integer 1..4294967295")
        if generation in keys:
            raise KeyMaterialError(f"{where}: generation {generation} appears twice")
        keys[generation] = _field_bytes(where, entry, "private", KEY_SIZE)
    if keys and doc.get("version") != KEY_FILE_VERSION_ROTATED:
        raise KeyMaterialError(f"{path}: holds restore_keys but is not version "
                               f"{KEY_FILE_VERSION_ROTATED}")
    return tuple(sorted(keys.items()))


def _node_generation(path: Path, doc: dict) -> int:
    generation = doc.get("restore_generation", 0)
    if type(generation) is not int or not 0 <= generation <= 0xFFFF_FFFF:
        raise KeyMaterialError(f"{path}: 'restore_generation' must be an integer 0..4294967295")
    if generation and doc.get("version") != KEY_FILE_VERSION_ROTATED:
        raise KeyMaterialError(f"{path}: names restore_generation {generation} but is not "
                               f"version {KEY_FILE_VERSION_ROTATED}")
    return generation


def _join_origin(path: Path, doc: dict, node: str) -> JoinOrigin | None:
    """A joined node key file's ``join_token`` and ``join_name`` or ``join_prefix``."""
    if "join_token" not in doc:
        return None
    values = [doc.get(k, "") for k in ("join_token", "join_name", "join_prefix")]
    if not all(isinstance(v, str) for v in values):
        raise KeyMaterialError(f"{path}: join_token, join_name and join_prefix must be strings")
    try:
        origin = JoinOrigin(*values)
    except ValueError as exc:
        raise KeyMaterialError(f"{path}: {exc}") from None
    if not origin.covers(node):
        raise KeyMaterialError(f"{path}: {origin.describe()} does not cover node {node!r}")
    return origin


def read_key_file_bytes(path: Path) -> bytes:
    """The exact bytes of a valid key file (tenant or node), for escrow and paper export."""
    _read_doc(Path(path))  # validates type, mode, version
    with open(path, "rb") as f:
        return f.read(1 << 16)


def write_key_file_bytes(path: Path, data: bytes) -> None:
    """Write recovered key-file bytes to a new 0600 file, after checking they are one."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        raise KeyMaterialError("recovered data is not a key file") from None
    if (doc.get("version") not in (KEY_FILE_VERSION, KEY_FILE_VERSION_ROTATED)
            or doc.get("kind", KIND_TENANT) not in (KIND_TENANT, KIND_NODE)):
        raise KeyMaterialError("recovered data is not a key file of this version")
    _write_new_private_file(Path(path), data)


# --- file handling ------------------------------------------------------------------------


def _read_doc(path: Path) -> dict:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyMaterialError(f"{path}: key file does not exist") from None
    except OSError as exc:
        raise KeyMaterialError(f"{path}: cannot open key file: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyMaterialError(f"{path}: key file is not a regular file")
        if st.st_mode & 0o077:
            raise KeyMaterialError(
                f"{path}: key file is accessible by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(1 << 16)
    except OSError as exc:
        raise KeyMaterialError(f"{path}: cannot read key file: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KeyMaterialError(f"{path}: key file is not valid TOML: {exc}") from None
    version = doc.get("version")
    if version not in (KEY_FILE_VERSION, KEY_FILE_VERSION_ROTATED):
        raise KeyMaterialError(
            f"{path}: unsupported key file version {version!r} "
            f"(expected {KEY_FILE_VERSION} or {KEY_FILE_VERSION_ROTATED})"
        )
    return doc


def _field_str(path: Path | str, doc: dict, name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value:
        raise KeyMaterialError(f"{path}: key '{name}' is missing or not a non-empty string")
    return value


def _field_bytes(path: Path | str, doc: dict, name: str, size: int) -> bytes:
    text = _field_str(path, doc, name)
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyMaterialError(f"{path}: key '{name}' is not valid base64") from None
    if len(value) != size:
        raise KeyMaterialError(
            f"{path}: key '{name}' must decode to {size} bytes, got {len(value)}"
        )
    return value


def _check_name(path: Path, what: str, value: str) -> None:
    if not value or "\x00" in value or value != value.strip():
        raise KeyMaterialError(f"{path}: invalid {what} name {value!r}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_new_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600; refuse to overwrite; no partial file is left behind."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except FileExistsError:
        raise KeyMaterialError(
            f"{path}: already exists; refusing to overwrite a key file"
        ) from None
    except OSError as exc:
        raise KeyMaterialError(f"{path}: cannot create key file: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise KeyMaterialError(f"{path}: cannot write key file: {exc.strerror}") from None
    os.close(fd)
    try:
        dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
