"""``vaultctl``: the operator's tool. One module per command; this file only dispatches."""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from types import ModuleType

from bulwark.agent.cli.common import dispatch

#: The commands, in --help order; ``NAME`` lives in ``bulwark.agent.cli.NAME_cmd``.
NAMES = ("init", "snapshots", "ls", "find", "diff", "restore", "verify", "mount", "drill",
         "drills", "forget", "stats", "tag", "signals", "pki", "keys", "retention", "hold",
         "mark", "delete", "prune", "scrub", "check", "audit", "airgap", "renew")


def command_module(name: str) -> ModuleType:
    """The module of the command ``name`` (one of NAMES)."""
    return import_module(f"bulwark.agent.cli.{name}_cmd")


def named_command(argv: list[str]) -> str | None:
    """The command ``argv`` names, if it is one of NAMES; None where the full parser must
    answer (no command, --help before it, an unknown option or command)."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif not arg.startswith("--config="):
            return arg if arg in NAMES else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line parser: every command, or only the command ``only``.

    A command line that names its command imports that command's module only: importing
    all of them cost ~0.1 CPU-s more on every run, 0.27 against 0.17 s (issue 20). The
    parse of such a line is the same either way; anything else gets the full parser."""
    parser = argparse.ArgumentParser(
        prog="vaultctl",
        description="Operate a Bulwark vault: sites, snapshots, restore, verify, drills, "
        "retention and holds, audit, keys and PKI.",
        epilog="exit codes: 0 success, 1 data or integrity problem, 2 usage or configuration",
    )
    parser.add_argument("--config", metavar="FILE", help="agent.toml (or another role's config)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (only,) if only else NAMES:
        command_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return dispatch(build_parser(named_command(argv)).parse_args(argv), "vaultctl")


if __name__ == "__main__":
    sys.exit(main())
