"""The attacks of the adversarial review (issue 15), each kept as a regression test against
a real vaultd over real mTLS: a stolen node certificate and what it must not achieve."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import grpc
import pytest

from bulwark.protos.bulwark.v1 import vault_pb2, vault_pb2_grpc
from bulwark.protos.contract import IDS_PER_MESSAGE, blob_address
from tests.e2e.conftest import tls_channel
from tests.e2e.treeutil import make_tree
from tests.lib.vault_toml import set_keys

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


def restart_with(site, table: str, **values) -> None:
    """Restart vaultd with ``[table]`` set in vault.toml."""
    assert site.stop() == 0
    set_keys(site.dir / "vault.toml", table, **values)
    site.start()


def audit_records(site) -> list[dict]:
    result = site.ctl("audit", "--json")
    assert result.code == 0, result.err
    return [json.loads(json.loads(line)["record"]) for line in result.out.splitlines()]


def test_idle_streams_of_one_certificate_cannot_starve_the_operator(site, node_stub):
    """Attack 2: 16 idle PutChunks streams from one node certificate. The ninth is refused
    RESOURCE_EXHAUSTED naming the limit, ``vaultctl snapshots`` still answers, and the idle
    ones are cancelled after idle_stream_seconds; each refusal is audited."""
    restart_with(site, "limits", idle_stream_seconds=3)
    release = threading.Event()

    def idle():
        release.wait(30)
        yield from ()

    with tls_channel(site.dir, f"127.0.0.1:{site.port}", role="node") as channel:
        stub = vault_pb2_grpc.VaultStub(channel)
        calls = [stub.PutChunks.future(idle(), timeout=30) for _ in range(16)]
        try:
            snapshots = site.ctl("snapshots", "--json")
            assert snapshots.code == 0, snapshots.err
            codes = [c.exception().code() if c.exception() else None for c in calls]
        finally:
            release.set()
    refused = [c for c in calls if c.exception().code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(refused) == 8, codes
    assert "calls_per_caller" in refused[0].exception().details()
    assert codes.count(grpc.StatusCode.CANCELLED) == 8, codes
    records = audit_records(site)
    assert sum("calls_per_caller" in r["detail"] for r in records) == 8
    assert sum("idle_stream_seconds" in r["detail"] for r in records) == 8


def test_a_node_commits_at_most_snapshots_per_hour(site, tmp_path):
    """Attack 3: a stolen certificate once committed 209 snapshots a second."""
    restart_with(site, "limits", snapshots_per_hour=2)
    source = make_tree(tmp_path / "src")
    site.backup(source)
    site.backup(source)
    third = site.agent("backup", source, "--json")
    assert third.code == 1, third.err
    assert "snapshots_per_hour" in third.err
    assert len(site.ctl("snapshots", "--json").json()) == 2
    assert audit_records(site)[-1]["outcome"] == "refused"


def test_refusals_inside_the_vault_service_are_audited(site, node_stub, tmp_path):
    """Attack 4: a node reading another node's snapshots, or a snapshot that is not there."""
    with pytest.raises(grpc.RpcError) as err:
        node_stub.GetSnapshot(vault_pb2.GetSnapshotRequest(ref="latest", node="gpu-99"),
                              timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        node_stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=[bytes(32)]), timeout=10).next()
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    records = [r for r in audit_records(site) if r["outcome"] == "refused"]
    assert [r["action"] for r in records] == ["GetSnapshot", "GetChunks"]
    assert "gpu-99" in records[0]["detail"] and records[0]["role"] == "node"


def test_an_edited_catalog_row_cannot_delete_a_locked_snapshot(site, tmp_path):
    """Attack 6: retain_until_ns set to 0 with sqlite3; the delete is refused, reported,
    and the snapshot stays."""
    sid = site.backup(make_tree(tmp_path / "src"))["snapshot"]
    db = sqlite3.connect(site.store / "catalog.sqlite")
    with db:
        db.execute("UPDATE snapshots SET retain_until_ns = 0 WHERE id = ?", (sid,))
    db.close()
    deleted = site.ctl("delete", sid)
    assert deleted.code == 1, deleted.out
    assert "catalog was edited" in deleted.err
    pruned = site.ctl("prune", "--yes", "--json")
    assert pruned.code == 1 and "catalog was edited" in pruned.err
    assert [s["id"] for s in site.ctl("snapshots", "--json").json()] == [sid]
    errors = [r for r in audit_records(site) if r["outcome"] == "error"]
    assert errors and all(sid[:12] in r["detail"] for r in errors)
    assert {r["action"] for r in errors} == {"snapshot.delete", "prune"}


def test_an_audit_record_stored_as_text_is_read_and_named(site, tmp_path):
    """Attack 7: one record rewritten as TEXT once failed ReadAudit for the whole log. Two
    backups make at least three entries, so the altered one has entries on both sides: the
    export still returns every entry (the altered one as stored), and verify names it."""
    site.backup(make_tree(tmp_path / "src"))
    site.backup(make_tree(tmp_path / "src2", seed=2))
    db = sqlite3.connect(site.store / "audit.sqlite")
    seqs = [seq for (seq,) in db.execute("SELECT seq FROM audit ORDER BY seq")]
    assert len(seqs) >= 3, f"two backups made only {len(seqs)} audit entries"
    altered = seqs[len(seqs) // 2]
    with db:
        db.execute("UPDATE audit SET record = CAST(record AS TEXT) || ' ' WHERE seq = ?",
                   (altered,))
    db.close()
    export = site.ctl("audit", "--json")
    assert export.code == 0, export.err
    entries = [json.loads(line) for line in export.out.splitlines()]
    assert [e["seq"] for e in entries] == seqs
    assert entries[seqs.index(altered)]["record"].endswith(" ")
    verify = site.ctl("audit", "verify")
    assert verify.code == 1 and f"seq {altered}" in verify.err, verify.err


def garbage_blobs(count: int, size: int) -> vault_pb2.PutChunksRequest:
    """Valid content-addressed blobs of random bytes: what a stolen certificate can store."""
    blobs = []
    for _ in range(count):
        data = os.urandom(size)
        digest = blob_address(data)
        blobs.append(vault_pb2.Blob(chunk_id=digest, data=data, digest=digest))
    return vault_pb2.PutChunksRequest(blobs=blobs)


def test_uncommitted_uploads_stop_at_the_node_quota(site, node_stub, tmp_path):
    """Attack 3: one node stored 2.28 GB of never-committed blobs in 20 s. With
    node_uncommitted_bytes = 3 MiB the fourth MiB is refused RESOURCE_EXHAUSTED naming the
    key and the node, nothing of that message is stored, and the refusal is audited."""
    restart_with(site, "limits", node_uncommitted_bytes=3 * MiB)
    messages = [garbage_blobs(4, MiB // 4) for _ in range(6)]
    with pytest.raises(grpc.RpcError) as err:
        node_stub.PutChunks(iter(messages), timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value.details()
    assert "node_uncommitted_bytes" in err.value.details()
    blobs = [p for p in (site.store / "data").rglob("*") if p.is_file()]
    assert len(blobs) == 12, f"{len(blobs)} blobs stored, the quota allows 12"
    refused = [r for r in audit_records(site) if r["outcome"] == "refused"]
    assert refused and "node_uncommitted_bytes" in refused[-1]["detail"]
    stats = site.ctl("stats", "--json").json()
    assert stats["quotas"]["node_uncommitted_bytes"] == 3 * MiB
    usage = {u["node"]: u for u in stats["quota_usage"]}
    assert usage[next(iter(usage))]["uncommitted_bytes"] == 3 * MiB


def test_vaultctl_init_bounds_the_retention_a_node_may_ask_for(site, tmp_path):
    """Attack 3: a node asked for 36,500 days in compliance mode. ``vaultctl init`` writes
    [retention] maximum_days, so the request is refused and nothing is committed."""
    asked = site.agent("backup", make_tree(tmp_path / "src"), "--retention-days", "36500")
    assert asked.code == 1, asked.err
    assert "maximum_days" in asked.err
    assert site.ctl("snapshots", "--json").json() == []


def test_vaultd_stops_within_its_bound_with_hostile_streams_open(site, node_stub):
    """Attack 7: vaultd once stayed alive 35 s after "stopping (grace 5s)" after a hostile
    run. With idle streams held open and a commit stream of 100k-id messages in flight,
    SIGTERM ends it with exit 0 within the grace and the stop bound (vault.shutdown)."""
    latest_ids = [os.urandom(32) for _ in range(100_000)]
    release = threading.Event()

    def idle():
        release.wait(60)
        yield from ()

    def hostile():
        yield vault_pb2.CommitSnapshotRequest(header=vault_pb2.SignedHeader())
        for _ in range(50):
            yield vault_pb2.CommitSnapshotRequest(
                chunks=vault_pb2.ChunkIdBatch(chunk_ids=latest_ids))

    calls = [node_stub.PutChunks.future(idle(), timeout=60) for _ in range(4)]
    calls.append(node_stub.CommitSnapshot.future(hostile(), timeout=60))
    started = time.monotonic()
    try:
        assert site.stop() == 0
    finally:
        release.set()
    took = time.monotonic() - started
    assert took < 15, f"vaultd took {took:.1f} s to stop"
    for call in calls:
        assert call.exception() is not None
