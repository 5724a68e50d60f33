"""Frozen constants agree with each other and with protos/FORMAT.md."""

from __future__ import annotations

import re

from bulwark.agent.format import constants as fmt
from bulwark.protos import contract
from tests.lib.paths import FORMAT_MD


def _table_after(heading: str) -> list[tuple[int, int, str]]:
    """(offset, size, field) rows of the first byte table under ``heading``."""
    text = FORMAT_MD.read_text()
    section = text[text.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        m = re.match(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", line)
        if m:
            rows.append((int(m[1]), int(m[2]), m[3]))
        elif rows:
            break
    return rows


def test_blob_header_size_matches_format_md():
    text = FORMAT_MD.read_text()
    stated = re.search(r"blob header is (\d+) bytes", text)
    assert stated, "FORMAT.md must state 'blob header is N bytes'"
    assert int(stated[1]) == fmt.BLOB_HEADER_SIZE
    rows = _table_after("### Blob header")
    assert [r[2].split()[0] for r in rows] == ["magic", "version", "reserved", "chunk_id", "nonce"]
    offset = 0
    for at, size, _ in rows:
        assert at == offset
        offset += size
    assert offset == fmt.BLOB_HEADER_SIZE


def test_header_fields_add_up():
    assert (len(fmt.BLOB_MAGIC) + 1 + fmt.BLOB_RESERVED_SIZE + fmt.CHUNK_ID_SIZE
            + fmt.NONCE_SIZE) == fmt.BLOB_HEADER_SIZE


def test_sealed_root_table_matches():
    rows = _table_after("### Sealed root layout")
    assert [(a, s) for a, s, _ in rows[:2]] == [(0, len(fmt.ROOT_MAGIC)), (4, fmt.KEY_SIZE)]


def test_frozen_values():
    assert (fmt.CHUNK_MIN, fmt.CHUNK_AVG, fmt.CHUNK_MAX) == (256 << 10, 1 << 20, 4 << 20)
    assert fmt.BLOB_MAGIC == b"BWB1" and fmt.ROOT_MAGIC == b"BWR1" and fmt.MANIFEST_MAGIC == b"BWM1"
    assert contract.SNAPSHOT_SIGNATURE_CONTEXT == b"bulwark-snapshot-v1\x00"
    assert (fmt.CODEC_RAW, fmt.CODEC_ZSTD, fmt.CODEC_BYTEGROUP) == (0, 1, 2)
    contexts = {fmt.KDF_CONTEXT_CHUNK_ID, fmt.KDF_CONTEXT_RESTORE, fmt.KDF_CONTEXT_NODE_SIGNING}
    assert len(contexts) == 3
    assert all(c.startswith("bulwark 2026-11-28 v1 ") for c in contexts)


def test_format_md_names_every_constant_value():
    text = FORMAT_MD.read_text()
    for value in (fmt.KDF_CONTEXT_CHUNK_ID, fmt.KDF_CONTEXT_RESTORE, fmt.KDF_CONTEXT_NODE_SIGNING,
                  fmt.ROOT_HKDF_INFO.decode(), "bulwark-snapshot-v1", "BWB1", "BWR1", "BWM1"):
        assert value in text, value


def test_v2_blob_header_matches_format_md():
    rows = _table_after("### Format v2 layout")
    assert [r[2].split()[0] for r in rows] == ["magic", "version", "reserved", "nonce"]
    offset = 0
    for at, size, _ in rows:
        assert at == offset
        offset += size
    assert offset == fmt.BLOB_V2_HEADER_SIZE
    assert len(fmt.BLOB_V2_MAGIC) + 1 + fmt.BLOB_RESERVED_SIZE + fmt.NONCE_SIZE == offset
    text = FORMAT_MD.read_text()
    assert f'context "{fmt.KDF_CONTEXT_BLOB_KEY}"' in text
    assert f'context "{fmt.KDF_CONTEXT_BLOB_NONCE}"' in text


def test_joined_node_contexts_are_dated_unique_and_in_format_md():
    joined = (fmt.KDF_CONTEXT_JOIN_SECRET, fmt.KDF_CONTEXT_JOINED_NODE_SIGNING)
    assert joined == ("bulwark 2026-11-29 v1 join token secret",
                      "bulwark 2026-11-29 v1 joined node signing key")
    every = [v for k, v in vars(fmt).items() if k.startswith("KDF_CONTEXT_")]
    assert len(set(every)) == len(every)
    text = FORMAT_MD.read_text()
    section = text[text.index("### Joined nodes' signing keys"):]
    assert all(f'"{c}"' in section for c in joined)


def test_rotation_constants_match_format_md():
    text = FORMAT_MD.read_text()
    v2 = text[text.index("| 0 | 4 | magic `BWR2` |"):]
    offsets = [int(line.split("|")[1]) for line in v2.splitlines()[:4]]
    assert offsets == [0, len(fmt.ROOT_V2_MAGIC), fmt.ROOT_V2_PREFIX_SIZE,
                       fmt.ROOT_V2_PREFIX_SIZE + fmt.KEY_SIZE]
    bwrk = text[text.index("| 0 | 4 | magic `BWRK` |"):].splitlines()[:3]
    assert [int(line.split("|")[1]) + int(line.split("|")[2]) for line in bwrk][-1] == \
        contract.RESTORE_KEY_SIZE
    assert contract.RESTORE_KEY_MAGIC == b"BWRK" and fmt.ROOT_V2_MAGIC == b"BWR2"
    for value in (fmt.KDF_CONTEXT_RESTORE_AUTHORITY,
                  contract.RESTORE_KEY_SIGNATURE_CONTEXT.decode().rstrip("\0") + "\\0"):
        assert value in text, value
