"""``vault-agent renew`` / ``vaultctl renew``: renew the configuration's own certificate.

A new key and CSR are made here; the vault signs them for the identity of the current
certificate (``Fleet.Renew``), which must still be valid. Both files are replaced.
"""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.enroll_cmd import iso
from bulwark.agent.client.channel import channel_for
from bulwark.agent.client.enroll import FleetClient
from bulwark.agent.errors import ConfigError
from bulwark.agent.site.enroll import renew


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "renew", help="renew this configuration's certificate (new key, same identity)",
        epilog="example: vault-agent --config agent.toml renew --json "
        "(operators: vaultctl --config operator.toml renew)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    tls = ctx.config.tls
    if tls is None:
        raise ConfigError(f"{ctx.config.path}: renew: no [tls] certificate to renew")
    fleet = FleetClient(channel_for(ctx.config), ctx.config.vault_address)
    try:
        reply = renew(tls.cert, tls.key, fleet)
    finally:
        fleet.close()
    out = {"cert": str(tls.cert), "serial": reply.serial_hex,
           "not_after": iso(reply.not_after_s)}
    if args.json:
        print_json(out)
    else:
        print(f"renewed {tls.cert}: serial {reply.serial_hex}, valid until {out['not_after']}")
    return 0
