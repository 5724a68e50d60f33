"""``vaultctl``: the operator's tool. One module per command; this file only dispatches."""

from __future__ import annotations

import argparse
import sys

from bulwark.agent.cli import (
    airgap_cmd,
    audit_cmd,
    check_cmd,
    delete_cmd,
    diff_cmd,
    drill_cmd,
    drills_cmd,
    find_cmd,
    forget_cmd,
    hold_cmd,
    init_cmd,
    keys_cmd,
    ls_cmd,
    mark_cmd,
    mount_cmd,
    pki_cmd,
    prune_cmd,
    renew_cmd,
    restore_cmd,
    retention_cmd,
    scrub_cmd,
    signals_cmd,
    snapshots_cmd,
    stats_cmd,
    tag_cmd,
    verify_cmd,
)
from bulwark.agent.cli.common import dispatch

COMMANDS = (init_cmd, snapshots_cmd, ls_cmd, find_cmd, diff_cmd, restore_cmd, verify_cmd,
            mount_cmd, drill_cmd, drills_cmd, forget_cmd, stats_cmd, tag_cmd, signals_cmd,
            pki_cmd, keys_cmd, retention_cmd, hold_cmd, mark_cmd, delete_cmd, prune_cmd, scrub_cmd,
            check_cmd, audit_cmd, airgap_cmd, renew_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaultctl",
        description="Operate a Bulwark vault: sites, snapshots, restore, verify, drills, "
        "retention and holds, audit, keys and PKI.",
        epilog="exit codes: 0 success, 1 data or integrity problem, 2 usage or configuration",
    )
    parser.add_argument("--config", metavar="FILE", help="agent.toml (or another role's config)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv), "vaultctl")


if __name__ == "__main__":
    sys.exit(main())
