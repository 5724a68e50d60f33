"""The one function that turns a primary's snapshot record into the air-gap vault's own.

Everything the primary recorded travels as it is (``dataclasses.replace`` keeps every field
of ``SnapshotRecord``, including fields added later, such as marks), except what the air-gap
vault's own policy decides:

* ``time_ns``: the air-gap vault's clock at commit. A primary's clock never enters the
  air-gap catalog, so a primary with a clock set forward cannot move the air-gap vault's
  compliance clock floor (``Catalog.newest_time_ns``) and expire copies early.
* ``retention``: the air-gap ``[retention]`` policy from that time, honouring the node's
  signed request up to the air-gap maximum; legal holds are the air-gap officer's alone.

The snapshot id, the signed header and signature stay verbatim, so the copy is the same
snapshot (restores, drills and audits name it by the primary's id).
"""

from __future__ import annotations

import dataclasses

from bulwark.vault.catalog.db import SnapshotRecord
from bulwark.vault.worm.retention import RetentionPolicy, retention_at_commit


def local_record(primary: SnapshotRecord, requested_days: int, now_ns: int,
                 policy: RetentionPolicy) -> SnapshotRecord:
    """The record the air-gap vault commits for ``primary`` at ``now_ns``."""
    if policy.maximum_days:
        requested_days = min(requested_days, policy.maximum_days)
    return dataclasses.replace(
        primary, time_ns=now_ns, retention=retention_at_commit(policy, now_ns, requested_days)
    )
