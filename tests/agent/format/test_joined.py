"""A joined node's key origin and its place in the signed header."""

from __future__ import annotations

import pytest

from bulwark.agent.errors import ManifestError
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.format.snapshot import SnapshotHeader, decode_header, encode_header
from bulwark.protos.bulwark.v1 import vault_pb2

HEADER = SnapshotHeader(
    node="gpu-1", hostname="h", paths=("/d",), tags=(), client_time_ns=1, files=1, bytes=2,
    sealed_root=b"r" * 80, chunk_count=1, chunk_ids_digest=b"d" * 32,
    node_public_key=b"k" * 32)


@pytest.mark.parametrize(("args", "words"), [
    (("0123456789ABCDEF", "n"), "expected 16 lowercase hex digits"),
    (("0123", "n"), "expected 16 lowercase hex digits"),
    (("0123456789abcdef",), "exactly one of name and prefix"),
    (("0123456789abcdef", "n", "p"), "exactly one of name and prefix"),
])
def test_an_origin_needs_a_token_id_and_exactly_one_scope(args, words):
    with pytest.raises(ValueError, match=words):
        JoinOrigin(*args)


def test_scope_and_covers():
    named = JoinOrigin("0123456789abcdef", name="gpu-1")
    prefixed = JoinOrigin("0123456789abcdef", prefix="gpu-")
    assert (named.scope, prefixed.scope) == ("name:gpu-1", "prefix:gpu-")
    assert named.covers("gpu-1") and not named.covers("gpu-10")
    assert prefixed.covers("gpu-10") and not prefixed.covers("cpu-1")
    assert "names starting 'gpu-'" in prefixed.describe()


def test_the_header_round_trips_with_and_without_an_origin():
    joined = SnapshotHeader(**{**HEADER.__dict__,
                               "joined": JoinOrigin("0123456789abcdef", prefix="gpu-")})
    for header in (HEADER, joined):
        assert decode_header(encode_header(header)) == header
    # Backward compatible: a header without an origin encodes exactly as before field 15.
    assert vault_pb2.SnapshotHeader.FromString(encode_header(HEADER)).HasField("joined") is False
    assert encode_header(joined).startswith(encode_header(HEADER))


def test_a_header_with_a_malformed_origin_is_a_manifest_error():
    message = vault_pb2.SnapshotHeader.FromString(encode_header(HEADER))
    message.joined.token_id = "nothex"
    message.joined.prefix = "gpu-"
    with pytest.raises(ManifestError, match="snapshot header: joined: join token id 'nothex'"):
        decode_header(message.SerializeToString())
