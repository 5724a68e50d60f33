"""``vault-agent --config FILE enroll``: join the fleet with a token (agent.site.enroll)."""

from __future__ import annotations

import argparse
import datetime as dt
import socket

from bulwark.agent.cli.common import print_json
from bulwark.agent.errors import ConfigError
from bulwark.agent.site.enroll import join_site


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "enroll", help="join the vault with a token; writes --config and its keys here",
        epilog="example: vault-agent --config /etc/bulwark/agent.toml enroll --vault "
        "vault.example:7444 --ca-fingerprint 3f2a...(64 hex) --token bwj1.xxxx.yyyy")
    p.add_argument("--vault", required=True, metavar="HOST:PORT",
                   help="the vault's enrollment listener ([enroll] listen)")
    p.add_argument("--ca-fingerprint", required=True, metavar="SHA256",
                   help="SHA-256 of the site CA (vaultctl pki fingerprint DIR prints it)")
    p.add_argument("--token", required=True, help="join token (vaultctl pki token)")
    p.add_argument("--name", default=None, help="node name (default: this host's name)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run_enroll, needs_config=False)


def run_enroll(args: argparse.Namespace) -> int:
    if not args.config:
        raise ConfigError("enroll: --config FILE names the agent.toml to write")
    result = join_site(args.config, args.vault, args.ca_fingerprint, args.token,
                       args.name or socket.gethostname())
    out = {"config": str(result.config), "name": result.name, "role": result.role,
           "vault": result.vault_address, "serial": result.serial,
           "not_after": iso(result.not_after_s), "wrote": [str(p) for p in result.written]}
    if args.json:
        print_json(out)
        return 0
    for path in result.written:
        print(f"wrote {path}")
    print(f"joined as {result.role} {result.name!r}; certificate {result.serial} valid until "
          f"{out['not_after']}; vault {result.vault_address}")
    return 0


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
