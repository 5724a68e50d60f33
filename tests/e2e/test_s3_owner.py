"""One vaultd per bucket across hosts (issue 17): two real vaultd processes with their own
state folders on one bucket. The second is refused while the first's heartbeat is fresh,
naming it; ``--take-over`` displaces it (audited, the first stops with exit 1 at its next
heartbeat); a vaultd killed with -9 blocks a new one only until its heartbeat goes stale,
and a vaultd that takes back a bucket served from another state folder meanwhile rebuilds
its catalog and audit log from the bucket first."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import tomllib

import pytest
import tomli_w

from tests.e2e.conftest import BIN, Site, free_port, wait_healthy
from tests.e2e.test_s3_store import bucket_of
from tests.lib.ceph_rgw import use_s3_store

pytestmark = [pytest.mark.parametrize("site", ["s3"], indirect=True), pytest.mark.slow]

BEAT = 2  # seconds; stale after 6 of them (vault.store.s3_owner.STALE_HEARTBEATS)


def beat_every(site: Site, seconds: float) -> None:
    path = site.dir / "vault.toml"
    doc = tomllib.loads(path.read_text())
    doc["store"]["heartbeat_seconds"] = seconds
    path.write_text(tomli_w.dumps(doc))


def vaultd(site: Site, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "vaultd", "--config", site.dir / "vault.toml", *args],
                          capture_output=True, text=True, timeout=60)


def test_one_vaultd_per_bucket_across_state_folders(site, tmp_path, rgw_cluster):
    assert site.stop() == 0
    beat_every(site, BEAT)
    site.start()
    port = free_port()
    init = subprocess.run([BIN / "vaultctl", "init", tmp_path / "other", "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    other = Site(tmp_path / "other", port)
    use_s3_store(other.dir, rgw_cluster, bucket_of(site))
    beat_every(other, BEAT)

    refused = vaultd(other)
    assert refused.returncode == 1
    assert f"s3://{bucket_of(site)} is served by vaultd" in refused.stderr
    assert f"state folder {site.dir / 'state'}" in refused.stderr
    assert "--take-over" in refused.stderr
    assert not (other.dir / "state" / "catalog.sqlite").exists()  # nothing rebuilt

    other.proc = subprocess.Popen([BIN / "vaultd", "--config", other.dir / "vault.toml",
                                   "--take-over"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
    wait_healthy(f"127.0.0.1:{other.port}", other.proc, site_dir=other.dir)
    assert site.proc.wait(timeout=10 * BEAT) == 1  # the displaced vaultd stops by itself
    assert "was taken over by" in site.proc.communicate()[1]
    site.proc = None
    records = [json.loads(json.loads(line)["record"])
               for line in other.ctl("audit", "--json").out.splitlines()]
    (taken,) = [r for r in records if r["action"] == "bucket.take_over"]
    assert str(site.dir / "state") in taken["detail"]

    other.proc.send_signal(signal.SIGKILL)  # its host dies: no release
    other.proc.communicate()
    other.proc = None
    died = time.monotonic()
    again = vaultd(site)
    assert again.returncode == 1 and "is served by vaultd" in again.stderr
    assert f"state folder {other.dir / 'state'}" in again.stderr
    time.sleep(max(0.0, died + 6 * BEAT + 1 - time.monotonic()))
    site.start()  # stale now: served again without --take-over
    # The bucket was served from another state folder meanwhile: this catalog and audit log
    # may be behind it, so both were rebuilt from the bucket first (the old ones kept).
    assert list((site.dir / "state").glob("catalog.sqlite.before-reindex-*"))
    verified = site.ctl("audit", "verify")
    assert verified.code == 0, verified.err
    records = [json.loads(json.loads(line)["record"])
               for line in site.ctl("audit", "--json").out.splitlines()]
    assert "bucket.take_over" in [r["action"] for r in records]  # the other's entries too
