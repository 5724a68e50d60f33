"""agent.daemon.run: what a partial or failed backup of a set leaves for systemd and
monitoring (issue 13): a log line per path, the counts in the metrics, the set in STATUS=.

``run_backup`` is replaced here to hand the daemon exact results (the logic under test is
the daemon's reporting); tests/e2e/test_daemon.py makes a real daemon meet a real unreadable
file against a real vaultd."""

from __future__ import annotations

import logging

import pytest

from bulwark.agent.backup.run import BackupResult
from bulwark.agent.client.vault import SnapshotInfo, VaultClient
from bulwark.agent.daemon import run as daemon_run
from bulwark.agent.daemon.config import load_daemon_config
from bulwark.agent.daemon.run import Daemon
from bulwark.agent.daemon.sdnotify import Notifier
from bulwark.agent.errors import VaultError
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from bulwark.agent.site.init import init_site
from tests.e2e.conftest import free_port


@pytest.fixture
def daemon(tmp_path):
    site = tmp_path / "site"
    init_site(site, free_port(), "gpu-1")
    path = site / "daemon.toml"
    path.write_text((site / "agent.toml").read_text() + f"""
[[backup_set]]
name = "ckpt"
paths = ["{tmp_path / 'data'}"]
schedule = "0 0 1 1 *"

[daemon]
state_dir = "{tmp_path / 'state'}"
""")
    config = load_agent_config(path)
    with VaultClient.from_config(config) as client:  # never called: run_backup is replaced
        yield Daemon(config, load_daemon_config(path), load_keyring(config.key_file, config.node),
                     client, Notifier({}))


def result(skipped=(), changed=()) -> BackupResult:
    info = SnapshotInfo(id="ab" * 32, time_ns=1, node="gpu-1", tags=(), paths=("/data",),
                        files=3, bytes=30, chunk_count=1, header=b"", signature=b"")
    return BackupResult(info, files=3, bytes=30, new_bytes=0, new_chunks=0, files_read=3,
                        duration_s=0.1, skipped=list(skipped), changed=list(changed))


def sample(daemon: Daemon, name: str) -> float | None:
    return daemon.metrics.registry.get_sample_value(name, {"set": "ckpt"})


def test_a_partial_backup_is_logged_counted_and_in_the_status(daemon, monkeypatch, caplog):
    partial = result(skipped=[("/data/bad\udcffname", "cannot read: Permission denied"),
                              ("/data/locked", "cannot list: Permission denied")],
                     changed=["/data/growing.log"])
    monkeypatch.setattr(daemon_run, "run_backup", lambda *a, **kw: partial)
    [spec] = daemon.daemon.backup_sets
    with caplog.at_level(logging.INFO, logger="vault-agent"):
        assert daemon.backup(spec) is partial
    assert sample(daemon, "bulwark_backup_last_skipped") == 2
    assert sample(daemon, "bulwark_backup_last_changed") == 1
    assert sample(daemon, "bulwark_backup_skipped_total") == 2
    assert sample(daemon, "bulwark_backup_changed_total") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "backup ckpt: skipped /data/bad\\xffname: cannot read: Permission denied",
        "backup ckpt: skipped /data/locked: cannot list: Permission denied",
        "backup ckpt: /data/growing.log changed while it was read (stored, flagged in the "
        "snapshot)",
        f"backup ckpt: PARTIAL: snapshot {'ab' * 6}: 2 skipped (not in it), 1 changed while "
        "read (flagged)",
    ]
    assert daemon.status_text([]) == "idle; ckpt: 2 skipped, 1 changed"
    assert daemon.status_text(["data"]) == "running data; ckpt: 2 skipped, 1 changed"

    monkeypatch.setattr(daemon_run, "run_backup", lambda *a, **kw: result())  # clean again
    daemon.backup(spec)
    assert sample(daemon, "bulwark_backup_last_skipped") == 0
    assert sample(daemon, "bulwark_backup_skipped_total") == 2  # totals only grow
    assert daemon.status_text([]) == "idle"


def test_a_failed_backup_is_in_the_status_until_one_succeeds(daemon, monkeypatch):
    def fail(*a, **kw):
        raise VaultError("cannot reach the vault at 127.0.0.1:1: down")

    monkeypatch.setattr(daemon_run, "run_backup", fail)
    [spec] = daemon.daemon.backup_sets
    assert daemon.backup(spec) is None
    assert daemon.status_text([]) == "idle; ckpt: FAILED"
    assert sample(daemon, "bulwark_backup_failures_total") == 1
    monkeypatch.setattr(daemon_run, "run_backup", lambda *a, **kw: result())
    daemon.backup(spec)
    assert daemon.status_text([]) == "idle"
