"""Network namespaces joined by a veth pair, made and removed by a test (needs root and
``ip`` from Debian's iproute2, which .ci/run installs).

``Gap(prefix)`` makes two namespaces, ``<prefix>-p`` (the primary's side) and ``<prefix>-a``
(the air-gap side), each with loopback up, joined by a veth pair with 10.231.<n>.1/30 and
.2/30 (private addresses that exist only inside the two namespaces). The primary's end is
up; the air-gap end starts down, and ``link_cmd(up)`` is the command the air-gap vault's
window hooks run (inside its namespace) to bring its end up or down. ``close`` deletes both
namespaces, and the veth pair with them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass


def ip(*args: str, ns: str | None = None) -> subprocess.CompletedProcess:
    path = shutil.which("ip")
    assert path, "ip not found: install Debian's iproute2 package (.ci/run does)"
    cmd = [path, *(("netns", "exec", ns, path) if ns else ()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)


@dataclass
class Gap:
    prefix: str
    subnet: int = 0

    def __post_init__(self) -> None:
        self.subnet = self.subnet or (os.getpid() % 250) + 1
        self.primary_ns, self.airgap_ns = f"{self.prefix}-p", f"{self.prefix}-a"
        self.primary_ip = f"10.231.{self.subnet}.1"
        self.airgap_ip = f"10.231.{self.subnet}.2"
        self.veth_p, self.veth_a = f"{self.prefix}p0"[:15], f"{self.prefix}a0"[:15]

    def open(self) -> Gap:
        for ns in (self.primary_ns, self.airgap_ns):
            ip("netns", "add", ns)
            ip("link", "set", "lo", "up", ns=ns)
        ip("link", "add", self.veth_p, "netns", self.primary_ns, "type", "veth",
           "peer", "name", self.veth_a, "netns", self.airgap_ns)
        ip("addr", "add", f"{self.primary_ip}/30", "dev", self.veth_p, ns=self.primary_ns)
        ip("addr", "add", f"{self.airgap_ip}/30", "dev", self.veth_a, ns=self.airgap_ns)
        ip("link", "set", self.veth_p, "up", ns=self.primary_ns)
        return self

    def link_cmd(self, up: bool) -> list[str]:
        """The air-gap side's hook: bring its end of the link up or down (in its namespace)."""
        return [shutil.which("ip") or "ip", "link", "set", self.veth_a, "up" if up else "down"]

    def exec_prefix(self, ns: str) -> list[str]:
        return [shutil.which("ip") or "ip", "netns", "exec", ns]

    def close(self) -> None:
        for ns in (self.primary_ns, self.airgap_ns):
            subprocess.run([shutil.which("ip") or "ip", "netns", "del", ns],
                           capture_output=True, timeout=30, check=False)

    def __enter__(self) -> Gap:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
