"""Load (issue 15): eight node identities (``vaultctl pki issue --role node``) back up at
once while the operator restores a snapshot and prunes an expired one, and a probe times
FindMissing and GetSnapshot calls made with the real client over mTLS. Every process exits
0 within its bound (no deadlock), the restore is byte-identical, the prune frees the
expired snapshot and only it, catalog and store agree and the audit chain verifies. The
aggregate MB/s and the probe's p99 latency are printed (``pytest -s``); they are figures
for the record, not asserted.

The default tier runs one small round; the ``slow`` tier three larger rounds."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import BIN, Site, free_port
from tests.e2e.treeutil import snapshot_tree
from tests.lib.vault_toml import set_keys

AGENTS = 8
TIMEOUT = 240  # every process of the run ends within this, or the test fails


def tree(root: Path, files: int, size: int, seed: int) -> Path:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"f{i:04d}.bin").write_bytes(seed.to_bytes(4, "little") + os.urandom(size))
    return root


@pytest.fixture
def fleet_site(tmp_path):
    """A site with AGENTS extra node identities; snapshots expire at once unless a backup
    asks for longer (so a prune has work while the load runs)."""
    port = free_port()
    directory = tmp_path / "site"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    for i in range(AGENTS):
        issued = subprocess.run([BIN / "vaultctl", "pki", "issue", directory, "--role",
                                 "node", "--name", f"load-{i}"],
                                capture_output=True, text=True, timeout=60)
        assert issued.returncode == 0, issued.stderr
    set_keys(directory / "vault.toml", "retention", mode="governance", default_days=0,
             minimum_days=0)
    site = Site(directory, port)
    site.start()
    yield site
    if site.proc is not None:
        assert site.stop() == 0


def spawn(site, config: Path, *args: object) -> subprocess.Popen:
    tool = "vaultctl" if config == site.operator_toml else "vault-agent"
    return subprocess.Popen([BIN / tool, "--config", config, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, what: str) -> str:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"{what}: still running after {TIMEOUT}s (deadlock?)") from None
    assert proc.returncode == 0, f"{what} exited {proc.returncode}: {err}"
    return out


class Probe(threading.Thread):
    """Times FindMissing and GetSnapshot calls with the real client until stopped; each call
    has a deadline, so a stalled vault fails the probe instead of hanging it."""

    def __init__(self, config_path: Path) -> None:
        super().__init__(daemon=True)
        self.config = load_agent_config(config_path)
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with VaultClient.from_config(self.config) as client:
                while not self.stop.is_set() and len(self.latencies) < 100_000:
                    for call, arg in ((client.find_missing, [os.urandom(32) for _ in range(64)]),
                                      (client.get_snapshot, "latest")):
                        started = time.perf_counter()
                        call(arg)
                        self.latencies.append(time.perf_counter() - started)
                    time.sleep(0.01)
        except BaseException as err:  # the test reports it
            self.errors.append(err)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def run_load(site, tmp_path: Path, rounds: int, files: int, size: int) -> None:
    keep = site.agent("backup", tree(tmp_path / "keep", 20, size, 1), "--retention-days",
                      "30", "--json")
    assert keep.code == 0, keep.err
    kept = keep.json()["snapshot"]
    expired = site.backup(tree(tmp_path / "expired", 20, size, 2))["snapshot"]
    sources = [[tree(tmp_path / f"n{i}-r{r}", files, size, 100 + 10 * i + r)
                for r in range(rounds)] for i in range(AGENTS)]
    probe = Probe(site.agent_toml)
    probe.start()
    started = time.monotonic()
    restore = spawn(site, site.operator_toml, "restore", kept, tmp_path / "restored")
    prune = spawn(site, site.operator_toml, "prune", "--yes", "--json")
    snapshots: dict[str, Path] = {}
    sent: list[int] = []  # bytes of each backup (list.append is atomic)

    def agent(i: int) -> None:
        config = site.dir / f"node-load-{i}.toml"
        for source in sources[i]:
            out = finish(spawn(site, config, "backup", source, "--retention-days", "30",
                               "--json"), f"agent load-{i}")
            result = json.loads(out)
            snapshots[result["snapshot"]] = source
            sent.append(result["bytes"])

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(AGENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * rounds)
        assert not t.is_alive(), "an agent thread did not finish (deadlock?)"
    elapsed = time.monotonic() - started
    finish(restore, "restore")
    pruned = json.loads(finish(prune, "prune"))
    probe.stop.set()
    probe.join(60)
    assert not probe.is_alive(), "a probe call did not return within 60 s"
    assert not probe.errors, probe.errors
    assert len(snapshots) == AGENTS * rounds
    total = sum(sent)
    source = tmp_path / "keep"
    assert snapshot_tree(tmp_path / "restored" / str(source).lstrip("/")) == \
        snapshot_tree(source)
    assert pruned["snapshots"] == [expired], pruned
    listed = {s["id"] for s in site.ctl("snapshots", "--json").json()}
    assert listed == set(snapshots) | {kept}
    check = site.ctl("check", "--json")
    assert check.code == 0 and check.json()["agree"], check.out + check.err
    assert site.ctl("audit", "verify").code == 0
    one, source = next(iter(snapshots.items()))
    restored = site.ctl("restore", one, tmp_path / "one")
    assert restored.code == 0, restored.err
    assert snapshot_tree(tmp_path / "one" / str(source).lstrip("/")) == snapshot_tree(source)
    print(f"\nload: {AGENTS} agents x {rounds} backups, {total / 1e6:.1f} MB in {elapsed:.1f} s"
          f" = {total / 1e6 / elapsed:.1f} MB/s aggregate; probe {len(probe.latencies)} calls,"
          f" p50 {statistics.median(probe.latencies) * 1e3:.1f} ms,"
          f" p99 {p99(probe.latencies) * 1e3:.1f} ms")


def test_eight_agents_back_up_while_a_restore_and_a_prune_run(fleet_site, tmp_path):
    run_load(fleet_site, tmp_path, rounds=1, files=8, size=150_000)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_eight_agents_three_rounds_of_larger_backups_under_restore_and_prune(
        fleet_site, tmp_path):
    run_load(fleet_site, tmp_path, rounds=3, files=40, size=200_000)
