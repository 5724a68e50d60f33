"""End-to-end fixtures: a real site made by ``vaultctl init``, a real ``vaultd`` process
on an ephemeral loopback port, and the three CLIs run as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_channel(site_dir: Path, address: str, role: str = "operator") -> grpc.Channel:
    """An mTLS channel with the site's ``<role>.toml`` identity (agent.client.channel decides)."""
    from bulwark.agent.client.channel import channel_for
    from bulwark.agent.site.config import load_agent_config

    config_name = "agent.toml" if role == "node" else f"{role}.toml"
    config = load_agent_config(site_dir / config_name)
    return channel_for(config) if address == config.vault_address else grpc.secure_channel(
        address, grpc.ssl_channel_credentials(
            config.tls.ca.read_bytes(), config.tls.key.read_bytes(), config.tls.cert.read_bytes()))


def wait_healthy(address: str, proc: subprocess.Popen, timeout: float = 20.0,
                 site_dir: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    channel_cm = tls_channel(site_dir, address) if site_dir else grpc.insecure_channel(address)
    with channel_cm as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vaultd exited early with {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.05)
    raise RuntimeError(f"vaultd at {address} not healthy after {timeout}s")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@dataclass
class Site:
    """A site folder with a running vaultd; ``ctl``/``agent`` run the real CLIs."""

    dir: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def agent_toml(self) -> Path:
        return self.dir / "agent.toml"

    @property
    def operator_toml(self) -> Path:
        """The operator's configuration: carries the tenant key, so it can restore."""
        return self.dir / "operator.toml"

    def role_toml(self, role: str) -> Path:
        return self.agent_toml if role == "node" else self.dir / f"{role}.toml"

    @property
    def store(self) -> Path:
        return self.dir / "store"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [BIN / "vaultd", "--config", self.dir / "vault.toml"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_healthy(f"127.0.0.1:{self.port}", self.proc, site_dir=self.dir)
        except RuntimeError as exc:  # say why, and leave no process or pipe behind
            proc, self.proc = self.proc, None
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"{exc}: {err[-2000:]}") from None

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.communicate()
        self.proc = None
        return code

    def run(self, tool: str, *args: object, config: Path | None = None,
            env: dict | None = None) -> Result:
        cmd = [str(BIN / tool)]
        if tool != "vaultd":
            # vault-agent runs as the node (write-only agent.toml); vaultctl as the operator
            # (operator.toml carries the tenant key, so it restores and verifies).
            default = self.agent_toml if tool == "vault-agent" else self.operator_toml
            cmd += ["--config", str(config or default)]
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **(env or {})})
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ctl(self, *args: object, **kw) -> Result:
        return self.run("vaultctl", *args, **kw)

    def agent(self, *args: object, **kw) -> Result:
        return self.run("vault-agent", *args, **kw)

    def backup(self, *paths: object, tags: tuple[str, ...] = ()) -> dict:
        args = ["backup", *paths, "--json"]
        for tag in tags:
            args += ["--tag", tag]
        result = self.agent(*args)
        assert result.code == 0, result.err
        return result.json()  # type: ignore[return-value]


@pytest.fixture
def site(tmp_path: Path, request):
    """A started site on the filesystem store; a module runs its tests on the S3 store too
    with ``pytest.mark.parametrize("site", ["fs", "s3"], indirect=True)`` (issue 17)."""
    port = free_port()
    directory = tmp_path / "site"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    if getattr(request, "param", "fs") == "s3":
        from tests.lib.ceph_rgw import use_s3_store

        use_s3_store(directory, request.getfixturevalue("rgw_cluster"))
    s = Site(directory, port)
    s.start()
    yield s
    if s.proc is not None:
        assert s.stop() == 0
