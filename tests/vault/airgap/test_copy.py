"""The air-gap vault's record of a primary snapshot keeps the primary's mark (issue 18)."""

from bulwark.vault.airgap.copy import local_record
from bulwark.vault.catalog.db import SnapshotRecord
from bulwark.vault.rpc.primary_client import record_of
from bulwark.vault.rpc.vault_service import snapshot_pb
from bulwark.vault.worm.retention import DAY_NS, Retention, RetentionPolicy
from bulwark.vault.worm.signals import Mark

NOW = 1_750_000_000 * 10**9


def test_mark_travels_through_the_feed_message_and_the_local_record():
    mark = Mark(True, 312_000, ("format_lost 31.2% >= 2.5%",), "", "", NOW, 280_000)
    primary = SnapshotRecord("ab" * 32, NOW, "gpu-1", b"h", b"s" * 64, (), ("/d",), 1, 1, 0,
                             Retention("governance", NOW + DAY_NS), mark)
    received = record_of(snapshot_pb(primary))  # what the air-gap vault decodes from Feed
    assert received.mark == mark
    copy = local_record(received, 0, NOW + 5, RetentionPolicy())
    assert copy.mark == mark and copy.time_ns == NOW + 5
    unmarked = record_of(snapshot_pb(SnapshotRecord("cd" * 32, NOW, "gpu-1", b"h", b"s" * 64,
                                                    (), (), 1, 1, 0)))
    assert not unmarked.mark.suspicious
