from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import ManifestError, UnsafePathError
from bulwark.agent.format.manifest import (
    ChunkRef,
    Entry,
    EntryType,
    ManifestRoot,
    ManifestWriter,
    Xattr,
    decode_manifest,
    decode_root,
    encode_manifest,
    encode_root,
    path_sort_key,
)
from bulwark.protos.bulwark.v1 import manifest_pb2
from tests.lib.paths import kat_v1

KAT = kat_v1()
REF = ChunkRef(b"i" * 32, b"k" * 32, 5)
H = b"h" * 32
ENTRIES = [
    Entry("a", EntryType.DIR, 0o755, 1),
    Entry("a/b", EntryType.FILE, 0o644, 2, size=10, content_hash=H, chunks=(REF, REF)),
    Entry("a/c", EntryType.FILE, 0o600, -5, size=0, content_hash=H),
    Entry("a.txt", EntryType.SYMLINK, 0o777, 3, link_target="/abs/target"),
    Entry(os.fsdecode(b"caf\xe9-latin1"), EntryType.DIR, 0o700, 4),
]


def encode(entries) -> bytes:
    return b"".join(encode_manifest(entries))


def test_round_trip_in_any_piece_sizes():
    data = encode(ENTRIES)
    assert data.startswith(b"BWM1")
    for step in (1, 3, 7, len(data)):
        assert list(decode_manifest(data[i:i + step] for i in range(0, len(data), step))) == ENTRIES


def test_non_utf8_names_round_trip_as_bytes():
    decoded = list(decode_manifest([encode(ENTRIES)]))
    assert os.fsencode(decoded[-1].path) == b"caf\xe9-latin1"


def test_writer_matches_encode_manifest():
    w = ManifestWriter()
    data = b"".join(w.add(e) for e in ENTRIES) + w.close()
    assert data == encode(ENTRIES)


def test_empty_manifest():
    assert encode([]) == b"BWM1"
    assert list(decode_manifest([b"BWM1"])) == []
    with pytest.raises(ManifestError, match="missing magic"):
        list(decode_manifest([]))


def test_known_answer_manifest():
    entries = list(decode_manifest([bytes.fromhex(KAT["manifest"])]))
    assert [e.path for e in entries] == ["data", "data/w.bin", "data/z"]
    assert encode(entries).hex() == KAT["manifest"]


def test_sort_key_directory_before_contents():
    paths = ["a.txt", "a/b", "a", "a/b/c", "a-b", "b"]
    assert sorted(paths, key=path_sort_key) == ["a", "a/b", "a/b/c", "a-b", "a.txt", "b"]


def test_writer_refuses_out_of_order_and_duplicates():
    w = ManifestWriter()
    w.add(ENTRIES[1])
    with pytest.raises(ManifestError, match="out of order"):
        w.add(ENTRIES[0])
    with pytest.raises(ManifestError, match="out of order"):
        w.add(ENTRIES[1])


def _raw(*pbs) -> bytes:
    out = b"BWM1"
    for pb in pbs:
        body = pb.SerializeToString()
        out += bytes([len(body)]) + body if len(body) < 128 else b""
    return out


def _pb(path=b"x", type=1, **kw) -> manifest_pb2.Entry:
    return manifest_pb2.Entry(path=path, type=type, **kw)


@pytest.mark.parametrize("pb, reason", [
    (_pb(type=0), "unknown entry type 0"),
    (_pb(type=9), "unknown entry type 9"),
    (_pb(mode=0o100644), "permission bits"),
    (_pb(type=2, size=5, content_hash=H), "add up to 0"),
    (_pb(type=2), "content hash"),
    (_pb(chunks=[manifest_pb2.ChunkRef(id=b"i" * 32, key=b"k" * 32, size=1)]), "only files"),
    (_pb(type=2, size=1, content_hash=H, chunks=[manifest_pb2.ChunkRef(id=b"i", key=b"k" * 32,
                                                                       size=1)]), "id/key"),
    (_pb(type=2, size=5 << 20, content_hash=H,
         chunks=[manifest_pb2.ChunkRef(id=b"i" * 32, key=b"k" * 32, size=5 << 20)]), "chunk size"),
    (_pb(type=3), "symlink target"),
    (_pb(link_target=b"t"), "only symlinks"),
])
def test_decoder_rejects_bad_entries(pb, reason):
    with pytest.raises(ManifestError, match=reason) as exc:
        list(decode_manifest([_raw(_pb(path=b"a"), pb)]))
    assert "entry #1" in str(exc.value)


@pytest.mark.parametrize("path", [b"", b"/etc/passwd", b"a/../../x", b"a//b", b"./a", b"a/",
                                  b"a\x00b", b".."])
def test_decoder_rejects_unsafe_paths(path: bytes):
    with pytest.raises(UnsafePathError, match="entry #0"):
        list(decode_manifest([_raw(_pb(path=path))]))


def test_decoder_rejects_disorder_and_duplicates():
    with pytest.raises(ManifestError, match=r"entry #1 \('a'\).*out of order"):
        list(decode_manifest([_raw(_pb(path=b"b"), _pb(path=b"a"))]))
    with pytest.raises(ManifestError, match="out of order"):
        list(decode_manifest([_raw(_pb(path=b"a"), _pb(path=b"a"))]))
    with pytest.raises(ManifestError, match="out of order"):
        list(decode_manifest([_raw(_pb(path=b"a.txt"), _pb(path=b"a/b"))]))


def test_decoder_rejects_framing_errors():
    data = encode(ENTRIES)
    with pytest.raises(ManifestError, match="bad magic"):
        list(decode_manifest([b"BWM2" + data[4:]]))
    with pytest.raises(ManifestError, match="truncated inside entry"):
        list(decode_manifest([data[:-1]]))
    with pytest.raises(ManifestError, match="exceeds"):
        list(decode_manifest([b"BWM1" + b"\xff\xff\xff\xff\x7f"]))
    with pytest.raises(ManifestError, match="non-canonical"):
        list(decode_manifest([b"BWM1\x81\x00"]))
    with pytest.raises(ManifestError, match="unknown to format v1"):
        list(decode_manifest([b"BWM1\x06\x0a\x01x\xa0\x06\x01"]))  # field 100 varint
    with pytest.raises(ManifestError, match="not a valid protobuf"):
        list(decode_manifest([b"BWM1\x02\x0a\x05"]))


def test_encoder_validates_like_decoder():
    with pytest.raises(UnsafePathError):
        ManifestWriter().add(Entry("../x", EntryType.DIR, 0o755, 0))
    with pytest.raises(ManifestError, match="S_IMODE"):
        ManifestWriter().add(Entry("x", EntryType.FILE, 0o100644, 0, content_hash=H))
    with pytest.raises(ManifestError, match="add up"):
        ManifestWriter().add(Entry("x", EntryType.FILE, 0o644, 0, size=4, content_hash=H,
                                   chunks=(REF, REF)))


def test_packed_file_is_a_slice_of_its_one_chunk():
    packed = [Entry("p", EntryType.FILE, 0o644, 0, size=2, content_hash=H, chunks=(REF,),
                    offset=3),
              Entry("q", EntryType.FILE, 0o644, 0, size=5, content_hash=H, chunks=(REF,))]
    assert list(decode_manifest([encode(packed)])) == packed
    for bad, reason in [
        (dict(size=3, offset=3, chunks=(REF,)), "not inside"),
        (dict(size=6, chunks=(REF,)), "add up"),
        (dict(size=0, offset=1, chunks=(REF,)), "not inside"),
        (dict(size=9, offset=1, chunks=(REF, REF)), "exactly one chunk"),
        (dict(size=0, offset=1), "exactly one chunk"),
    ]:
        with pytest.raises(ManifestError, match=reason):
            ManifestWriter().add(Entry("x", EntryType.FILE, 0o644, 0, content_hash=H, **bad))
    with pytest.raises(ManifestError, match="only files"):
        ManifestWriter().add(Entry("d", EntryType.DIR, 0o755, 0, offset=1))


ROOT = ManifestRoot(chunks=(REF, ChunkRef(b"j" * 32, b"l" * 32, 7)), manifest_hash=H,
                    manifest_size=12)


def test_root_round_trip():
    assert decode_root(encode_root(ROOT)) == ROOT
    assert decode_root(bytes.fromhex(KAT["root"])).manifest_size == 5000


@pytest.mark.parametrize("root, reason", [
    (manifest_pb2.ManifestRoot(manifest_hash=b"x", manifest_size=0), "manifest hash"),
    (manifest_pb2.ManifestRoot(manifest_hash=H, manifest_size=3), "add up to 0"),
    (manifest_pb2.ManifestRoot(manifest_hash=H, manifest_size=0,
                               chunks=[manifest_pb2.ChunkRef(id=b"i" * 32, key=b"k", size=0)]),
     "id/key"),
])
def test_root_rejects(root, reason):
    with pytest.raises(ManifestError, match=reason):
        decode_root(root.SerializeToString())
    with pytest.raises(ManifestError):
        decode_root(b"\xff\xff")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_root_random(data: bytes):
    try:
        decode_root(data)
    except ManifestError:
        pass


MANIFEST = encode(ENTRIES)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255), st.binary(max_size=40))
def test_decode_manifest_mutations(at: int, value: int, junk: bytes):
    bad = bytearray(MANIFEST)
    bad[at % len(bad)] = value
    for candidate in (bytes(bad), MANIFEST[: at % len(MANIFEST)], MANIFEST + junk, b"BWM1" + junk):
        try:
            list(decode_manifest([candidate]))
        except (ManifestError, UnsafePathError):
            pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.text(st.characters(blacklist_characters="/\x00"),
                                             min_size=1, max_size=4).filter(
                                                 lambda s: s not in (".", "..")),
                                     min_size=1, max_size=3),
                          st.integers(0, 0o7777), st.integers(-(1 << 63), (1 << 63) - 1)),
                max_size=10))
def test_round_trip_property(items):
    by_path = {}
    for parts, mode, mtime in items:
        path = "/".join(parts)
        try:
            path.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            continue
        by_path[path] = Entry(path, EntryType.DIR, mode, mtime)
    entries = sorted(by_path.values(), key=lambda e: path_sort_key(e.path))
    assert list(decode_manifest(encode_manifest(entries))) == entries


META = [
    Entry("dev", EntryType.DIR, 0o1777, 1, uid=0, gid=0, xattrs=(Xattr(b"user.a", b""),)),
    Entry("dev/blk", EntryType.BLOCK_DEVICE, 0o660, 2, device=(7, 42), uid=0, gid=6),
    Entry("dev/fifo", EntryType.FIFO, 0o640, 3),
    Entry("dev/null", EntryType.CHAR_DEVICE, 0o666, 4, device=(1, 3)),
    Entry("dev/sock", EntryType.SOCKET, 0o755, 5, uid=65534, gid=65534),
    Entry("f", EntryType.FILE, 0o4755, 6, size=5, content_hash=H, chunks=(REF,),
          xattrs=(Xattr(b"security.capability", b"\x01\x00"),
                  Xattr(b"system.posix_acl_access", b"\x02")),
          link_group=1, changed=True, uid=1000, gid=1000),
]


def test_special_files_owners_xattrs_and_links_round_trip():
    assert list(decode_manifest([encode(META)])) == META


def test_entries_without_the_new_fields_encode_as_before():
    # an old entry: no owner recorded, nothing new set; the known answer is unchanged
    entries = list(decode_manifest([bytes.fromhex(KAT["manifest"])]))
    assert all(e.uid is None and e.xattrs == () and not e.link_group for e in entries)


@pytest.mark.parametrize(("entry", "message"), [
    (Entry("x", EntryType.FILE, 0o644, 1, size=0, content_hash=H, device=(1, 3)),
     "only device nodes carry device numbers"),
    (Entry("x", EntryType.DIR, 0o755, 1, link_group=2), "only files carry a hard-link group"),
    (Entry("x", EntryType.DIR, 0o755, 1, changed=True), "changed flag"),
    (Entry("x", EntryType.DIR, 0o755, 1, xattrs=(Xattr(b"user.b", b""), Xattr(b"user.a", b""))),
     "not sorted"),
    (Entry("x", EntryType.DIR, 0o755, 1, xattrs=(Xattr(b"", b"v"),)), "empty or contains NUL"),
    (Entry("x", EntryType.DIR, 0o755, 1, uid=1 << 32), "uid or gid out of range"),
])
def test_new_fields_are_validated_both_ways(entry: Entry, message: str):
    with pytest.raises(ManifestError, match=message):
        encode([entry])
