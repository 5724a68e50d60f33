"""The systemd units: exposure score, ``systemd-analyze verify``, and each unit's ExecStart
run the way systemd runs it, with a notify socket this test owns (READY=1, WATCHDOG=1)."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICES = sorted(p.name for p in UNITS.glob("*.service"))
BIN = Path(sys.executable).parent
INSTALLED_BIN = "/usr/local/bin/"
MAX_EXPOSURE = 2.0

def systemd_analyze() -> str:
    """The systemd-analyze binary; .ci/run installs Debian's systemd package for it."""
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze not found: install Debian's systemd package (.ci/run does)"
    return path


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(UNITS / name)
    return parser


def test_the_product_ships_its_units():
    assert {"vaultd.service", "vaultd-airgap.service", "vault-agent.service",
            "vault-drill.service"} <= set(SERVICES)
    for name in SERVICES:
        service = unit(name)["Service"]
        assert service["Type"] == "notify" and service["Restart"] == "on-failure"
        assert service["WatchdogSec"] and service["User"] != "root"
        assert service["ExecStart"].startswith(INSTALLED_BIN)
    agent = unit("vault-agent.service")["Service"]
    assert agent["Nice"] == "19" and agent["IOSchedulingClass"] == "idle"
    assert agent["CPUSchedulingPolicy"] == "idle" and agent["ProtectHome"] == "read-only"


@pytest.mark.parametrize("name", SERVICES)
def test_exposure_score_is_ok_or_better(name):
    out = subprocess.run([systemd_analyze(), "security", "--offline=yes", str(UNITS / name)],
                         capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert float(m[1]) <= MAX_EXPOSURE, f"{name}: exposure {m[1]}"


def test_verify_is_clean(tmp_path):
    """verify checks that ExecStart exists: check copies that point at this Python's
    console scripts (the units themselves name /usr/local/bin, where pip installs them)."""
    for name in SERVICES:
        text = (UNITS / name).read_text().replace(INSTALLED_BIN, f"{BIN}/")
        (tmp_path / name).write_text(text)
    for timer in UNITS.glob("*.timer"):
        shutil.copy(timer, tmp_path / timer.name)
    out = subprocess.run([systemd_analyze(), "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr


@pytest.fixture
def site(tmp_path: Path) -> Path:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    directory = tmp_path / "etc"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    for name in ("agent.toml", "drill.toml"):
        if (directory / name).exists():
            with open(directory / name, "a") as f:
                f.write('\n[metrics]\nlisten = "127.0.0.1:0"\n')
    return directory


def airgap_site(primary: Path, tmp_path: Path) -> Path:
    """An air-gap site (``vaultctl init --airgap``) pulling from ``primary`` (not running:
    its windows never open during the test)."""
    def run(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run([BIN / "vaultctl", *map(str, args)], capture_output=True,
                              text=True, timeout=60)

    issued = run("pki", "issue", primary, "--role", "replica", "--name", "ag")
    assert issued.returncode == 0, issued.stderr
    directory = tmp_path / "etc-airgap"
    init = run("init", directory, "--airgap", "--port", "7999",
               "--primary", "127.0.0.1:1", "--primary-ca", primary / "pki/ca.crt",
               "--tenant-key", primary / "tenant.key",
               "--replica-cert", primary / "pki/replica-ag.crt",
               "--replica-key", primary / "pki/replica-ag.key")
    assert init.returncode == 0, init.stderr
    toml = directory / "vault.toml"
    toml.write_text(toml.read_text().replace('"127.0.0.1:7999"', '"127.0.0.1:0"'))
    return directory


def exec_start(name: str, etc: Path) -> list[str]:
    """The unit's ExecStart with the install paths mapped onto this test's site."""
    line = unit(name)["Service"]["ExecStart"].replace(INSTALLED_BIN, f"{BIN}/")
    return [arg.replace("/etc/bulwark/", f"{etc}/") for arg in shlex.split(line)]


@pytest.mark.parametrize("name", SERVICES)
def test_exec_start_notifies_ready_and_pings_the_watchdog(name, site, tmp_path):
    argv = exec_start(name, airgap_site(site, tmp_path) if "airgap" in name else site)
    config = Path(argv[argv.index("--config") + 1])
    assert config.exists(), f"vaultctl init did not write {config.name}"
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(notify))
        sock.settimeout(0.5)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": "400000"}
        proc = subprocess.Popen(argv, env=env, cwd="/", stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        messages: list[str] = []
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    messages += sock.recv(4096).decode().splitlines()
                except TimeoutError:
                    continue
                if "READY=1" in messages and messages.count("WATCHDOG=1") >= 2:
                    break
            assert "READY=1" in messages, (messages, proc.poll())
            assert messages.count("WATCHDOG=1") >= 2, messages
            assert messages.index("READY=1") < messages.index("WATCHDOG=1")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
        try:
            while True:
                messages += sock.recv(4096).decode().splitlines()
        except TimeoutError:
            pass
    assert "STOPPING=1" in messages, err
