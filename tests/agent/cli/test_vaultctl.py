"""agent.cli.vaultctl: a command line that names its command parses as with every command
loaded, and loads only that command's module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bulwark.agent.cli.vaultctl import NAMES, build_parser, named_command

LINES = [
    ["--config", "operator.toml", "restore", "latest", "/tmp/r", "--json"],
    ["--config=operator.toml", "snapshots", "--json"],
    ["restore", "abc", "/tmp/r", "--path", "/data/x"],
    ["keys", "list", "--json"],
    ["--config", "restore", "verify", "latest"],  # a config file named "restore"
]


@pytest.mark.parametrize("argv", LINES)
def test_a_named_command_parses_as_with_every_command(argv):
    name = named_command(argv)
    assert name in NAMES
    assert vars(build_parser(name).parse_args(argv)) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", [[], ["--help"], ["--config", "x"], ["nosuch", "x"],
                                  ["--verbose", "restore"], ["--config"]])
def test_lines_without_a_known_command_get_the_full_parser(argv):
    assert named_command(argv) is None


def test_an_unknown_command_is_a_usage_error_listing_every_command():
    r = subprocess.run([sys.executable, "-m", "bulwark.agent.cli.vaultctl", "nosuch"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    listed = r.stderr.split("(choose from ", 1)[1].split(")", 1)[0]
    assert "invalid choice: 'nosuch'" in r.stderr
    assert sorted(n.strip(" '") for n in listed.split(",")) == sorted(NAMES)


def test_a_named_command_loads_only_its_own_module():
    code = ("import sys\nfrom bulwark.agent.cli import vaultctl\n"
            "try:\n    vaultctl.main(['restore', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.endswith('_cmd')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "vaultctl --config operator.toml restore latest" in r.stdout  # its --help example
    assert r.stdout.strip().splitlines()[-1] == "['bulwark.agent.cli.restore_cmd']"
