"""Join tokens on the agent side: the token text, its two halves, and the sealed key bundle.

A token (FORMAT.md "Join token") is ``bwj1.<id>.<secret>``: ``id`` 16 hex digits (public,
what operators list and revoke, drawn at random), ``secret`` 32 bytes in base32 (no
padding). The token's creator (``vaultctl pki token``, which holds the tenant key) derives
the secret from the master, the id and the token's scope (:func:`join_token_secret`), so a
reader with the master can derive it again. From the secret both sides derive (BLAKE3
derive_key)::

    auth = derive_key(JOIN_AUTH_CONTEXT, secret)   sent to the vault, which stores SHA-256(auth)
    wrap = derive_key(JOIN_WRAP_CONTEXT, secret)   never leaves the token's holders

The creator seals the tenant's *write* material — tenant name, chunk-id key, restore public
key, never the master or the restore private key — and the token's scope under ``wrap``
with AES-256-GCM (nonce 12 random bytes, associated data ``b"bwj1:" + id``) and leaves it
with the vault, which cannot open it. The joining node derives its signing seed from the
secret and its name (:meth:`JoinToken.signing_seed`) before it contacts the vault, opens the
bundle, and writes a write-only node key file that names the token; its headers name it too,
so restorers derive the node's key from the tenant key and never take it from the vault
(FORMAT.md "Joined nodes' signing keys").
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bulwark.agent.errors import KeyMaterialError, UsageError
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.keys.keyfile import (
    KeyRing,
    derive_key,
    join_token_secret,
    joined_signing_seed,
)

TOKEN_PREFIX = "bwj1"
JOIN_AUTH_CONTEXT = "bulwark 2026-11-29 join token auth"
JOIN_WRAP_CONTEXT = "bulwark 2026-11-29 join token wrap"
_TOKEN = re.compile(r"^bwj1\.([0-9a-f]{16})\.([A-Z2-7]{52})$")


@dataclass(frozen=True)
class JoinToken:
    id: str
    secret: bytes

    @classmethod
    def new(cls, master: bytes, name: str = "", prefix: str = "") -> JoinToken:
        """A new token for ``name`` or names starting ``prefix``: a random id, and the secret
        the tenant ``master`` derives for that id and scope."""
        token_id = os.urandom(8).hex()
        return cls(token_id, join_token_secret(master, JoinOrigin(token_id, name, prefix)))

    @classmethod
    def parse(cls, text: str) -> JoinToken:
        m = _TOKEN.match(text.strip())
        if m is None:
            raise UsageError("--token: not a join token (expected bwj1.<16 hex>.<52 base32>, "
                             "as vaultctl pki token prints it)")
        try:
            secret = base64.b32decode(m.group(2) + "====")
        except binascii.Error:
            raise UsageError("--token: the secret part is not base32") from None
        return cls(m.group(1), secret)

    def text(self) -> str:
        return f"{TOKEN_PREFIX}.{self.id}.{base64.b32encode(self.secret).decode().rstrip('=')}"

    @property
    def auth(self) -> bytes:
        return derive_key(JOIN_AUTH_CONTEXT, self.secret)

    @property
    def wrap(self) -> bytes:
        return derive_key(JOIN_WRAP_CONTEXT, self.secret)

    def signing_seed(self, node: str) -> bytes:
        """The snapshot signing seed of ``node`` joined with this token."""
        return joined_signing_seed(self.secret, node)

    def _aad(self) -> bytes:
        return f"{TOKEN_PREFIX}:{self.id}".encode()

    def seal(self, ring: KeyRing, origin: JoinOrigin) -> bytes:
        """The write material of ``ring`` and this token's scope (``origin``) sealed for
        whoever holds this token."""
        doc = {"tenant": ring.tenant, "id_key": ring.id_key.hex(),
               "restore_public": ring.restore_public.hex(),
               "restore_generation": ring.restore_generation,
               "restore_authority": (ring.restore_authority or b"").hex(),
               "name": origin.name, "prefix": origin.prefix}
        nonce = os.urandom(12)
        return nonce + AESGCM(self.wrap).encrypt(nonce, json.dumps(doc).encode(), self._aad())

    def open(self, sealed: bytes) -> dict:
        """The bundle's fields (``tenant``, ``id_key``, ``restore_public`` as bytes,
        ``restore_generation``, ``restore_authority`` (bytes, None from a token made before
        restore key rotation) and ``origin``: this token's :class:`JoinOrigin`)."""
        try:
            plain = AESGCM(self.wrap).decrypt(sealed[:12], sealed[12:], self._aad())
            doc = json.loads(plain)
            fields = {"tenant": doc["tenant"], "id_key": bytes.fromhex(doc["id_key"]),
                      "restore_public": bytes.fromhex(doc["restore_public"]),
                      "restore_generation": int(doc.get("restore_generation", 0)),
                      "restore_authority": bytes.fromhex(doc.get("restore_authority", ""))
                      or None}
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise KeyMaterialError(
                f"join token {self.id}: the vault returned a key bundle this token does not "
                "open (made for another token, or altered)") from None
        try:
            if not all(isinstance(doc.get(k), str) for k in ("name", "prefix")):
                raise ValueError("no scope")
            fields["origin"] = JoinOrigin(self.id, doc["name"], doc["prefix"])
        except ValueError:
            raise KeyMaterialError(
                f"join token {self.id}: its bundle does not state the token's scope (made by "
                "an older vaultctl): revoke it and make a new token") from None
        return fields
