"""``vaultctl stats [SNAPSHOT] [--node N] [--json]``: logical and stored bytes, deduplication
and compression ratios, what a snapshot (or node) alone holds, and the per-node quotas with
each node's usage against them (``quotas``, ``quota_usage`` in ``--json``).

The vault reports what it knows without keys (``agent.client.stats``); for a snapshot the
client adds the plaintext size of its distinct chunks, read from the decrypted manifest (one
entry at a time; memory holds the distinct chunk ids), which gives the compression ratio.
Ratios: deduplication = logical bytes / plaintext bytes of the distinct chunks; compression
= that plaintext / stored bytes (encryption overhead included); together logical / stored.
"""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.listing_out import opened_manifest
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args
from bulwark.agent.client.stats import Usage, get_quotas, get_stats


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stats", help="sizes, deduplication and compression of the vault, nodes or a snapshot",
        description="Logical bytes (what the nodes backed up), stored bytes (blobs as kept), "
        "and the bytes only a scope references (what deleting it would free once its locks "
        "allow and prune runs): for the vault, each node, and SNAPSHOT if given.",
        epilog="example: vaultctl --config operator.toml stats latest --node gpu-1")
    p.add_argument("snapshot", metavar="SNAPSHOT", nargs="?", default="",
                   help=SNAPSHOT_HELP + " (optional)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_selection_args(p)  # --node narrows the nodes shown (and 'latest')
    p.set_defaults(run=run, needs_config=True)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _plaintext(ctx: Context, args: argparse.Namespace) -> tuple[str, int]:
    """The snapshot's id and the plaintext bytes of its distinct chunks (manifest)."""
    sizes: dict[bytes, int] = {}
    with opened_manifest(ctx, args.snapshot, args) as (snapshot, manifest):
        for entry in manifest.entries():
            for ref in entry.chunks:
                sizes[ref.id] = ref.size
        return snapshot.info.id, sum(sizes.values())


def _line(u: Usage) -> str:
    return (f"{u.scope:<24} {u.snapshots:>6} snapshots  {u.logical_bytes / 1e6:>12,.1f} MB "
            f"logical  {u.stored_bytes / 1e6:>10,.1f} MB stored ({u.chunks} chunks)  "
            f"{u.unique_bytes / 1e6:,.1f} MB only here")


def _print_quotas(out: dict) -> None:
    quotas = out["quotas"]
    shown = {k: f"{v / 1e6:,.1f} MB" if v else "none" for k, v in quotas.items()}
    print(f"quotas per node: stored {shown['node_stored_bytes']}, uncommitted "
          f"{shown['node_uncommitted_bytes']} ([limits] in vault.toml)")
    for u in out["quota_usage"]:
        print(f"  {u['node']:<22} {u['stored_bytes'] / 1e6:>10,.1f} MB put  "
              f"{u['uncommitted_bytes'] / 1e6:>10,.1f} MB not committed yet")


def run(args: argparse.Namespace, ctx: Context) -> int:
    sid, plain = _plaintext(ctx, args) if args.snapshot else ("", 0)
    vault, nodes, snap = get_stats(ctx.client, sid, args.node)
    out: dict = {"vault": vault.as_dict() if vault else None,
                 "nodes": [u.as_dict() for u in nodes], "snapshot": None}
    if snap is not None:
        out["snapshot"] = {**snap.as_dict(), "plaintext_bytes": plain,
                           "dedup_ratio": _ratio(snap.logical_bytes, plain),
                           "compression_ratio": _ratio(plain, snap.stored_bytes)}
    for scope in [out["vault"], *out["nodes"]]:
        if scope:
            scope["ratio"] = _ratio(scope["logical_bytes"], scope["stored_bytes"])
    out.update(get_quotas(ctx.client, args.node))
    if args.json:
        print_json(out)
        return 0
    for u in ([vault] if vault else []) + nodes + ([snap] if snap else []):
        print(_line(u))
    _print_quotas(out)
    if snap is not None:
        s = out["snapshot"]
        print(f"snapshot {sid[:12]}: deduplication {s['dedup_ratio']}x, compression "
              f"{s['compression_ratio']}x ({plain / 1e6:,.1f} MB of distinct chunk data)")
    return 0
