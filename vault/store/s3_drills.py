"""The drill log on the S3 store (issue 17): each drill record is in the bucket too.

A drill record is evidence that a snapshot was restored and checked (``vault.drill_log``);
with the bucket as the source of truth it must outlive the vault host. ``BucketDrillLog``
writes ``drills/<record id>`` before the local ``drills.sqlite`` records it (a failed PUT
records nothing), and ``open_drill_log`` rebuilds a missing ``drills.sqlite`` from
``drills/`` in the order the records were made (``recorded_ns``, then id).

``drills/<id>`` is JSON (``DRILL_FORMAT``): every ``DrillEntry`` field, the report, its
signature and the runner's public key base64-encoded, locked for ``[retention]
default_days`` like the audit entries. Recording the same signed report again writes the
same key again (a new, identical version); the local log keeps the first record.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from pathlib import Path

from bulwark.vault.config import VaultConfig
from bulwark.vault.drill_log import DrillEntry, DrillLog
from bulwark.vault.errors import IntegrityError
from bulwark.vault.store.s3 import S3ChunkStore
from bulwark.vault.store.s3_open import open_store
from bulwark.vault.store.s3_records import BucketRecords
from bulwark.vault.worm.retention import DAY_NS

log = logging.getLogger(__name__)

DRILLS = "drills/"
DRILL_FORMAT = "bulwark-drill-record-v1"
_BYTES = ("report", "signature", "public_key")


def encode_drill(entry: DrillEntry) -> bytes:
    doc: dict = {"format": DRILL_FORMAT, **dataclasses.asdict(entry)}
    for name in _BYTES:
        doc[name] = base64.b64encode(doc[name]).decode()
    return json.dumps(doc, sort_keys=True).encode()


def decode_drill(data: bytes, key: str) -> DrillEntry:
    """Inverse of ``encode_drill``; ``IntegrityError`` naming ``key`` if malformed."""
    try:
        doc = json.loads(data)
        if doc.pop("format", None) != DRILL_FORMAT:
            raise ValueError(f"not {DRILL_FORMAT}")
        for name in _BYTES:
            doc[name] = base64.b64decode(doc[name], validate=True)
        return DrillEntry(**doc)
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{key}: not a drill record: {exc}") from None


class BucketDrillLog(DrillLog):
    """A ``DrillLog`` whose every record reaches the bucket first."""

    def __init__(self, path: Path, records: BucketRecords) -> None:
        super().__init__(path)
        self.records = records

    def append(self, entry: DrillEntry) -> DrillEntry:
        store = self.records.store
        until = store._wall() + self.records.audit_days * DAY_NS
        store._call("put_object", DRILLS + entry.id, Body=encode_drill(entry),
                    ContentType="application/json", **store.lock_args(until))
        return super().append(entry)


def _get(store: S3ChunkStore, key: str) -> bytes:
    body = store._call("get_object", key)["Body"]
    try:
        return body.read()
    finally:
        body.close()


def rebuild_drills(store: S3ChunkStore, path: Path) -> int:
    """Make the drill log at ``path`` (which must not exist) from ``drills/``; the count."""
    keys = sorted(k for k, _ in store.list_keys(DRILLS))
    entries = [decode_drill(data, key) for key, data in
               zip(keys, store._map(lambda k: _get(store, k), keys), strict=True)]
    local = DrillLog(path)
    try:
        for entry in sorted(entries, key=lambda e: (e.recorded_ns, e.id)):
            local.append(entry)
    finally:
        local.close()
    return len(entries)


def open_drill_log(config: VaultConfig) -> DrillLog:
    """The vault's drill log (``drills.sqlite`` beside the catalog); on the S3 store a
    ``BucketDrillLog``, rebuilt from the bucket first if the local file is missing."""
    path = config.catalog_path.parent / "drills.sqlite"
    if config.s3 is None:
        return DrillLog(path)
    store = open_store(config, check=False)
    if not path.exists():
        count = rebuild_drills(store, path)
        if count:
            log.info("drill log %s rebuilt from s3://%s: %d record(s)", path, store.bucket,
                     count)
    return BucketDrillLog(path, BucketRecords(store, max(1, config.retention.default_days)))
