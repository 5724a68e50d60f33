"""``vaultctl init DIR [--port N]``: create a local site (vault, node, tenant key)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bulwark.agent.cli.common import print_json
from bulwark.agent.site.init import DEFAULT_PORT, init_site


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a local site: vault.toml, agent.toml, tenant key")
    p.add_argument("directory", metavar="DIR", type=Path)
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"loopback port vaultd listens on (default {DEFAULT_PORT})")
    p.add_argument("--node", help="node name for agent.toml (default: this host's name)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(run=run, needs_config=False)


def run(args: argparse.Namespace) -> int:
    written = init_site(args.directory, args.port, args.node)
    if args.json:
        print_json({"wrote": [str(p) for p in written]})
        return 0
    for path in written:
        print(f"wrote {path}{'/' if path.is_dir() else ''}")
    print(f"start the vault:  vaultd --config {args.directory / 'vault.toml'}")
    print(f"back up:          vault-agent --config {args.directory / 'agent.toml'} backup PATH")
    print("keep tenant.key safe: without it no snapshot can be restored")
    return 0
