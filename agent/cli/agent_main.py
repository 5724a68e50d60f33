"""``vault-agent``: the node's tool: one-shot ``backup``, the scheduled daemon ``run``,
``enroll`` (join the fleet with a token) and ``renew`` (its certificate)."""

from __future__ import annotations

import argparse
import sys

from bulwark.agent.cli import backup_cmd, enroll_cmd, renew_cmd, run_cmd
from bulwark.agent.cli.common import dispatch

COMMANDS = (backup_cmd, run_cmd, enroll_cmd, renew_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vault-agent",
        description="Back up this node's checkpoints and datasets to a Bulwark vault.",
        epilog="exit codes: 0 success, 1 data or vault problem, 2 usage or configuration",
    )
    parser.add_argument("--config", metavar="FILE", required=True, help="agent.toml")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv), "vault-agent")


if __name__ == "__main__":
    sys.exit(main())
