"""A real single-node Ceph cluster with a radosgw S3 endpoint on loopback, for tests (issue 17).

One monitor, one OSD on ``memstore`` (RAM, no disk), one radosgw with the beast frontend
on a free loopback port; no systemd, no containers, no authentication inside the cluster
(``auth none``; the S3 endpoint still checks SigV4 keys of the users it creates). Every
daemon runs in the foreground as a child of this process, in its own session, and
``stop`` ends exactly those processes. Everything lives under one temporary folder.

Why these settings (measured on Debian bookworm's Ceph 16.2):

* ``ms_*_mode = crc``: with ``auth none`` the default ``secure`` mode makes radosgw loop on
  authentication errors.
* ``paxos_propose_interval = 0.05``: the default 1 s makes start-up ~18 s instead of ~3 s.
* ``mon_data_avail_crit = 0``: a nearly full /tmp must not stop the monitor.
* pool size 1, ``osd_crush_chooseleaf_type = 0``: one OSD is enough for every pool.

Packages: ``ceph-mon ceph-osd radosgw ceph-common`` (installed by ``.ci/run``). When they
are missing this raises ``CephUnavailable`` saying what to install: tests that need the
cluster fail, they are not skipped.

Use::

    with ceph_rgw() as rgw:                   # ~4 s to the first PUT
        s3 = boto3.client("s3", endpoint_url=rgw.endpoint, ...rgw.credentials)
        rgw.create_user("other")              # more S3 users: (access key, secret key)

``python -m tests.lib.ceph_rgw`` starts one and prints its endpoint and keys until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PACKAGES = ("ceph-mon", "ceph-osd", "radosgw", "ceph-common")
BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool")
START_TIMEOUT = 90.0
MiB = 1 << 20


class CephUnavailable(RuntimeError):
    """The Ceph packages are missing or the cluster did not come up (message says which)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(root: Path, fsid: str, mon_port: int, rgw_port: int, memstore_mib: int) -> str:
    return f"""[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
mon_initial_members = a
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_msgr2 = true
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_supported = none
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_crit = 0
mon_data_avail_warn = 0
paxos_propose_interval = 0.05
osd_objectstore = memstore
memstore_device_bytes = {memstore_mib * MiB}
memstore_page_set = false
run_dir = {root}/run
admin_socket = {root}/run/$name.asok
pid_file = {root}/run/$name.pid
log_file = {root}/log/$name.log
log_to_stderr = false
err_to_stderr = true
mon_cluster_log_file = {root}/log/cluster.log
keyring = {root}/keyring
crash_dir = {root}/crash
exec_dir = {root}/run
[mon.a]
mon_data = {root}/mon
[osd.0]
osd_data = {root}/osd0
osd_journal = {root}/osd0/journal
[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_data = {root}/rgw
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
rgw_dns_name = 127.0.0.1
"""


@dataclass
class CephRGW:
    """A cluster under ``root``; ``start`` brings it up, ``stop`` ends its daemons."""

    root: Path
    memstore_mib: int = 2048
    access_key: str = ""
    secret_key: str = ""
    endpoint: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def credentials(self) -> dict[str, str]:
        """``aws_access_key_id``/``aws_secret_access_key`` of the cluster's first S3 user."""
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}

    def _run(self, *cmd: str, timeout: float = 60) -> str:
        proc = subprocess.run([*cmd, "-c", str(self.conf)], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise CephUnavailable(f"{' '.join(cmd)}: exit {proc.returncode}: "
                                  f"{proc.stderr.strip()[-2000:]}")
        return proc.stdout

    def _daemon(self, name: str, *cmd: str) -> None:
        log = open(self.root / "log" / f"{name}.stderr", "ab")
        self.procs[name] = subprocess.Popen(
            [*cmd, "-f", "-c", str(self.conf)], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.root / "log" / f"{name}.stderr").read_text(errors="replace")[-1500:]
                raise CephUnavailable(f"{name} exited with {proc.returncode}: {tail}")

    def start(self, timeout: float = START_TIMEOUT) -> CephRGW:
        missing = [b for b in BINARIES if shutil.which(b) is None]
        if missing:
            raise CephUnavailable(
                f"Ceph is not installed ({', '.join(missing)} missing): apt-get install "
                f"--no-install-recommends {' '.join(PACKAGES)} (.ci/run does this)")
        deadline = time.monotonic() + timeout
        for d in ("run", "log", "mon", "osd0", "rgw", "crash"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        mon_port, rgw_port = free_port(), free_port()
        self.conf.write_text(_conf(self.root, fsid, mon_port, rgw_port, self.memstore_mib))
        (self.root / "keyring").write_text("")
        monmap = self.root / "monmap"
        subprocess.run(["monmaptool", "--create", "--fsid", fsid, "--addv", "a",
                        f"[v2:127.0.0.1:{mon_port}]", str(monmap)],
                       check=True, capture_output=True, timeout=30)
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap))
        self._daemon("mon.a", "ceph-mon", "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph("osd", "new", osd_uuid, timeout=max(5.0, deadline - time.monotonic()))
        self._run("ceph-osd", "-i", osd_id.strip(), "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("osd.0", "ceph-osd", "-i", "0")
        self._wait(lambda: '"num_up_osds":1' in self._ceph(
            "osd", "stat", "--format=json", timeout=5).replace(" ", ""), deadline, "OSD up")
        # Its own admin socket: radosgw-admin runs as client.rgw too and would unlink it.
        self._daemon("rgw", "radosgw", "-n", "client.rgw",
                     f"--admin-socket={self.root / 'run' / 'radosgw.asok'}")
        self.endpoint = f"http://127.0.0.1:{rgw_port}"
        self.access_key, self.secret_key = self._wait(
            lambda: self.create_user("bulwark-tests"), deadline, "radosgw-admin user create")
        self._wait(self._rgw_answers, deadline, f"radosgw at {self.endpoint}")
        return self

    def _ceph(self, *args: str, timeout: float = 30) -> str:
        return self._run("ceph", "--connect-timeout", str(int(max(1, timeout))), *args,
                         timeout=timeout + 5)

    def _wait(self, probe, deadline: float, what: str):
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                result = probe()
                if result:
                    return result
            except (CephUnavailable, OSError, subprocess.TimeoutExpired) as exc:
                last = exc
            time.sleep(0.1)
        self.stop()
        raise CephUnavailable(f"{what}: not ready after {START_TIMEOUT:.0f} s ({last})")

    def _rgw_answers(self) -> bool:
        port = int(self.endpoint.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1")

    def create_user(self, uid: str) -> tuple[str, str]:
        """A new S3 user of this cluster: ``(access key, secret key)``."""
        out = self._run("radosgw-admin", "-n", "client.rgw", "user", "create", f"--uid={uid}",
                        f"--display-name={uid}", timeout=30)
        key = json.loads(out)["keys"][0]
        return key["access_key"], key["secret_key"]

    def client(self, access_key: str = "", secret_key: str = "") -> Any:
        """A boto3 S3 client of this endpoint (path-style), as the first user by default."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def make_bucket(self, object_lock: bool = True, versioning: bool = False) -> str:
        """A new bucket with a unique name: Object Lock (and so versioning) by default."""
        name = f"bulwark-{uuid.uuid4().hex[:12]}"
        s3 = self.client()
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        if versioning and not object_lock:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def admin(self, *args: str) -> str:
        """Run ``radosgw-admin ARGS`` against this cluster; its stdout."""
        return self._run("radosgw-admin", "-n", "client.rgw", *args)

    def stop(self) -> None:
        """End the daemons this object started (radosgw first), each by its own pid."""
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.procs.clear()


@contextlib.contextmanager
def ceph_rgw(root: Path | None = None, memstore_mib: int = 2048) -> Iterator[CephRGW]:
    """A started cluster; stopped and its folder removed on exit (unless ``root`` is given)."""
    own = root is None
    folder = Path(tempfile.mkdtemp(prefix="bulwark-ceph-")) if own else Path(root)
    # Unix socket paths are limited to 107 bytes: keep the folder short.
    cluster = CephRGW(folder, memstore_mib)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def use_s3_store(site_dir: Path, cluster: CephRGW, bucket: str | None = None) -> str:
    """Point the vault.toml of a ``vaultctl init`` site at a new Object-Lock bucket of
    ``cluster`` (credentials in ``s3.toml``, mode 0600); returns the bucket name."""
    import tomllib

    import tomli_w

    bucket = bucket or cluster.make_bucket()
    creds = site_dir / "s3.toml"
    creds.write_text(f'access_key_id = "{cluster.access_key}"\n'
                     f'secret_access_key = "{cluster.secret_key}"\n')
    creds.chmod(0o600)
    config = site_dir / "vault.toml"
    doc = tomllib.loads(config.read_text())
    doc["store"] = {"path": "state", "type": "s3", "endpoint": cluster.endpoint,
                    "bucket": bucket, "credentials_file": "s3.toml"}
    config.write_text(tomli_w.dumps(doc))
    return bucket


# -- pytest ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rgw_cluster() -> Iterator[CephRGW]:
    """One Ceph cluster for the whole test session (started on first use)."""
    with ceph_rgw() as cluster:
        yield cluster


if __name__ == "__main__":
    with ceph_rgw() as rgw:
        print(f"endpoint {rgw.endpoint}\naccess_key {rgw.access_key}\n"
              f"secret_key {rgw.secret_key}\nconf {rgw.conf}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
