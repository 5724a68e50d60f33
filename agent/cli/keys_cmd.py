"""``vaultctl keys``: escrow, recover, paper export/import, and node enrollment.

::

    vaultctl --config operator.toml keys escrow --name N [--key-file F]
    vaultctl --config operator.toml keys recover --name N --out FILE
    vaultctl --config operator.toml keys export --paper
    vaultctl keys import --paper SHEET --out FILE
    vaultctl --config operator.toml keys enroll --node N
    vaultctl --config operator.toml keys list [--json]
    vaultctl --config operator.toml keys retire --node N --reason TEXT
    vaultctl --config operator.toml keys rotate-restore [--escrow N] [--publish-only] [--json]
    vaultctl --config operator.toml keys restore-keys [--json]

The passphrase comes from ``--passphrase-file``, else the environment variable
``BULWARK_PASSPHRASE``, else a prompt on the terminal (asked twice for ``escrow``).
A wrong passphrase is a KeyMaterialError: exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import asdict
from pathlib import Path

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.listing_out import iso
from bulwark.agent.client.key_admin import list_keys, retire_node
from bulwark.agent.client.restore_keys import list_restore_keys, publish_restore_key
from bulwark.agent.errors import (
    AgentError,
    ConfigError,
    KeyMaterialError,
    SnapshotNotFound,
    UsageError,
)
from bulwark.agent.keys.escrow import paper_sheet, read_paper, unwrap, wrap
from bulwark.agent.keys.keyfile import load_keyring, read_key_file_bytes, write_key_file_bytes
from bulwark.agent.keys.rotation import rotate_key_file, sign_announcement, verify_announcement

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
    li = ks.add_parser("list", help="enrolled nodes, escrow entries, fingerprints, last use",
                       epilog="example: vaultctl --config operator.toml keys list --json")
    li.add_argument("--json", action="store_true", help="print {nodes: [...], escrow: [...]}")
    li.set_defaults(run=run_list, needs_config=True)
    rt = ks.add_parser(
        "retire", help="retire a node: its certificates are refused, its key kept",
        description="Retire NODE: the vault refuses every call made with its certificates "
        "from now on (whatever their serial); its enrolled signing key stays, so its old "
        "snapshots still verify and restore. Audited as keys.retire.",
        epilog="example: vaultctl --config operator.toml keys retire --node gpu-7 "
        "--reason 'decommissioned, ticket 4411'")
    rt.add_argument("--node", required=True)
    rt.add_argument("--reason", required=True, help="why (kept and audited)")
    rt.add_argument("--json", action="store_true")
    rt.set_defaults(run=run_retire, needs_config=True)
    ro = ks.add_parser(
        "rotate-restore", help="add a restore key generation and tell the nodes about it",
        description="Add a new restore key generation to the tenant key file (it keeps every "
        "older one, so old snapshots stay readable), escrow the new file if asked, and "
        "publish the new public key, signed by the tenant's restore key authority, in the "
        "vault: nodes seal every snapshot after their next backup starts to it.",
        epilog="example: vaultctl --config operator.toml keys rotate-restore "
        "--escrow tenant-2027 --passphrase-file pass.txt")
    ro.add_argument("--key-file", type=Path, help="tenant key file (default: this config's)")
    ro.add_argument("--escrow", metavar="NAME", help="escrow the rotated key file as NAME "
                    "before publishing (needs a passphrase, as keys escrow)")
    ro.add_argument("--passphrase-file", type=Path)
    ro.add_argument("--publish-only", action="store_true",
                    help="publish the key file's newest generation again; rotate nothing")
    ro.add_argument("--json", action="store_true")
    ro.set_defaults(run=run_rotate_restore, needs_config=True)
    rk = ks.add_parser(
        "restore-keys", help="restore key generations: this key file's and the vault's",
        epilog="example: vaultctl --config operator.toml keys restore-keys --json")
    rk.add_argument("--json", action="store_true")
    rk.set_defaults(run=run_restore_keys, needs_config=True)


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


def _when(ns: int) -> str:
    return iso(ns) if ns else "never"


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    nodes, escrow = list_keys(ctx.client)
    if args.json:
        print_json({"nodes": [asdict(n) for n in nodes], "escrow": [asdict(e) for e in escrow]})
        return 0
    print(f"{'NODE':<20} {'FINGERPRINT':<40} {'ENROLLED':<20} {'LAST SNAPSHOT':<20} STATE")
    for n in nodes:
        state = (f"retired {_when(n.retired_ns)} by {n.retired_by}: {n.reason}"
                 if n.retired_ns else "active")
        print(f"{n.node[:20]:<20} {n.fingerprint[:39]:<40} {_when(n.enrolled_ns):<20} "
              f"{_when(n.last_snapshot_ns):<20} {state}")
    print(f"{'ESCROW':<20} {'STORED':<20} {'LAST READ':<20} BYTES")
    for e in escrow:
        print(f"{e.name[:20]:<20} {_when(e.stored_ns):<20} {_when(e.last_read_ns):<20} {e.size}")
    return 0


def run_retire(args: argparse.Namespace, ctx: Context) -> int:
    if not args.reason.strip():
        raise UsageError("--reason: must say why the node is retired")
    try:
        node = retire_node(ctx.client, args.node, args.reason)
    except SnapshotNotFound as exc:  # NOT_FOUND: the node is not enrolled
        raise UsageError(f"--node {args.node!r}: {exc}") from None
    if args.json:
        print_json(asdict(node))
    else:
        print(f"node {node.node} retired {_when(node.retired_ns)} by {node.retired_by} "
              f"({node.reason}); its key {node.fingerprint[:23]}… is kept for its "
              f"{node.snapshots} snapshot{'s' if node.snapshots != 1 else ''}")
    return 0


def run_rotate_restore(args: argparse.Namespace, ctx: Context) -> int:
    key_file = args.key_file or ctx.config.key_file
    if args.escrow:  # ask first: a missing passphrase must not leave a rotated, unescrowed file
        passphrase = _passphrase(args, confirm=True)
    if not args.publish_only:
        rotate_key_file(key_file)
    keyring = load_keyring(key_file, ctx.config.node)
    announcement, signature = sign_announcement(keyring)
    generation = keyring.restore_generation
    try:
        if args.escrow:
            ctx.client.put_escrow(args.escrow, wrap(read_key_file_bytes(key_file), passphrase))
        published = publish_restore_key(ctx.client, announcement, signature)
    except AgentError as exc:
        raise type(exc)(f"{exc}; {key_file} holds restore key generation {generation}, but "
                        "the nodes do not know it yet: publish it with "
                        "'vaultctl keys rotate-restore --publish-only'") from None
    held = [g for g, _ in keyring.restore_keys]
    if args.json:
        print_json({"generation": generation, "key_file": str(key_file), "held": held,
                    "public_key": keyring.restore_public.hex(), "escrow": args.escrow,
                    "published_ns": published.published_ns,
                    "published_by": published.published_by})
    else:
        print(f"restore key generation {generation} is in {key_file} (it holds generations "
              f"{', '.join(map(str, held))})"
              + (f", escrowed as {args.escrow!r}" if args.escrow else "")
              + f", and published by {published.published_by}: nodes seal new snapshots to "
              "it from their next backup")
    return 0


def run_restore_keys(args: argparse.Namespace, ctx: Context) -> int:
    ring = ctx.keyring
    rows = []
    for k in list_restore_keys(ctx.client):
        ok = ring.restore_authority is not None
        try:
            if ok:
                verify_announcement(ring.restore_authority, k.announcement, k.signature)
        except KeyMaterialError:
            ok = False
        rows.append({"generation": k.generation, "public_key": k.announcement[8:].hex(),
                     "published_ns": k.published_ns, "published_by": k.published_by,
                     "verified": ok, "held": k.generation in dict(ring.restore_keys)})
    doc = {"key_file": str(ctx.config.key_file), "generation": ring.restore_generation,
           "held": [g for g, _ in ring.restore_keys], "published": rows}
    if args.json:
        print_json(doc)
        return 0
    print(f"{ctx.config.key_file}: seals to generation {ring.restore_generation}; holds "
          f"{', '.join(map(str, doc['held'])) or 'no private key (write-only)'}")
    print(f"{'GENERATION':<11} {'PUBLISHED':<20} {'BY':<20} {'SIGNATURE':<10} HELD")
    for r in rows:
        print(f"{r['generation']:<11} {_when(r['published_ns']):<20} {r['published_by'][:20]:<20} "
              f"{'valid' if r['verified'] else 'INVALID':<10} {'yes' if r['held'] else 'no'}")
    return 0
