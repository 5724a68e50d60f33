"""The daemon's part of ``agent.toml`` (or ``drill.toml``): backup sets, drills, metrics.

::

    [[backup_set]]                  # one snapshot of `paths` per run, tagged set:NAME
    name = "checkpoints"
    paths = ["/data/ckpt"]
    exclude = ["*.tmp", "**/scratch/**"]    # restic patterns (agent.backup.exclude)
    tags = ["gpu"]
    schedule = "0 */6 * * *"        # cron, 5 fields, in [daemon] timezone
    retention_days = 30             # requested retention (signed in the snapshot header)

    [[drill]]                       # needs the restore key: run it from drill.toml
    name = "ckpt-weekly"
    schedule = "0 3 * * 0"
    set = "checkpoints"             # newest snapshot tagged set:checkpoints
    node = ""                       # only that node's snapshots ("" = any node)
    validate = "python3 check.py"   # optional, inside the sandbox
    timeout = 600
    isolation = "namespace"

    [metrics]
    listen = "127.0.0.1:9464"       # port 0 = ephemeral; "" = off

    [daemon]
    state_dir = "state"             # last-run times (for missed runs), relative to the file
    timezone = "UTC"
    stop_timeout = 10               # seconds a running job gets after SIGTERM
    renew_share = 0.333             # renew the [tls] certificate when less than this share
                                    # of its life is left (0 < share < 1; agent.daemon.renewal)
    renew_every = 3600              # seconds between two looks at the certificate

Errors raise ConfigError naming the file, the table, the entry and the reason (exit 2).
"""

from __future__ import annotations

import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from bulwark.agent.daemon.metrics import DEFAULT_LISTEN
from bulwark.agent.errors import ConfigError
from bulwark.agent.site.enroll import DEFAULT_RENEW_SHARE

DEFAULT_RENEW_EVERY = 3600.0
MAX_RENEW_EVERY = 86_400.0


@dataclass(frozen=True)
class BackupSet:
    name: str
    paths: tuple[str, ...]
    exclude: tuple[str, ...]
    tags: tuple[str, ...]
    schedule: str
    retention_days: int | None


@dataclass(frozen=True)
class DrillJob:
    name: str
    schedule: str
    set: str
    node: str
    validate: str | None
    timeout: float
    isolation: str


@dataclass(frozen=True)
class DaemonConfig:
    path: Path
    backup_sets: tuple[BackupSet, ...]
    drills: tuple[DrillJob, ...]
    metrics_listen: tuple[str, int] | None
    state_dir: Path
    timezone: str
    stop_timeout: float
    renew_share: float = DEFAULT_RENEW_SHARE
    renew_every: float = DEFAULT_RENEW_EVERY


_SET_KEYS = {"name": str, "paths": list, "exclude": list, "tags": list, "schedule": str,
             "retention_days": int}
_DRILL_KEYS = {"name": str, "schedule": str, "set": str, "node": str, "validate": str,
               "timeout": (int, float), "isolation": str}
_TABLE_KEYS = {"metrics": {"listen": str},
               "daemon": {"state_dir": str, "timezone": str, "stop_timeout": (int, float),
                          "renew_share": (int, float), "renew_every": (int, float)}}


#: How an error names each expected type ("must be an integer", never "must be a int").
_NOUNS: dict[Any, str] = {str: "a string", int: "an integer", list: "a list"}


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {reason}")

    def typed(self, where: str, table: dict[str, Any], spec: dict[str, Any]) -> None:
        for key, value in table.items():
            kind = spec.get(key)
            if kind is None:
                raise self.fail(where, f"unknown key '{key}' (known: {', '.join(spec)})")
            if isinstance(value, bool) or not isinstance(value, kind):
                noun = _NOUNS.get(kind, "a number")  # (int, float): a number
                raise self.fail(f"{where} {key}", f"must be {noun}, got {value!r}")

    def strings(self, where: str, value: list) -> tuple[str, ...]:
        if not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, f"must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    def cron(self, where: str, expr: str, tz: str) -> str:
        if len(expr.split()) != 5:
            raise self.fail(where, f"{expr!r} is not a 5-field cron expression "
                            "(minute hour day-of-month month day-of-week)")
        try:
            CronTrigger.from_crontab(expr, timezone=tz)
        except ValueError as exc:
            raise self.fail(where, f"invalid cron expression {expr!r}: {exc}") from None
        return expr

    def entries(self, doc: dict, table: str) -> list[tuple[str, dict]]:
        value = doc.get(table, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(f"[[{table}]]", "must be an array of tables ([[" + table + "]])")
        out, seen = [], set()
        for i, entry in enumerate(value, 1):
            name = entry.get("name")
            where = f"[[{table}]] #{i}" + (f" ({name!r})" if isinstance(name, str) else "")
            if not isinstance(name, str) or not name.strip():
                raise self.fail(f"{where} name", "is required (a non-empty string)")
            if name in seen:
                raise self.fail(f"{where} name", f"{name!r} is used twice")
            seen.add(name)
            out.append((where, entry))
        return out


def _listen(r: _Reader, value: str) -> tuple[str, int] | None:
    if value == "":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise r.fail("[metrics] listen", f"must be HOST:PORT (port 0 = any), got {value!r}")
    return host.strip("[]"), int(port)


def parse_daemon_config(path: Path, doc: dict[str, Any]) -> DaemonConfig:
    r = _Reader(path)
    for table, spec in _TABLE_KEYS.items():
        if not isinstance(doc.get(table, {}), dict):
            raise r.fail(f"[{table}]", "must be a table")
        r.typed(f"[{table}]", doc.get(table, {}), spec)
    daemon = doc.get("daemon", {})
    tz = daemon.get("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise r.fail("[daemon] timezone", f"unknown time zone {tz!r}") from None
    stop_timeout = float(daemon.get("stop_timeout", 10))
    if not 0 < stop_timeout <= 600:
        raise r.fail("[daemon] stop_timeout", f"must be in (0, 600] seconds, got {stop_timeout}")
    renew_share = float(daemon.get("renew_share", DEFAULT_RENEW_SHARE))
    if not 0 < renew_share < 1:
        raise r.fail("[daemon] renew_share", "must be a share of the certificate's life "
                     f"strictly between 0 and 1 (0.333 = a third left), got {renew_share}")
    renew_every = float(daemon.get("renew_every", DEFAULT_RENEW_EVERY))
    if not 1 <= renew_every <= MAX_RENEW_EVERY:
        raise r.fail("[daemon] renew_every",
                     f"must be 1..{MAX_RENEW_EVERY:.0f} seconds, got {renew_every}")
    sets = []
    for where, entry in r.entries(doc, "backup_set"):
        r.typed(where, entry, _SET_KEYS)
        for key in ("paths", "schedule"):
            if key not in entry:
                raise r.fail(f"{where} {key}", "is required")
        paths = r.strings(f"{where} paths", entry["paths"])
        if not paths:
            raise r.fail(f"{where} paths", "must name at least one path")
        retention = entry.get("retention_days")
        if retention is not None and retention < 1:
            raise r.fail(f"{where} retention_days", f"must be at least 1, got {retention}")
        sets.append(BackupSet(
            name=entry["name"], paths=paths,
            exclude=r.strings(f"{where} exclude", entry.get("exclude", [])),
            tags=r.strings(f"{where} tags", entry.get("tags", [])),
            schedule=r.cron(f"{where} schedule", entry["schedule"], tz),
            retention_days=retention))
    drills = []
    for where, entry in r.entries(doc, "drill"):
        r.typed(where, entry, _DRILL_KEYS)
        for key in ("schedule", "set"):
            if key not in entry:
                raise r.fail(f"{where} {key}", "is required")
        timeout = float(entry.get("timeout", 600))
        if timeout <= 0:
            raise r.fail(f"{where} timeout", f"must be positive, got {timeout}")
        isolation = entry.get("isolation", "namespace")
        if isolation not in ("namespace", "none"):
            raise r.fail(f"{where} isolation", f"must be 'namespace' or 'none', got {isolation!r}")
        drills.append(DrillJob(
            name=entry["name"], schedule=r.cron(f"{where} schedule", entry["schedule"], tz),
            set=entry["set"], node=entry.get("node", ""), validate=entry.get("validate"),
            timeout=timeout, isolation=isolation))
    base = path.resolve().parent
    return DaemonConfig(
        path=path,
        backup_sets=tuple(sets),
        drills=tuple(drills),
        metrics_listen=_listen(r, doc.get("metrics", {}).get("listen", DEFAULT_LISTEN)),
        state_dir=base / daemon.get("state_dir", "state"),
        timezone=tz,
        stop_timeout=stop_timeout,
        renew_share=renew_share,
        renew_every=renew_every,
    )


def load_daemon_config(path: Path) -> DaemonConfig:
    """Read the daemon tables of ``path`` (the rest is ``agent.site.config``'s)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_daemon_config(path, doc)
