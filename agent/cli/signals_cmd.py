"""``vaultctl signals SNAPSHOT [--all] [--json]``: a snapshot's ransomware signals.

The header's keyless summary (what the vault judged) and the vault's mark, then, from the
manifest (decrypted here: it needs the operator's key), every file that counted in a
scoring measure, or with ``--all`` every file read by that backup, with its format, stored
share, high-entropy and zero shares and exponent statistics (FORMAT.md "Ransomware signals").
"""

from __future__ import annotations

import argparse

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.listing_out import opened_manifest
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args, snapshot_ref
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.signals.score import reasons


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("signals", help="a snapshot's ransomware signals, per file (operator key)",
                       epilog="example: vaultctl --config operator.toml signals latest --json")
    p.add_argument("snapshot", metavar="SNAPSHOT", type=snapshot_ref, help=SNAPSHOT_HELP)
    p.add_argument("--all", action="store_true", help="every file read, not only flagged ones")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def _file(entry) -> dict[str, object]:
    s = entry.signals
    return {"path": show_path(entry.path), "size": entry.size, "flags": list(s.flags),
            "format": s.format, "format_ok": s.format_ok, "stored": s.stored_ppm / 1e6,
            "high_entropy": s.high_entropy_ppm / 1e6, "zero": s.zero_ppm / 1e6,
            "exponent_entropy_bits": None if s.exponent_entropy_mbit < 0
            else s.exponent_entropy_mbit / 1000,
            "exponent_mean": None if s.exponent_entropy_mbit < 0
            else s.exponent_mean_milli / 1000}


def run(args: argparse.Namespace, ctx: Context) -> int:
    with opened_manifest(ctx, args.snapshot, args) as (snapshot, manifest):
        info, summary = snapshot.info, snapshot.header.signals
        files = [_file(e) for e in manifest.entries()
                 if e.signals is not None and (args.all or e.signals.flags)]
    doc = {
        "snapshot": info.id,
        "mark": {"suspicious": info.suspicious, "score": info.mark_score_ppm / 1e6,
                 "reasons": list(info.mark_reasons), "set_by": info.mark_set_by,
                 "note": info.mark_note},
        "summary": None if summary is None else summary.as_dict(),
        "node_reasons": [] if summary is None else reasons(summary),
        "files": files,
    }
    if args.json:
        print_json(doc)
        return 0
    state = "SUSPICIOUS" if info.suspicious else "clean"
    print(f"snapshot {info.id[:12]}: {state}" + (
        f" ({'; '.join(info.mark_reasons) or info.mark_note})" if info.suspicious else ""))
    if summary is None:
        print("  no signals in this snapshot's header (scored off, or an older agent)")
    else:
        print(f"  score {summary.score_ppm / 1e4:.1f}%  " + "  ".join(
            f"{k[:-4]} {v / 1e4:.1f}%" for k, v in summary.as_dict().items()
            if k.endswith("_ppm") and k != "score_ppm" and v))
    for f in files:
        print(f"  {','.join(f['flags']) or '-':<28} {f['format'] or '?':<12} "
              f"{f['stored']:.2f} {f['path']}")
    return 0
