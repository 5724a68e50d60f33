"""One restore drill, start to signed report (docs/drills.md).

    resolve snapshot → open (signature, sealed root, manifest) → restore into a fresh
    0700 directory (outside: the sandbox has no network) → sandbox: hash every file
    against the manifest, validators, user command → report → sign → record in the vault

The recovery time (RTO) runs from the start of the drill to the end of the last check.
Every problem found lands in ``DrillReport.failures``; a report with any failure has
``passed = False``. Problems that stop a drill before it can restore anything (no such
snapshot, a write-only key, no sandbox) raise instead: there is nothing to report on.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from bulwark.agent.client.vault import DrillRecordInfo, VaultClient
from bulwark.agent.drill import sandbox
from bulwark.agent.drill.report import (
    ISOLATION_NAMESPACE,
    ISOLATION_NONE,
    DrillReport,
    canonical_json,
    drill_signing_key,
    sign_report,
    snapshot_signals,
)
from bulwark.agent.errors import ConfigError, IntegrityError, SnapshotNotFound
from bulwark.agent.format.manifest import EntryType
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.restore.reader import fetch_manifest, open_snapshot
from bulwark.agent.restore.run import restore_manifest

#: Extra time the sandbox gets beyond the user command's timeout, plus one second per
#: 20 MB restored, for hashing and validators.
SANDBOX_GRACE_S = 300
SANDBOX_BYTES_PER_S = 20e6

ProgressCallback = Callable[[int, int, str], None]


def latest_of_set(client: VaultClient, set_name: str, node: str = "") -> str:
    """The newest snapshot tagged ``set:NAME`` (the daemon tags every set's snapshots)."""
    tag = f"set:{set_name}"
    found = [s for s in client.list_snapshots(node) if tag in s.tags]
    if not found:
        where = f" of node {node!r}" if node else ""
        raise SnapshotNotFound(f"no snapshot{where} is tagged {tag!r}")
    return max(found, key=lambda s: s.time_ns).id


def _remove_tree(path: Path) -> None:
    def writable(func, name, _exc):
        parent = os.path.dirname(name)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, stat.S_IRWXU)
        func(name)

    shutil.rmtree(path, onerror=writable)  # Python 3.11: onerror, not onexc


def _feed(stdin: IO[str], job: dict, expected: Iterable[list]) -> None:
    """Write the job to the sandbox's stdin as JSON lines (agent.drill.inside), then close it.
    A sandbox that stopped reading (it failed to set up) ends the feed quietly."""
    try:
        with stdin:
            stdin.write(json.dumps(job) + "\n")
            for line in expected:
                stdin.write(json.dumps(line) + "\n")
    except (BrokenPipeError, ValueError):
        pass  # the sandbox exited early; its exit status and stderr tell why


def run_sandbox(job: dict, expected: Iterable[list], isolated: bool, timeout: float) -> dict:
    """Run one drill job in the sandbox (``drill.sandbox``), feeding it ``expected`` on stdin
    line by line, and return what it reported; killed after ``timeout`` seconds."""
    proc = subprocess.Popen(sandbox.inside_command(isolated), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=sandbox.child_env())
    # stdin is fed from a thread while communicate() drains stdout and stderr, so neither
    # side can fill a pipe and wait on the other; communicate() must not touch stdin.
    stdin, proc.stdin = proc.stdin, None
    feeder = threading.Thread(target=_feed, args=(stdin, job, expected), name="drill-feed",
                              daemon=True)
    feeder.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"sandbox did not finish within {timeout:.0f}s"}
    finally:
        feeder.join(timeout=10)
    if proc.returncode != 0:
        tail = err.strip().splitlines()[-3:]
        return {"error": f"sandbox exited {proc.returncode}: {' / '.join(tail)}"}
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        return {"error": "sandbox returned no result"}


def run_drill(
    client: VaultClient,
    keyring: KeyRing,
    ref: str,
    *,
    command: str | None = None,
    timeout: float = 600.0,
    isolation: str = ISOLATION_NAMESPACE,
    workers: int = 2,
    workdir: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> DrillReport:
    """Run one drill of snapshot ``ref`` and return its (unsigned) report."""
    if isolation not in (ISOLATION_NAMESPACE, ISOLATION_NONE):
        raise ConfigError(f"--isolation must be 'namespace' or 'none', got {isolation!r}")
    if timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout}")
    isolated = isolation == ISOLATION_NAMESPACE
    if isolated:
        sandbox.unshare_flags()  # fail before fetching anything
    drill_signing_key(keyring)  # a write-only key ring cannot run drills: fail early
    started_ns, t0 = time.time_ns(), time.monotonic()
    info = client.get_snapshot(ref)
    report = DrillReport(id=uuid.uuid4().hex, snapshot=info.id, node=info.node,
                         runner=keyring.node, host=socket.gethostname(), isolation=isolation,
                         started_ns=started_ns, signals=snapshot_signals(info))
    work = Path(tempfile.mkdtemp(prefix="bulwark-drill-", dir=workdir))
    try:
        _drill(client, keyring, report, work, command, timeout, isolated, workers,
               on_progress, t0)
    finally:
        _remove_tree(work)
    report.ended_ns = time.time_ns()
    report.rto_s = time.monotonic() - t0
    report.finish()
    return report


def _drill(client: VaultClient, keyring: KeyRing, report: DrillReport, work: Path,
           command: str | None, timeout: float, isolated: bool, workers: int,
           on_progress: ProgressCallback | None, t0: float) -> None:
    try:
        opened = open_snapshot(client, keyring, report.snapshot)
        manifest = fetch_manifest(client, opened, workers)
    except IntegrityError as exc:
        report.failures.append(f"snapshot cannot be opened: {exc}")
        return
    with manifest:  # spooled: the expected files stream from it, whatever their number
        target = work / "restore"
        restored = restore_manifest(client, report.snapshot, manifest, target, None, workers,
                                    on_progress)
        report.restore_s = time.monotonic() - t0
        report.files, report.bytes = restored.files, restored.bytes
        report.throughput_bytes_per_s = restored.bytes / max(report.restore_s, 1e-6)
        report.failures += [f"{path}: not restored: {error}" for path, error in restored.failed]
        job = {"root": str(target.resolve()), "isolated": isolated, "command": command,
               "timeout": timeout}
        expected = (["/" + e.path, e.size, e.content_hash.hex()]
                    for e in manifest.entries() if e.type is EntryType.FILE)
        bound = timeout + SANDBOX_GRACE_S + opened.header.bytes / SANDBOX_BYTES_PER_S
        result = run_sandbox(job, expected, isolated, bound)
    _collect(report, result)


def _collect(report: DrillReport, result: dict) -> None:
    report.sandbox = result.get("sandbox") or {}
    if "error" in result:
        report.failures.append(result["error"])
    if "error" in report.sandbox:
        report.failures.append(str(report.sandbox["error"]))
    if report.isolation == ISOLATION_NAMESPACE and report.sandbox.get("interfaces") not in (
        None, ["lo"]
    ):
        report.failures.append(f"sandbox has network interfaces {report.sandbox['interfaces']}")
    report.verify = result.get("verify") or {}
    for problem in report.verify.get("problems", []):
        # a file that failed its restore is already named; do not count it twice
        if not any(f.startswith(f"{problem['path']}: not restored") for f in report.failures):
            report.failures.append(f"{problem['path']}: {problem['error']}")
    report.validators = result.get("validators") or []
    for check in report.validators:
        if not check["ok"]:
            report.failures.append(f"{check['path']}: {check['validator']}: {check['detail']}")
    report.command = result.get("command")
    if report.command is not None:
        if report.command["timed_out"]:
            report.failures.append(f"validate command timed out after "
                                   f"{report.command['duration_s']:.1f}s")
        elif report.command["exit_code"] != 0:
            report.failures.append(f"validate command exited {report.command['exit_code']}")


def record(client: VaultClient, keyring: KeyRing, report: DrillReport) -> DrillRecordInfo:
    """Sign the report's canonical JSON and record it in the vault."""
    body = canonical_json(report.to_json())
    signature, public_key = sign_report(keyring, body)
    return client.record_drill(body, signature, public_key)
