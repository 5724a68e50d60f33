"""``vault-agent``: the node's tool: one-shot ``backup`` and the scheduled daemon ``run``."""

from __future__ import annotations

import argparse
import sys

from agent.cli import backup_cmd, run_cmd
from agent.cli.common import require_config, run_main

COMMANDS = (backup_cmd, run_cmd)


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
    args = build_parser().parse_args(argv)

    def handler() -> int:
        ctx = require_config(args, "vault-agent")
        try:
            return args.run(args, ctx)
        finally:
            ctx.client.close()

    return run_main("vault-agent", handler)


if __name__ == "__main__":
    sys.exit(main())
