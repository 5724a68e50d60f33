"""The manifest: the snapshot's file tree as a stream of entries (FORMAT.md "Manifest").

This module is the only place that sees ``manifest_pb2``; the rest of the agent works with
the dataclasses below. The encoding is ``MANIFEST_MAGIC`` followed by, for each entry, a
uvarint length and a serialized ``bulwark.v1.Entry``; entries are strictly increasing by
:func:`path_sort_key`. The encoder validates exactly what the decoder does, so a manifest
that was written can always be read back.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from bulwark.agent.errors import ManifestError, UnsafePathError
from bulwark.agent.format.constants import (
    CHUNK_ID_SIZE,
    CHUNK_MAX,
    HASH_SIZE,
    KEY_SIZE,
    MANIFEST_ENTRY_MAX,
    MANIFEST_MAGIC,
)
from bulwark.agent.format.pathsafe import check_manifest_path
from bulwark.protos.bulwark.v1 import entry_meta_pb2, manifest_pb2, signals_pb2

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class ChunkRef:
    id: bytes
    key: bytes
    size: int

    def __repr__(self) -> str:  # keep chunk keys out of logs and tracebacks
        return f"ChunkRef(id={self.id[:8].hex()}…, size={self.size})"


class EntryType(enum.Enum):
    DIR = manifest_pb2.ENTRY_TYPE_DIR
    FILE = manifest_pb2.ENTRY_TYPE_FILE
    SYMLINK = manifest_pb2.ENTRY_TYPE_SYMLINK
    FIFO = manifest_pb2.ENTRY_TYPE_FIFO
    SOCKET = manifest_pb2.ENTRY_TYPE_SOCKET
    CHAR_DEVICE = manifest_pb2.ENTRY_TYPE_CHAR_DEVICE
    BLOCK_DEVICE = manifest_pb2.ENTRY_TYPE_BLOCK_DEVICE


DEVICE_TYPES = frozenset({EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE})


@dataclass(frozen=True, slots=True)
class Xattr:
    """One extended attribute (name and value as raw bytes)."""

    name: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class FileSignals:
    """A read file's ransomware signals (manifest field 40, signals.proto ``FileSignals``):
    its format and whether it checked out, stored/plaintext size, shares of high-entropy and
    all-zero bytes (ppm), the exponent byte's entropy (millibits, -1: not a tensor file) and
    mean (x1000), and the scoring measures it counted in (agent.signals.file_stats)."""

    format: str = ""
    format_ok: bool = False
    stored_ppm: int = 0
    high_entropy_ppm: int = 0
    zero_ppm: int = 0
    exponent_entropy_mbit: int = -1
    exponent_mean_milli: int = 0
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    """One file-system object. ``path`` is relative and '/'-separated; names that are not
    UTF-8 travel as surrogate escapes (``os.fsdecode``) and round-trip to the same bytes.
    ``mode`` holds permission bits only (``stat.S_IMODE``). A file's content is the ``size``
    bytes at ``offset`` of the concatenation of its chunks; ``offset`` is non-zero only for a
    small file packed with others into one shared chunk (FORMAT.md "Packs").

    ``device`` is (major, minor) for device nodes, (0, 0) otherwise; ``uid``/``gid`` are
    None in manifests written before they were recorded; ``xattrs`` are sorted by name;
    entries with the same non-zero ``link_group`` are hard links to one file (each still
    carries the content); ``changed`` says the file's size or mtime moved while it was read
    (its content may mix old and new bytes)."""

    path: str
    type: EntryType
    mode: int
    mtime_ns: int
    size: int = 0
    content_hash: bytes = b""
    chunks: tuple[ChunkRef, ...] = ()
    link_target: str = ""
    offset: int = 0
    device: tuple[int, int] = (0, 0)
    uid: int | None = None
    gid: int | None = None
    xattrs: tuple[Xattr, ...] = ()
    link_group: int = 0
    changed: bool = False
    signals: FileSignals | None = None  # files read by this backup (issue 18)


@dataclass(frozen=True)
class ManifestRoot:
    """What the sealed root carries: the manifest's own chunks, its BLAKE3-256 and size."""

    chunks: tuple[ChunkRef, ...]
    manifest_hash: bytes
    manifest_size: int


def path_sort_key(path: str) -> tuple[bytes, ...]:
    """Manifest order: components compared as bytes, so a directory precedes its contents."""
    return tuple(part.encode("utf-8", "surrogateescape") for part in path.split("/"))


def _fsencode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _fsdecode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


# --- validation (shared by encoder and decoder) ---------------------------------------------


def _check_ref(ref: ChunkRef, where: str) -> None:
    if len(ref.id) != CHUNK_ID_SIZE or len(ref.key) != KEY_SIZE:
        raise ManifestError(f"{where}: chunk ref id/key must be {CHUNK_ID_SIZE}/{KEY_SIZE} bytes")
    if not 0 < ref.size <= CHUNK_MAX:
        raise ManifestError(f"{where}: chunk size {ref.size} outside 1..{CHUNK_MAX}")


def _check_entry(e: Entry, where: str) -> None:
    check_manifest_path(e.path)
    if not isinstance(e.type, EntryType):
        raise ManifestError(f"{where}: unknown entry type {e.type!r}")
    if not 0 <= e.mode <= 0o7777:
        raise ManifestError(
            f"{where}: mode {e.mode:#o} is not permission bits only (use stat.S_IMODE)"
        )
    if not _INT64_MIN <= e.mtime_ns <= _INT64_MAX or not 0 <= e.size <= _UINT64_MAX:
        raise ManifestError(f"{where}: mtime or size out of range")
    for ref in e.chunks:
        _check_ref(ref, where)
    if e.type is EntryType.FILE:
        if len(e.content_hash) != HASH_SIZE:
            raise ManifestError(f"{where}: file content hash must be {HASH_SIZE} bytes")
        total = sum(ref.size for ref in e.chunks)
        if len(e.chunks) == 1 and (e.offset or e.size < total):  # a slice of a pack
            if e.size == 0 or not 0 <= e.offset <= total - e.size:
                raise ManifestError(
                    f"{where}: bytes {e.offset}..+{e.size} are not inside its {total}-byte chunk"
                )
        elif e.offset:
            raise ManifestError(f"{where}: only a file with exactly one chunk has an offset")
        elif total != e.size:
            raise ManifestError(f"{where}: chunk sizes add up to {total}, file size is {e.size}")
    elif e.chunks or e.content_hash or e.offset:
        raise ManifestError(f"{where}: only files carry chunks, an offset and a content hash")
    if e.type is EntryType.SYMLINK:
        if not e.link_target or "\x00" in e.link_target:
            raise ManifestError(f"{where}: symlink target is empty or contains NUL")
    elif e.link_target:
        raise ManifestError(f"{where}: only symlinks carry a link target")
    _check_meta(e, where)


_UINT32_MAX = (1 << 32) - 1


def _check_meta(e: Entry, where: str) -> None:
    """The fields after ``offset`` (FORMAT.md "Entry fields" 10-16)."""
    major, minor = e.device
    if e.type not in DEVICE_TYPES and (major or minor):
        raise ManifestError(f"{where}: only device nodes carry device numbers")
    if not (0 <= major <= _UINT32_MAX and 0 <= minor <= _UINT32_MAX):
        raise ManifestError(f"{where}: device numbers out of range")
    for owner in (e.uid, e.gid):
        if owner is not None and not 0 <= owner <= _UINT32_MAX:
            raise ManifestError(f"{where}: uid or gid out of range")
    names = [x.name for x in e.xattrs]
    if any(not n or b"\x00" in n for n in names):
        raise ManifestError(f"{where}: an extended attribute name is empty or contains NUL")
    if names != sorted(set(names)):
        raise ManifestError(f"{where}: extended attributes not sorted by name or repeated")
    if e.type is not EntryType.FILE and (e.link_group or e.changed):
        raise ManifestError(f"{where}: only files carry a hard-link group or a changed flag")
    if not 0 <= e.link_group <= _UINT64_MAX:
        raise ManifestError(f"{where}: hard-link group out of range")


# --- encoding ---------------------------------------------------------------------------


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ref_pb(ref: ChunkRef) -> manifest_pb2.ChunkRef:
    return manifest_pb2.ChunkRef(id=ref.id, key=ref.key, size=ref.size)


def _entry_pb(e: Entry) -> manifest_pb2.Entry:
    return manifest_pb2.Entry(
        path=_fsencode(e.path),
        type=e.type.value,
        mode=e.mode,
        mtime_ns=e.mtime_ns,
        size=e.size,
        content_hash=e.content_hash,
        chunks=[_ref_pb(r) for r in e.chunks],
        link_target=_fsencode(e.link_target),
        offset=e.offset,
        device_major=e.device[0],
        device_minor=e.device[1],
        uid=e.uid,
        gid=e.gid,
        xattrs=[entry_meta_pb2.Xattr(name=x.name, value=x.value) for x in e.xattrs],
        link_group=e.link_group,
        changed_while_read=e.changed,
        signals=None if e.signals is None else _signals_pb(e.signals),
    )


def _signals_pb(s: FileSignals) -> signals_pb2.FileSignals:
    # exponent entropy -1 (not a tensor file) travels as 0 with exponent mean 0
    return signals_pb2.FileSignals(
        format=s.format, format_ok=s.format_ok, stored_ppm=s.stored_ppm,
        high_entropy_ppm=s.high_entropy_ppm, zero_ppm=s.zero_ppm,
        exponent_entropy_mbit=max(s.exponent_entropy_mbit, 0),
        exponent_mean_milli=s.exponent_mean_milli, flags=list(s.flags))


def _signals_from_pb(pb: signals_pb2.FileSignals) -> FileSignals:
    tensor = pb.exponent_entropy_mbit > 0 or pb.exponent_mean_milli > 0
    return FileSignals(pb.format, pb.format_ok, pb.stored_ppm, pb.high_entropy_ppm,
                       pb.zero_ppm, pb.exponent_entropy_mbit if tensor else -1,
                       pb.exponent_mean_milli, tuple(pb.flags))


class ManifestWriter:
    """Streaming encoder. ``add`` returns the bytes to append (the first call also emits the
    magic); ``close`` returns the magic if no entry was added, so an empty manifest is valid.
    Entries must arrive in strictly increasing :func:`path_sort_key` order."""

    def __init__(self) -> None:
        self._started = False
        self._last: tuple[bytes, ...] | None = None
        self._count = 0

    def add(self, entry: Entry) -> bytes:
        where = f"manifest entry #{self._count} ({entry.path!r})"
        try:
            _check_entry(entry, where)
        except UnsafePathError as exc:
            raise UnsafePathError(f"{where}: {exc}") from None
        key = path_sort_key(entry.path)
        if self._last is not None and key <= self._last:
            raise ManifestError(f"{where}: entries out of order or duplicated")
        body = _entry_pb(entry).SerializeToString()
        if len(body) > MANIFEST_ENTRY_MAX:
            raise ManifestError(f"{where}: encoded entry exceeds {MANIFEST_ENTRY_MAX} bytes")
        self._last = key
        self._count += 1
        prefix = b"" if self._started else MANIFEST_MAGIC
        self._started = True
        return prefix + _uvarint(len(body)) + body

    def close(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return MANIFEST_MAGIC


def encode_manifest(entries: Iterable[Entry]) -> Iterator[bytes]:
    """Encode ``entries`` (sorted by path_sort_key) as a stream of byte pieces."""
    w = ManifestWriter()
    for e in entries:
        yield w.add(e)
    tail = w.close()
    if tail:
        yield tail


# --- decoding ---------------------------------------------------------------------------


def _parse(cls, raw: bytes, where: str):
    msg = cls()
    try:
        msg.ParseFromString(raw)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ManifestError(f"{where}: not a valid protobuf message ({exc})") from None
    if len(UnknownFieldSet(msg)):
        raise ManifestError(f"{where}: carries fields unknown to format v1")
    return msg


def _ref_from_pb(pb: manifest_pb2.ChunkRef, where: str) -> ChunkRef:
    if len(UnknownFieldSet(pb)):
        raise ManifestError(f"{where}: chunk ref carries fields unknown to format v1")
    ref = ChunkRef(id=pb.id, key=pb.key, size=pb.size)
    _check_ref(ref, where)
    return ref


def _xattr_from_pb(pb: entry_meta_pb2.Xattr, where: str) -> Xattr:
    if len(UnknownFieldSet(pb)):
        raise ManifestError(f"{where}: extended attribute carries fields unknown to format v1")
    return Xattr(pb.name, pb.value)


def _entry_from_pb(pb: manifest_pb2.Entry, where: str) -> Entry:
    try:
        etype = EntryType(pb.type)
    except ValueError:
        raise ManifestError(f"{where}: unknown entry type {pb.type}") from None
    path = _fsdecode(pb.path)
    where = f"{where} ({path!r})"
    entry = Entry(
        path=path,
        type=etype,
        mode=pb.mode,
        mtime_ns=pb.mtime_ns,
        size=pb.size,
        content_hash=pb.content_hash,
        chunks=tuple(_ref_from_pb(r, where) for r in pb.chunks),
        link_target=_fsdecode(pb.link_target),
        offset=pb.offset,
        device=(pb.device_major, pb.device_minor),
        uid=pb.uid if pb.HasField("uid") else None,
        gid=pb.gid if pb.HasField("gid") else None,
        xattrs=tuple(_xattr_from_pb(x, where) for x in pb.xattrs),
        link_group=pb.link_group,
        changed=pb.changed_while_read,
        signals=_signals_from_pb(pb.signals) if pb.HasField("signals") else None,
    )
    try:
        _check_entry(entry, where)
    except UnsafePathError as exc:
        raise UnsafePathError(f"{where}: {exc}") from None
    return entry


def decode_manifest(chunks: Iterable[bytes]) -> Iterator[Entry]:
    """Stream entries out of the concatenated manifest plaintext pieces, validating each.

    Raises ManifestError (malformed, out of order, truncated) or UnsafePathError (bad path),
    naming the entry index and, once known, its path.
    """
    buf = bytearray()
    pos = 0
    magic_seen = False
    index = 0
    last: tuple[bytes, ...] | None = None
    for piece in chunks:
        buf += piece
        if not magic_seen:
            if len(buf) < len(MANIFEST_MAGIC):
                continue
            if bytes(buf[: len(MANIFEST_MAGIC)]) != MANIFEST_MAGIC:
                raise ManifestError(f"manifest has bad magic {bytes(buf[:4])!r}")
            magic_seen = True
            pos = len(MANIFEST_MAGIC)
        while True:
            parsed = _read_uvarint(buf, pos, index)
            if parsed is None:
                break
            length, body_at = parsed
            if len(buf) - body_at < length:
                break
            where = f"manifest entry #{index}"
            entry = _entry_from_pb(
                _parse(manifest_pb2.Entry, bytes(buf[body_at : body_at + length]), where), where
            )
            key = path_sort_key(entry.path)
            if last is not None and key <= last:
                raise ManifestError(f"{where} ({entry.path!r}): entries out of order or duplicated")
            last = key
            index += 1
            pos = body_at + length
            yield entry
        if pos > (1 << 20):  # drop consumed bytes now and then, not on every piece
            del buf[:pos]
            pos = 0
    if not magic_seen:
        raise ManifestError("manifest is truncated: missing magic")
    if pos != len(buf):
        raise ManifestError(f"manifest is truncated inside entry #{index}")


def _read_uvarint(buf: bytearray, pos: int, index: int) -> tuple[int, int] | None:
    """(value, position after it), or None if ``buf`` ends first. Canonical, bounded."""
    value = shift = 0
    i = pos
    while i < len(buf):
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if value > MANIFEST_ENTRY_MAX:
            raise ManifestError(
                f"manifest entry #{index}: length exceeds {MANIFEST_ENTRY_MAX} bytes"
            )
        if not b & 0x80:
            if b == 0 and i - pos > 1:
                raise ManifestError(f"manifest entry #{index}: non-canonical length varint")
            return value, i
        shift += 7
    return None


# --- root -------------------------------------------------------------------------------


def encode_root(root: ManifestRoot) -> bytes:
    """Serialize a ManifestRoot (the plaintext that agent.format.crypto.seal_root seals)."""
    _check_root(root)
    return manifest_pb2.ManifestRoot(
        chunks=[_ref_pb(r) for r in root.chunks],
        manifest_hash=root.manifest_hash,
        manifest_size=root.manifest_size,
    ).SerializeToString()


def decode_root(data: bytes) -> ManifestRoot:
    """Parse and validate a ManifestRoot; ManifestError on any malformed input."""
    pb = _parse(manifest_pb2.ManifestRoot, bytes(data), "manifest root")
    root = ManifestRoot(
        chunks=tuple(_ref_from_pb(r, "manifest root") for r in pb.chunks),
        manifest_hash=pb.manifest_hash,
        manifest_size=pb.manifest_size,
    )
    _check_root(root)
    return root


def _check_root(root: ManifestRoot) -> None:
    for ref in root.chunks:
        _check_ref(ref, "manifest root")
    if len(root.manifest_hash) != HASH_SIZE:
        raise ManifestError(f"manifest root: manifest hash must be {HASH_SIZE} bytes")
    total = sum(r.size for r in root.chunks)
    if total != root.manifest_size:
        raise ManifestError(
            f"manifest root: chunk sizes add up to {total}, manifest size is {root.manifest_size}"
        )
