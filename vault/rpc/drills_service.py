"""The gRPC edge for ``bulwark.v1.Drills``: record and list signed restore-drill reports.

RecordDrill checks what the vault can check without keys: the Ed25519 signature over
``"bulwark-drill-v1\\0" || report`` by the enclosed public key, and that the report is a
canonical-looking JSON object of format version 1 naming a snapshot, a node and a boolean
``passed``. Whether the public key belongs to the tenant's drill runner is for a key
holder to decide (``vaultctl drills`` re-derives it); the vault records who sent it
(the authenticated caller) next to it. Errors map to gRPC statuses through
``vault.rpc.status.edge``.
"""

from __future__ import annotations

import json
import logging

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bulwark.protos.bulwark.v1 import drills_pb2, drills_pb2_grpc
from bulwark.protos.contract import (
    DRILL_REPORT_FORMAT,
    DRILL_REPORT_VERSION,
    DRILL_SIGNATURE_CONTEXT,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
)
from bulwark.vault.drill_log import DrillEntry, DrillLog, drill_id
from bulwark.vault.errors import InvalidRequest
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge
from bulwark.vault.worm.clock import Clock

log = logging.getLogger(__name__)

MAX_REPORT_BYTES = 1 << 20


def check_report(report: bytes, signature: bytes, public_key: bytes) -> dict:
    """Verify the signature and the report's shape; returns the parsed report.

    Raises ``InvalidRequest`` naming the field that is wrong.
    """
    if not report or len(report) > MAX_REPORT_BYTES:
        raise InvalidRequest(f"report: {len(report)} bytes, expected 1..{MAX_REPORT_BYTES}")
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(f"public_key: {len(public_key)} bytes, expected {PUBLIC_KEY_SIZE}")
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidRequest(f"signature: {len(signature)} bytes, expected {SIGNATURE_SIZE}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, DRILL_SIGNATURE_CONTEXT + report)
    except (InvalidSignature, ValueError):
        raise InvalidRequest("signature: does not verify for this report and public_key") from None
    try:
        doc = json.loads(report.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"report: not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidRequest("report: not a JSON object")
    if doc.get("format") != DRILL_REPORT_FORMAT or doc.get("version") != DRILL_REPORT_VERSION:
        raise InvalidRequest(
            f"report: format/version {doc.get('format')!r}/{doc.get('version')!r}, this vault "
            f"accepts {DRILL_REPORT_FORMAT!r}/{DRILL_REPORT_VERSION}")
    for key, kind in (("snapshot", str), ("node", str), ("passed", bool)):
        if not isinstance(doc.get(key), kind):
            raise InvalidRequest(f"report.{key}: missing or not a {kind.__name__}")
    if not doc["snapshot"]:
        raise InvalidRequest("report.snapshot: empty")
    return doc


def _record(entry: DrillEntry) -> drills_pb2.DrillRecord:
    return drills_pb2.DrillRecord(
        id=entry.id, recorded_ns=entry.recorded_ns, snapshot_id=entry.snapshot_id,
        node=entry.node, passed=entry.passed, report=entry.report,
        signature=entry.signature, public_key=entry.public_key,
        recorded_by=entry.recorded_by, recorded_role=entry.recorded_role,
    )


class DrillsService(drills_pb2_grpc.DrillsServicer):
    def __init__(self, drill_log: DrillLog, clock: Clock) -> None:
        self._log = drill_log
        self._clock = clock

    @edge
    def RecordDrill(self, request, context):
        caller = caller_of(context)
        doc = check_report(request.report, request.signature, request.public_key)
        entry = self._log.append(DrillEntry(
            id=drill_id(request.report, request.signature),
            recorded_ns=self._clock.now_ns(),
            snapshot_id=doc["snapshot"],
            node=doc["node"],
            passed=doc["passed"],
            report=request.report,
            signature=request.signature,
            public_key=request.public_key,
            recorded_by=caller.name,
            recorded_role=caller.role,
        ))
        log.info("drill %s of snapshot %s recorded by %s: %s", entry.id[:12],
                 entry.snapshot_id[:12], caller, "passed" if entry.passed else "FAILED")
        return _record(entry)

    @edge
    def ListDrills(self, request, context):
        entries = self._log.list(request.snapshot_id, request.node)
        return drills_pb2.ListDrillsResponse(drills=[_record(e) for e in entries])
