"""``vaultctl airgap status|sync --now``: an air-gap vault's windows, for its own operators.

::

    vaultctl --config operator.toml airgap status [--json]
    vaultctl --config operator.toml airgap sync --now [--seconds N] [--json]

``status`` shows the primary, the next window, the cursor, the lag (an alert above the
limit), the last window and the last successful one. ``sync --now`` opens a window at once
(hooks included; audited with the caller) and prints its result when it closes. Exit 0 when
everything due was copied; 1 if the window was cut, failed, refused a snapshot, or (status)
the lag is above its limit.
"""

from __future__ import annotations

import argparse
import datetime as dt

from bulwark.agent.cli.common import EXIT_DATA, Context, print_json
from bulwark.agent.client.airgap import AirgapClient
from bulwark.agent.errors import UsageError

EXAMPLE = "example: vaultctl --config /srv/airgap/operator.toml airgap sync --now --json"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("airgap", help="an air-gap vault's sync windows: status, sync now",
                       epilog=EXAMPLE)
    ps = p.add_subparsers(dest="airgap_command", required=True, metavar="ACTION")
    s = ps.add_parser("status", help="next window, cursor, lag, last result",
                      epilog="example: vaultctl --config operator.toml airgap status --json")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_status, needs_config=True)
    n = ps.add_parser("sync", help="open a window now (seed or catch up by hand)",
                      epilog=EXAMPLE)
    n.add_argument("--now", action="store_true", required=True,
                   help="open the window at once (required: says what this does)")
    n.add_argument("--seconds", type=int, default=0,
                   help="window length (default: the first configured window's duration)")
    n.add_argument("--json", action="store_true")
    n.set_defaults(run=run_sync, needs_config=True)


def _when(ns: int) -> str:
    if not ns:
        return "never"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_window(w: dict) -> None:
    print(f"window ({w['trigger']}) {_when(w['opened_ns'])} .. {_when(w['closed_ns'])}: "
          f"{w['outcome']}; {w['snapshots']} snapshot(s), {w['chunks']} chunk(s), "
          f"{w['bytes'] / 1e6:,.1f} MB; {w['pending']} pending, lag {w['lag_s']:.0f}s")
    for r in w["refused"]:
        print(f"  refused snapshot {r['snapshot']} (node {r['node']}): {r['reason']}")
    if w["error"]:
        print(f"  error: {w['error']}")


def _failed(w: dict) -> bool:
    return w["outcome"] != "complete" or bool(w["refused"])


def run_status(args: argparse.Namespace, ctx: Context) -> int:
    client = AirgapClient.from_config(ctx.config)
    try:
        s = client.status()
    finally:
        client.close()
    if args.json:
        print_json(s)
    else:
        print(f"primary {s['primary']}; window {'OPEN' if s['window_open'] else 'closed'}; "
              f"next window {_when(s['next_window_ns'])}")
        print(f"cursor {s['cursor']['snapshot'] or '(nothing copied yet)'}; "
              f"{s['pinned_nodes']} pinned node key(s)")
        alert = " ALERT: above the limit" if s["lag_alert"] else ""
        print(f"lag {s['lag_s']:.0f}s (limit {s['lag_limit_s']:.0f}s){alert}; "
              f"last success {_when(s['last_success_ns'])}")
        if s["last"]:
            _print_window(s["last"])
    return EXIT_DATA if s["lag_alert"] or (s["last"] and _failed(s["last"])) else 0


def run_sync(args: argparse.Namespace, ctx: Context) -> int:
    if args.seconds < 0:
        raise UsageError(f"--seconds must be positive, got {args.seconds}")
    client = AirgapClient.from_config(ctx.config)
    try:
        w = client.sync_now(args.seconds)
    finally:
        client.close()
    if args.json:
        print_json(w)
    else:
        _print_window(w)
    return EXIT_DATA if _failed(w) else 0
