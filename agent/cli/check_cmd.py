"""``vaultctl check [--json]``: do the vault's catalog and chunk store agree? Exit 1 if not.

The vault re-reads every blob its catalog records (present, digest, size), checks that every
snapshot references only recorded chunks, and lists blobs without a catalog row as
reclaimable (left by a crash; prune removes them): those are no disagreement.
"""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import EXIT_DATA, Context, print_json
from bulwark.agent.client.check import check_catalog


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="check that the vault's catalog and chunk store agree (exit 1 if not)",
        description="Every catalog row has its blob with the recorded digest and size, every "
        "snapshot references only recorded chunks; blobs without a row are listed as "
        "reclaimable. Reads every blob: as long as a scrub.",
        epilog="example: vaultctl --config operator.toml check --json")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    r = check_catalog(ctx.client)
    if args.json:
        print_json(r)
    else:
        verdict = "agree" if r["agree"] else f"DISAGREE: {r['problem_count']} problem(s)"
        print(f"catalog and store {verdict}: {r['chunks']} catalog row(s), {r['blobs']} "
              f"blob(s), {r['snapshots']} snapshot(s)")
        for p in r["problems"]:
            print(f"  {p['kind']}: {p['detail']}")
        if r["reclaimable_count"]:
            print(f"{r['reclaimable_count']} blob(s) without a catalog row "
                  f"({r['reclaimable_bytes'] / 1e6:,.1f} MB): reclaimable, prune removes them")
    return 0 if r["agree"] else EXIT_DATA
