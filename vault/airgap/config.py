"""vault.toml ``[airgap]``: what makes a vaultd an air-gap vault. Errors name file, key, reason.

::

    [airgap]
    primary = "primary.example:7443"     # HOST:PORT of the primary vault
    primary_ca = "pki/primary/ca.crt"    # the primary's CA (verifies the primary's server cert)
    cert = "pki/primary/replica.crt"     # replica identity issued by the primary's CA
    key = "pki/primary/replica.key"
    primary_name = "vault.example"       # optional: TLS name to expect (default: the host)
    lag_limit_hours = 48                 # a window that ends with more lag is an alert
    max_mib_per_s = 0                    # pull bandwidth limit, MiB/s (0: none)
    on_open = ["/usr/sbin/ip", "link", "set", "eth1", "up"]     # optional hook commands
    on_close = ["/usr/sbin/ip", "link", "set", "eth1", "down"]
    hook_timeout_s = 60
    metrics = "127.0.0.1:9465"           # optional Prometheus endpoint

    [[airgap.window]]                    # one or more
    cron = "0 2 * * *"                   # 5 fields (minute first) or 6 (second first), UTC
    duration = "2h"                      # "<n>s", "<n>m" or "<n>h"

The air-gap vault's own ``[retention]`` alone decides how long copies are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulwark.vault.errors import ConfigError

KEYS = frozenset({
    "primary", "primary_ca", "cert", "key", "primary_name", "lag_limit_hours", "max_mib_per_s",
    "on_open", "on_close", "hook_timeout_s", "metrics", "window",
})
WINDOW_KEYS = frozenset({"cron", "duration"})
_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class WindowSpec:
    cron: str
    seconds: int


@dataclass(frozen=True)
class AirgapConfig:
    primary: str
    primary_ca: Path
    cert: Path
    key: Path
    windows: tuple[WindowSpec, ...]
    primary_name: str = ""
    lag_limit_hours: int = 48
    max_bytes_per_s: int = 0
    on_open: tuple[str, ...] = ()
    on_close: tuple[str, ...] = ()
    hook_timeout_s: int = 60
    metrics: str = ""


def parse_duration(text: str) -> int:
    """``"90s"``, ``"15m"``, ``"2h"`` -> seconds; ``ValueError`` with the reason."""
    unit = text[-1:] if text else ""
    if unit not in _UNITS or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(f"expected a positive number with s, m or h (e.g. \"2h\"), got {text!r}")
    return int(text[:-1]) * _UNITS[unit]


def parse_airgap(source: Path, table: Any, check_cron) -> AirgapConfig:
    """Validate the ``[airgap]`` table of ``source``. ``check_cron(expr)`` raises
    ``ValueError`` for a bad cron expression (``vault.airgap.schedule.trigger``)."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{source}: airgap.{key}: {reason}")

    if not isinstance(table, dict):
        raise ConfigError(f"{source}: airgap: must be a table, e.g. [airgap]")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise fail(", ".join(unknown), f"unknown key(s) (known: {', '.join(sorted(KEYS))})")

    def text(key: str, required: bool) -> str:
        value = table.get(key, "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise fail(key, f"required, a non-empty string; got {value!r}")
        return value

    def path(key: str) -> Path:
        value = text(key, True)
        try:
            p = Path(value).expanduser()
        except RuntimeError:  # "~name" for a user this host does not know
            raise fail(key, f"{value!r} names a home folder this host does not know") from None
        return p if p.is_absolute() else source.parent / p

    def number(key: str, default: int, low: int, high: int) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise fail(key, f"must be an integer between {low} and {high}, got {value!r}")
        return value

    def command(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(key, f"must be a command as a list of strings, got {value!r}")
        return tuple(value)

    primary = text("primary", True)
    host, sep, port = primary.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise fail("primary", f"must be HOST:PORT, got {primary!r}")
    return AirgapConfig(
        primary=primary, primary_ca=path("primary_ca"), cert=path("cert"), key=path("key"),
        windows=_windows(table.get("window"), fail, check_cron),
        primary_name=text("primary_name", False),
        lag_limit_hours=number("lag_limit_hours", 48, 1, 24 * 3650),
        max_bytes_per_s=number("max_mib_per_s", 0, 0, 1 << 20) << 20,
        on_open=command("on_open"), on_close=command("on_close"),
        hook_timeout_s=number("hook_timeout_s", 60, 1, 3600),
        metrics=text("metrics", False),
    )


def _windows(value: Any, fail, check_cron) -> tuple[WindowSpec, ...]:
    if not isinstance(value, list) or not value:
        raise fail("window", "at least one [[airgap.window]] with cron and duration is required")
    windows = []
    for i, item in enumerate(value):
        where = f"window[{i}]"
        if not isinstance(item, dict):
            raise fail(where, "must be a table ([[airgap.window]])")
        unknown = sorted(set(item) - WINDOW_KEYS)
        if unknown:
            raise fail(f"{where}.{unknown[0]}", "unknown key (known: cron, duration)")
        cron, duration = item.get("cron"), item.get("duration")
        if not isinstance(cron, str):
            raise fail(f"{where}.cron", f"required, a cron expression; got {cron!r}")
        try:
            check_cron(cron)
        except ValueError as exc:
            raise fail(f"{where}.cron", str(exc)) from None
        if not isinstance(duration, str):
            raise fail(f"{where}.duration", f"required, e.g. \"2h\"; got {duration!r}")
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise fail(f"{where}.duration", str(exc)) from None
        windows.append(WindowSpec(cron, seconds))
    return tuple(windows)
