"""The real ``vaultd`` process: port file, health over gRPC, graceful SIGTERM, config errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
STAMPED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) ")


def vaultd(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TZ="JST-9")  # log stamps are UTC regardless
    return subprocess.Popen(
        [sys.executable, "-m", "bulwark.vault.cli", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_port(port_file: Path, proc: subprocess.Popen, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if proc.poll() is not None:
            raise AssertionError(f"vaultd exited early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("vaultd did not write its port file")


def test_serves_health_and_stops_on_sigterm(tmp_path):
    config = tmp_path / "vault.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:0"\ninsecure = true\n[store]\npath = "data"\n')
    port_file = tmp_path / "port"
    proc = vaultd("--config", str(config), "--port-file", str(port_file), "--init-store")
    try:
        port = wait_for_port(port_file, proc)
        assert port > 0
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            resp = stub.Check(health_pb2.HealthCheckRequest(service="bulwark.v1.Vault"), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"vaultd listening on 127.0.0.1:{port}" in err
    assert "INSECURE: [server] insecure = true" in err  # loud, at every start
    # every line says when, in ISO 8601 UTC, and how bad (issue 13)
    lines = err.splitlines()
    assert lines and all(STAMPED.match(line) for line in lines), err
    stamp = dt.datetime.strptime(lines[0][:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC)
    assert abs(stamp.timestamp() - time.time()) < 120
    assert (tmp_path / "data" / "catalog.sqlite").exists()


def test_bad_config_exits_2_naming_file_and_key(tmp_path):
    config = tmp_path / "vault.toml"
    config.write_text('[server]\nlisten = "nowhere"\n')
    proc = vaultd("--config", str(config))
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2
    assert str(config) in err and "server.listen" in err
    assert STAMPED.match(err) and " ERROR " in err


def test_a_store_path_that_names_no_store_exits_2_and_creates_nothing(tmp_path):
    """Issue 13 item 12: a mistyped [store] path is not a new empty vault."""
    config = tmp_path / "vault.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:0"\ninsecure = true\n'
                      '[store]\npath = "stroe"\n')
    proc = vaultd("--config", str(config))
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2, err
    assert f"{config}: store.path: {tmp_path / 'stroe'} does not exist" in err
    assert not (tmp_path / "stroe").exists()


def test_reindex_refuses_a_vault_on_the_filesystem_store_and_json_needs_it(tmp_path):
    """``vaultd --reindex`` rebuilds from an S3 bucket's records (tests/e2e/test_s3_store.py);
    the filesystem store keeps none, so it is a usage error that touches nothing."""
    config = tmp_path / "vault.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:0"\ninsecure = true\n'
                      '[store]\npath = "data"\n')
    proc = vaultd("--config", str(config), "--reindex")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2, err
    assert f"{config}: store: --reindex rebuilds the catalog from an S3 bucket" in err
    assert not (tmp_path / "data").exists()
    proc = vaultd("--config", str(config), "--json")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and "--json goes with --reindex" in err
    proc = vaultd("--config", str(config), "--take-over")  # issue 17: S3 only as well
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and f"{config}: --take-over applies only to the S3 store" in err
    assert not (tmp_path / "data").exists()


def test_a_second_vaultd_on_the_same_store_is_refused(tmp_path):
    """Issue 13 item 11: the second vaultd exits 1 naming the holder; the first serves on."""
    config = tmp_path / "vault.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:0"\ninsecure = true\n[store]\npath = "data"\n')
    first = vaultd("--config", str(config), "--port-file", str(tmp_path / "port"), "--init-store")
    try:
        port = wait_for_port(tmp_path / "port", first)
        in_flight = tmp_path / "data" / "tmp" / "put.tmp"
        in_flight.write_bytes(b"x")
        second = vaultd("--config", str(config))
        _, err = second.communicate(timeout=15)
        assert second.returncode == 1, err
        assert f"store {tmp_path / 'data'} is in use by another vaultd (pid {first.pid} " in err
        assert in_flight.exists()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=15)
    assert first.returncode == 0


def test_an_older_vaultd_refuses_a_newer_store(tmp_path):
    """Issue 16 item 5: a store whose format is newer than this vaultd's is refused, untouched."""
    from bulwark.protos.contract import STORE_FORMAT_VERSION, STORE_MARKER_NAME

    store = tmp_path / "data"
    store.mkdir()
    marker = store / STORE_MARKER_NAME
    marker.write_text(json.dumps({"format": "bulwark-store", "vault_id": "ab",
                                  "version": STORE_FORMAT_VERSION + 1}))
    config = tmp_path / "vault.toml"
    config.write_text('[server]\nlisten = "127.0.0.1:0"\ninsecure = true\n[store]\npath = "data"\n')
    proc = vaultd("--config", str(config))
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1, err
    assert "was written by a newer vaultd" in err and "Upgrade vaultd" in err
    assert sorted(p.name for p in store.iterdir()) == [STORE_MARKER_NAME]
