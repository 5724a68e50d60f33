"""Network faults between a real agent and a real vaultd over mTLS (issue 15): the link cut
mid-upload (a TCP proxy the test owns on loopback resets both ends at a chosen byte), a
vault that stops answering mid-backup (SIGSTOP), and a primary that stops answering while
the air-gap vault pulls from it.

What the agent does, and these tests hold it to: ``vault-agent backup`` does not retry a
broken upload stream; it gives up at once with exit 1 and an error naming the call it was
making and the vault's address, commits nothing, and the next backup (the daemon's next run,
or the operator's) sends only what the vault lacks. A vault that stops answering ends the
call through keepalive (protos.contract: ``CLIENT_KEEPALIVE_MS`` then
``CLIENT_KEEPALIVE_TIMEOUT_MS``) instead of hanging forever."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bulwark.protos.contract import CLIENT_KEEPALIVE_MS, CLIENT_KEEPALIVE_TIMEOUT_MS
from tests.e2e.airgap_site import make_airgap, sync
from tests.e2e.conftest import BIN
from tests.e2e.test_crash_points import (
    FILE_SIZE,
    FILES,
    assert_consistent,
    blob_count,
    chunk_rows,
    run,
    stop_when,
    tree,
)
from tests.lib.tcp_proxy import Proxy
from tests.lib.vault_toml import set_keys


def small_tree(root: Path, seed: int, files: int = 40) -> Path:
    """``files`` files of random bytes, one chunk each (as tests/e2e/test_crash_points.py)."""
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"f{i:04d}.bin").write_bytes(seed.to_bytes(4, "little") + os.urandom(FILE_SIZE))
    return root


def through(site, proxy: Proxy) -> Path:
    """A copy of the node's agent.toml that reaches the vault through ``proxy``."""
    config = site.dir / "agent-via-proxy.toml"
    config.write_bytes(site.agent_toml.read_bytes())
    set_keys(config, "vault", address=proxy.address)
    return config


def test_a_link_cut_mid_upload_commits_nothing_and_the_next_backup_sends_the_rest(
        site, tmp_path):
    files = 40
    source = small_tree(tmp_path / "src", seed=3, files=files)
    with Proxy(site.port) as proxy:
        config = through(site, proxy)
        proxy.cut_after(files * FILE_SIZE * 2 // 5)  # about 40 % of the upload, then RST
        cut = site.agent("backup", source, "--json", config=config)
        assert proxy.cut.is_set()
        assert cut.code == 1, cut.err
        assert "Traceback" not in cut.err, cut.err
        # The call that met the cut (the upload stream, or the lookup beside it) and where.
        assert "lost the connection to the vault at " + proxy.address in cut.err, cut.err
        assert any(f"{call}: " in cut.err for call in ("PutChunks", "FindMissing")), cut.err
        assert "clock" not in cut.err, cut.err  # a broken stream is not a handshake failure
        assert site.ctl("snapshots", "--json").json() == []  # nothing half-committed
        assert site.ctl("check", "--json").json()["agree"]
        kept = chunk_rows(site)
        # Usually part of the upload is stored by then; whether the vault had recorded any of
        # the messages that crossed before the reset depends on timing, so only the bound is
        # certain. Either way the next backup must send exactly what the vault lacks.
        assert 0 <= kept < files

        proxy.restore()  # the link is back
        again = site.agent("backup", source, "--json", config=config)
        assert again.code == 0, again.err
        # Only what the vault lacks: its data chunks (and the manifest's, +1).
        assert again.json()["new_chunks"] == chunk_rows(site) - kept <= files - kept + 1
    assert_consistent(site, tmp_path, {again.json()["snapshot"]})


@pytest.mark.slow  # keepalive needs its interval and timeout to notice: about 30 s
def test_a_stalled_vault_ends_the_backup_within_the_keepalive_bound(site, tmp_path):
    base = site.backup(tree(tmp_path / "base", seed=1))["snapshot"]
    source = tree(tmp_path / "src", seed=2)
    stored = blob_count(site)
    backup = subprocess.Popen([BIN / "vault-agent", "--config", site.agent_toml, "backup",
                               source], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stop_when(lambda: blob_count(site) >= stored + FILES // 2, backup, "half the upload")
    site.proc.send_signal(signal.SIGSTOP)  # the vault stops answering, its sockets stay open
    try:
        stalled = time.monotonic()
        os.kill(backup.pid, signal.SIGCONT)
        bound = (CLIENT_KEEPALIVE_MS + CLIENT_KEEPALIVE_TIMEOUT_MS) / 1000 + 15
        _, status, usage = waited(backup, bound)
        gave_up_s = time.monotonic() - stalled
        err = backup.stderr.read().decode()
        backup.stdout.close()
        backup.stderr.close()
        assert os.waitstatus_to_exitcode(status) == 1, err
        assert "Traceback" not in err and f"127.0.0.1:{site.port}" in err, err
        peak = usage.ru_maxrss * 1024
        print(f"stalled vault: the agent gave up after {gave_up_s:.1f} s "
              f"(bound {bound:.0f} s), peak RSS {peak / 2**20:.0f} MiB")
        assert peak < 512 << 20  # its queues are bounded: nothing piles up while it waits
    finally:
        site.proc.send_signal(signal.SIGCONT)
    again = site.backup(source)  # the vault recovers by itself
    assert_consistent(site, tmp_path, {base, again["snapshot"]})


@pytest.mark.slow  # keepalive needs its interval and timeout to notice: about 30 s
def test_a_primary_stalled_mid_pull_ends_the_air_gap_window_within_the_keepalive_bound(
        site, tmp_path):
    """The air-gap vault's pull from a primary that stops answering: the window ends
    (failed, naming the primary) instead of holding the connection open past its close."""
    source = small_tree(tmp_path / "src", seed=4, files=FILES)
    snap = site.backup(source)["snapshot"]
    ag = make_airgap(site, tmp_path / "airgap")
    ag.start()
    try:
        stored = blob_count(ag)
        pull = run(ag, "vaultctl", "airgap", "sync", "--now", "--json")
        stop_when(lambda: blob_count(ag) >= stored + FILES // 3, ag.proc, "a third pulled")
        site.proc.send_signal(signal.SIGSTOP)
        try:
            stalled = time.monotonic()
            os.kill(ag.proc.pid, signal.SIGCONT)
            bound = (CLIENT_KEEPALIVE_MS + CLIENT_KEEPALIVE_TIMEOUT_MS) / 1000 + 15
            try:
                out, err = pull.communicate(timeout=bound)
            except subprocess.TimeoutExpired:
                pull.kill()
                pull.communicate()
                raise AssertionError(f"the window still waits for the stalled primary after "
                                     f"{bound:.0f} s") from None
            print(f"stalled primary: the air-gap window ended after "
                  f"{time.monotonic() - stalled:.1f} s (bound {bound:.0f} s)")
        finally:
            site.proc.send_signal(signal.SIGCONT)
        window = json.loads(out)
        assert pull.returncode == 1 and window["outcome"] == "failed", out + err
        assert f"127.0.0.1:{site.port}" in window["error"], window
        assert ag.ctl("snapshots", "--json").json() == []  # nothing half-copied
        resumed = sync(ag)  # the primary answers again: the next window completes
        assert resumed.code == 0 and resumed.json()["outcome"] == "complete", resumed.out
        assert_consistent(ag, tmp_path, {snap})
    finally:
        if ag.proc is not None:
            assert ag.stop() == 0


def waited(proc: subprocess.Popen, bound: float) -> tuple[int, int, resource.struct_rusage]:
    """``os.wait4`` of ``proc`` (its exit status and resource use), failing if it is still
    running after ``bound`` seconds (it is killed then)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError(f"the agent still waits for the stalled vault after {bound:.0f} s")
