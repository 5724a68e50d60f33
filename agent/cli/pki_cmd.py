"""``vaultctl pki``: the site's certificate authority and per-role certificates.

::

    vaultctl pki init DIR [--host H ...]           CA + vault server certificate in DIR/pki
    vaultctl pki issue DIR --role ROLE --name NAME  certificate + DIR/ROLE-NAME.toml

Roles: node (write-only key file, enrolled), operator, officer, drill (tenant key),
replica (no data keys). ``--restore-key`` gives a node the tenant key instead. The
printed serial is what vault.toml ``[tls] revoked`` lists to revoke the certificate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bulwark.agent.cli.common import print_json
from bulwark.agent.site import pki
from bulwark.agent.site.identity import init_pki, issue_identity


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pki", help="certificate authority and role certificates")
    ps = p.add_subparsers(dest="pki_command", required=True, metavar="ACTION")
    i = ps.add_parser("init", help="create DIR/pki: CA and the vault's certificate")
    i.add_argument("directory", metavar="DIR", type=Path)
    i.add_argument("--host", action="append", default=None,
                   help="DNS name or IP the vault is reached at (repeatable)")
    i.set_defaults(run=run_init, needs_config=False)
    s = ps.add_parser("issue", help="issue a role certificate and its client configuration")
    s.add_argument("directory", metavar="DIR", type=Path)
    s.add_argument("--role", required=True, choices=pki.ROLES)
    s.add_argument("--name", required=True)
    s.add_argument("--restore-key", action="store_true",
                   help="node only: carry the tenant key (the node can then restore)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_issue, needs_config=False)


def run_init(args: argparse.Namespace) -> int:
    hosts = tuple(args.host or ("localhost", "127.0.0.1"))
    for path in init_pki(args.directory, hosts):
        print(f"wrote {path}")
    return 0


def run_issue(args: argparse.Namespace) -> int:
    written = issue_identity(args.directory, args.role, args.name,
                             restore_key=args.restore_key or None)
    serial = pki.serial_of(written[0])
    if args.json:
        print_json({"wrote": [str(p) for p in written], "serial": f"{serial:x}",
                    "config": str(written[-1])})
        return 0
    for path in written:
        print(f"wrote {path}")
    print(f"serial {serial:x} (list it in vault.toml [tls] revoked to revoke)")
    return 0
