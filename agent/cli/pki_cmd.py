"""``vaultctl pki``: the site's certificate authority and per-role certificates.

::

    vaultctl pki init DIR [--host H ...]           CA + vault server certificate in DIR/pki
    vaultctl pki issue DIR --role ROLE --name NAME  certificate + DIR/ROLE-NAME.toml
    vaultctl pki fingerprint DIR                    the CA's SHA-256, for vault-agent enroll
    vaultctl pki renew-vault DIR [--host H ...]     new vault certificate (names kept, added)
    vaultctl --config operator.toml pki token|tokens|revoke-token   join tokens (token_cmd)

Roles: node (write-only key file, enrolled), operator, officer, drill (tenant key),
replica (no data keys). ``--restore-key`` gives a node the tenant key instead. The
printed serial is what vault.toml ``[tls] revoked`` lists to revoke the certificate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bulwark.agent.cli import token_cmd
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
    f = ps.add_parser("fingerprint", help="print the site CA's SHA-256 (vault-agent enroll "
                      "--ca-fingerprint pins it)", epilog="example: vaultctl pki fingerprint DIR")
    f.add_argument("directory", metavar="DIR", type=Path)
    f.add_argument("--json", action="store_true")
    f.set_defaults(run=run_fingerprint, needs_config=False)
    v = ps.add_parser("renew-vault", help="re-issue the vault's certificate (new key; its names "
                      "plus --host); vaultd serves it from the next connection",
                      epilog="example: vaultctl pki renew-vault /srv/bulwark --host vault.example")
    v.add_argument("directory", metavar="DIR", type=Path)
    v.add_argument("--host", action="append", default=[],
                   help="another DNS name or IP the vault is reached at (repeatable)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=run_renew_vault, needs_config=False)
    token_cmd.add_actions(ps)


def run_fingerprint(args: argparse.Namespace) -> int:
    value = pki.fingerprint(args.directory / "pki" / "ca.crt")
    print_json({"ca_fingerprint": value}) if args.json else print(value)
    return 0


def run_renew_vault(args: argparse.Namespace) -> int:
    pki_dir = args.directory / "pki"
    hosts = tuple(dict.fromkeys([*pki.vault_hosts(pki_dir / "vault.crt"), *args.host]))
    issued = pki.reissue_vault(pki_dir, hosts)
    if args.json:
        print_json({"cert": str(issued.cert), "serial": f"{issued.serial:x}",
                    "hosts": list(hosts)})
    else:
        print(f"renewed {issued.cert} for {', '.join(hosts)} (serial {issued.serial:x})")
    return 0


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
