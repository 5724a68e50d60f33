"""systemd's notify protocol for vaultd: READY=1, STATUS=, WATCHDOG=1, STOPPING=1.

A deliberate copy of ``agent/daemon/sdnotify.py`` (about 30 lines): ``vault`` and ``agent`` share
only ``protos`` (import-linter contract), and this is too small to deserve a package of
its own. ``$NOTIFY_SOCKET`` may be a path or ``@abstract``; unset, every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import threading


def _address() -> str:
    address = os.environ.get("NOTIFY_SOCKET", "")
    return "\0" + address[1:] if address.startswith("@") else address


def notify(*lines: str) -> bool:
    """Send one datagram of ``lines``; False if not under systemd or it failed."""
    address = _address()
    if not address:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(lines).encode("utf-8"), address)
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, if the watchdog is meant for this process."""
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or not int(usec) or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


def start_watchdog(stop: threading.Event) -> None:
    """Send WATCHDOG=1 every ``watchdog_interval()`` seconds until ``stop`` is set."""
    interval = watchdog_interval()
    if interval is None or not _address():
        return

    def loop() -> None:
        notify("WATCHDOG=1")
        while not stop.wait(interval):
            notify("WATCHDOG=1")

    threading.Thread(target=loop, name="sd-watchdog", daemon=True).start()
