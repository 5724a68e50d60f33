"""What the vault does with a snapshot marked suspicious (issue 18; vault.worm.signals judges).

* :func:`marked`: before the commit, the mark is audited (``snapshot.mark``, with its score
  and reasons), logged at WARNING, and counted in ``bulwark_vault_snapshots_marked_total``
  (served with vaultd's metrics, vault.monitor). The snapshot is still committed in full.
* :func:`protect_clean`: after it, the node's last ``protect_clean`` snapshots not marked
  suspicious get their retention extended to at least ``protect_days`` from now, each
  extension audited as a ``retention.extend`` entry with the retention it sets (vault.worm.ledger),
  so an attacker who waits for the clean snapshots to expire waits in vain.
* :func:`set_by_officer`: an officer's manual mark or clear (``bulwark.v1.Signals/SetMark``),
  audited; a manual mark protects the clean snapshots as an automatic one does.
"""

from __future__ import annotations

import dataclasses
import logging

from prometheus_client import Counter

from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.errors import InvalidRequest, short_id
from bulwark.vault.worm import ledger
from bulwark.vault.worm.retention import date
from bulwark.vault.worm.signals import SignalPolicy, clean_to_protect, protect_until

log = logging.getLogger("vaultd")

MARK_ACTION = "snapshot.mark"
CLEAR_ACTION = "snapshot.unmark"
#: How many of a node's newest snapshots are searched for the clean ones to protect.
PROTECT_SCAN = 500

#: Registered into vaultd's metrics registry by vault.monitor.
MARKED = Counter("bulwark_vault_snapshots_marked", "Snapshots marked suspicious at commit",
                 ["node"], registry=None)


def marked(audit, catalog: Catalog, policy: SignalPolicy, record: SnapshotRecord, caller,
           now_ns: int) -> None:
    """Audit, log and count the mark of ``record`` (called before it is committed)."""
    reasons = "; ".join(record.mark.reasons)
    if audit is not None:
        audit.append(caller.name, caller.role, MARK_ACTION, ledger.target(record.id), "allowed",
                     f"node {record.node}: suspicious, score {record.mark.score_ppm / 1e4:.1f}%:"
                     f" {reasons}")
    log.warning("snapshot %s of node %s marked suspicious (score %.1f%%): %s; committed in "
                "full, the node's last clean snapshots are kept longer", record.id,
                record.node, record.mark.score_ppm / 1e4, reasons)
    MARKED.labels(record.node).inc()


def protect_clean(audit, catalog: Catalog, policy: SignalPolicy, record: SnapshotRecord,
                  caller, now_ns: int) -> list[str]:
    """Extend the retention of the last clean snapshots of ``record``'s node; their ids."""
    until = protect_until(policy, now_ns)
    newest = [r for r in catalog.snapshot_page(record.node, True, None, PROTECT_SCAN)
              if r.id != record.id]
    extended = []
    for clean in clean_to_protect(newest, policy):
        if clean.retention.retain_until_ns >= until:
            continue
        if audit is not None:
            audit.append(caller.name, caller.role, "retention.extend", ledger.target(clean.id),
                         "allowed", f"kept after suspicious snapshot {short_id(record.id, 12)}"
                         f" of node {record.node}, until {date(until)} "
                         + ledger.mark(until, clean.retention.mode))
        catalog.set_retain_until(clean.id, until)
        extended.append(clean.id)
    if extended:
        log.warning("node %s: retention of %d clean snapshot(s) extended to %s after %s",
                    record.node, len(extended), date(until), short_id(record.id, 12))
    return extended


def set_by_officer(audit, catalog: Catalog, policy: SignalPolicy, ref: str, suspicious: bool,
                   reason: str, caller, now_ns: int) -> SnapshotRecord:
    """An officer's manual mark (``suspicious``) or clear of the snapshot ``ref``."""
    if not reason.strip():
        raise InvalidRequest("SetMarkRequest.reason: required (why the mark is set or cleared)")
    if ref == "latest" or ref.startswith("latest-"):
        raise InvalidRequest(f"SetMarkRequest.ref: {ref!r}: name the snapshot by id or prefix")
    record = catalog.resolve(ref)
    mark = dataclasses.replace(record.mark, suspicious=suspicious, set_by=caller.name,
                               note=reason, set_ns=now_ns)
    action = MARK_ACTION if suspicious else CLEAR_ACTION
    if audit is not None:
        audit.append(caller.name, caller.role, action, ledger.target(record.id), "allowed",
                     f"by hand: {reason}")
    catalog.set_mark(record.id, mark)
    log.warning("snapshot %s %s by %s: %s", record.id,
                "marked suspicious" if suspicious else "cleared", caller.name, reason)
    record = dataclasses.replace(record, mark=mark)
    if suspicious:
        protect_clean(audit, catalog, policy, record, caller, now_ns)
    return record
