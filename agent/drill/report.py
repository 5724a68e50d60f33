"""The drill report: what a drill proved, as canonical JSON, signed by the drill runner.

Canonical JSON (FORMAT.md "Drill report"): UTF-8, keys sorted, no whitespace
(``separators=(",", ":")``), floats rounded to milliseconds before encoding. The signature
is Ed25519 over ``DRILL_SIGNATURE_CONTEXT || report`` with a key derived from the tenant's
restore key and the runner's name::

    drill seed = derive_key(KDF_CONTEXT_DRILL_SIGNING, restore_private(generation 0) || runner)

so only holders of the restore key (operators, drill runners, escrow; never a write-only
GPU node) can produce a report that a key holder will accept as the tenant's, and any key
holder can re-derive the public key to check a recorded report (``vaultctl drills``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.format.constants import KDF_CONTEXT_DRILL_SIGNING
from bulwark.agent.format.snapshot import decode_header
from bulwark.agent.keys.keyfile import KeyRing, derive_key
from bulwark.protos.contract import (
    DRILL_REPORT_FORMAT,
    DRILL_REPORT_VERSION,
    DRILL_SIGNATURE_CONTEXT,
)

ISOLATION_NAMESPACE = "namespace"
ISOLATION_NONE = "none"


@dataclass
class CommandResult:
    """The user's validate command as it ran inside the sandbox."""

    cmd: str
    exit_code: int | None  # None: killed at the timeout or could not start
    timed_out: bool
    duration_s: float
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass
class DrillReport:
    """Everything a drill found. ``passed`` is computed by :meth:`finish`, never set by hand."""

    id: str
    snapshot: str
    node: str          # the node that made the snapshot
    runner: str        # who ran the drill (the key ring's node name)
    host: str
    isolation: str
    started_ns: int
    ended_ns: int = 0
    rto_s: float = 0.0
    restore_s: float = 0.0
    bytes: int = 0
    files: int = 0
    throughput_bytes_per_s: float = 0.0
    sandbox: dict[str, object] = field(default_factory=dict)
    verify: dict[str, object] = field(default_factory=dict)
    validators: list[dict[str, object]] = field(default_factory=list)
    command: dict[str, object] | None = None
    # the snapshot's ransomware signals: the vault's mark and the header's summary (issue 18)
    signals: dict[str, object] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    passed: bool = False

    def finish(self) -> None:
        """Decide pass/fail: passed only if nothing at all failed and something was checked."""
        if not self.verify.get("files_checked") and not self.failures and self.files:
            self.failures.append("no file was verified inside the sandbox")
        self.passed = not self.failures

    def to_json(self) -> dict[str, object]:
        doc = asdict(self)
        doc["format"] = DRILL_REPORT_FORMAT
        doc["version"] = DRILL_REPORT_VERSION
        doc["started"] = _iso(self.started_ns)
        doc["ended"] = _iso(self.ended_ns)
        return _rounded(doc)

    def canonical(self) -> bytes:
        return canonical_json(self.to_json())

    def summary(self) -> str:
        """A readable summary for a terminal or a log."""
        state = "PASSED" if self.passed else "FAILED"
        lines = [
            f"drill of snapshot {self.snapshot[:12]} (node {self.node}): {state}",
            f"  isolation {self.isolation}; started {_iso(self.started_ns)}, "
            f"RTO {self.rto_s:.2f}s",
            f"  restored {self.files} files, {self.bytes / 1e6:,.1f} MB in {self.restore_s:.2f}s "
            f"({self.throughput_bytes_per_s / 1e6:,.1f} MB/s)",
            f"  verified {self.verify.get('files_checked', 0)} files against the manifest",
        ]
        for check in self.validators:
            mark = "ok  " if check["ok"] else "FAIL"
            lines.append(f"  {mark} {check['validator']:<11} {check['path']}: {check['detail']}")
        if self.command is not None:
            code = self.command["exit_code"]
            how = "timed out" if self.command["timed_out"] else f"exit {code}"
            lines.append(f"  command {self.command['cmd']!r}: {how} "
                         f"after {self.command['duration_s']:.2f}s")
            tail = str(self.command["output_tail"]).rstrip()
            if tail:
                lines += ["    | " + line for line in tail.splitlines()[-10:]]
        mark = self.signals.get("mark") or {}
        if mark.get("suspicious"):
            lines.append(f"  snapshot marked SUSPICIOUS: {'; '.join(mark.get('reasons') or [])}")
        for failure in self.failures:
            lines.append(f"  failure: {failure}")
        return "\n".join(lines)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds")


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def canonical_json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def drill_signing_key(keyring: KeyRing) -> Ed25519PrivateKey:
    """The runner's drill signing key; KeyMaterialError on a write-only key ring."""
    if keyring.restore_private is None:
        raise KeyMaterialError(
            "this key file is write-only: drills need the restore key (use drill.toml)")
    seed = derive_key(KDF_CONTEXT_DRILL_SIGNING,
                      _drill_root(keyring) + keyring.node.encode("utf-8"))
    return Ed25519PrivateKey.from_private_bytes(seed)


def _drill_root(keyring: KeyRing) -> bytes:
    """Generation 0 of the restore key (the one the master derives), whatever the newest:
    a drill key must not change when the restore key rotates, or every report recorded
    before the rotation would look foreign (FORMAT.md "Restore key rotation")."""
    return keyring.restore_key_for(0)


def sign_report(keyring: KeyRing, report: bytes) -> tuple[bytes, bytes]:
    """(signature, public key) for canonical report bytes."""
    key = drill_signing_key(keyring)
    return key.sign(DRILL_SIGNATURE_CONTEXT + report), key.public_key().public_bytes_raw()


def verify_report(public_key: bytes, report: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, DRILL_SIGNATURE_CONTEXT + report)
    except (InvalidSignature, ValueError):
        return False
    return True


def tenant_key_for(keyring: KeyRing, runner: str) -> bytes | None:
    """The drill public key ``runner`` has if it holds this tenant's restore key."""
    if keyring.restore_private is None:
        return None
    seed = derive_key(KDF_CONTEXT_DRILL_SIGNING, _drill_root(keyring) + runner.encode("utf-8"))
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def snapshot_signals(info) -> dict[str, object]:
    """The drilled snapshot's signals for the report: the vault's mark (an
    agent.client.vault.SnapshotInfo) and the signed header's summary (None if unscored)."""
    summary = decode_header(info.header).signals
    return {"mark": {"suspicious": info.suspicious, "score": info.mark_score_ppm / 1e6,
                     "reasons": list(info.mark_reasons), "set_by": info.mark_set_by},
            "summary": None if summary is None else summary.as_dict()}
