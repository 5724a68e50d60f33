"""A TCP proxy a test owns on loopback, between a client and a vaultd, that can cut or stall
the link at a moment the test chooses (issue 15: the network cut mid-stream).

``Proxy(upstream_port)`` listens on 127.0.0.1 (an ephemeral port, ``port``) and forwards each
connection to ``127.0.0.1:upstream_port`` byte for byte (TLS passes through untouched: the
vault's certificate names the host, not the port). Controls:

* ``cut_after(n)``: once ``n`` more bytes went from clients to the vault, every open
  connection is reset (RST: SO_LINGER 0) at exactly that byte, and the link stays down: new
  connections are reset as they are accepted.
* ``stall()``: stop forwarding either way; connections stay open (a dead peer that never
  answers, as a vault behind a silent firewall).
* ``restore()``: the link is up again for new connections.

``sent`` counts the bytes forwarded from clients to the vault. ``close`` stops everything;
every thread is a daemon and every socket is closed there.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a RST, as a cut link's peer sees it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._budget: int | None = None  # client->vault bytes left before the cut
        self._down = False
        self._stalled = threading.Event()
        self._closed = False
        self.sent = 0
        self.cut = threading.Event()  # set once a cut happened
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut_after(self, n: int) -> None:
        with self._lock:
            self._budget = n

    def stall(self) -> None:
        self._stalled.set()

    def restore(self) -> None:
        with self._lock:
            self._down, self._budget = False, None
        self._stalled.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pairs, self._pairs = self._pairs, []
        self._listener.close()
        for a, b in pairs:
            a.close()
            b.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed or self._down:
                    _reset(client)
                    continue
            try:
                vault = socket.create_connection(self.upstream, timeout=10)
                vault.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, vault))
            threading.Thread(target=self._pump, args=(client, vault, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(vault, client, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_vault: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_WR if s is dst else socket.SHUT_RD)
                    except OSError:
                        pass
                return
            while self._stalled.is_set() and not self._closed:
                time.sleep(0.05)  # hold the bytes: nothing passes while stalled
            cut = False
            if to_vault:
                with self._lock:
                    if self._budget is not None:
                        if len(data) >= self._budget:
                            data, cut = data[:self._budget], True
                            self._budget = 0
                        else:
                            self._budget -= len(data)
                    self.sent += len(data)
            try:
                if data:
                    dst.sendall(data)
            except OSError:
                return
            if cut:
                self._cut_all()
                return

    def _cut_all(self) -> None:
        with self._lock:
            self._down, self._budget = True, None
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            _reset(a)
            _reset(b)
        self.cut.set()
