"""``vaultctl keys``: escrow, recover, paper export/import, and node enrollment.

::

    vaultctl --config operator.toml keys escrow --name N [--key-file F]
    vaultctl --config operator.toml keys recover --name N --out FILE
    vaultctl --config operator.toml keys export --paper
    vaultctl keys import --paper SHEET --out FILE
    vaultctl --config operator.toml keys enroll --node N

The passphrase comes from ``--passphrase-file``, else the environment variable
``BULWARK_PASSPHRASE``, else a prompt on the terminal (asked twice for ``escrow``).
A wrong passphrase is a KeyMaterialError: exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.errors import ConfigError, KeyMaterialError
from bulwark.agent.keys.escrow import paper_sheet, read_paper, unwrap, wrap
from bulwark.agent.keys.keyfile import read_key_file_bytes, write_key_file_bytes

ENV = "BULWARK_PASSPHRASE"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="key escrow, recovery sheets, node enrollment")
    ks = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    e = ks.add_parser("escrow", help="store a passphrase-wrapped copy of a key file in the vault")
    e.add_argument("--name", help="escrow name (default: the configuration's node name)")
    e.add_argument("--key-file", type=Path, help="key file to escrow (default: this config's)")
    e.add_argument("--passphrase-file", type=Path)
    e.add_argument("--json", action="store_true")
    e.set_defaults(run=run_escrow, needs_config=True)
    r = ks.add_parser("recover", help="rebuild a key file from its escrow")
    r.add_argument("--name", required=True)
    r.add_argument("--out", required=True, type=Path, help="new key file (written 0600)")
    r.add_argument("--passphrase-file", type=Path)
    r.set_defaults(run=run_recover, needs_config=True)
    x = ks.add_parser("export", help="print this configuration's key file as a recovery sheet")
    x.add_argument("--paper", action="store_true", required=True)
    x.set_defaults(run=run_export, needs_config=True)
    i = ks.add_parser("import", help="rebuild a key file from a typed-back recovery sheet")
    i.add_argument("--paper", required=True, type=Path, metavar="SHEET")
    i.add_argument("--out", required=True, type=Path)
    i.set_defaults(run=run_import, needs_config=False)
    n = ks.add_parser("enroll", help="enroll a node's signing key (needs the tenant key)")
    n.add_argument("--node", required=True)
    n.set_defaults(run=run_enroll, needs_config=True)


def _passphrase(args: argparse.Namespace, confirm: bool) -> str:
    if args.passphrase_file:
        try:
            return args.passphrase_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ConfigError(f"{args.passphrase_file}: cannot read: {exc.strerror}") from None
    if os.environ.get(ENV):
        return os.environ[ENV]
    if not sys.stdin.isatty():
        raise ConfigError(f"no passphrase: use --passphrase-file, set {ENV}, or run on a terminal")
    first = getpass.getpass("escrow passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise KeyMaterialError("the two passphrases differ")
    return first


def run_escrow(args: argparse.Namespace, ctx: Context) -> int:
    key_file = args.key_file or ctx.config.key_file
    name = args.name or ctx.config.node
    blob = wrap(read_key_file_bytes(key_file), _passphrase(args, confirm=True))
    ctx.client.put_escrow(name, blob)
    if args.json:
        print_json({"escrow": name, "key_file": str(key_file), "bytes": len(blob)})
    else:
        print(f"escrowed {key_file} as {name!r} ({len(blob)} bytes, scrypt n=2^17 r=8 p=1)")
    return 0


def run_recover(args: argparse.Namespace, ctx: Context) -> int:
    secret = unwrap(ctx.client.get_escrow(args.name), _passphrase(args, confirm=False))
    write_key_file_bytes(args.out, secret)
    print(f"recovered escrow {args.name!r} into {args.out} (mode 0600)")
    return 0


def run_export(args: argparse.Namespace, ctx: Context) -> int:
    secret = read_key_file_bytes(ctx.config.key_file)
    kind = "tenant key" if ctx.keyring.can_restore else f"node key ({ctx.config.node})"
    sys.stdout.write(paper_sheet(secret, f"{kind}, tenant {ctx.keyring.tenant}"))
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        text = args.paper.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{args.paper}: cannot read: {exc.strerror}") from None
    write_key_file_bytes(args.out, read_paper(text))
    print(f"wrote {args.out} (mode 0600)")
    return 0


def run_enroll(args: argparse.Namespace, ctx: Context) -> int:
    key = ctx.keyring.signing_public_key(args.node)
    if key is None:
        raise KeyMaterialError(
            f"{ctx.config.key_file}: a node key file cannot derive node {args.node!r}'s key; "
            "use a configuration with the tenant key"
        )
    ctx.client.enroll_node(args.node, key)
    print(f"enrolled node {args.node!r} ({key.hex()[:16]}…)")
    return 0
