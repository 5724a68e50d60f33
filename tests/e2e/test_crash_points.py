"""Crash points (issue 15): kill -9 of vaultd during upload, commit, prune and scrub, of
the agent during upload, and of the air-gap vault during its pull, each at a moment measured
from outside (blobs in the store, a process running), never through a hook in the product.
After the restart every listed snapshot restores byte-identical to the tree it was taken of
(so none is half-committed), the audit chain verifies, ``vaultctl check`` finds catalog and
store in agreement, and the next backup (or air-gap window) sends exactly the chunks the
store lacks.

The default tier runs one point of each kind but the air-gap pull; the ``slow`` tier runs
them all."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN
from tests.e2e.treeutil import snapshot_tree
from tests.lib.vault_toml import set_keys

FILES = 100  # one chunk each (above the pack limit, below the chunker's minimum): enough
# blobs to stop an upload or a prune part-way
FILE_SIZE = 150_000


def tree(root: Path, seed: int) -> Path:
    """``FILES`` files of random bytes (each its own chunk), distinct per ``seed``."""
    root.mkdir(parents=True)
    for i in range(FILES):
        (root / f"f{i:04d}.bin").write_bytes(seed.to_bytes(4, "little") + os.urandom(FILE_SIZE))
    return root


def blob_count(site) -> int:
    return sum(1 for p in (site.store / "data").rglob("*") if p.is_file())


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` if ``proc`` ends first or the
    bound passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"{what}: the process ended first ({proc.returncode}): {err}")
        time.sleep(0.005)
    raise AssertionError(f"{what}: not reached within {timeout}s")


def stop_when(condition, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    """Run ``proc`` in short slices and look at ``condition`` only while it is stopped
    (SIGSTOP), so a fast process cannot run past the moment between two looks: on return
    ``proc`` is stopped exactly after the first slice that made ``condition`` hold."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        os.kill(proc.pid, signal.SIGSTOP)
        if condition():
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"{what}: the process ended first ({proc.returncode}): {err}")
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGCONT)
    raise AssertionError(f"{what}: not reached within {timeout}s")


def kill9_vaultd(site) -> None:
    site.proc.send_signal(signal.SIGKILL)
    site.proc.wait(timeout=20)
    site.proc.communicate()
    site.proc = None


def run(site, tool: str, *args: object) -> subprocess.Popen:
    config = site.agent_toml if tool == "vault-agent" else site.operator_toml
    return subprocess.Popen([BIN / tool, "--config", config, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_consistent(site, tmp_path: Path, committed: set[str]) -> list[dict]:
    """Every snapshot of ``committed`` is listed, and every listed one restores
    byte-identical to its source; the audit chain verifies; catalog and store agree."""
    listed = site.ctl("snapshots", "--json").json()
    assert committed <= {s["id"] for s in listed}, listed
    for snap in listed:
        source = Path(snap["paths"][0])
        target = tmp_path / f"restore-{snap['id'][:12]}"
        restored = site.ctl("restore", snap["id"], target)
        assert restored.code == 0, restored.err
        assert snapshot_tree(target / str(source).lstrip("/")) == snapshot_tree(source)
    verify = site.ctl("audit", "verify")
    assert verify.code == 0, verify.err
    check = site.ctl("check", "--json")
    assert check.code == 0 and check.json()["agree"], check.out + check.err
    return listed


def chunk_rows(site) -> int:
    """The catalog's chunk rows: the chunks the vault acknowledged as stored."""
    db = sqlite3.connect(f"file:{site.store / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        db.close()


def assert_resends_only_the_missing(site, source: Path) -> None:
    """A backup of ``source`` sends exactly the chunks the vault has no row for: the catalog
    gains a row for each chunk sent, so none it had acknowledged crossed the wire again. A
    blob the crash left without its row (stored, not yet recorded, so never acknowledged) is
    sent again and overwrites itself: the store grows by at most what was sent."""
    rows, blobs = chunk_rows(site), blob_count(site)
    again = site.backup(source)
    assert again["new_chunks"] == chunk_rows(site) - rows, again
    assert blob_count(site) - blobs <= again["new_chunks"], again


def crash_vaultd_during_backup(site, tmp_path: Path, fraction: float | None) -> None:
    """kill -9 vaultd once ``fraction`` of the new tree's chunks are stored (``None``: all of
    them, i.e. while the manifest is sent and the snapshot committed)."""
    base = site.backup(tree(tmp_path / "base", seed=1))["snapshot"]
    source = tree(tmp_path / "src", seed=2)
    stored = blob_count(site)
    wanted = FILES if fraction is None else max(1, int(FILES * fraction))
    backup = run(site, "vault-agent", "backup", source)
    stop_when(lambda: blob_count(site) >= stored + wanted, backup, f"{wanted} blobs stored")
    kill9_vaultd(site)
    os.kill(backup.pid, signal.SIGCONT)  # the agent meets the dead vault and gives up
    backup.communicate(timeout=120)
    site.start()
    assert_consistent(site, tmp_path, {base})
    assert_resends_only_the_missing(site, source)
    assert_consistent(site, tmp_path, {base})


def crash_agent_during_backup(site, tmp_path: Path, fraction: float) -> None:
    base = site.backup(tree(tmp_path / "base", seed=1))["snapshot"]
    source = tree(tmp_path / "src", seed=2)
    stored = blob_count(site)
    wanted = max(1, int(FILES * fraction))
    backup = run(site, "vault-agent", "backup", source)
    # The agent is fast enough on a quiet machine to finish between two looks at the store:
    # it runs in slices and the store is counted while it is stopped.
    stop_when(lambda: blob_count(site) >= stored + wanted, backup, f"{wanted} blobs stored")
    backup.send_signal(signal.SIGKILL)
    backup.communicate(timeout=30)
    listed = assert_consistent(site, tmp_path, {base})
    assert [s["id"] for s in listed] == [base]  # the killed backup committed nothing
    assert_resends_only_the_missing(site, source)


def crash_vaultd_during_prune(site, tmp_path: Path, fraction: float) -> None:
    """Of two snapshots one expires at once; prune, and kill -9 vaultd once ``fraction`` of
    its chunks are gone from the store; a second prune after the restart finishes the job."""
    site.stop()
    set_keys(site.dir / "vault.toml", "retention", mode="governance", default_days=0,
             minimum_days=0, lease_hours=0)
    site.start()
    asked = site.agent("backup", tree(tmp_path / "kept", seed=1), "--retention-days", "30",
                       "--json")
    assert asked.code == 0, asked.err
    kept = asked.json()["snapshot"]
    gone_source = tree(tmp_path / "gone", seed=2)
    site.backup(gone_source)  # default_days = 0: expired as soon as it is committed
    stored = blob_count(site)
    wanted = max(1, int(FILES * fraction))
    prune = run(site, "vaultctl", "prune", "--yes")
    wait_for(lambda: blob_count(site) <= stored - wanted, prune, f"{wanted} blobs freed")
    kill9_vaultd(site)
    prune.communicate(timeout=60)
    site.start()
    assert_consistent(site, tmp_path, {kept})
    finished = site.ctl("prune", "--yes")
    assert finished.code == 0, finished.err
    assert [s["id"] for s in assert_consistent(site, tmp_path, {kept})] == [kept]
    assert_resends_only_the_missing(site, gone_source)


def crash_vaultd_during_scrub(site, tmp_path: Path) -> None:
    base = site.backup(tree(tmp_path / "base", seed=1))["snapshot"]
    # Scrub re-reads 15 MB: on a quiet machine it can answer within a few tens of ms, so
    # vaultd is killed while the scrub call is in flight whenever it still is (the client
    # stopped in slices, as above), and right after its answer otherwise: either way the
    # vault restarts into the same consistent state.
    scrub = run(site, "vaultctl", "scrub")
    started = time.monotonic()
    try:
        stop_when(lambda: time.monotonic() - started > 0.05, scrub, "scrub call in flight")
    except AssertionError:
        pass  # the scrub answered first: the kill follows its answer
    kill9_vaultd(site)
    if scrub.poll() is None:
        os.kill(scrub.pid, signal.SIGCONT)
    scrub.communicate(timeout=60)
    site.start()
    assert_consistent(site, tmp_path, {base})
    whole = site.ctl("scrub")
    assert whole.code == 0, whole.err


def crash_airgap_during_pull(site, tmp_path: Path) -> None:
    """kill -9 the air-gap vault (the puller) once half the new snapshot's chunks are in its
    store; after its restart the next window completes the copy, pulling only what its store
    lacks, and every copied snapshot restores byte-identical from the air-gap vault."""
    from tests.e2e.airgap_site import make_airgap, sync

    base = site.backup(tree(tmp_path / "base", seed=1))["snapshot"]
    ag = make_airgap(site, tmp_path / "airgap")
    ag.start()
    try:
        first = sync(ag)
        assert first.code == 0 and first.json()["outcome"] == "complete", first.out + first.err
        source = tree(tmp_path / "src", seed=2)
        new = site.backup(source)["snapshot"]
        stored = blob_count(ag)
        pull = run(ag, "vaultctl", "airgap", "sync", "--now", "--json")
        # The pull runs inside the air-gap vaultd: it is the process stopped in slices.
        stop_when(lambda: blob_count(ag) >= stored + FILES // 2, ag.proc, "half pulled")
        kill9_vaultd(ag)
        out, _ = pull.communicate(timeout=60)
        assert pull.returncode != 0, out  # the window died with its vault
        ag.start()
        assert_consistent(ag, tmp_path, {base})
        assert new not in {s["id"] for s in ag.ctl("snapshots", "--json").json()}
        rows, blobs = chunk_rows(ag), blob_count(ag)
        resumed = sync(ag)
        assert resumed.code == 0, resumed.out + resumed.err
        window = resumed.json()
        assert window["outcome"] == "complete" and window["snapshots"] == 1, window
        # Only what its store lacked: the blobs stored before the kill (durable, not yet
        # recorded) are taken from the store, the rest pulled, none twice.
        assert chunk_rows(ag) - rows == FILES + 1  # the snapshot's chunks and its manifest's
        assert window["chunks"] == blob_count(ag) - blobs == FILES + 1 - (blobs - stored)
        listed = assert_consistent(ag, tmp_path, {base, new})
        assert [s["id"] for s in listed] == [base, new]
    finally:
        if ag.proc is not None:
            assert ag.stop() == 0


POINTS = {
    "vaultd-upload-1": lambda s, t: crash_vaultd_during_backup(s, t, 0.01),
    "vaultd-upload-50": lambda s, t: crash_vaultd_during_backup(s, t, 0.5),
    "vaultd-upload-90": lambda s, t: crash_vaultd_during_backup(s, t, 0.9),
    "vaultd-commit": lambda s, t: crash_vaultd_during_backup(s, t, None),
    "vaultd-prune-10": lambda s, t: crash_vaultd_during_prune(s, t, 0.1),
    "vaultd-prune-50": lambda s, t: crash_vaultd_during_prune(s, t, 0.5),
    "vaultd-prune-90": lambda s, t: crash_vaultd_during_prune(s, t, 0.9),
    "vaultd-scrub": crash_vaultd_during_scrub,
    "agent-upload-1": lambda s, t: crash_agent_during_backup(s, t, 0.01),
    "agent-upload-50": lambda s, t: crash_agent_during_backup(s, t, 0.5),
    "agent-upload-90": lambda s, t: crash_agent_during_backup(s, t, 0.9),
    "airgap-pull-50": crash_airgap_during_pull,
}
DEFAULT_TIER = {"vaultd-upload-50", "vaultd-commit", "vaultd-prune-50", "agent-upload-50"}


@pytest.mark.parametrize("point", [
    name if name in DEFAULT_TIER else pytest.param(name, marks=pytest.mark.slow)
    for name in POINTS])
def test_kill_9_at_a_crash_point_loses_nothing_committed(site, tmp_path, point):
    POINTS[point](site, tmp_path)
