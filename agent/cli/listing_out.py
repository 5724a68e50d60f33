"""Output shared by ``ls``, ``find`` and ``diff``: a JSON list written as it is produced (one
list on stdout, memory independent of its length) and the manifest of a selected snapshot."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC, datetime

from bulwark.agent.cli.common import Context
from bulwark.agent.cli.selection import resolve_snapshot
from bulwark.agent.restore.reader import Manifest, OpenedSnapshot, fetch_manifest, open_snapshot


def write_json_list(items: Iterable[object], end: str = "\n") -> int:
    """Write ``[item, ...]`` to stdout one item at a time; returns how many were written.
    Nothing is written before the first item, so an error raised first leaves stdout empty."""
    out = sys.stdout
    n = 0
    for item in items:
        out.write(("," if n else "[") + json.dumps(item))
        n += 1
    out.write(("]" if n else "[]") + end)
    out.flush()
    return n


def iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


@contextmanager
def opened_manifest(ctx: Context, ref: str, args):
    """``(snapshot, manifest)`` of the snapshot ``ref`` names under the selection flags;
    the manifest is authenticated and spooled, and closed on exit."""
    info = resolve_snapshot(ctx.client, ref, args)
    snapshot: OpenedSnapshot = open_snapshot(ctx.client, ctx.keyring, info.id)
    manifest: Manifest = fetch_manifest(ctx.client, snapshot, ctx.config.workers)
    with manifest:
        yield snapshot, manifest
