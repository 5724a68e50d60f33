"""The per-node quota gauges (vault/ingest/quota_metrics.py) scraped from a real vaultd's
metrics endpoint after a real backup and an upload the node never committed: the numbers
are those PutChunks enforces and ``vaultctl stats`` reports, each with its limit."""

from __future__ import annotations

import os
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bulwark.protos.bulwark.v1 import vault_pb2, vault_pb2_grpc
from bulwark.protos.contract import blob_address
from tests.e2e.conftest import BIN, Site, free_port, tls_channel
from tests.lib.vault_toml import set_keys

MiB = 1 << 20


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of the endpoint, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def metered(tmp_path):
    """A site whose vaultd serves metrics and has quotas, from its first start; (site,
    metrics port)."""
    port, metrics_port = free_port(), free_port()
    directory = tmp_path / "site"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    set_keys(directory / "vault.toml", "server", metrics=f"127.0.0.1:{metrics_port}")
    set_keys(directory / "vault.toml", "limits", node_stored_bytes=64 * MiB,
             node_uncommitted_bytes=32 * MiB, snapshots_per_hour=50)
    site = Site(directory, port)
    site.start()
    yield site, metrics_port
    if site.proc is not None:
        assert site.stop() == 0


def test_quota_usage_and_limits_are_served_as_metrics(metered, tmp_path):
    site, metrics_port = metered
    empty = scrape(metrics_port)
    assert empty[("bulwark_vault_node_stored_bytes_limit", ())] == 64 * MiB
    assert empty[("bulwark_vault_node_uncommitted_bytes_limit", ())] == 32 * MiB
    assert empty[("bulwark_vault_node_snapshots_per_hour_limit", ())] == 50
    assert not [k for k in empty if k[0] == "bulwark_vault_node_stored_bytes"]

    source = tmp_path / "src"
    source.mkdir()
    for i in range(3):
        (source / f"f{i}.bin").write_bytes(os.urandom(200_000))
    site.backup(source)
    site.backup(source)
    # A node's upload it never commits: 1 MiB that no snapshot references.
    with tls_channel(site.dir, f"127.0.0.1:{site.port}", role="node") as channel:
        data = os.urandom(MiB)
        digest = blob_address(data)
        vault_pb2_grpc.VaultStub(channel).PutChunks(iter([vault_pb2.PutChunksRequest(
            blobs=[vault_pb2.Blob(chunk_id=digest, data=data, digest=digest)])]), timeout=30)

    samples = scrape(metrics_port)
    usage = site.ctl("stats", "--json").json()["quota_usage"]
    assert len(usage) == 1, usage
    node = (("node", usage[0]["node"]),)
    assert samples[("bulwark_vault_node_stored_bytes", node)] == usage[0]["stored_bytes"]
    assert samples[("bulwark_vault_node_uncommitted_bytes", node)] == \
        usage[0]["uncommitted_bytes"] >= MiB
    assert usage[0]["stored_bytes"] > usage[0]["uncommitted_bytes"] + 600_000
    assert samples[("bulwark_vault_node_snapshots_last_hour", node)] == 2
