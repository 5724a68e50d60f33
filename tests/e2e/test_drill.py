"""Restore drills against a real vaultd: isolation is real, damage fails the drill and
names the file, reports are signed, recorded and listed."""

from __future__ import annotations

import io
import json
import shutil
import socket
import tarfile
import tomllib
from pathlib import Path

import pytest

from bench.workload import write_safetensors
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from tests.e2e.forge import chunk_ids_of
from tests.e2e.test_hostile import corrupt, stored_blob


def drill_toml(site) -> Path:
    """The drill runner's configuration (it holds the restore key; agent.toml does not)."""
    return site.dir / "drill.toml"


def make_model_tree(root: Path) -> Path:
    write_safetensors(root / "ckpt" / "model.safetensors", [("w", [256, 256]), ("b", [256])],
                      lambda name, n: bytes(range(256)) * (2 * n // 256), {"step": "1"})
    with tarfile.open(root / "data" / "shard-000.tar", "w") as tar:
        for i in range(3):
            info = tarfile.TarInfo(f"{i:04d}.bin")
            info.size = 1000 + i
            tar.addfile(info, io.BytesIO(bytes([i]) * info.size))
    (root / "README").write_text("a model\n")
    return root


@pytest.fixture
def model(tmp_path) -> Path:
    (tmp_path / "src" / "data").mkdir(parents=True)
    return make_model_tree(tmp_path / "src")


def drill(site, *args):
    return site.ctl("drill", *args, "--json", config=drill_toml(site))


@pytest.mark.parametrize("site", ["fs", "s3"], indirect=True)  # issue 17
def test_clean_drill_passes_is_signed_recorded_and_listed(site, model):
    snap = site.backup(model)["snapshot"]
    result = drill(site, "latest", "--validate", "test -f ckpt/../README || ls -R >/dev/null")
    assert result.code == 0, result.err
    report = result.json()
    assert report["passed"] is True and report["failures"] == []
    assert report["snapshot"] == snap and report["isolation"] == "namespace"
    assert report["sandbox"]["interfaces"] == ["lo"] and report["sandbox"]["private_tmp"]
    assert report["files"] == 3 and report["bytes"] > 130_000
    assert report["rto_s"] > 0 and report["throughput_bytes_per_s"] > 0
    assert report["verify"]["files_checked"] == 3
    assert {(c["validator"], c["ok"]) for c in report["validators"]} == {
        ("safetensors", True), ("tar", True)}
    assert report["command"]["exit_code"] == 0

    listed = site.ctl("drills", "--json", config=drill_toml(site))
    assert listed.code == 0, listed.err
    [row] = listed.json()
    assert row["pass"] is True and row["snapshot"] == snap and row["signer"] == "tenant"
    assert row["id"] == report["record_id"]
    if tomllib.loads((site.dir / "vault.toml").read_text())["store"].get("type") == "s3":
        assert site.stop() == 0  # the vault host's disk is lost: the bucket keeps the record
        shutil.rmtree(site.dir / "state")
        site.start()
        again = site.ctl("drills", "--json", config=drill_toml(site))
        assert again.code == 0, again.err
        assert again.json() == listed.json()


def test_validate_command_cannot_reach_the_hosts_loopback(site, model):
    site.backup(model)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0)
        port = listener.getsockname()[1]
        probe = (f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), "
                 "timeout=3); print('CONNECTED')\"")
        result = drill(site, "latest", "--validate", probe, "--timeout", "20")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert result.code == 1
    report = result.json()
    assert report["passed"] is False
    assert report["command"]["exit_code"] not in (0, None)
    assert "CONNECTED" not in report["command"]["output_tail"]
    assert "Connection refused" in report["command"]["output_tail"]
    assert "validate command exited" in " ".join(report["failures"])
    [row] = site.ctl("drills", "--json", config=drill_toml(site)).json()
    assert row["pass"] is False


def test_corrupted_chunk_fails_the_drill_and_names_the_file(site, model):
    victim = model / "ckpt" / "model.safetensors"
    snapshot = site.backup(model)["snapshot"]
    config = load_agent_config(drill_toml(site))
    keyring = load_keyring(config.key_file, config.node)
    with VaultClient.from_config(config) as client:
        chunk_id = chunk_ids_of(client, keyring, snapshot, victim)[0]
    corrupt(stored_blob(site.store, chunk_id))
    result = drill(site, "latest")
    assert result.code == 1
    report = result.json()
    assert report["passed"] is False
    assert any(f.startswith(f"{victim}: not restored") for f in report["failures"])
    assert str(victim) in result.err and "FAILED" in result.err


def test_truncated_safetensors_fails_its_validator(site, model):
    victim = model / "ckpt" / "model.safetensors"
    victim.write_bytes(victim.read_bytes()[:-100])  # a checkpoint cut short while saving
    site.backup(model)
    result = drill(site, "latest")
    assert result.code == 1
    [check] = [c for c in result.json()["validators"] if c["validator"] == "safetensors"]
    assert check["ok"] is False and check["path"] == str(victim)
    assert "truncated" in check["detail"]
    assert f"{victim}: safetensors:" in " ".join(result.json()["failures"])


def test_isolation_none_is_recorded_and_timeout_kills_the_command(site, model):
    site.backup(model)
    result = drill(site, "latest", "--isolation", "none", "--validate", "sleep 30",
                   "--timeout", "1")
    assert result.code == 1
    report = result.json()
    assert report["isolation"] == "none" and report["command"]["timed_out"] is True
    assert report["rto_s"] < 20
    [row] = site.ctl("drills", "--json", config=drill_toml(site)).json()
    assert row["isolation"] == "none" and row["pass"] is False
    human = site.ctl("drills", config=drill_toml(site))
    assert "FAIL" in human.out and "none" in human.out


def test_write_only_node_config_cannot_run_drills(site, model):
    site.backup(model)
    result = site.ctl("drill", "latest", config=site.agent_toml)
    assert result.code == 2 and "write-only" in result.err


def test_vault_refuses_a_report_with_a_bad_signature(site, model):
    from bulwark.agent.client.vault import VaultClient
    from bulwark.agent.errors import VaultError

    config = load_agent_config(drill_toml(site))
    report = json.dumps({"format": "bulwark-drill-report", "version": 1, "snapshot": "x",
                         "node": "n", "passed": True}).encode()
    factory = getattr(VaultClient, "from_config", None)
    client = factory(config) if factory else VaultClient(config.vault_address)
    with client, pytest.raises(VaultError, match="signature"):
        client.record_drill(report, bytes(64), bytes(32))
