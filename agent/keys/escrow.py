"""Key escrow: a key file wrapped with a passphrase, and a paper recovery sheet.

Escrow blob (FORMAT.md "Key escrow"), all integers big-endian::

    offset size  field
    0      4     magic "BWKE"
    4      1     version = 1
    5      1     kdf = 1 (scrypt)
    6      1     log2(n)        scrypt cost; 17 by default (n = 131072)
    7      4     r              8
    11     4     p              1
    15     16    salt           random per blob
    31     12    nonce          random per blob
    43     ...   AES-256-GCM(key = scrypt(passphrase, salt, n, r, p, 32), nonce,
                 plaintext = the key file's bytes, associated data = bytes 0..43)

The parameters travel in the blob, so a later version can raise them and still open old
blobs. n = 2^17, r = 8 takes 128 MiB and about 0.4 s on a 2-core machine: cheap for one
recovery, costly for a guesser. The vault stores the blob and cannot open it.

Paper sheet: the key file's bytes in base32, 5 groups of 4 characters per line, each line
followed by the first 4 hex digits of BLAKE3(line number || groups), so a typing mistake
is caught at the line where it happened.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bulwark.agent.errors import KeyMaterialError

MAGIC = b"BWKE"
VERSION = 1
KDF_SCRYPT = 1
LOG2_N, R, P = 17, 8, 1
_HEADER = struct.Struct(">4sBBBII16s12s")
HEADER_SIZE = _HEADER.size  # 43
MAX_LOG2_N, MAX_R, MAX_P = 22, 32, 16  # refuse blobs that would make us allocate unboundedly
MAX_KDF_MEMORY = 1 << 30  # scrypt needs 128 * r * n bytes
MIN_PASSPHRASE = 8
GROUPS_PER_LINE, GROUP = 5, 4


@dataclass(frozen=True)
class KdfParams:
    log2_n: int = LOG2_N
    r: int = R
    p: int = P


def _kek(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << params.log2_n, r=params.r,
                  p=params.p).derive(passphrase.encode("utf-8"))


def wrap(secret: bytes, passphrase: str, params: KdfParams = KdfParams()) -> bytes:
    """Encrypt ``secret`` (a key file's bytes) under ``passphrase``."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyMaterialError(f"passphrase too short: use at least {MIN_PASSPHRASE} characters")
    salt, nonce = os.urandom(16), os.urandom(12)
    header = _HEADER.pack(MAGIC, VERSION, KDF_SCRYPT, params.log2_n, params.r, params.p,
                          salt, nonce)
    return header + AESGCM(_kek(passphrase, salt, params)).encrypt(nonce, secret, header)


def unwrap(blob: bytes, passphrase: str) -> bytes:
    """The secret in ``blob``; KeyMaterialError for a wrong passphrase or a damaged blob."""
    if len(blob) < HEADER_SIZE + 16:
        raise KeyMaterialError(f"escrow blob truncated: {len(blob)} bytes")
    magic, version, kdf, log2_n, r, p, salt, nonce = _HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION or kdf != KDF_SCRYPT:
        raise KeyMaterialError("not a Bulwark escrow blob of version 1 (scrypt)")
    if not (10 <= log2_n <= MAX_LOG2_N and 1 <= r <= MAX_R and 1 <= p <= MAX_P) or \
            128 * r * (1 << log2_n) > MAX_KDF_MEMORY:
        raise KeyMaterialError(f"escrow blob: KDF parameters out of range (n=2^{log2_n}, r={r}, "
                               f"p={p})")
    kek = _kek(passphrase, salt, KdfParams(log2_n, r, p))
    try:
        return AESGCM(kek).decrypt(nonce, blob[HEADER_SIZE:], blob[:HEADER_SIZE])
    except InvalidTag:
        raise KeyMaterialError(
            "wrong passphrase, or the escrow blob was altered (authentication failed)"
        ) from None


def _line_check(number: int, groups: str) -> str:
    return blake3.blake3(f"{number}:{groups}".encode()).hexdigest()[:4]


def paper_sheet(secret: bytes, title: str) -> str:
    """A printable recovery sheet for ``secret`` (see the module docstring)."""
    text = base64.b32encode(secret).decode("ascii").rstrip("=")
    width = GROUPS_PER_LINE * GROUP
    lines = [
        "BULWARK KEY RECOVERY SHEET (keep offline, e.g. in a safe)",
        title,
        f"length {len(secret)} bytes, base32; each line ends with a 4-digit check.",
        "Type it back with: vaultctl keys import --paper FILE --out KEYFILE",
        "",
    ]
    for n, start in enumerate(range(0, len(text), width), start=1):
        chunk = text[start:start + width]
        groups = " ".join(chunk[i:i + GROUP] for i in range(0, len(chunk), GROUP))
        lines.append(f"{n:03d}  {groups:<{width + GROUPS_PER_LINE - 1}}  {_line_check(n, groups)}")
    return "\n".join(lines) + "\n"


def read_paper(text: str) -> bytes:
    """Parse a recovery sheet typed back; KeyMaterialError naming the first bad line."""
    chars = []
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) < 3 or len(parts[0]) != 3 or not parts[0].isdigit():
            continue
        number, groups, check = int(parts[0]), " ".join(parts[1:-1]).upper(), parts[-1].lower()
        if _line_check(number, groups) != check:
            raise KeyMaterialError(f"recovery sheet line {number:03d}: check {check} does not "
                                   "match; retype this line")
        chars.append(groups.replace(" ", ""))
    data = "".join(chars)
    if not data:
        raise KeyMaterialError("recovery sheet: no numbered lines found")
    try:
        return base64.b32decode(data + "=" * (-len(data) % 8))
    except ValueError as exc:
        raise KeyMaterialError(f"recovery sheet: not base32: {exc}") from None
