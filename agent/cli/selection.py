"""Snapshot selection flags, the same on every command that takes a snapshot.

``--node``, ``--host``, ``--tag`` and ``--snapshot-path`` narrow ``latest`` (and the listings of
``snapshots``, ``find`` and ``forget``) as restic's ``--host --tag --path`` do: ``--tag a,b
--tag c`` means (a and b) or c; several ``--snapshot-path`` must all be among a snapshot's
paths. The path flag is not called ``--path`` because ``restore --path`` already names what to
restore inside the snapshot.
"""

from __future__ import annotations

import argparse

from bulwark.agent.client.snapshots import SnapshotFilter, resolve
from bulwark.agent.client.vault import SnapshotInfo, VaultClient
from bulwark.agent.errors import UsageError

SNAPSHOT_HELP = ("id, unique id prefix, 'latest' or 'latest-clean' (the newest not marked "
                 "suspicious; both narrowed by --node, --host, --tag, --snapshot-path)")

_HEX = frozenset("0123456789abcdef")
#: References the vault resolves by name besides an id or id prefix.
NAMED_REFS = ("latest", "latest-clean")


def snapshot_ref(text: str) -> str:
    """argparse ``type`` of every SNAPSHOT argument: a full id or an id prefix (1 to 64
    lowercase hex digits), ``latest`` or ``latest-clean``. Anything else is a usage error
    (exit 2) before a configuration is read or the vault is asked; a well-formed reference
    that names no snapshot is the vault's answer, "no snapshot matches" (exit 1)."""
    if text in NAMED_REFS or (0 < len(text) <= 64 and set(text) <= _HEX):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a snapshot reference: expected a full id, an id prefix (lowercase "
        "hex), 'latest' or 'latest-clean'")


def add_selection_args(p: argparse.ArgumentParser, node: bool = True) -> None:
    """Add the four selection flags to ``p`` (``node=False`` if ``p`` has its own --node)."""
    g = p.add_argument_group("snapshot selection (as restic's --host --tag --path)")
    if node:
        g.add_argument("--node", default="", metavar="N", help="only snapshots of node N")
    g.add_argument("--host", action="append", default=[], metavar="H",
                   help="only snapshots taken on host H (repeatable: any of them)")
    g.add_argument("--tag", action="append", default=[], metavar="T[,T...]",
                   help="only snapshots with all these tags (repeatable: any of the sets)")
    g.add_argument("--snapshot-path", action="append", default=[], metavar="P",
                   help="only snapshots that backed up P (absolute; repeatable: all of them)")


def selection_of(args: argparse.Namespace) -> SnapshotFilter:
    """The filter the flags describe; UsageError (exit 2) naming a bad value."""
    tag_sets = []
    for value in args.tag:
        tags = tuple(t.strip() for t in value.split(","))
        if not all(tags):
            raise UsageError(f"--tag {value!r}: a tag is empty")
        tag_sets.append(tags)
    for path in args.snapshot_path:
        if not path.startswith("/"):
            raise UsageError(f"--snapshot-path {path!r}: must be absolute, as paths are stored")
    if any(not h for h in args.host):
        raise UsageError("--host: a host name is empty")
    return SnapshotFilter(node=args.node, hosts=tuple(args.host), tag_sets=tuple(tag_sets),
                          paths=tuple(p.rstrip("/") or "/" for p in args.snapshot_path))


def resolve_snapshot(client: VaultClient, ref: str, args: argparse.Namespace) -> SnapshotInfo:
    """The one snapshot ``ref`` names under the selection flags of ``args``."""
    return resolve(client, ref, selection_of(args))
