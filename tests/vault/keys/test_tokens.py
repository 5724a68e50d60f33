"""Join tokens (vault/keys/tokens.py) on a real SQLite file and a FakeClock: stored hashed, checked
in the documented order with a message that says which check refused, counted exactly under
concurrent joins, refunded, revoked."""

from __future__ import annotations

import hashlib
import threading

import pytest

from bulwark.vault.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    StorageError,
    Unauthenticated,
)
from bulwark.vault.keys.tokens import MAX_BUNDLE_BYTES, TokenStore, auth_hash
from tests.lib.clock import FakeClock

SECRET = b"s" * 32
TID = "0123456789abcdef"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(tmp_path, clock):
    s = TokenStore(tmp_path / "tokens.sqlite", clock)
    yield s
    s.close()


def make(store, token_id=TID, *, name="", prefix="gpu-", ttl_s=3600, uses=1, role="node",
         bundle=b"sealed"):
    return store.create(token_id, auth_hash(SECRET), role, name, prefix, ttl_s, uses, "operator",
                        bundle)


def test_the_secret_is_stored_only_as_its_hash_and_survives_a_reopen(tmp_path, store, clock):
    made = make(store)
    assert (made.used, made.uses, made.created_by) == (0, 1, "operator")
    raw = (tmp_path / "tokens.sqlite").read_bytes()
    assert SECRET not in raw and hashlib.sha256(SECRET).digest() in raw
    again = TokenStore(tmp_path / "tokens.sqlite", clock)
    try:
        assert again.get(TID) == made
    finally:
        again.close()


@pytest.mark.parametrize("change, words", [
    ({"token_id": "XYZ"}, "token_id 'XYZ': expected 16 lowercase hex digits"),
    ({"role": "root"}, "role 'root': expected one of"),
    ({"name": "gpu-1"}, "give exactly one of name and prefix"),
    ({"prefix": ""}, "give exactly one of name and prefix"),
    ({"ttl_s": 0}, "ttl 0s: must be 1s..30d"),
    ({"ttl_s": 31 * 86400}, "must be 1s..30d"),
    ({"uses": 0}, "uses 0: must be 1..100000"),
    ({"bundle": b"x" * (MAX_BUNDLE_BYTES + 1)}, "sealed_bundle: 4097 bytes, at most 4096"),
])
def test_create_names_the_field_that_is_wrong(store, change, words):
    with pytest.raises(InvalidRequest, match=words):
        make(store, **change)
    assert store.tokens() == []


def test_a_bad_hash_and_a_duplicate_id_are_refused(store):
    with pytest.raises(InvalidRequest, match="auth_hash: 5 bytes, expected 32"):
        store.create(TID, b"short", "node", "", "gpu-", 60, 1, "operator")
    make(store)
    with pytest.raises(InvalidRequest, match=f"token {TID}: exists already"):
        make(store)


def test_redeem_counts_a_use_and_returns_the_sealed_bundle(store):
    make(store, uses=2)
    token, bundle = store.redeem(TID, SECRET, "gpu-1", "node")
    assert (token.used, bundle) == (1, b"sealed")


@pytest.mark.parametrize("case, error, words", [
    ("unknown", Unauthenticated, "'ffffffffffffffff': unknown token or wrong secret"),
    ("wrong-secret", Unauthenticated, f"'{TID}': unknown token or wrong secret"),
    ("revoked", Unauthenticated, f"join token {TID}: revoked at 2025-06-15T15:06:40Z"),
    ("expired", Unauthenticated, f"join token {TID}: expired at 2025-06-15T16:06:40Z"),
    ("used-up", Unauthenticated, f"join token {TID}: already used 1 of 1 time(s)"),
    ("other-prefix", PermissionDenied, "is for names starting 'gpu-', not 'cpu-1'"),
    ("other-role", PermissionDenied, "is for role 'node', the request asks for 'operator'"),
])
def test_each_refusal_says_which_check_refused_and_counts_nothing(store, clock, case, error,
                                                                   words):
    make(store)
    token_id, secret, name, role = TID, SECRET, "gpu-1", "node"
    if case == "unknown":
        token_id = "f" * 16
    elif case == "wrong-secret":
        secret = b"t" * 32
    elif case == "revoked":
        store.revoke(TID)
    elif case == "expired":
        clock.advance(seconds=3600)
    elif case == "used-up":
        store.redeem(TID, SECRET, "gpu-0", "node")
    elif case == "other-prefix":
        name = "cpu-1"
    elif case == "other-role":
        role = "operator"
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        store.redeem(token_id, secret, name, role)
    assert store.get(TID).used == (1 if case == "used-up" else 0)


def test_a_name_token_covers_that_name_only(store):
    make(store, name="gpu-7", prefix="")
    with pytest.raises(PermissionDenied, match="is for name 'gpu-7', not 'gpu-70'"):
        store.redeem(TID, SECRET, "gpu-70", "node")
    assert store.redeem(TID, SECRET, "gpu-7", "node")[0].used == 1


def test_k_concurrent_joins_never_exceed_k_uses(store):
    make(store, uses=5)
    outcomes: list[str] = []
    lock = threading.Lock()

    def join(i: int) -> None:
        try:
            store.redeem(TID, SECRET, f"gpu-{i}", "node")
            result = "ok"
        except Unauthenticated:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=join, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 11
    assert store.get(TID).used == 5


def test_refund_gives_a_use_back_and_never_goes_below_zero(store):
    make(store)
    store.redeem(TID, SECRET, "gpu-1", "node")
    store.refund(TID)
    assert store.get(TID).used == 0
    store.refund(TID)
    assert store.get(TID).used == 0
    assert store.redeem(TID, SECRET, "gpu-1", "node")[0].used == 1  # single use still usable


def test_revoke_keeps_the_first_time_and_unknown_ids_are_not_found(store, clock):
    make(store)
    first = store.revoke(TID).revoked_ns
    clock.advance(seconds=60)
    assert store.revoke(TID).revoked_ns == first
    with pytest.raises(NotFound, match="token ffffffffffffffff: no such token"):
        store.revoke("f" * 16)
    with pytest.raises(NotFound):
        store.get("f" * 16)


def test_listing_never_holds_secrets(store):
    make(store)
    make(store, "fedcba9876543210", name="gpu-2", prefix="")
    listed = store.tokens()
    assert [t.id for t in listed] == [TID, "fedcba9876543210"]
    assert all(not hasattr(t, "auth_hash") and not hasattr(t, "sealed_bundle") for t in listed)
    assert listed[1].scope() == "name 'gpu-2'" and listed[0].scope() == "names starting 'gpu-'"


def test_an_unwritable_store_is_a_storage_error(tmp_path, clock):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StorageError, match="token store"):
        TokenStore(tmp_path / "dir.sqlite", clock)
