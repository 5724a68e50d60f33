"""``vaultctl init DIR [--port N]``: create a local site (vault, node, tenant key).

``vaultctl init DIR --airgap --primary HOST:PORT --primary-ca FILE --tenant-key FILE
[--replica-cert FILE --replica-key FILE]`` creates an air-gap site instead: its own CA and
operator/officer/drill identities, and a vault.toml whose [airgap] pulls from the primary
with the replica identity the primary's CA issued (docs/airgap.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bulwark.agent.cli.common import print_json
from bulwark.agent.errors import UsageError
from bulwark.agent.site.airgap import init_airgap_site
from bulwark.agent.site.init import DEFAULT_PORT, init_site


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create a local site: vault.toml, agent.toml, tenant key")
    p.add_argument("directory", metavar="DIR", type=Path)
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"loopback port vaultd listens on (default {DEFAULT_PORT})")
    p.add_argument("--node", help="node name for agent.toml (default: this host's name)")
    p.add_argument("--host", action="append", default=[], metavar="NAME_OR_IP",
                   help="a name or address clients reach the vault at (repeatable): in the "
                   "vault certificate; the first is the address configurations use; vaultd "
                   "then listens on all addresses")
    p.add_argument("--enroll-port", type=int, default=None, metavar="N",
                   help="also open the enrollment listener on port N (join tokens)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    a = p.add_argument_group("air-gap site (docs/airgap.md)")
    a.add_argument("--airgap", action="store_true",
                   help="create an air-gap vault that pulls from --primary in sync windows")
    a.add_argument("--primary", metavar="HOST:PORT", help="the primary vault's address")
    a.add_argument("--primary-ca", type=Path, metavar="FILE", help="the primary's CA certificate")
    a.add_argument("--primary-name", default="", metavar="NAME",
                   help="TLS name of the primary's certificate, if not the host of --primary")
    a.add_argument("--replica-cert", type=Path, metavar="FILE",
                   help="replica certificate from the primary's CA (vaultctl pki issue "
                   "PRIMARY_DIR --role replica --name NAME)")
    a.add_argument("--replica-key", type=Path, metavar="FILE", help="its private key")
    a.add_argument("--tenant-key", type=Path, metavar="FILE",
                   help="a copy of the tenant key (the air-gap operators restore with it)")
    p.epilog = ("example: vaultctl init /srv/airgap --airgap --primary vault.example:7443 "
                "--primary-ca primary-ca.crt --tenant-key tenant.key "
                "--replica-cert replica-ag1.crt --replica-key replica-ag1.key")
    p.set_defaults(run=run, needs_config=False)


def _init_airgap(args: argparse.Namespace) -> list[Path]:
    for flag in ("primary", "primary_ca", "tenant_key"):
        if getattr(args, flag) is None:
            raise UsageError(f"--airgap needs --{flag.replace('_', '-')}")
    return init_airgap_site(
        args.directory, args.port, args.primary, args.primary_ca,
        replica_cert=args.replica_cert, replica_key=args.replica_key,
        tenant_key=args.tenant_key, primary_name=args.primary_name)


def run(args: argparse.Namespace) -> int:
    if args.airgap:
        return _report_airgap(args, _init_airgap(args))
    written = init_site(args.directory, args.port, args.node, tuple(args.host),
                        args.enroll_port)
    if args.json:
        print_json({"wrote": [str(p) for p in written]})
        return 0
    for path in written:
        print(f"wrote {path}{'/' if path.is_dir() else ''}")
    print(f"start the vault:  vaultd --config {args.directory / 'vault.toml'}")
    print(f"back up:          vault-agent --config {args.directory / 'agent.toml'} backup PATH")
    print("keep tenant.key safe: without it no snapshot can be restored")
    return 0


def _report_airgap(args: argparse.Namespace, written: list[Path]) -> int:
    if args.json:
        print_json({"wrote": [str(p) for p in written]})
        return 0
    for path in written:
        print(f"wrote {path}{'/' if path.is_dir() else ''}")
    if args.replica_cert is None:
        print("next: on the primary, vaultctl pki issue PRIMARY_DIR --role replica --name NAME,")
        print(f"      then copy its .crt/.key to {args.directory / 'pki/primary/replica.crt'}"
              " and replica.key")
    print(f"start the air-gap vault:  vaultd --config {args.directory / 'vault.toml'}")
    print(f"seed it now:  vaultctl --config {args.directory / 'operator.toml'} airgap sync --now")
    return 0
