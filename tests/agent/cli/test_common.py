"""agent.cli.common: what every command shares when it ends (exit codes, closed pipes) and
how it counts things in its text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bulwark.agent.cli.common import EXIT_PIPE_CLOSED, counted, run_main
from bulwark.agent.errors import UsageError

# More than a pipe holds (64 KiB), so the write blocks until the reader has gone away.
WRITER = """
import sys
from bulwark.agent.cli.common import run_main

def handler():
    print("x" * 100_000)
    return 0

sys.exit(run_main("vaultctl", handler))
"""


def test_a_reader_that_closes_stdout_ends_the_command_quietly_with_141():
    proc = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head -2` does once it has its lines
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_PIPE_CLOSED == 141
    assert err == b""  # no traceback, no "Exception ignored" at exit


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden():
    def handler() -> int:
        raise BrokenPipeError(32, "a pipe to some other process")

    with pytest.raises(BrokenPipeError):  # stdout here is pytest's file, still open
        run_main("vaultctl", handler)


def test_agent_errors_become_their_exit_code_and_one_line(capsys):
    def handler() -> int:
        raise UsageError("--tag '': a tag is empty")

    assert run_main("vaultctl", handler) == 2
    assert capsys.readouterr().err == "vaultctl: error: --tag '': a tag is empty\n"


def test_counts_agree_with_their_noun():
    assert counted(1, "file") == "1 file"
    assert counted(0, "chunk") == "0 chunks"
    assert counted(3012, "file") == "3,012 files"
    assert counted(2, "entry", "entries") == "2 entries"
