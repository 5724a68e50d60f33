"""agent.client.vault: VaultClient against vaultd's own server in this process (real gRPC,
tests.lib.inprocess_vault; mTLS and roles on a site made by init_site), each status the vault
answers mapped to the agent's errors, and ids split per message as protos/contract.py says.

The shared chunk-call cases also run on tests.lib.fake_vault_client, so the fake that the
uploader, fetcher and restore tests use behaves as the real client does."""

from __future__ import annotations

import os
import time

import blake3
import pytest

from bulwark.agent.client.channel import TlsFiles, open_channel
from bulwark.agent.client.vault import VaultClient, batches
from bulwark.agent.errors import (
    AccessDenied,
    IntegrityError,
    RetentionRefused,
    SnapshotNotFound,
    UsageError,
    VaultError,
)
from bulwark.agent.format.crypto import chunk_ids_digest, public_signing_key, sign_header
from bulwark.agent.format.snapshot import SnapshotHeader, encode_header
from bulwark.agent.site import pki
from bulwark.agent.site.config import load_agent_config
from bulwark.agent.site.init import init_site
from bulwark.protos.contract import IDS_PER_MESSAGE
from bulwark.vault.config import load_config
from bulwark.vault.rpc.server import build_server, open_backends
from tests.e2e.conftest import free_port
from tests.lib.clock import FakeClock
from tests.lib.fake_vault_client import FakeVaultClient
from tests.lib.faulty_store import FaultyStore
from tests.lib.inprocess_vault import InProcessVault

SEED = bytes(range(32))
NODE = "gpu-01"


@pytest.fixture
def vault(tmp_path):
    v = InProcessVault(tmp_path / "vault", FaultyStore())
    yield v
    v.close()


@pytest.fixture
def client(vault):
    with VaultClient(vault.address) as c:
        yield c


def blobs(n: int, size: int = 40) -> list[tuple[bytes, bytes, bytes]]:
    """``(id, blob, digest)`` items as a format-v2 agent sends them (id = digest = hash)."""
    out = []
    for _ in range(n):
        blob = os.urandom(size)
        digest = blake3.blake3(blob).digest()
        out.append((digest, blob, digest))
    return out


def signed_header(ids: list[bytes], node: str = NODE) -> tuple[bytes, bytes]:
    header = encode_header(SnapshotHeader(
        node=node, hostname=node, paths=("/data",), tags=("t",), client_time_ns=1, files=1,
        bytes=1, sealed_root=b"root", chunk_count=len(set(ids)),
        chunk_ids_digest=chunk_ids_digest(ids), node_public_key=public_signing_key(SEED)))
    return header, sign_header(SEED, header)


# -- the chunk calls, on the real client and on the fake -----------------------------------


class Real:
    """The real client and what a test does to its vault behind its back."""

    def __init__(self, vault: InProcessVault, client: VaultClient) -> None:
        self.client, self.vault = client, vault

    def damage(self, chunk_id: bytes) -> None:
        self.vault.store.rot(chunk_id, b"rotten")  # type: ignore[attr-defined]


class Fake:
    def __init__(self) -> None:
        self.client = FakeVaultClient()

    def damage(self, chunk_id: bytes) -> None:
        self.client.damaged.add(chunk_id)


@pytest.fixture(params=["real", "fake"])
def side(request):
    if request.param == "fake":
        return Fake()
    return Real(request.getfixturevalue("vault"), request.getfixturevalue("client"))


def test_put_find_get_round_trip(side):
    items = blobs(5)
    ids = [i for i, _, _ in items]
    assert side.client.find_missing(ids) == set(ids)
    result = side.client.put_blobs([items[:2], items[2:]])
    assert (result.stored, result.already_present) == (5, 0)
    again = side.client.put_blobs([items[:1]])
    assert (again.stored, again.already_present, again.stored_bytes) == (0, 1, 0)
    absent = os.urandom(32)
    assert side.client.find_missing([*ids, absent]) == {absent}
    order = [ids[3], ids[0], ids[4]]
    assert list(side.client.get_chunks(order)) == [(i, items[ids.index(i)][1]) for i in order]


def test_a_chunk_the_vault_lacks_is_an_integrity_error_naming_it(side):
    (held,) = blobs(1)
    side.client.put_blobs([[held]])
    absent = os.urandom(32)
    with pytest.raises(IntegrityError, match=absent.hex()[:16]):
        list(side.client.get_chunks([held[0], absent]))


def test_a_damaged_blob_stops_the_stream_there_with_an_integrity_error(side):
    items = blobs(3)
    side.client.put_blobs([items])
    side.damage(items[1][0])
    stream = side.client.get_chunks([i for i, _, _ in items])
    assert next(stream) == (items[0][0], items[0][1])
    with pytest.raises(IntegrityError, match="fails its hash"):
        next(stream)


# -- ids per message -----------------------------------------------------------------------


def test_batches_split_at_the_size():
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches([], 3)) == []


def test_more_ids_than_one_message_may_carry_are_split(client, vault):
    """vaultd refuses a FindMissing or ChunkIdBatch message of more than IDS_PER_MESSAGE ids
    (tests/vault/rpc/test_vault_service.py), so these calls pass only if the client splits."""
    items = blobs(IDS_PER_MESSAGE + 1, size=8)
    ids = [i for i, _, _ in items]
    assert client.find_missing([*ids, *ids[:1]]) == set(ids)
    client.put_blobs(batches(items, 2000))
    assert client.find_missing(ids) == set()
    client.enroll_node(NODE, public_signing_key(SEED))
    header, signature = signed_header(ids)
    snapshot = client.commit(header, signature, ids)
    assert snapshot.chunk_count == len(ids) and snapshot.node == NODE
    assert sorted(vault.catalog.snapshot_chunk_ids(snapshot.id)) == sorted(ids)
    assert client.get_snapshot("latest") == snapshot
    assert [s.id for s in client.list_snapshots(NODE)] == [snapshot.id]


# -- each status the vault answers, as the agent's error -----------------------------------


def test_unavailable_names_the_address():
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    with VaultClient(address) as nowhere, pytest.raises(VaultError) as err:
        nowhere.find_missing([os.urandom(32)])
    assert f"cannot reach the vault at {address}" in str(err.value)
    assert err.value.exit_code == 1


def test_not_found_is_snapshot_not_found(client):
    with pytest.raises(SnapshotNotFound):
        client.get_snapshot("latest")


@pytest.mark.parametrize(("fault", "code"), [("disk_full", "RESOURCE_EXHAUSTED"),
                                             ("io_error", "INTERNAL")])
def test_a_failing_store_is_a_vault_error_naming_the_call_and_status(client, vault, fault, code):
    getattr(vault.store, fault)()
    with pytest.raises(VaultError) as err:
        client.put_blobs([blobs(1)])
    assert type(err.value) is VaultError and err.value.exit_code == 1
    assert str(err.value).startswith(f"PutChunks: vault answered {code}: write chunk")


def test_a_commit_of_chunks_the_vault_lacks_is_refused(client):
    client.enroll_node(NODE, public_signing_key(SEED))
    absent = os.urandom(32)
    header, signature = signed_header([absent])
    with pytest.raises(RetentionRefused, match=f"refused: .*{absent.hex()}"):
        client.commit(header, signature, [absent])
    assert client.list_snapshots() == []


def test_a_malformed_request_is_a_vault_error(client):
    with pytest.raises(VaultError, match="CommitSnapshot: vault answered INVALID_ARGUMENT: .*"
                                         "not a SnapshotHeader"):
        client.commit(b"\xff\xff\xff\xff", b"\x01" * 64, [])


def test_a_malformed_or_ambiguous_reference_is_a_usage_error(client):
    """What the user typed wrong exits 2; a well-formed reference that matches nothing is
    "not found", exit 1 (README, exit codes)."""
    client.enroll_node(NODE, public_signing_key(SEED))
    [(cid, blob, digest)] = blobs(1)
    client.put_blobs([[(cid, blob, digest)]])
    ids = []
    for n in range(17):  # 17 ids over 16 hex digits: two start alike
        header = encode_header(SnapshotHeader(
            node=NODE, hostname=NODE, paths=("/data",), tags=(), client_time_ns=n + 1, files=1,
            bytes=1, sealed_root=b"root", chunk_count=1, chunk_ids_digest=chunk_ids_digest([cid]),
            node_public_key=public_signing_key(SEED)))
        ids.append(client.commit(header, sign_header(SEED, header), [cid]).id)
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    with pytest.raises(UsageError, match=f"snapshot prefix '{shared}' is ambiguous") as err:
        client.get_snapshot(shared)
    assert err.value.exit_code == 2
    with pytest.raises(UsageError, match="snapshot reference 'Z!'") as err:
        client.get_snapshot("Z!")
    assert err.value.exit_code == 2
    with pytest.raises(SnapshotNotFound) as err:
        client.get_snapshot("0" * 64)  # well-formed, and no snapshot has it
    assert err.value.exit_code == 1


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site made by init_site, its vault served in this process over mTLS."""
    directory = tmp_path_factory.mktemp("client") / "site"
    port = free_port()
    init_site(directory, port, NODE)
    config = load_config(directory / "vault.toml")
    store, catalog = open_backends(config)
    server, _ = build_server(config, store, catalog, FakeClock(time.time_ns(), step=1))
    server.start()
    yield directory, f"127.0.0.1:{port}"
    server.stop(grace=None).wait()
    catalog.close()
    store.close()


def test_a_role_the_vault_refuses_is_access_denied_exit_2(site):
    directory, _ = site
    with VaultClient.from_config(load_agent_config(directory / "agent.toml")) as node:
        node.find_missing([os.urandom(32)])  # a node may do this ...
        with pytest.raises(AccessDenied, match="EnrollNode: the vault refused this identity"):
            node.enroll_node("other", public_signing_key(SEED))  # ... but not this
    assert AccessDenied("x").exit_code == 2


def test_a_revoked_identity_is_access_denied(site):
    directory, address = site
    issued = pki.issue(directory / "pki", "operator", "leaver")
    channel = open_channel(address, TlsFiles(directory / "pki" / "ca.crt", issued.cert,
                                             issued.key))
    with VaultClient(address, channel=channel) as leaver:
        leaver.list_snapshots()
        toml = directory / "vault.toml"
        toml.write_text(toml.read_text().replace("revoked = []",
                                                 f'revoked = ["{issued.serial:x}"]'))
        with pytest.raises(AccessDenied, match="ListSnapshots: .*revoked"):
            leaver.list_snapshots()
