"""The pull's logic against an in-process primary (tests/lib/airgap.py); the same over mTLS
between two vaultds is tests/e2e/test_airgap.py."""

from __future__ import annotations

import os

import blake3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bulwark.protos.contract import BLOB_V1_MAGIC, BLOB_V1_VERSION
from bulwark.vault.airgap.pins import Pins
from bulwark.vault.airgap.puller import Puller, check_blob
from bulwark.vault.airgap.state import State, WindowResult
from bulwark.vault.worm.retention import COMPLIANCE, RetentionPolicy
from tests.lib.airgap import InProcessPrimary, Vault, backup, close
from tests.lib.clock import FakeClock


@pytest.fixture
def pair(tmp_path):
    clock = FakeClock(step=1)
    primary, airgap = Vault(tmp_path / "primary", clock), Vault(tmp_path / "airgap", clock)
    yield primary, airgap, clock, State(tmp_path / "airgap" / "airgap.state")
    close(primary, airgap)


def pull(source, airgap: Vault, clock, state, expired=lambda: False) -> WindowResult:
    policy = RetentionPolicy(mode=COMPLIANCE, default_days=90, maximum_days=365)
    result = WindowResult("manual", 0)
    Puller(source, airgap.store, airgap.catalog, Pins(airgap.registry), airgap.audit, clock,
           policy, state, expired).run(result)
    return result


def test_copies_in_order_with_own_retention_and_a_cut_resumes_where_it_stopped(pair):
    primary, airgap, clock, state = pair
    key = Ed25519PrivateKey.generate()
    blobs = [os.urandom(1000 + i) for i in range(6)]
    first = backup(primary, key, "gpu-a", blobs[:4], clock)
    second = backup(primary, key, "gpu-a", blobs[2:], clock)
    source = InProcessPrimary(primary)
    budget = iter(range(3))  # the deadline passes after three blob messages
    cut = pull(source, airgap, clock, state, expired=lambda: next(budget, None) is None)
    assert cut.outcome == "cut" and cut.snapshots == 0 and cut.chunks == 3 and cut.pending == 2
    assert airgap.catalog.list_snapshots() == [] and state.cursor.empty
    done = pull(source, airgap, clock, state)
    assert done.outcome == "complete" and done.snapshots == 2 and done.chunks == 3
    assert len(source.served) == len(set(source.served)) == 6  # nothing pulled twice
    copies = airgap.catalog.list_snapshots()
    assert [c.id for c in copies] == [first, second] and state.cursor.id == second
    # own policy: compliance, the node's signed request capped by the air-gap maximum
    assert all(c.retention.mode == COMPLIANCE for c in copies)
    assert copies[0].retention.retain_until_ns == copies[0].time_ns + 365 * 86_400 * 10**9


def test_a_damaged_blob_refuses_its_snapshot_and_the_next_one_is_copied(pair):
    primary, airgap, clock, state = pair
    key = Ed25519PrivateKey.generate()
    bad = backup(primary, key, "gpu-a", [b"one" * 100, b"two" * 100], clock)
    good = backup(primary, key, "gpu-a", [b"three" * 100], clock)
    source = InProcessPrimary(primary)
    source.damaged.add(blake3.blake3(b"two" * 100).digest())
    result = pull(source, airgap, clock, state)
    assert [r.snapshot_id for r in result.refused] == [bad]
    assert "fails its hash" in result.refused[0].reason
    assert [c.id for c in airgap.catalog.list_snapshots()] == [good]


def test_check_blob_holds_for_content_addresses_and_format_v1_blobs():
    v2 = os.urandom(200)
    v2_id = blake3.blake3(v2).digest()
    assert check_blob(v2_id, v2, v2_id) is None
    assert "fails its digest" in check_blob(v2_id, v2, bytes(32))
    v1_id = os.urandom(32)
    v1 = BLOB_V1_MAGIC + bytes([BLOB_V1_VERSION]) + bytes(3) + v1_id + os.urandom(60)
    assert check_blob(v1_id, v1, blake3.blake3(v1).digest()) is None
    other = os.urandom(32)  # a primary serving someone else's blob under this id
    assert "names another chunk id" in check_blob(other, v1, blake3.blake3(v1).digest())
    junk = os.urandom(100)
    assert check_blob(other, junk, blake3.blake3(junk).digest()) is not None
