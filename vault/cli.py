"""``vaultd --config PATH [--port-file PATH]``: run the vault in the foreground.

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 2 for a bad configuration or
command line, 1 when the store, catalog or listening address cannot be opened, or when
closing them overran its bound (vault.shutdown: a stop never takes more than the 5 s grace
and 10 s more, whatever a call is stuck in).
Logs go to stderr (journald under systemd), one line per event, each starting with its time
in ISO 8601 UTC to the millisecond: ``2026-03-01T07:01:06.543Z INFO vaultd listening on …``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bulwark.vault import allocator
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.config import VaultConfig, load_config
from bulwark.vault.errors import ConfigError, VaultError
from bulwark.vault.logsink import LogSink
from bulwark.vault.monitor import CertWatch
from bulwark.vault.rpc.airgap_service import open_airgap
from bulwark.vault.rpc.enrollment import build_enroll_server, open_enrollment
from bulwark.vault.rpc.server import build_server, open_audit, open_backends, open_clock
from bulwark.vault.rpc.snapshots_service import host_of
from bulwark.vault.sdnotify import notify, start_watchdog
from bulwark.vault.shutdown import STOP_SECONDS, exit_after, exit_now, run_steps
from bulwark.vault.store.s3_reindex import ReindexReport, reindex
from bulwark.vault.worm.forget_jobs import ForgetJobs

log = logging.getLogger("vaultd")
GRACE_SECONDS = 5


def _write_port_file(path: Path, port: int) -> None:
    """Write atomically, so a reader never sees a partial number."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


def configure_logging() -> None:
    """Log lines on stderr stamped ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC) and the level, so a log
    copied off the host, or read without journald's own stamps, still says when. Written by
    ``vault.logsink.LogSink``: a stderr nobody reads drops lines (counted), never blocks."""
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s",
                                  datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler = LogSink(sys.stderr.fileno())
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vaultd", description="Bulwark vault service.",
        epilog="example: vaultd --config /etc/bulwark/vault.toml   (S3 store, vaultd stopped: "
        "vaultd --config /etc/bulwark/vault.toml --reindex --json)")
    parser.add_argument("--config", required=True, type=Path, help="path to vault.toml")
    parser.add_argument(
        "--port-file", type=Path, help="write the bound port here once serving (for port 0)"
    )
    parser.add_argument(
        "--init-store", action="store_true",
        help="create the store [store] path names if that folder is new or empty (vaultctl "
        "init does this for a site); without it vaultd serves only an existing store",
    )
    parser.add_argument(
        "--reindex", action="store_true",
        help="S3 store only, with vaultd stopped: rebuild the catalog (and an audit log that "
        "does not extend the bucket's) from the bucket alone, keep the old files beside them, "
        "and exit (docs/s3.md)")
    parser.add_argument("--json", action="store_true",
                        help="with --reindex: print its report as one JSON object")
    parser.add_argument(
        "--take-over", action="store_true",
        help="S3 store: serve the bucket even though another vaultd's heartbeat is fresh "
        "(that vaultd stops at its next heartbeat); audited (docs/s3.md)")
    args = parser.parse_args(argv)
    if args.json and not args.reindex:
        parser.error("--json goes with --reindex")
    allocator.tune()
    configure_logging()

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if args.take_over:
        if config.s3 is None:
            log.error("%s: --take-over applies only to the S3 store", config.source)
            return 2
        config = dataclasses.replace(config, s3=dataclasses.replace(config.s3, take_over=True))
    if args.reindex:
        return run_reindex(config, args.json)
    try:
        store, catalog = open_backends(config, init_store=args.init_store)
    except ConfigError as exc:  # a store path that names no store
        log.error("%s", exc)
        return 2
    except VaultError as exc:
        log.error("%s", exc)
        return 1
    try:
        clock, clock_events = open_clock(config, catalog)
        audit = open_audit(config, clock)
        for event in clock_events:  # start, resume, or a wall-clock jump: all audited
            audit.append("vaultd", "system", event.action, "clock", event.outcome, event.detail)
        clock.on_event = lambda e: audit.append("vaultd", "system", e.action, "clock",
                                                e.outcome, e.detail)
        _audit_take_over(store, audit)
        airgap = open_airgap(config, store, catalog, clock, audit)  # None unless [airgap]
        enrollment = open_enrollment(config, clock)  # None unless [enroll]
        server, port = build_server(config, store, catalog, clock, audit, airgap=airgap,
                                    enrollment=enrollment)
        enroll_server = None if enrollment is None else build_enroll_server(
            config, enrollment, audit, port)[0]
    except VaultError as exc:
        catalog.close()
        store.close()
        log.error("%s", exc)
        return 1

    lost = getattr(getattr(store, "owner", None), "lost", None)  # S3: the bucket's claim
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    server.start()
    host = f"[{config.host}]" if ":" in config.host else config.host
    if args.port_file:
        try:
            _write_port_file(args.port_file, port)
        except OSError as exc:
            log.error("--port-file %s: %s", args.port_file, exc.strerror or exc)
            server.stop(grace=None)
            catalog.close()
            store.close()
            return 1
    log.info("vaultd listening on %s:%d", host, port)
    if enroll_server is not None:
        enroll_server.start()
        log.info("enrollment listener on %s (TLS, join tokens only)", config.enroll.listen)
    watch = CertWatch({} if config.tls is None else {"server": config.tls.cert,
                                                     "ca": config.tls.ca})
    metrics_port = watch.start(config.metrics)
    if metrics_port:
        log.info("metrics on http://%s:%d/metrics", config.metrics[0], metrics_port)
    notify("READY=1", f"STATUS=serving on {host}:{port}")
    start_watchdog(stop)
    if airgap is not None:
        airgap.start()
        log.info("air-gap vault: pulling from %s inside its windows", config.airgap.primary)
    forget_jobs = ForgetJobs(config.forget, catalog, clock, audit, host_of)
    forget_jobs.start()  # [[forget]] policies on their schedules (vault.worm.forget_jobs)
    for job in config.forget:
        log.info("forget job %s: %s (UTC)", job.name, job.schedule)
    while not stop.wait(0.5):
        pass
    notify("STOPPING=1")
    log.info("vaultd stopping (grace %ds)", GRACE_SECONDS)
    # Bounded (vault.shutdown): a call stuck past the grace never keeps vaultd alive.
    steps: list[tuple[str, Callable[[], object]]] = []
    if airgap is not None:  # an open window stops at the next message boundary
        steps.append(("the air-gap window", airgap.stop))
    steps += [("the certificate watch", watch.stop),
              ("the forget jobs", forget_jobs.stop)]  # waits for a running job
    if enroll_server is not None:
        steps.append(("the enrollment listener", lambda: enroll_server.stop(grace=None)))
    steps += [("the gRPC server", lambda: server.stop(grace=GRACE_SECONDS).wait()),
              ("the compliance clock", clock.stop), ("the catalog", catalog.close),
              ("the store", store.close)]
    if not run_steps(steps, GRACE_SECONDS + STOP_SECONDS):
        exit_now(1)
    code = 1 if lost is not None and lost.is_set() else 0  # another vaultd took the bucket
    exit_after(STOP_SECONDS, code)
    log.info("vaultd stopped")
    return code


def _audit_take_over(store: object, audit: AuditLog) -> None:
    """Audit ``vaultd --take-over`` displacing a vaultd whose heartbeat was fresh."""
    owner: Any = getattr(store, "owner", None)
    holder = getattr(owner, "took_over", None)
    if holder is not None:
        audit.append("vaultd", "system", "bucket.take_over", f"s3://{owner.store.bucket}",
                     "allowed", f"from {holder.describe()}, heartbeat "
                     f"{holder.age_s(time.time()):.0f} s old")


def run_reindex(config: VaultConfig, as_json: bool) -> int:
    """``vaultd --reindex``: 0 rebuilt, 1 store or bucket failure, 2 not an S3 vault."""
    try:
        report = reindex(config, then=lambda r: _audit_reindex(config, r))
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except VaultError as exc:
        log.error("reindex: %s", exc)
        return 1
    if as_json:
        print(json.dumps(dataclasses.asdict(report)))
    else:
        print(f"catalog {report.catalog} rebuilt from the bucket in {report.duration_s} s: "
              f"{report.snapshots} snapshot(s), {report.chunks} chunk(s); audit log "
              f"{report.audit} ({report.audit_entries} entries in the bucket)")
        for why in report.skipped:
            print(f"  skipped {why}")
        for old in (report.previous_catalog, report.previous_audit):
            if old:
                print(f"  the previous file is kept as {old}")
    return 0


def _audit_reindex(config: VaultConfig, report: ReindexReport) -> None:
    """Record the reindex (and the clock's start) in the audit log, as vaultd would."""
    catalog = Catalog(config.catalog_path)
    try:
        clock, events = open_clock(config, catalog)
        try:
            audit = open_audit(config, clock)
            for event in events:
                audit.append("vaultd", "system", event.action, "clock", event.outcome,
                             event.detail)
            audit.append("vaultd", "system", "catalog.reindex", "catalog", "allowed",
                         f"{report.snapshots} snapshot(s), {report.chunks} chunk(s) from the "
                         f"bucket; skipped {len(report.skipped)}; audit log {report.audit}")
            audit.close()
        finally:
            clock.stop()
    finally:
        catalog.close()


if __name__ == "__main__":
    sys.exit(main())
