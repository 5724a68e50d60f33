"""``vaultctl tag SNAPSHOT --add T --remove T [--json]``: tags added to a snapshot in the vault.

The tags a node signed into the snapshot's header stay as they are and are shown as signed;
removing one is refused (exit 2 here, and the vault refuses it too). Added tags are kept by
the vault beside them, audited (``tag.add``, ``tag.remove``), and matched by every ``--tag``
filter and by ``forget --keep-tag`` like the signed ones.
"""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.selection import (
    SNAPSHOT_HELP,
    add_selection_args,
    resolve_snapshot,
    snapshot_ref,
)
from bulwark.agent.client.tags import set_tags
from bulwark.agent.errors import UsageError

MAX_TAG_BYTES = 255  # vault.catalog.tags checks the same


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tag", help="add or remove a snapshot's vault-side tags",
        description="Add tags to SNAPSHOT, or remove tags added before. Tags the node signed "
        "cannot be removed; added tags are kept by the vault, audited, and matched by --tag "
        "filters like signed ones.",
        epilog="example: vaultctl --config operator.toml tag 3fa2 --add reviewed,keep "
        "--remove candidate")
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref, help=SNAPSHOT_HELP)
    p.add_argument("--add", action="append", default=[], metavar="T[,T...]",
                   help="tags to add (repeatable)")
    p.add_argument("--remove", action="append", default=[], metavar="T[,T...]",
                   help="added tags to remove (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def tags_of(values: list[str], flag: str) -> list[str]:
    """The tags ``--add``/``--remove`` values name; UsageError (exit 2) for a bad one."""
    out: list[str] = []
    for value in values:
        for tag in value.split(","):
            if not tag or tag != tag.strip():
                raise UsageError(f"{flag} {value!r}: a tag is empty or padded with blanks")
            if len(tag.encode("utf-8", "surrogateescape")) > MAX_TAG_BYTES:
                raise UsageError(f"{flag} {tag[:40]!r}...: longer than {MAX_TAG_BYTES} bytes")
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in tag):
                raise UsageError(f"{flag} {tag!r}: a control character")
            out.append(tag)
    return list(dict.fromkeys(out))


def run(args: argparse.Namespace, ctx: Context) -> int:
    add, remove = tags_of(args.add, "--add"), tags_of(args.remove, "--remove")
    if not add and not remove:
        raise UsageError("tag: give --add and/or --remove")
    both = sorted(set(add) & set(remove))
    if both:
        raise UsageError(f"tag {both[0]!r}: both in --add and --remove")
    before = resolve_snapshot(ctx.client, args.snapshot, args)
    signed = sorted(set(remove) & set(before.tags))
    if signed:
        raise UsageError(f"--remove {signed[0]!r}: snapshot {before.id[:12]} carries this tag "
                         "in its signed header; signed tags cannot be removed")
    after = set_tags(ctx.client, before.id, add, remove)
    out = {"snapshot": after.id, "tags": list(after.tags), "added_tags": list(after.added_tags),
           "added": sorted(set(after.added_tags) - set(before.added_tags)),
           "removed": sorted(set(before.added_tags) - set(after.added_tags))}
    if args.json:
        print_json(out)
        return 0
    print(f"snapshot {after.id[:12]}: signed tags {', '.join(after.tags) or '(none)'}; "
          f"added tags {', '.join(after.added_tags) or '(none)'}")
    if out["added"] or out["removed"]:
        print(f"added {', '.join(out['added']) or 'nothing'}, "
              f"removed {', '.join(out['removed']) or 'nothing'}")
    else:
        print("nothing changed")
    return 0
