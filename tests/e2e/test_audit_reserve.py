"""The audit log's reserve on a really full disk (issue 15 item 4): vaultd runs with its
state folder (catalog, audit log, key registry) on a small tmpfs mounted inside
``unshare --mount``, so nothing outside the test sees the mount and it goes away with
vaultd; the test fills that file system through ``/proc/<pid>/root``. As root, as CI runs."""

from __future__ import annotations

import errno
import json
import shutil
import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from bulwark.protos.bulwark.v1 import vault_pb2, vault_pb2_grpc
from tests.e2e.conftest import BIN, tls_channel, wait_healthy
from tests.e2e.treeutil import make_tree
from tests.lib.vault_toml import set_keys

MiB = 1 << 20
RESERVE = 4 * MiB
TMPFS = "12m"


def start_on_tmpfs(site, state: Path, log: Path) -> subprocess.Popen:
    """Start the site's vaultd with a ``TMPFS`` tmpfs on ``state``, in a mount namespace of
    its own (``unshare`` and ``sh`` exec, so the process is vaultd itself)."""
    script = f'mount -t tmpfs -o size={TMPFS} tmpfs "$1" && shift && exec "$@"'
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
             str(state), str(BIN / "vaultd"), "--config", str(site.dir / "vault.toml")],
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_healthy(f"127.0.0.1:{site.port}", proc, site_dir=site.dir)
    except RuntimeError:
        proc.kill()
        proc.wait()
        raise
    return proc


def fill(path: Path) -> int:
    """Write zeros to ``path`` until the file system is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for block in (MiB, 4096, 512):
            for _ in range(1 << 16):  # bounded: a 12 MiB tmpfs fills in far fewer
                try:
                    written += f.write(bytes(block))
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return written


def audit_records(site) -> list[dict]:
    result = site.ctl("audit", "--json")
    assert result.code == 0, result.err
    return [json.loads(json.loads(line)["record"]) for line in result.out.splitlines()]


def read_foreign_snapshot(stub) -> grpc.StatusCode:
    """A node asks for another node's snapshot: the vault refuses (and audits it)."""
    with pytest.raises(grpc.RpcError) as err:
        stub.GetSnapshot(vault_pb2.GetSnapshotRequest(ref="latest", node="gpu-99"), timeout=10)
    return err.value.code()


@pytest.fixture
def full_disk_site(site):
    """The site's vaultd restarted with its state on a tmpfs; yields (site, state folder as
    vaultd sees it through /proc, vaultd's log file). Stops vaultd whatever happens, which
    unmounts the tmpfs with its namespace."""
    site.stop()
    state = site.dir / "state"
    state.mkdir()
    toml = site.dir / "vault.toml"
    assert "[catalog]" not in toml.read_text()  # vaultctl init keeps it in the store folder
    with open(toml, "a", encoding="utf-8") as f:
        f.write('\n[catalog]\npath = "state/catalog.sqlite"\n')
    set_keys(toml, "audit", reserve_bytes=RESERVE, reserve_retry_seconds=0)
    log = site.dir / "vaultd.log"
    proc = start_on_tmpfs(site, state, log)
    try:
        yield site, Path(f"/proc/{proc.pid}/root") / str(state).lstrip("/"), log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def replay_commit(stub, latest, ids: list[bytes]):
    """Commit again a header the node signed (a stolen certificate can): a new snapshot."""
    def stream():
        yield vault_pb2.CommitSnapshotRequest(header=latest.signed)
        yield vault_pb2.CommitSnapshotRequest(chunks=vault_pb2.ChunkIdBatch(chunk_ids=ids))
    return stub.CommitSnapshot(stream(), timeout=30)


def snapshot_chunk_ids(state: Path, snapshot_id: str, tmp: Path) -> list[bytes]:
    """The chunk ids the catalog holds for ``snapshot_id``, read from a copy (SQLite resolves
    the /proc/<pid>/root link to the host's empty mount point)."""
    for name in ("catalog.sqlite", "catalog.sqlite-wal"):
        if (state / name).exists():
            shutil.copyfile(state / name, tmp / name)
    with closing(sqlite3.connect(tmp / "catalog.sqlite")) as db:
        rows = db.execute("SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id = ?",
                          (snapshot_id,)).fetchall()
    return [bytes(chunk_id) for (chunk_id,) in rows]


def test_refusals_are_audited_on_a_full_disk_and_unauditable_commits_fail_closed(
        full_disk_site, tmp_path):
    site, state, log = full_disk_site
    reserve = state / "audit.sqlite.reserve"
    site.backup(make_tree(tmp_path / "src"))
    assert reserve.stat().st_size == RESERVE
    with tls_channel(site.dir, f"127.0.0.1:{site.port}", role="node") as channel:
        stub = vault_pb2_grpc.VaultStub(channel)
        latest = stub.GetSnapshot(vault_pb2.GetSnapshotRequest(ref="latest"), timeout=10)
        ids = snapshot_chunk_ids(state, latest.id, tmp_path)
        assert len(ids) == latest.chunk_count

        # The disk is full: the refusal still reaches the client and the audit log, out of
        # the reserve the log gave back (and says so).
        fill(state / "filler-1")
        assert read_foreign_snapshot(stub) == grpc.StatusCode.PERMISSION_DENIED
        refused = [r for r in audit_records(site) if r["outcome"] == "refused"]
        assert [(r["action"], r["role"]) for r in refused] == [("GetSnapshot", "node")]
        assert "gpu-99" in refused[0]["detail"]
        assert "released the audit log's" in log.read_text()
        assert not reserve.exists()
        # ... and, retrying at once (reserve_retry_seconds = 0), gives up quietly while full.
        assert f"cannot keep {RESERVE} bytes in reserve" in log.read_text()

        # Full again, no reserve left: a commit that cannot be audited is not made.
        fill(state / "filler-2")
        with pytest.raises(grpc.RpcError) as err:
            replay_commit(stub, latest, ids)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value.details()
        assert "append to audit log" in err.value.details()
        listing = stub.ListSnapshots(vault_pb2.ListSnapshotsRequest(), timeout=10)
        assert [s.id for s in listing.snapshots] == [latest.id]

        # Space is back: the next audited call takes the reserve back, and commits work.
        (state / "filler-1").unlink()
        (state / "filler-2").unlink()
        assert read_foreign_snapshot(stub) == grpc.StatusCode.PERMISSION_DENIED
        assert reserve.stat().st_size == RESERVE
        replay_commit(stub, latest, ids)
        listing = stub.ListSnapshots(vault_pb2.ListSnapshotsRequest(), timeout=10)
        assert len(listing.snapshots) == 2
    records = audit_records(site)
    assert [r["action"] for r in records if r["outcome"] == "refused"] == ["GetSnapshot"] * 2
    verify = site.ctl("audit", "verify")
    assert verify.code == 0, verify.err
