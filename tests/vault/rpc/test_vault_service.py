"""The Vault service over a real gRPC channel to an in-process server on 127.0.0.1:0."""

from __future__ import annotations

import errno
import os

import blake3
import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bulwark.protos.bulwark.v1 import keys_pb2, keys_pb2_grpc, vault_pb2, vault_pb2_grpc
from bulwark.protos.contract import IDS_PER_MESSAGE as MAX_IDS_PER_MESSAGE
from bulwark.protos.contract import SNAPSHOT_SIGNATURE_CONTEXT as SIGNATURE_CONTEXT
from bulwark.protos.contract import chunk_ids_digest
from bulwark.vault.catalog.db import snapshot_id
from bulwark.vault.errors import (
    IntegrityError,
    InvalidRequest,
    MissingChunks,
    NotFound,
    StorageError,
    VaultError,
)
from bulwark.vault.rpc.status import status_for
from tests.lib.faulty_store import FaultyStore
from tests.lib.inprocess_vault import T0, InProcessVault
from tests.sealing import unseal
from tests.vault.conftest import make_blob

NODES = ("gpu-01", "gpu-02")


def node_key(node: str) -> Ed25519PrivateKey:
    """A fixed Ed25519 key per test node (enrolled by the Vault helper)."""
    return Ed25519PrivateKey.from_private_bytes(blake3.blake3(node.encode()).digest())


def public(node: str) -> bytes:
    return node_key(node).public_key().public_bytes_raw()


def sign(raw: bytes) -> bytes:
    """The node's signature over a serialized header (FORMAT.md "Header signing")."""
    try:
        node = vault_pb2.SnapshotHeader.FromString(raw).node
    except Exception:
        return b"\x01" * 64
    if node not in NODES:
        return b"\x01" * 64
    return node_key(node).sign(SIGNATURE_CONTEXT + raw)


class Vault(InProcessVault):
    """A running in-process vault plus a client stub, for one test."""

    def __init__(self, tmp_path, max_message_bytes: int = 16 << 20, store=None) -> None:
        super().__init__(tmp_path, store, max_message_bytes)
        self.channel = grpc.insecure_channel(self.address)
        self.stub = vault_pb2_grpc.VaultStub(self.channel)
        keys = keys_pb2_grpc.KeysStub(self.channel)
        for node in NODES:
            keys.EnrollNode(keys_pb2.EnrollNodeRequest(node=node, signing_public_key=public(node)))
        self.clock.t = T0  # enrollment stamped times; snapshot times start from T0

    def close(self) -> None:
        self.channel.close()
        super().close()

    def put(self, *items, messages: int = 1):
        blobs = [vault_pb2.Blob(chunk_id=c, data=d, digest=g) for c, d, g in items]
        reqs = [vault_pb2.PutChunksRequest(blobs=blobs[i::messages]) for i in range(messages)]
        return self.stub.PutChunks(iter(reqs), timeout=10)

    def commit(self, ids, header: vault_pb2.SnapshotHeader | None = None, raw: bytes | None = None):
        if header is None:
            header = make_header(ids)
        raw = raw if raw is not None else header.SerializeToString()
        signed = vault_pb2.SignedHeader(header=raw, signature=sign(raw))
        reqs = [vault_pb2.CommitSnapshotRequest(header=signed)]
        for i in range(0, len(ids), 3):
            reqs.append(vault_pb2.CommitSnapshotRequest(
                chunks=vault_pb2.ChunkIdBatch(chunk_ids=ids[i : i + 3])
            ))
        return self.stub.CommitSnapshot(iter(reqs), timeout=10).snapshot


def make_header(ids, node: str = "gpu-01", **overrides) -> vault_pb2.SnapshotHeader:
    fields = dict(
        format_version=1, node=node, hostname=node, paths=["/ckpt"], tags=["nightly"],
        client_time_ns=1, files=2, bytes=1234, sealed_root=b"root", chunk_count=len(set(ids)),
        chunk_ids_digest=chunk_ids_digest(ids), node_public_key=public(node),
    )
    fields.update(overrides)
    return vault_pb2.SnapshotHeader(**fields)


@pytest.fixture
def vault(tmp_path):
    v = Vault(tmp_path)
    yield v
    v.close()


def code_of(excinfo) -> grpc.StatusCode:
    return excinfo.value.code()


def test_status_mapping_is_total_and_specific():
    assert status_for(NotFound("x")) == grpc.StatusCode.NOT_FOUND
    assert status_for(InvalidRequest("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_for(IntegrityError("x")) == grpc.StatusCode.DATA_LOSS
    assert status_for(MissingChunks([b"\0" * 32])) == grpc.StatusCode.FAILED_PRECONDITION
    assert status_for(StorageError("x", errno.ENOSPC)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status_for(StorageError("x", errno.EIO)) == grpc.StatusCode.INTERNAL
    assert status_for(VaultError("x")) == grpc.StatusCode.INTERNAL
    assert not issubclass(IntegrityError, NotFound)
    assert not issubclass(MissingChunks, NotFound)


def test_put_find_get_round_trip(vault):
    a, b = make_blob(1000), make_blob(10)
    resp = vault.put(a, b, messages=2)
    assert (resp.stored, resp.already_present, resp.stored_bytes) == (2, 0, 1010)
    again = vault.put(a)
    assert (again.stored, again.already_present, again.stored_bytes) == (0, 1, 0)
    c = make_blob()
    reqs = [vault_pb2.FindMissingRequest(chunk_ids=[c[0], a[0], b[0]]),
            vault_pb2.FindMissingRequest(chunk_ids=[a[0]])]
    answers = list(vault.stub.FindMissing(iter(reqs), timeout=10))
    assert [list(r.missing) for r in answers] == [[c[0]], []]
    blobs = list(vault.stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=[b[0], a[0]])))
    assert [(x.chunk_id, x.data, x.digest) for x in blobs] == [b, a]


def test_put_digest_mismatch_is_data_loss_and_nothing_stored(vault):
    good = make_blob()
    cid, data, _ = make_blob()
    with pytest.raises(grpc.RpcError) as err:
        vault.put(good, (cid, data, blake3.blake3(b"other").digest()))
    assert code_of(err) == grpc.StatusCode.DATA_LOSS
    assert cid.hex()[:8] in err.value.details() and "digest mismatch" in err.value.details()
    assert not vault.store.has(cid) and not vault.store.has(good[0])
    assert vault.catalog.missing_chunks([good[0], cid]) == [good[0], cid]


def test_put_malformed_id_is_invalid_argument(vault):
    cid, data, digest = make_blob()
    with pytest.raises(grpc.RpcError) as err:
        vault.put((cid[:16], data, digest))
    assert code_of(err) == grpc.StatusCode.INVALID_ARGUMENT


def test_find_missing_limits(vault):
    too_many = [os.urandom(32) for _ in range(MAX_IDS_PER_MESSAGE + 1)]
    for ids, detail in ((too_many, "at most 4096"), ([b"short"], "5 bytes")):
        with pytest.raises(grpc.RpcError) as err:
            list(vault.stub.FindMissing(iter([vault_pb2.FindMissingRequest(chunk_ids=ids)])))
        assert code_of(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert detail in err.value.details()


def test_commit_list_get(vault):
    items = [make_blob() for _ in range(7)]
    vault.put(*items)
    ids = [i[0] for i in items]
    header = make_header(ids + ids[:2])
    snap = vault.commit(ids + ids[:2], header=header)
    assert T0 < snap.time_ns <= vault.clock.t  # the vault's clock, never the client's
    raw = header.SerializeToString()
    assert snap.id == snapshot_id(raw, sign(raw), snap.time_ns)
    assert (snap.node, list(snap.tags), list(snap.paths)) == ("gpu-01", ["nightly"], ["/ckpt"])
    assert (snap.files, snap.bytes, snap.chunk_count) == (2, 1234, 7)
    assert snap.signed.header == raw and snap.signed.signature == sign(raw)
    other = vault.commit(ids[:1], header=make_header(ids[:1], node="gpu-02"))
    listed = vault.stub.ListSnapshots(vault_pb2.ListSnapshotsRequest()).snapshots
    assert [s.id for s in listed] == [snap.id, other.id]
    only = vault.stub.ListSnapshots(vault_pb2.ListSnapshotsRequest(node="gpu-01")).snapshots
    assert [s.id for s in only] == [snap.id]
    get = vault.stub.GetSnapshot
    assert get(vault_pb2.GetSnapshotRequest(ref="latest")).id == other.id
    assert get(vault_pb2.GetSnapshotRequest(ref="latest", node="gpu-01")).id == snap.id
    assert get(vault_pb2.GetSnapshotRequest(ref=snap.id[:12])) == snap
    with pytest.raises(grpc.RpcError) as err:
        get(vault_pb2.GetSnapshotRequest(ref="latest", node="gpu-09"))
    assert code_of(err) == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        get(vault_pb2.GetSnapshotRequest(ref="not hex"))
    assert code_of(err) == grpc.StatusCode.INVALID_ARGUMENT


def test_commit_with_missing_chunk_is_failed_precondition(vault):
    held = make_blob()
    vault.put(held)
    absent = os.urandom(32)
    with pytest.raises(grpc.RpcError) as err:
        vault.commit([held[0], absent])
    assert code_of(err) == grpc.StatusCode.FAILED_PRECONDITION
    assert absent.hex() in err.value.details()
    assert list(vault.stub.ListSnapshots(vault_pb2.ListSnapshotsRequest()).snapshots) == []


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("garbage", "not a SnapshotHeader"),
        ("version", "format_version"),
        ("count", "chunk_count"),
        ("digest", "chunk_ids_digest"),
        ("no_node", "node: empty"),
        ("empty", "empty stream"),
        ("no_header", "first message has no header"),
    ],
)
def test_commit_malformed_is_invalid_argument(vault, case, detail):
    item = make_blob()
    vault.put(item)
    ids = [item[0]]
    with pytest.raises(grpc.RpcError) as err:
        if case == "garbage":
            vault.commit(ids, raw=b"\xff\xff\xff\xff")
        elif case == "version":
            vault.commit(ids, header=make_header(ids, format_version=2))
        elif case == "count":
            vault.commit(ids, header=make_header(ids, chunk_count=2))
        elif case == "digest":
            vault.commit(ids, header=make_header(ids, chunk_ids_digest=b"\0" * 32))
        elif case == "no_node":
            vault.commit(ids, header=make_header(ids, node=""))
        elif case == "empty":
            vault.stub.CommitSnapshot(iter([]), timeout=10)
        else:
            batch = vault_pb2.ChunkIdBatch(chunk_ids=ids)
            vault.stub.CommitSnapshot(iter([vault_pb2.CommitSnapshotRequest(chunks=batch)]))
    assert code_of(err) == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in err.value.details()
    assert vault.catalog.list_snapshots() == []


def test_oversized_message_is_resource_exhausted(tmp_path):
    v = Vault(tmp_path, max_message_bytes=1 << 20)
    try:
        big = make_blob((1 << 20) + 1)
        with pytest.raises(grpc.RpcError) as err:
            v.put(big)
        assert code_of(err) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert not v.store.has(big[0])
    finally:
        v.close()


def test_get_chunks_detects_corruption_at_rest(vault):
    a, b = make_blob(), make_blob()
    vault.put(a, b)
    path = vault.store.path_of(b[0])
    unseal(path)
    path.chmod(0o644)
    path.write_bytes(b"x" + b[1][1:])
    stream = vault.stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=[a[0], b[0]]))
    first = next(stream)
    assert first.chunk_id == a[0]
    with pytest.raises(grpc.RpcError) as err:
        next(stream)
    assert code_of(err) == grpc.StatusCode.DATA_LOSS
    assert b[0].hex() in err.value.details() and "fails its hash" in err.value.details()


def test_get_chunks_blob_vanished_is_data_loss(tmp_path):
    store = FaultyStore()
    v = Vault(tmp_path, store=store)
    try:
        a = make_blob()
        v.put(a)
        store.lose(a[0])  # lost behind the vault's back (delete() would refuse: leased)
        with pytest.raises(grpc.RpcError) as err:
            list(v.stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=[a[0]])))
        assert code_of(err) == grpc.StatusCode.DATA_LOSS
    finally:
        v.close()


def test_get_chunks_unknown_is_not_found_before_streaming(vault):
    a = make_blob()
    vault.put(a)
    unknown = os.urandom(32)
    stream = vault.stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=[a[0], unknown]))
    with pytest.raises(grpc.RpcError) as err:
        list(stream)
    assert code_of(err) == grpc.StatusCode.NOT_FOUND
    assert unknown.hex() in err.value.details()


def test_orphan_blob_is_recorded_as_stored(vault):
    """A blob stored before a crash but never recorded: the next put of it records the
    stored bytes' digest, so reads still verify."""
    cid, stored, digest = make_blob()
    vault.store.put(cid, stored, digest)
    resp = vault.put((cid, stored, digest))
    assert resp.already_present == 1
    assert vault.catalog.chunk_digest(cid) == digest
    (blob,) = vault.stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=[cid]))
    assert blob.data == stored


def test_a_blob_whose_id_is_not_its_hash_is_refused_and_nothing_is_stored(vault):
    """Deduplication poisoning: bytes under another blob's id (or a v1 blob, whose keyed id
    the vault cannot check) are refused, and the whole message with them."""
    good, (cid, _, _) = make_blob(), make_blob()
    junk = os.urandom(64)
    v1 = b"BWB1\x01\0\0\0" + cid + os.urandom(12 + 64 + 16)
    for bad, phrase in (((cid, junk, blake3.blake3(junk).digest()), "is not the BLAKE3"),
                        ((cid, v1, blake3.blake3(v1).digest()), "format-v1 blob")):
        with pytest.raises(grpc.RpcError) as err:
            vault.put(good, bad)
        assert code_of(err) == grpc.StatusCode.INVALID_ARGUMENT
        assert phrase in err.value.details()
        assert not vault.store.has(cid) and not vault.store.has(good[0])


@pytest.mark.parametrize(("fault", "code"), [("disk_full", grpc.StatusCode.RESOURCE_EXHAUSTED),
                                             ("io_error", grpc.StatusCode.INTERNAL)])
def test_a_store_failing_mid_message_records_nothing_it_did_not_store(tmp_path, fault, code):
    """The store fails after one blob of a message: the call fails with the store's status,
    the catalog records none of the message, and once the store heals the same upload is
    answered (the stored blob as already present, its row repaired)."""
    store = FaultyStore()
    v = Vault(tmp_path, store=store)
    try:
        a, b = make_blob(), make_blob()
        getattr(store, fault)(after_puts=1)
        with pytest.raises(grpc.RpcError) as err:
            v.put(a, b)
        assert code_of(err) == code
        assert "write chunk" in err.value.details()
        assert store.has(a[0]) and not store.has(b[0])
        assert v.catalog.missing_chunks([a[0], b[0]]) == [a[0], b[0]]
        store.heal()
        resp = v.put(a, b)
        assert (resp.stored, resp.already_present) == (1, 1)
        assert v.catalog.missing_chunks([a[0], b[0]]) == []
    finally:
        v.close()


def test_health_and_reflection(vault):
    health = health_pb2_grpc.HealthStub(vault.channel)
    for service in ("", "bulwark.v1.Vault"):
        resp = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(vault.channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    (resp,) = list(refl.ServerReflectionInfo(iter([req]), timeout=5))
    names = {s.name for s in resp.list_services_response.service}
    assert {"bulwark.v1.Vault", "grpc.health.v1.Health"} <= names
    req = reflection_pb2.ServerReflectionRequest(file_containing_symbol="bulwark.v1.Vault")
    (resp,) = list(refl.ServerReflectionInfo(iter([req]), timeout=5))
    assert resp.file_descriptor_response.file_descriptor_proto


def test_get_chunks_and_commit_take_more_than_4096_ids(vault):
    items = [make_blob(8) for _ in range(MAX_IDS_PER_MESSAGE + 5)]
    for i in range(0, len(items), 1000):
        vault.put(*items[i : i + 1000])
    ids = [i[0] for i in items]
    blobs = list(vault.stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=ids), timeout=30))
    assert [b.chunk_id for b in blobs] == ids
    header = make_header(ids)
    raw = header.SerializeToString()
    signed = vault_pb2.SignedHeader(header=raw, signature=sign(raw))
    reqs = [vault_pb2.CommitSnapshotRequest(header=signed),
            vault_pb2.CommitSnapshotRequest(chunks=vault_pb2.ChunkIdBatch(chunk_ids=ids))]
    snap = vault.stub.CommitSnapshot(iter(reqs), timeout=30).snapshot
    assert snap.chunk_count == len(ids)
