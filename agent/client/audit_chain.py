"""Client-side check of the vault's audit hash chain (FORMAT.md "Audit log").

Written apart from the vault's code on purpose: ``vaultctl audit verify`` recomputes every
hash itself instead of trusting the server's say-so, from a live ``ReadAudit`` stream or
from an export made by ``vaultctl audit --json`` (one JSON object per line).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from bulwark.protos.contract import AUDIT_GENESIS as GENESIS
from bulwark.protos.contract import AUDIT_RECORD_FIELDS, audit_chain_hash
from bulwark.protos.contract import audit_record as canonical

FIELDS = set(AUDIT_RECORD_FIELDS)


@dataclass(frozen=True)
class ChainResult:
    entries: int
    head_hash: str  # hex hash of the last entry checked ("" if none)
    broken_seq: int | None
    reason: str


def check(entries: Iterable) -> ChainResult:
    """Verify entries (objects with ``seq``, ``record``, ``prev_hash``, ``hash``) in order."""
    prev = None
    count = 0
    for e in entries:
        count += 1
        reason = _broken(e, prev)
        if reason:
            return ChainResult(count - 1, prev.hash.hex() if prev else "", e.seq, reason)
        prev = e
    return ChainResult(count, prev.hash.hex() if prev else "", None, "")


def _broken(e, prev) -> str:
    if prev is None and e.seq != 1:
        return f"the chain starts at seq {e.seq}, not 1"
    if prev is not None and e.seq != prev.seq + 1:
        return f"seq {e.seq} follows seq {prev.seq} (entries missing or reordered)"
    expected_prev = GENESIS if prev is None else prev.hash
    if e.prev_hash != expected_prev:
        return "prev_hash is not the hash of the previous entry"
    if audit_chain_hash(e.prev_hash, e.record) != e.hash:
        return "hash is not BLAKE3(prev_hash || record): the record was altered"
    try:
        fields = json.loads(e.record)
    except ValueError:
        return "record is not JSON"
    if not isinstance(fields, dict) or set(fields) != FIELDS or canonical(fields) != e.record:
        return "record is not the canonical JSON of an audit entry"
    if fields["seq"] != e.seq:
        return f"record says seq {fields['seq']}"
    return ""


def export_line(e) -> str:
    """One line of ``vaultctl audit --json``."""
    return json.dumps({"seq": e.seq, "record": e.record.decode("utf-8", "replace"),
                       "prev_hash": e.prev_hash.hex(), "hash": e.hash.hex()})


@dataclass(frozen=True)
class ExportedEntry:
    seq: int
    record: bytes
    prev_hash: bytes
    hash: bytes


def parse_export_line(line: str, lineno: int) -> ExportedEntry:
    """Inverse of ``export_line``; ``ValueError`` naming the line if malformed."""
    try:
        v = json.loads(line)
        return ExportedEntry(int(v["seq"]), str(v["record"]).encode(),
                             bytes.fromhex(v["prev_hash"]), bytes.fromhex(v["hash"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"line {lineno}: not an audit entry ({exc})") from None
