"""A private LAN made by a test: network namespaces on one bridge, and host names inside them
(needs root and ``ip`` from Debian's iproute2, which .ci/run installs).

``Lan(prefix, hosts, names)`` makes one namespace per host (``<prefix>-<host>``, loopback up)
and a switch namespace ``<prefix>-sw`` that holds the bridge. Each host gets a veth pair to
the bridge and the address ``10.233.<subnet>.<i>/24`` (i = 1, 2, ... in ``hosts`` order): a
private network that exists only inside these namespaces, with no route to anything else.
``names`` maps DNS names to hosts; they are written to ``/etc/netns/<ns>/hosts``, which
``ip netns exec`` bind-mounts over ``/etc/hosts`` for what it runs, so a name resolves to the
host's LAN address in every namespace of the LAN and nowhere else. ``close`` deletes the
namespaces (their veth pairs go with them) and the hosts files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

NETNS_ETC = Path("/etc/netns")


def _ip() -> str:
    path = shutil.which("ip")
    assert path, "ip not found: install Debian's iproute2 package (.ci/run does)"
    return path


class Lan:
    def __init__(self, prefix: str, hosts: list[str], names: dict[str, str]) -> None:
        self.prefix = prefix
        self.hosts = list(hosts)
        self.names = dict(names)
        subnet = os.getpid() % 250 + 1
        self.address = {h: f"10.233.{subnet}.{i}" for i, h in enumerate(self.hosts, 1)}
        self.switch = f"{prefix}-sw"
        self._made: list[str] = []

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def _run(self, *args: str, ns: str | None = None) -> None:
        ip = _ip()
        cmd = [ip, *(("netns", "exec", ns, ip) if ns else ()), *args]
        subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)

    def _add_ns(self, ns: str) -> None:
        self._run("netns", "add", ns)
        self._made.append(ns)
        self._run("link", "set", "lo", "up", ns=ns)

    def open(self) -> Lan:
        self._add_ns(self.switch)
        self._run("link", "add", "br0", "type", "bridge", ns=self.switch)
        self._run("link", "set", "br0", "up", ns=self.switch)
        hosts_file = "127.0.0.1 localhost\n" + "".join(
            f"{self.address[host]} {name}\n" for name, host in self.names.items())
        for i, host in enumerate(self.hosts, 1):
            ns, end, port = self.ns(host), f"{self.prefix}e{i}"[:15], f"{self.prefix}p{i}"[:15]
            self._add_ns(ns)
            self._run("link", "add", end, "netns", ns, "type", "veth", "peer", "name", port,
                      "netns", self.switch)
            self._run("link", "set", port, "master", "br0", ns=self.switch)
            self._run("link", "set", port, "up", ns=self.switch)
            self._run("addr", "add", f"{self.address[host]}/24", "dev", end, ns=ns)
            self._run("link", "set", end, "up", ns=ns)
            (NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
            (NETNS_ETC / ns / "hosts").write_text(hosts_file)
        return self

    def command(self, host: str, *cmd: object) -> list[str]:
        """``cmd`` run inside ``host``'s namespace, with the LAN's names in /etc/hosts."""
        return [_ip(), "netns", "exec", self.ns(host), *(str(c) for c in cmd)]

    def close(self) -> None:
        for ns in reversed(self._made):
            subprocess.run([_ip(), "netns", "del", ns], capture_output=True, timeout=30,
                           check=False)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
        self._made.clear()
        try:
            NETNS_ETC.rmdir()  # only if no one else keeps files there
        except OSError:
            pass

    def __enter__(self) -> Lan:
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
