"""agent.cli (the package): gRPC's C core is quiet on the user's terminal unless asked.

Each case runs in a fresh interpreter, because the core reads GRPC_VERBOSITY once, when it
is first imported. Its credentials are a CA certificate in every role, which the core logs about."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bulwark.agent.site import pki
from tests.e2e.conftest import free_port

SCRIPT = """
import sys
if sys.argv[1] == "cli":
    import bulwark.agent.cli  # noqa: F401  (before grpc, as every entry point does)
import grpc
ca = open(sys.argv[2], "rb").read()
credentials = grpc.ssl_channel_credentials(ca, ca, ca)  # a certificate as the private key
channel = grpc.secure_channel(sys.argv[3], credentials)
try:
    grpc.channel_ready_future(channel).result(timeout=1)
except grpc.FutureTimeoutError:
    print("not connected")
"""


@pytest.fixture
def ca(tmp_path) -> Path:
    return pki.init_ca(tmp_path / "pki")


def _stderr(ca: Path, first: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, first, str(ca),
                           f"127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, timeout=60, env={**clean, **env})
    assert proc.stdout == "not connected\n", proc.stderr
    return proc.stderr


def test_the_cli_keeps_grpc_core_lines_off_the_terminal(ca):
    assert "ssl_transport_security.cc" in _stderr(ca, "grpc-alone")  # what users saw
    assert _stderr(ca, "cli") == ""


def test_grpc_verbosity_in_the_environment_brings_them_back(ca):
    assert "ssl_transport_security.cc" in _stderr(ca, "cli", GRPC_VERBOSITY="ERROR")
