"""The audit chain as the second record of every snapshot's retention (issue 15 item 6).

The catalog is a SQLite file anyone with write access to the vault's folder can edit: an
edited ``retain_until_ns`` once let a delete through. So every commit, retention change and
legal hold is written to the audit chain (before the catalog), with the retention it
sets, and every delete and prune first compares the catalog row with the newest such entry
(:func:`check_row`). A row that promises less than the chain recorded is refused with
``IntegrityError`` (DATA_LOSS) naming both values and the audit entry, and the refusal is
audited. Only a later retention entry can raise what the chain says, never lower it.

What this does not stop: an attacker who rewrites both files (the chain has no secret; its
head hash must be recorded elsewhere to notice a rewrite, docs/worm.md). Snapshots committed
before this rule have no commit entry; for them the catalog row stands alone.

Detail format (appended to the entry's ``detail``): ``[retention retain_until_ns=N
mode=M]``; legal holds are the ``hold.set`` and ``hold.clear`` actions themselves.
"""

from __future__ import annotations

import re

from bulwark.vault.audit.log import AuditLog
from bulwark.vault.errors import IntegrityError, short_id
from bulwark.vault.worm.retention import Retention, date

COMMIT = "snapshot.commit"
RETENTION_ACTIONS = (COMMIT, "retention.extend", "retention.shorten")
HOLD_ACTIONS = ("hold.set", "hold.clear")
_MARK = re.compile(r"\[retention retain_until_ns=(\d+) mode=(\w+)\]")


def target(snapshot_id: str) -> str:
    """The audit target of a snapshot (the Retention service's spelling)."""
    return f"snapshot:{snapshot_id}"


def mark(retain_until_ns: int, mode: str) -> str:
    """The retention an entry records, appended to its detail."""
    return f"[retention retain_until_ns={retain_until_ns} mode={mode}]"


def check_row(audit: AuditLog, snapshot_id: str, row: Retention) -> None:
    """Refuse (``IntegrityError``) a catalog row that promises less than the audit chain's
    newest record of this snapshot: an earlier retain-until, governance instead of
    compliance, or no legal hold where the chain's last hold action set one."""
    sid = short_id(snapshot_id, 12)
    entry = audit.latest(target(snapshot_id), RETENTION_ACTIONS)
    found = _MARK.search(str(entry.fields.get("detail", ""))) if entry is not None else None
    if entry is not None and found is not None:
        until, mode = int(found.group(1)), found.group(2)
        if row.retain_until_ns < until:
            raise IntegrityError(
                f"snapshot {sid}: the catalog says retain-until {date(row.retain_until_ns)} but "
                f"audit entry {entry.seq} recorded {date(until)}; the catalog was edited, "
                "nothing is deleted"
            )
        if mode == "compliance" and row.mode != mode:
            raise IntegrityError(
                f"snapshot {sid}: the catalog says mode {row.mode!r} but audit entry "
                f"{entry.seq} recorded compliance; the catalog was edited, nothing is deleted"
            )
    hold = audit.latest(target(snapshot_id), HOLD_ACTIONS)
    if hold is not None and hold.fields.get("action") == "hold.set" and not row.legal_hold:
        raise IntegrityError(
            f"snapshot {sid}: the catalog shows no legal hold but audit entry {hold.seq} set "
            "one and none cleared it; the catalog was edited, nothing is deleted"
        )
