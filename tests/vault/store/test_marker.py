"""The store marker: vaultd serves only a store that was made on purpose, in a format it reads."""

from __future__ import annotations

import json

import pytest

from bulwark.protos.contract import STORE_FORMAT_VERSION, STORE_MARKER_NAME
from bulwark.vault.errors import ConfigError, StorageError
from bulwark.vault.store.marker import check_store, init_store, read_marker


def test_init_store_writes_a_marker_that_check_store_reads(tmp_path):
    made = init_store(tmp_path / "store")
    doc = json.loads((tmp_path / "store" / STORE_MARKER_NAME).read_bytes())
    assert doc["format"] == "bulwark-store" and doc["version"] == STORE_FORMAT_VERSION
    assert len(doc["vault_id"]) == 32 and doc["vault_id"] == made.vault_id
    assert check_store(tmp_path / "store") == made
    assert init_store(tmp_path / "store") == made  # idempotent: the id never changes


@pytest.mark.parametrize("shape", ["missing", "empty", "file", "other"])
def test_a_folder_that_is_no_store_is_refused_and_left_alone(tmp_path, shape):
    root = tmp_path / "stroe"  # a typo of "store"
    if shape == "empty":
        root.mkdir()
    elif shape == "file":
        root.write_text("x")
    elif shape == "other":
        root.mkdir()
        (root / "notes.txt").write_text("someone else's")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ConfigError, match=rf"store.path: {root} .*vaultctl init"):
        check_store(root)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created


def test_init_store_refuses_a_folder_with_content(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="not an empty folder"):
        init_store(tmp_path)
    assert not (tmp_path / STORE_MARKER_NAME).exists()


def test_a_store_from_before_markers_is_adopted(tmp_path, caplog):
    (tmp_path / "data").mkdir()
    (tmp_path / "catalog.sqlite").write_bytes(b"")
    marker = check_store(tmp_path)
    assert marker.version == STORE_FORMAT_VERSION
    assert read_marker(tmp_path) == marker
    assert "predates store markers" in caplog.text


def test_a_newer_store_is_refused_with_upgrade_advice(tmp_path):
    (tmp_path / STORE_MARKER_NAME).write_text(json.dumps(
        {"format": "bulwark-store", "version": STORE_FORMAT_VERSION + 1, "vault_id": "ab"}))
    with pytest.raises(StorageError, match=rf"format version {STORE_FORMAT_VERSION + 1} was "
                       rf"written by a newer vaultd; this vaultd reads versions up to "
                       rf"{STORE_FORMAT_VERSION}\. Upgrade vaultd"):
        check_store(tmp_path)


@pytest.mark.parametrize("text", ["{", "[]", '{"format": "zip", "version": 1, "vault_id": "a"}',
                                  '{"format": "bulwark-store", "version": "1", "vault_id": "a"}',
                                  '{"format": "bulwark-store", "version": 1}'])
def test_a_damaged_marker_is_named(tmp_path, text):
    (tmp_path / STORE_MARKER_NAME).write_text(text)
    with pytest.raises(StorageError, match=f"store marker {tmp_path / STORE_MARKER_NAME}: not a"):
        check_store(tmp_path)
