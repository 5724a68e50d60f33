"""``vaultctl audit [--json] [--from SEQ]`` and ``vaultctl audit verify [--file EXPORT]``.

``verify`` recomputes the hash chain here, from the vault's stream or, fully offline, from
an export made by ``vaultctl audit --json``; exit 1 naming the first broken entry.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bulwark.agent.cli.admin import iso
from bulwark.agent.cli.common import EXIT_DATA, print_json, require_config
from bulwark.agent.client.admin import AdminClient
from bulwark.agent.client.audit_chain import check, export_line, parse_export_line
from bulwark.agent.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="read or verify the vault's hash-chained audit log")
    p.add_argument("action", nargs="?", choices=["verify"], help="check the chain")
    p.add_argument("--from", dest="from_seq", type=int, default=1, metavar="SEQ")
    p.add_argument("--file", type=Path, help="verify an export instead of asking the vault")
    p.add_argument("--json", action="store_true",
                   help="one JSON entry per line (an export `audit verify --file` checks)")
    p.set_defaults(run=run, needs_config=False)


def _from_file(path: Path):
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"--file {path}: {exc.strerror or exc}") from None
    try:
        return [parse_export_line(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    except ValueError as exc:
        raise ConfigError(f"--file {path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.action == "verify" and args.file:
        return _verify(_from_file(args.file), args.json)
    ctx = require_config(args, "vaultctl")
    admin = AdminClient.from_config(ctx.config)
    try:
        if args.action == "verify":
            return _verify(list(admin.audit(1)), args.json)
        for e in admin.audit(args.from_seq):
            if args.json:
                sys.stdout.write(export_line(e) + "\n")
                continue
            f = json.loads(e.record)
            print(f"{f['seq']:>6} {iso(f['time_ns'])} {f['actor']} ({f['role']}) "
                  f"{f['action']} {f['target']} {f['outcome'].upper()}"
                  + (f": {f['detail']}" if f["detail"] else ""))
        return 0
    finally:
        admin.close()
        ctx.client.close()


def _verify(entries, as_json: bool) -> int:
    result = check(entries)
    if as_json:
        print_json({"ok": result.broken_seq is None, "entries": result.entries,
                    "head_hash": result.head_hash, "first_broken_seq": result.broken_seq,
                    "reason": result.reason})
    elif result.broken_seq is None:
        print(f"audit chain OK: {result.entries} entries, head hash {result.head_hash}")
        print("keep the head hash elsewhere: it also proves no entry was cut off later")
    else:
        print(f"audit chain BROKEN at seq {result.broken_seq}: {result.reason} "
              f"({result.entries} entries before it verify)", file=sys.stderr)
    return 0 if result.broken_seq is None else EXIT_DATA
