"""The audit log's space reserve: its size, release, the rate-limited re-creation, giving up
quietly when it cannot be written, and ``[audit]`` in vault.toml. On a really full disk:
tests/e2e/test_audit_reserve.py."""

from __future__ import annotations

import logging

import pytest

from bulwark.vault.audit.reserve import DEFAULT_SIZE, RETRY_S, ReserveSettings, SpaceReserve
from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ensure_writes_exactly_size_bytes_and_release_frees_them(tmp_path):
    reserve = SpaceReserve(tmp_path / "r", size=(1 << 20) + 5, retry_s=60, monotonic=Ticks())
    assert not reserve.held
    assert reserve.ensure() and reserve.held
    assert (tmp_path / "r").stat().st_size == (1 << 20) + 5
    assert reserve.release() and not (tmp_path / "r").exists()
    assert not reserve.release()  # nothing left to give back


def test_after_a_release_the_reserve_comes_back_only_after_retry_s(tmp_path):
    ticks = Ticks()
    reserve = SpaceReserve(tmp_path / "r", size=4096, retry_s=60, monotonic=ticks)
    assert reserve.ensure()
    reserve.release()
    assert not reserve.ensure() and not (tmp_path / "r").exists()
    ticks.now += 59.9
    assert not reserve.ensure()
    ticks.now += 0.2
    assert reserve.ensure() and reserve.held


def test_a_reserve_that_cannot_be_written_is_given_up_quietly_and_retried_later(
        tmp_path, caplog):
    ticks = Ticks()
    missing = tmp_path / "gone" / "r"  # its folder does not exist: the write fails
    reserve = SpaceReserve(missing, size=4096, retry_s=60, monotonic=ticks)
    with caplog.at_level(logging.WARNING, logger="bulwark.vault.audit.reserve"):
        assert not reserve.ensure()
    assert f"cannot keep 4096 bytes in reserve at {missing}" in caplog.text
    missing.parent.mkdir()
    assert not reserve.ensure()  # not before retry_s
    ticks.now += 60
    assert reserve.ensure() and missing.stat().st_size == 4096


def test_size_zero_keeps_no_reserve(tmp_path):
    reserve = SpaceReserve(tmp_path / "r", size=0)
    assert not reserve.ensure() and not reserve.held and not reserve.release()
    assert not (tmp_path / "r").exists()


def test_audit_table_of_vault_toml(tmp_path):
    path = tmp_path / "vault.toml"
    path.write_text("[server]\ninsecure = true\n")
    assert load_config(path).audit_reserve == ReserveSettings(DEFAULT_SIZE, RETRY_S)
    path.write_text("[server]\ninsecure = true\n[audit]\nreserve_bytes = 0\n"
                    "reserve_retry_seconds = 5\n")
    assert load_config(path).audit_reserve == ReserveSettings(0, 5.0)


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("reserve_bytes = -1", "audit.reserve_bytes", "between 0 and 1073741824"),
    ("reserve_bytes = 2147483648", "audit.reserve_bytes", "between 0 and 1073741824"),
    ('reserve_bytes = "8M"', "audit.reserve_bytes", "must be an integer"),
    ("reserve_retry_seconds = -1", "audit.reserve_retry_seconds", "between 0 and 86400"),
    ("reserve_size = 1", "audit.reserve_size", "unknown key"),
])
def test_bad_audit_settings_name_the_key(tmp_path, text, key, reason):
    path = tmp_path / "vault.toml"
    path.write_text(f"[server]\ninsecure = true\n[audit]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and key in str(err.value) and reason in str(err.value)
