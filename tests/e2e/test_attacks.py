"""The attacks of the adversarial review (issue 15), each kept as a regression test against
a real vaultd over real mTLS: a stolen node certificate and what it must not achieve."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest

from bulwark.protos.bulwark.v1 import vault_pb2, vault_pb2_grpc
from bulwark.protos.contract import IDS_PER_MESSAGE
from tests.e2e.conftest import tls_channel
from tests.e2e.treeutil import make_tree

MiB = 1 << 20


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture
def node_stub(site):
    with tls_channel(site.dir, f"127.0.0.1:{site.port}", role="node") as channel:
        yield vault_pb2_grpc.VaultStub(channel)


@pytest.mark.parametrize("ids_per_message", [IDS_PER_MESSAGE, 100_000])
def test_commit_stream_beyond_the_signed_chunk_count_is_refused_with_bounded_memory(
        site, node_stub, tmp_path, ids_per_message):
    """Attack 1: replay a header the node already signed (GetSnapshot "latest") followed by
    endless chunk ids. The vault refuses at the first message past the header's chunk_count
    (or past the protocol's ids per message) and its memory does not follow the stream."""
    site.backup(make_tree(tmp_path / "src"))
    latest = node_stub.GetSnapshot(vault_pb2.GetSnapshotRequest(ref="latest"), timeout=10)
    sent = 0

    def hostile():
        nonlocal sent
        yield vault_pb2.CommitSnapshotRequest(header=latest.signed)
        for _ in range(400):  # 400 x 4096 ids: ~160 MB of set entries if they were kept
            sent += 1
            yield vault_pb2.CommitSnapshotRequest(chunks=vault_pb2.ChunkIdBatch(
                chunk_ids=[os.urandom(32) for _ in range(ids_per_message)]))

    before = rss_bytes(site.proc.pid)
    with pytest.raises(grpc.RpcError) as err:
        node_stub.CommitSnapshot(hostile(), timeout=120)
    grown = rss_bytes(site.proc.pid) - before
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "CommitSnapshot message 2" in err.value.details()
    assert grown < 40 * MiB, f"vaultd grew by {grown / MiB:.0f} MiB on a refused stream"
    assert sent < 50, f"the vault kept reading {sent} messages of a refused stream"
    listing = node_stub.ListSnapshots(vault_pb2.ListSnapshotsRequest(), timeout=10)
    assert [s.id for s in listing.snapshots] == [latest.id]


@pytest.mark.parametrize("method", ["PutChunks", "CommitSnapshot", "FindMissing"])
def test_raw_garbage_on_a_stream_is_invalid_argument_not_internal(site, method):
    """Attack 7: bytes that are no protobuf message get INVALID_ARGUMENT naming the method."""
    with tls_channel(site.dir, f"127.0.0.1:{site.port}", role="node") as channel:
        call = channel.stream_unary(f"/bulwark.v1.Vault/{method}",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            call(iter([b"\xff\xff\xff\xff garbage \x0b"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert method in err.value.details() and "not a valid" in err.value.details()


def test_raw_garbage_on_a_unary_call_is_invalid_argument(site):
    with tls_channel(site.dir, f"127.0.0.1:{site.port}", role="node") as channel:
        call = channel.unary_unary("/bulwark.v1.Vault/GetSnapshot",
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xff\xff\xff garbage", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "GetSnapshot" in err.value.details()
