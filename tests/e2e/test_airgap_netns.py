"""The gap itself, with network namespaces and a veth pair the test creates: the primary
runs in one namespace, the air-gap vault in another; the air-gap vault's window hooks bring
its end of the link up and down. Outside a window nothing connects in either direction;
inside one the air-gap vault copies. Windows come from a seconds-granular schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.airgap_site import make_airgap, set_airgap
from tests.e2e.conftest import BIN, Result, Site, free_port
from tests.e2e.treeutil import snapshot_tree
from tests.lib.netns import Gap, ip

PROBE = ("import socket, sys\n"
         "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)\n"
         "except OSError:\n    sys.exit(3)\n")


def run_in(gap: Gap, ns: str, *cmd: object) -> Result:
    proc = subprocess.run([*gap.exec_prefix(ns), *map(str, cmd)], capture_output=True,
                          text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def start_in(gap: Gap, ns: str, site: Site) -> None:
    port_file = site.dir / "port"
    site.proc = subprocess.Popen(
        [*gap.exec_prefix(ns), BIN / "vaultd", "--config", site.dir / "vault.toml",
         "--port-file", port_file], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if port_file.exists():
            return
        assert site.proc.poll() is None, site.proc.communicate()[1]
        time.sleep(0.1)
    raise AssertionError("vaultd did not start")


def stop(site: Site) -> None:
    if site.proc is not None:
        site.proc.send_signal(signal.SIGTERM)
        _, err = site.proc.communicate(timeout=30)
        assert site.proc.returncode == 0, err
        site.proc = None


def link_down(gap: Gap) -> bool:
    out = ip("-o", "link", "show", gap.veth_a, ns=gap.airgap_ns).stdout
    return "state UP" not in out and ",UP" not in out


def status(gap: Gap, ag: Site) -> dict:
    r = run_in(gap, gap.airgap_ns, BIN / "vaultctl", "--config", ag.dir / "operator.toml",
               "airgap", "status", "--json")
    return json.loads(r.out)


def wait_copied(gap: Gap, ag: Site, snapshot: str, timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = status(gap, ag)
        if s["cursor"]["snapshot"] == snapshot and not s["window_open"]:
            return s
        time.sleep(0.5)
    raise AssertionError(f"not copied within {timeout}s: {s}")


def test_outside_windows_nothing_connects_inside_it_copies(tmp_path):
    with Gap(f"bw{os.getpid() % 10000}") as gap:
        port = free_port()
        primary = Site(tmp_path / "primary", port)
        init = subprocess.run([BIN / "vaultctl", "init", primary.dir, "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        ag = make_airgap(primary, tmp_path / "airgap", primary_address=f"{gap.primary_ip}:{port}",
                         primary_name="localhost", on_open=gap.link_cmd(True),
                         on_close=gap.link_cmd(False),
                         window=[{"cron": "*/10 * * * * *", "duration": "3s"}])
        set_airgap(ag.dir, server__listen=f"0.0.0.0:{ag.port}")
        set_airgap_listen(primary.dir, f"0.0.0.0:{port}")  # loopback and the veth
        source = tmp_path / "data"
        source.mkdir()
        (source / "weights.bin").write_bytes(os.urandom(600_000))
        start_in(gap, gap.primary_ns, primary)
        start_in(gap, gap.airgap_ns, ag)
        try:
            backup = run_in(gap, gap.primary_ns, BIN / "vault-agent", "--config",
                            primary.agent_toml, "backup", source, "--json")
            assert backup.code == 0, backup.err
            first = json.loads(backup.out)["snapshot"]
            s = wait_copied(gap, ag, first)
            assert s["last"]["trigger"] == "schedule" and s["last"]["outcome"] == "complete"

            probes = 0
            for _ in range(40):  # bounded: the link is down 7 s of every 10
                if not link_down(gap):
                    time.sleep(0.3)
                    continue
                in_ = run_in(gap, gap.primary_ns, sys.executable, "-c", PROBE, gap.airgap_ip,
                             ag.port)
                out = run_in(gap, gap.airgap_ns, sys.executable, "-c", PROBE, gap.primary_ip,
                             port)
                # open or opening connections (closed ones may linger in FIN-WAIT/TIME-WAIT)
                tcp = subprocess.run(
                    [*gap.exec_prefix(gap.airgap_ns), "ss", "-Htn", "state", "established",
                     "state", "syn-sent"], capture_output=True, text=True, timeout=30).stdout
                tcp = tcp.replace("[::ffff:", "").replace("]", "")
                if not link_down(gap):
                    continue  # a window opened meanwhile: this probe proves nothing
                assert in_.code == 3, "the primary's side reached the air-gap listener"
                assert out.code == 3, "the air-gap side reached the primary"
                # and the air-gap vault holds no connection to the primary's listener
                assert f"{gap.primary_ip}:{port}" not in tcp
                probes += 1
                if probes == 3:
                    break
            assert probes == 3

            later = run_in(gap, gap.primary_ns, BIN / "vault-agent", "--config",
                           primary.agent_toml, "backup", source, "--json")
            assert later.code == 0, later.err
            wait_copied(gap, ag, json.loads(later.out)["snapshot"])
            restored = run_in(gap, gap.airgap_ns, BIN / "vaultctl", "--config",
                              ag.dir / "operator.toml", "restore", first, tmp_path / "r")
            assert restored.code == 0, restored.err
            assert snapshot_tree(tmp_path / "r" / source.relative_to("/")) == \
                snapshot_tree(source)
        finally:
            stop(ag)
            stop(primary)


def set_airgap_listen(directory: Path, listen: str) -> None:
    text = (directory / "vault.toml").read_text()
    lines = [f'listen = "{listen}"' if line.startswith("listen =") else line
             for line in text.splitlines()]
    (directory / "vault.toml").write_text("\n".join(lines) + "\n")
