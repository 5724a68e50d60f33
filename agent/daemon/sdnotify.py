"""systemd's notify protocol (sd_notify(3)), without libsystemd.

Datagrams of ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the
abstract namespace). Without ``NOTIFY_SOCKET`` (not under systemd) every call is a no-op.
``WATCHDOG_USEC`` (and ``WATCHDOG_PID``, when set, naming this process) asks for a
``WATCHDOG=1`` keepalive; we send one every half of it, as systemd recommends.
The vault has its own copy (``vault/sdnotify.py``): the layers share only ``protos``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) and mine else None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *lines: str) -> bool:
        """Send one datagram; False if not under systemd or the socket is gone."""
        if not self._address:
            return False
        try:
            with self._lock, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode("utf-8"), self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def start_watchdog(self, stop: threading.Event) -> threading.Thread | None:
        """Ping every ``watchdog_interval`` seconds from a thread until ``stop`` is set."""
        if self.watchdog_interval is None or not self._address:
            return None
        interval = self.watchdog_interval

        def loop() -> None:
            self.watchdog()
            while not stop.wait(interval):
                self.watchdog()

        thread = threading.Thread(target=loop, name="sd-watchdog", daemon=True)
        thread.start()
        return thread
