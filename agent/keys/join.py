"""Join tokens on the agent side: the token text, its two halves, and the sealed key bundle.

A token (FORMAT.md "Join token") is ``bwj1.<id>.<secret>``: ``id`` 16 hex digits (public,
what operators list and revoke), ``secret`` 32 random bytes in base32 (no padding). From
the secret both sides derive (BLAKE3 derive_key)::

    auth = derive_key(JOIN_AUTH_CONTEXT, secret)   sent to the vault, which stores SHA-256(auth)
    wrap = derive_key(JOIN_WRAP_CONTEXT, secret)   never leaves the token's holders

The token's creator (``vaultctl pki token``, which holds the tenant key) seals the tenant's
*write* material — tenant name, chunk-id key, restore public key, never the master or the
restore private key — under ``wrap`` with AES-256-GCM (nonce 12 random bytes, associated
data ``b"bwj1:" + id``) and leaves it with the vault, which cannot open it. The joining
node opens it and writes a write-only node key file whose signing seed it draws itself, so
the node's signing key, like its TLS key, never exists anywhere else.
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
from bulwark.agent.keys.keyfile import KeyRing, derive_key

TOKEN_PREFIX = "bwj1"
JOIN_AUTH_CONTEXT = "bulwark 2026-11-29 join token auth"
JOIN_WRAP_CONTEXT = "bulwark 2026-11-29 join token wrap"
_TOKEN = re.compile(r"^bwj1\.([0-9a-f]{16})\.([A-Z2-7]{52})$")


@dataclass(frozen=True)
class JoinToken:
    id: str
    secret: bytes

    @classmethod
    def new(cls) -> JoinToken:
        return cls(os.urandom(8).hex(), os.urandom(32))

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

    def _aad(self) -> bytes:
        return f"{TOKEN_PREFIX}:{self.id}".encode()

    def seal(self, ring: KeyRing) -> bytes:
        """The write material of ``ring`` sealed for whoever holds this token."""
        doc = {"tenant": ring.tenant, "id_key": ring.id_key.hex(),
               "restore_public": ring.restore_public.hex()}
        nonce = os.urandom(12)
        return nonce + AESGCM(self.wrap).encrypt(nonce, json.dumps(doc).encode(), self._aad())

    def open(self, sealed: bytes) -> dict:
        """The bundle's fields (``tenant``, ``id_key``, ``restore_public`` as bytes)."""
        try:
            plain = AESGCM(self.wrap).decrypt(sealed[:12], sealed[12:], self._aad())
            doc = json.loads(plain)
            return {"tenant": doc["tenant"], "id_key": bytes.fromhex(doc["id_key"]),
                    "restore_public": bytes.fromhex(doc["restore_public"])}
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise KeyMaterialError(
                f"join token {self.id}: the vault returned a key bundle this token does not "
                "open (made for another token, or altered)") from None
