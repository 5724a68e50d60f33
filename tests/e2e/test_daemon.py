"""``vault-agent run`` against a real vaultd: config errors exit 2, a missed run is caught
up at start, metrics report it, SIGTERM stops within the bound, and an interrupted backup
resumes without re-sending what the vault already holds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bulwark.agent.backup.run import BackupCancelled, run_backup
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import BIN
from tests.lib.trees import WITHOUT_DAC

STOP_BOUND_S = 10


def add_daemon_tables(site, data: Path, schedule: str = "0 0 1 1 *") -> Path:
    config = site.dir / "daemon-agent.toml"
    config.write_text(site.agent_toml.read_text() + f"""
[[backup_set]]
name = "small"
paths = ["{data}"]
exclude = ["*.tmp"]
schedule = "{schedule}"

[metrics]
listen = "127.0.0.1:0"
""")
    return config


def test_bad_schedule_exits_2_naming_file_and_key(site, tmp_path):
    config = add_daemon_tables(site, tmp_path, schedule="every day")
    result = site.agent("run", config=config)
    assert result.code == 2
    assert str(config) in result.err and "[[backup_set]] #1 ('small') schedule" in result.err


def test_missed_run_is_caught_up_metrics_show_it_and_sigterm_stops(site, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(os.urandom(300_000))
    (data / "skip.tmp").write_bytes(b"excluded")
    config = add_daemon_tables(site, data)
    state = site.dir / "state"
    state.mkdir()
    long_ago = datetime.now(UTC) - timedelta(days=400)  # the yearly firing was missed
    (state / "last_runs.json").write_text(json.dumps({"small": long_ago.isoformat()}))
    proc = subprocess.Popen([BIN / "vault-agent", "--config", config, "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline and proc.poll() is None:
            addr = state / "metrics.addr"
            if addr.exists():
                url = f"http://{addr.read_text().strip()}/metrics"
                text = urllib.request.urlopen(url, timeout=5).read().decode()
                if 'bulwark_backup_last_success_timestamp_seconds{set="small"}' in text:
                    break
            time.sleep(0.1)
        assert 'bulwark_backup_last_success_timestamp_seconds{set="small"}' in text, text
        assert 'bulwark_backup_new_chunks_total{set="small"}' in text
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_BOUND_S) == 0
        assert time.monotonic() - started < STOP_BOUND_S
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    assert "missed while down, running once now: small" in err
    [snap] = site.ctl("snapshots", "--json").json()
    assert "set:small" in snap["tags"] and snap["files"] == 1  # skip.tmp excluded
    assert datetime.fromisoformat(json.loads((state / "last_runs.json").read_text())["small"]) \
        > long_ago


def test_interrupted_backup_resumes_without_resending(site, tmp_path):
    data = tmp_path / "big"
    data.mkdir()
    for i in range(8):
        (data / f"shard-{i}.bin").write_bytes(os.urandom(4 << 20))  # incompressible
    total = 32 << 20
    config = load_agent_config(site.agent_toml)
    keyring = load_keyring(config.key_file, config.node)
    factory = getattr(VaultClient, "from_config", None)
    read = 0

    def progress(done: int, _total: int, _path: str) -> None:
        nonlocal read
        read = done

    with (factory(config) if factory else VaultClient(config.vault_address)) as client:
        try:
            run_backup(client, keyring, [str(data)], [], config.cache_dir, 2,
                       on_progress=progress, should_stop=lambda: read >= total // 2)
            raise AssertionError("the backup was not interrupted")
        except BackupCancelled:
            pass
        assert site.ctl("snapshots", "--json").json() == []  # nothing committed
        second = run_backup(client, keyring, [str(data)], [], config.cache_dir, 2)
    # The first half reached the vault before the stop; the second run sends the rest only.
    assert 0.3 * total < second.new_bytes < 0.7 * total, second.new_bytes
    assert second.files == 8


def test_each_backup_set_keeps_its_own_file_cache(site, tmp_path):
    """Two sets run one after the other: neither makes the other read its files again."""
    from bulwark.agent.daemon.config import load_daemon_config
    from bulwark.agent.daemon.run import Daemon, set_cache_dir
    from bulwark.agent.daemon.sdnotify import Notifier

    sets = {}
    for name in ("ckpt", "data/shards"):
        folder = tmp_path / name.replace("/", "-")
        folder.mkdir()
        for i in range(3):
            (folder / f"f{i}").write_bytes(os.urandom(100_000))
        sets[name] = folder
    config_path = site.dir / "two-sets.toml"
    config_path.write_text(site.agent_toml.read_text() + "".join(f"""
[[backup_set]]
name = "{name}"
paths = ["{folder}"]
schedule = "0 0 1 1 *"
""" for name, folder in sets.items()) + f"""
[daemon]
state_dir = "{tmp_path / 'state'}"
""")
    config = load_agent_config(config_path)
    keyring = load_keyring(config.key_file, config.node)
    with VaultClient.from_config(config) as client:
        daemon = Daemon(config, load_daemon_config(config_path), keyring, client, Notifier())
        ckpt, shards = daemon.daemon.backup_sets
        reads = [daemon.backup(s).files_read for s in (ckpt, shards, ckpt, shards)]
    assert reads == [3, 3, 0, 0]
    folders = {set_cache_dir(config.cache_dir, s.name) for s in (ckpt, shards)}
    assert len(folders) == 2 and all((f / "files.sqlite").is_file() for f in folders)
    assert set_cache_dir(config.cache_dir, "data/shards").parent == config.cache_dir / "sets"


def test_a_partial_backup_shows_in_the_log_the_metrics_and_systemd_status(site, tmp_path):
    """A set whose backup could not read a file (a daemon without DAC override, as the unit
    runs it) is committed and reported: log line, metrics and STATUS= (issue 13)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.bin").write_bytes(b"readable\n")
    secret = data / "secret.bin"
    secret.write_bytes(b"mode 000\n")
    secret.chmod(0)
    config = add_daemon_tables(site, data)
    state = site.dir / "state"
    state.mkdir()
    long_ago = datetime.now(UTC) - timedelta(days=400)  # runs once, right away
    (state / "last_runs.json").write_text(json.dumps({"small": long_ago.isoformat()}))
    name = f"@bulwark-test-{os.getpid()}-{time.monotonic_ns()}"
    statuses: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:])
        sock.settimeout(0.5)
        proc = subprocess.Popen([*WITHOUT_DAC, BIN / "vault-agent", "--config", config, "run"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "NOTIFY_SOCKET": name})
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    message = sock.recv(4096).decode()
                except TimeoutError:
                    continue
                statuses += [line[7:] for line in message.splitlines()
                             if line.startswith("STATUS=")]
                if statuses and statuses[-1] == "idle; small: 1 skipped, 0 changed":
                    break
            addr = (state / "metrics.addr").read_text().strip()
            text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=STOP_BOUND_S) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
    assert statuses[-1] == "idle; small: 1 skipped, 0 changed", (statuses, err)
    assert 'bulwark_backup_last_skipped{set="small"} 1.0' in text
    assert 'bulwark_backup_skipped_total{set="small"} 1.0' in text
    assert 'bulwark_backup_last_changed{set="small"} 0.0' in text
    assert f"backup small: skipped {secret}: cannot read: Permission denied" in err
    [snap] = site.ctl("snapshots", "--json").json()
    assert snap["files"] == 1  # committed, with what could be read
