"""WORM rules with an injected clock: every refusal, every allowed path, the audit entry each
leaves, lock extension by reference, prune (with leases) and scrub.

The servicer is driven directly with a fake context; ``caller_of`` is replaced so each test
says who calls (the gRPC/mTLS edge is covered by tests/e2e/test_worm.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3

import blake3
import grpc
import pytest

from bulwark.protos.bulwark.v1 import retention_pb2
from bulwark.vault.audit.log import AuditLog, verify_chain
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.errors import HeldByLegalHold, InvalidRequest, RetentionLocked, RoleRefused
from bulwark.vault.ingest.upload_guard import UploadGuard
from bulwark.vault.rpc import retention_service
from bulwark.vault.rpc.identity import Caller
from bulwark.vault.worm.prune import CatalogLocks, prune, scrub
from bulwark.vault.worm.retention import (
    COMPLIANCE,
    DAY_NS,
    GOVERNANCE,
    Retention,
    RetentionPolicy,
    check_delete,
    check_hold,
    check_set_retention,
    retention_at_commit,
)
from tests.lib.clock import FakeClock
from tests.lib.faulty_store import FaultyStore
from tests.vault.conftest import make_blob

T0 = 1_800_000_000_000_000_000
YEAR = 365 * DAY_NS
OPERATOR, OFFICER, NODE = Caller("ops", "operator"), Caller("olga", "officer"), Caller("n1", "node")


def Clock() -> FakeClock:
    return FakeClock(T0)


# -- pure rules ----------------------------------------------------------------------------


def test_commit_retention_comes_from_policy_and_vault_time():
    p = RetentionPolicy(mode=COMPLIANCE, default_days=30, minimum_days=7, maximum_days=365)
    assert retention_at_commit(p, T0, 0) == Retention(COMPLIANCE, T0 + 30 * DAY_NS)
    assert retention_at_commit(p, T0, 3).retain_until_ns == T0 + 30 * DAY_NS  # never shorter
    assert retention_at_commit(p, T0, 90).retain_until_ns == T0 + 90 * DAY_NS  # may be longer
    with pytest.raises(InvalidRequest, match="maximum_days"):
        retention_at_commit(p, T0, 366)


@pytest.mark.parametrize("caller", [OPERATOR, OFFICER])
def test_extend_allowed_to_operator_and_officer_in_both_modes(caller):
    for mode in (GOVERNANCE, COMPLIANCE):
        assert check_set_retention("ab" * 32, Retention(mode, T0), T0 + 1, caller, False) \
            == "extend"
    with pytest.raises(RoleRefused):
        check_set_retention("ab" * 32, Retention(GOVERNANCE, T0), T0 + 1, NODE, False)


def test_compliance_never_shortens_nor_deletes_early_whoever_asks():
    r = Retention(COMPLIANCE, T0 + DAY_NS)
    for caller in (OPERATOR, OFFICER):
        with pytest.raises(RetentionLocked, match="compliance mode .* never shortened"):
            check_set_retention("3f2a" + "0" * 60, r, T0, caller, True)
        with pytest.raises(RetentionLocked, match=r"locked in compliance mode until "
                           r"\d{4}-\d\d-\d\dT.*nobody can delete it before then"):
            check_delete("3f2a" + "0" * 60, r, T0, caller, True)
    assert check_delete("3f2a", r, T0 + DAY_NS, OPERATOR, False) == "expired"


def test_governance_shorten_and_early_delete_need_officer_and_bypass():
    r = Retention(GOVERNANCE, T0 + DAY_NS)
    with pytest.raises(RoleRefused, match="only the security officer with --bypass-governance"):
        check_delete("s", r, T0, OPERATOR, True)
    with pytest.raises(RetentionLocked, match="bypass flag was not given"):
        check_delete("s", r, T0, OFFICER, False)
    assert check_delete("s", r, T0, OFFICER, True) == "bypass"
    with pytest.raises(RoleRefused):
        check_set_retention("s", r, T0, OPERATOR, True)
    with pytest.raises(RetentionLocked):
        check_set_retention("s", r, T0, OFFICER, False)
    assert check_set_retention("s", r, T0, OFFICER, True) == "shorten"


def test_legal_hold_blocks_delete_whatever_retain_until_and_only_officer_holds():
    held = Retention(GOVERNANCE, 0, legal_hold=True, hold_reason="case 7")
    with pytest.raises(HeldByLegalHold, match=r"legal hold \(case 7\)"):
        check_delete("s", held, T0 + 10 * YEAR, OFFICER, True)
    with pytest.raises(RoleRefused, match="only by the security officer"):
        check_hold("s", OPERATOR, True, "x")
    with pytest.raises(InvalidRequest, match="reason is required"):
        check_hold("s", OFFICER, True, " ")
    check_hold("s", OFFICER, True, "case 7")
    check_hold("s", OFFICER, False, "")


def test_refusals_are_not_not_found():
    from bulwark.vault.errors import NotFound, PermissionDenied, RetentionRefused

    for cls in (RetentionLocked, HeldByLegalHold):
        assert issubclass(cls, RetentionRefused) and not issubclass(cls, NotFound)
    # A role named by a WORM rule is the rule refusing (exit 1), not the authz table (exit 2).
    assert issubclass(RoleRefused, RetentionRefused) and not issubclass(RoleRefused, NotFound)
    assert not issubclass(RoleRefused, PermissionDenied)


# -- a vault with an injected clock --------------------------------------------------------


class Aborted(Exception):
    def __init__(self, code, details):
        super().__init__(details)
        self.code = code


class Ctx:
    def is_active(self):
        return True

    def abort(self, code, details):
        raise Aborted(code, details)


class World:
    def __init__(self, tmp_path, monkeypatch) -> None:
        self.clock = Clock()
        self.catalog = Catalog(tmp_path / "catalog.sqlite", clock=self.clock)
        self.store = FaultyStore()  # a MemoryStore that can also rot and lose blobs
        self.store.set_lock_oracle(CatalogLocks(self.catalog, self.clock))
        self.audit = AuditLog(tmp_path / "audit.sqlite", self.clock)
        self.guard = UploadGuard()
        self.svc = retention_service.RetentionService(
            self.store, self.catalog, self.clock, self.audit, self.guard)
        self.caller = OPERATOR
        monkeypatch.setattr(retention_service, "caller_of", lambda ctx: self.caller)
        self.n = 0

    def put(self, *items, lease: int = 0):
        self.store.put_many(items)
        self.catalog.record_chunks([(c, len(d), h) for c, d, h in items], lease)

    def commit(self, ids, days=30, mode=GOVERNANCE) -> str:
        self.n += 1
        rec = SnapshotRecord(f"{self.n:064x}", self.clock.t, "n1", b"h", b"s", (), (), 0, 0,
                             len(ids), Retention(mode, self.clock.t + days * DAY_NS))
        self.catalog.commit_snapshot(rec, ids)
        return rec.id

    def call(self, method, request, caller=None):
        self.caller = caller or self.caller
        return getattr(self.svc, method)(request, Ctx())

    def last_audit(self) -> dict:
        return json.loads(self.audit.head().record)

    def prune(self, dry_run=False):
        return prune(self.catalog, self.store, self.clock, self.guard, dry_run=dry_run)


@pytest.fixture
def w(tmp_path, monkeypatch):
    world = World(tmp_path, monkeypatch)
    yield world
    assert verify_chain(world.audit.entries()) is None
    world.audit.close()
    world.catalog.close()


def test_service_refusals_and_allowed_paths_each_leave_an_audit_entry(w):
    a = make_blob()
    w.put(a)
    sid = w.commit([a[0]], days=30)
    until = T0 + 30 * DAY_NS
    cases = [
        ("DeleteSnapshot", retention_pb2.DeleteSnapshotRequest(ref=sid), OPERATOR,
         grpc.StatusCode.FAILED_PRECONDITION, "snapshot.delete"),
        ("DeleteSnapshot", retention_pb2.DeleteSnapshotRequest(ref=sid), OFFICER,
         grpc.StatusCode.FAILED_PRECONDITION, "snapshot.delete"),
        ("SetLegalHold", retention_pb2.SetLegalHoldRequest(ref=sid, hold=True, reason="r"),
         OPERATOR, grpc.StatusCode.FAILED_PRECONDITION, "hold.set"),
        ("SetRetention", retention_pb2.SetRetentionRequest(ref=sid, retain_until_ns=T0),
         OPERATOR, grpc.StatusCode.FAILED_PRECONDITION, "retention.set"),
    ]
    for method, req, caller, code, action in cases:
        with pytest.raises(Aborted) as err:
            w.call(method, req, caller)
        assert err.value.code == code
        entry = w.last_audit()
        assert (entry["action"], entry["outcome"], entry["actor"], entry["target"]) == (
            action, "refused", caller.name, f"snapshot:{sid}")
        assert entry["detail"] == err.value.args[0]
    info = w.call("SetRetention", retention_pb2.SetRetentionRequest(
        ref=sid[:10], retain_until_ns=until + YEAR), OPERATOR)
    assert info.retain_until_ns == until + YEAR
    assert w.last_audit()["action"] == "retention.extend"
    w.call("SetLegalHold", retention_pb2.SetLegalHoldRequest(ref=sid, hold=True, reason="x"),
           OFFICER)
    assert (w.last_audit()["action"], w.last_audit()["detail"]) == ("hold.set", "x")
    with pytest.raises(Aborted, match="legal hold"):
        w.call("DeleteSnapshot", retention_pb2.DeleteSnapshotRequest(
            ref=sid, bypass_governance=True), OFFICER)
    w.call("SetLegalHold", retention_pb2.SetLegalHoldRequest(ref=sid, hold=False), OFFICER)
    w.call("SetRetention", retention_pb2.SetRetentionRequest(
        ref=sid, retain_until_ns=T0 + DAY_NS, bypass_governance=True), OFFICER)
    assert w.last_audit()["action"] == "retention.shorten"
    w.call("DeleteSnapshot", retention_pb2.DeleteSnapshotRequest(
        ref=sid, bypass_governance=True), OFFICER)
    last = w.last_audit()
    assert (last["action"], last["outcome"]) == ("snapshot.delete", "allowed")
    assert "governance bypass" in last["detail"]
    assert w.catalog.list_snapshots() == []


def test_compliance_delete_refused_for_officer_with_bypass_then_allowed_after_expiry(w):
    a = make_blob()
    w.put(a)
    sid = w.commit([a[0]], days=30, mode=COMPLIANCE)
    with pytest.raises(Aborted, match="compliance mode until .* nobody can delete"):
        w.call("DeleteSnapshot", retention_pb2.DeleteSnapshotRequest(
            ref=sid, bypass_governance=True), OFFICER)
    w.clock.t += 30 * DAY_NS
    w.call("DeleteSnapshot", retention_pb2.DeleteSnapshotRequest(ref=sid), OPERATOR)
    assert "expired" in w.last_audit()["detail"]


def test_lock_extension_by_reference_old_chunk_reused_years_later(w):
    old, other = make_blob(), make_blob()
    w.put(old, other)
    first = w.commit([old[0], other[0]], days=30)  # year 0: 30 days
    w.clock.t += 3 * YEAR  # three years later the same chunk is reused ...
    second = w.commit([old[0]], days=365, mode=COMPLIANCE)  # ... by a one-year snapshot
    w.catalog.delete_snapshot(first)  # the old snapshot expired long ago
    report = w.prune()
    assert report.chunks == 1 and not w.store.has(other[0])
    assert w.store.has(old[0])  # locked by the new snapshot
    why = w.catalog.chunk_lock(old[0], w.clock.t)
    assert "referenced by live snapshot" in why
    with pytest.raises(Exception, match="referenced by live snapshot"):
        w.store.delete(old[0])  # the store refuses, even asked by the vault's own code
    w.clock.t += 365 * DAY_NS
    w.catalog.delete_expired([second], w.clock.t)
    assert w.prune().chunks == 1 and not w.store.has(old[0])


def test_chunk_lock_survives_a_lost_snapshot_row(w):
    a = make_blob()
    w.put(a)
    sid = w.commit([a[0]], days=30, mode=COMPLIANCE)
    # Someone removes the snapshot rows behind the rules' back (another connection to the
    # catalog's file): the chunk lock remains.
    with contextlib.closing(sqlite3.connect(w.catalog.path, isolation_level=None)) as db:
        db.execute("DELETE FROM snapshot_chunks WHERE snapshot_id = ?", (sid,))
        db.execute("DELETE FROM snapshots WHERE id = ?", (sid,))
    assert "locked by reference until" in w.catalog.chunk_lock(a[0], w.clock.t)
    assert w.prune().chunks == 0 and w.store.has(a[0])


def test_prune_dry_run_by_default_reports_then_deletes_expired_unheld(w):
    a, b, c = make_blob(), make_blob(), make_blob()
    w.put(a, b, c)
    expired = w.commit([a[0], b[0]], days=0)
    held = w.commit([c[0]], days=0)
    w.catalog.set_legal_hold(held, True, "case")
    keep = w.commit([b[0]], days=30)
    dry = w.call("Prune", retention_pb2.PruneRequest(dry_run=True))
    assert list(dry.snapshots) == [expired] and dry.chunks == 1 and dry.bytes == len(a[1])
    assert list(dry.kept_locked) == [held]
    assert w.store.has(a[0]) and len(w.catalog.list_snapshots()) == 3
    assert w.last_audit()["action"] == "prune.dry-run"
    done = w.call("Prune", retention_pb2.PruneRequest(dry_run=False))
    assert list(done.snapshots) == [expired] and done.chunks == 1
    assert not w.store.has(a[0]) and w.store.has(b[0]) and w.store.has(c[0])
    assert {s.id for s in w.catalog.list_snapshots()} == {held, keep}
    actions = [json.loads(e.record)["action"] for e in w.audit.entries()]
    assert actions[-2:] == ["snapshot.delete", "prune"]


def test_prune_keeps_chunks_leased_to_an_upload_until_the_lease_ends(w):
    a = make_blob()
    w.put(a, lease=T0 + DAY_NS)  # put, not committed yet
    b = make_blob()
    w.put(b)
    assert w.catalog.missing_chunks([b[0]], lease_until_ns=T0 + DAY_NS) == []  # "present"
    assert w.prune().chunks == 0 and w.store.has(a[0]) and w.store.has(b[0])
    w.clock.t += DAY_NS
    assert w.prune().chunks == 2


def test_a_chunk_reported_present_after_prune_listed_it_is_not_deleted(w):
    """Prune re-checks leases inside its delete transaction: a FindMissing answer between
    the candidate list and the delete keeps the chunk."""
    a = make_blob()
    w.put(a)
    assert [c for c, _ in w.catalog.gc_candidates(T0)] == [a[0]]
    assert w.catalog.missing_chunks([a[0]], lease_until_ns=T0 + DAY_NS) == []  # "present"
    assert w.catalog.forget_chunks([a[0]], T0) == []
    assert w.catalog.has_chunk(a[0])


def test_a_restarted_vault_leases_every_chunk_it_holds_for_lease_hours(w, tmp_path):
    """Leases live in memory: after a restart (a new Catalog on the same file) none are
    left, so vaultd leases every chunk with a row from its start; blobs without a row are
    not covered (no upload was ever told they are present)."""
    a, b, orphan = make_blob(), make_blob(), make_blob()
    w.put(a)
    assert w.catalog.missing_chunks([a[0]], lease_until_ns=T0 + DAY_NS) == []  # "present"
    w.put(b)  # never announced
    w.store.put(*orphan)  # a crash between store and catalog
    w.catalog.close()
    w.clock.t += 3_600_000_000_000  # restarted an hour later
    w.catalog = Catalog(tmp_path / "catalog.sqlite", clock=w.clock)
    w.store.set_lock_oracle(CatalogLocks(w.catalog, w.clock))
    restart = w.clock.t
    w.catalog.hold_all_leases(restart + DAY_NS)
    report = w.prune()
    assert (report.chunks, report.orphans) == (0, 1) and not w.store.has(orphan[0])
    assert w.store.has(a[0]) and w.store.has(b[0])
    assert "leased to an upload until" in CatalogLocks(w.catalog, w.clock).why_locked(b[0])
    w.clock.t = restart + DAY_NS - 1
    assert w.prune(dry_run=True).chunks == 0
    w.clock.t = restart + DAY_NS
    assert w.prune().chunks == 2 and not w.store.has(a[0]) and not w.store.has(b[0])


def test_prune_removes_blobs_left_without_rows(w):
    a = make_blob()
    w.store.put(*a)  # a crash between store and catalog
    assert w.prune(dry_run=True).orphans == 1
    assert w.prune().orphans == 1 and not w.store.has(a[0])


def test_prune_skips_a_blob_the_store_itself_still_locks_and_frees_it_later(w):
    """The catalog's lock passed but the store's own lock has not (an S3 object lock rounded
    up by lock_step_days): prune drops the row, keeps the blob, counts nothing freed, and a
    later prune removes it as a blob without a row once the store lets it go."""
    a, b = make_blob(), make_blob()
    w.put(a, b)
    gone = w.commit([a[0], b[0]], days=0)
    w.store.object_lock(a[0])
    report = w.prune()
    assert report.snapshots == [gone]
    assert (report.chunks, report.bytes) == (1, len(b[1]))  # only what was really freed
    assert w.store.has(a[0]) and not w.store.has(b[0])
    assert not w.catalog.has_chunk(a[0])  # rowless: a re-upload records it again
    again = w.prune()
    assert (again.chunks, again.orphans) == (0, 0) and w.store.has(a[0])
    w.store.object_unlock(a[0])
    assert w.prune(dry_run=True).orphans == 1
    assert w.prune().orphans == 1 and not w.store.has(a[0])


def test_scrub_reports_damage_with_snapshots(w):
    a, b = make_blob(), make_blob()
    w.put(a, b)
    sid = w.commit([a[0], b[0]])
    w.store.rot(a[0], b"rotten")  # bit rot at rest
    w.store.lose(b[0])  # and a lost file
    report = w.call("Scrub", retention_pb2.ScrubRequest())
    problems = {d.chunk_id: (d.problem, list(d.snapshots)) for d in report.damaged}
    assert problems[a[0]][0].startswith("hash mismatch") and problems[a[0]][1] == [sid]
    assert problems[b[0]][0] == "blob missing from the store"
    entry = w.last_audit()
    assert (entry["action"], entry["outcome"]) == ("scrub", "error")
    assert a[0].hex()[:16] in entry["detail"]
    assert scrub(w.catalog, w.store, w.clock).blobs == 1


def test_scrub_names_legacy_blobs_no_snapshot_can_use(w):
    """A vault poisoned before format v2 (junk stored under a keyed v1 id another node then
    deduplicated on): scrub names the blob and the snapshots it spoils; a well-formed v1
    blob of its own id passes."""
    poisoned_id, honest_id = os.urandom(32), os.urandom(32)
    junk = os.urandom(200)
    v1 = b"BWB1\x01\x00\x00\x00" + honest_id + os.urandom(12 + 100 + 16)
    w.put((poisoned_id, junk, blake3.blake3(junk).digest()),
          (honest_id, v1, blake3.blake3(v1).digest()))
    sid = w.commit([poisoned_id, honest_id])
    report = w.call("Scrub", retention_pb2.ScrubRequest())
    problems = {d.chunk_id: (d.problem, list(d.snapshots)) for d in report.damaged}
    assert list(problems) == [poisoned_id]
    assert problems[poisoned_id][0].startswith("unusable: not a blob of this chunk id")
    assert problems[poisoned_id][1] == [sid]
    entry = w.last_audit()
    assert (entry["action"], entry["outcome"]) == ("scrub", "error")
