"""``vaultctl mount MOUNTPOINT [--snapshot S] [--json]``: snapshots as a read-only file system.

Without ``--snapshot`` the view has ``ids/<id>/``, ``nodes/<node>/<time>_<id>``,
``tags/<tag>/<time>_<id>`` and ``latest`` (``agent.mount.tree``), narrowed by the selection
flags; with it, that snapshot's tree is the root. A snapshot's manifest is decrypted when
its folder is first entered; file content is fetched chunk by chunk as it is read and kept
in a cache of at most ``--cache-mb`` MiB, so one tensor file of a large checkpoint can be
copied out without restoring the rest. Runs in the foreground until the mount point is
unmounted (``fusermount -u MOUNTPOINT``, ``umount``) or it gets SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys

from bulwark.agent.cli.common import Context, print_json
from bulwark.agent.cli.selection import SNAPSHOT_HELP, add_selection_args, selection_of
from bulwark.agent.client.snapshots import query_snapshots, resolve
from bulwark.agent.client.vault import SnapshotInfo
from bulwark.agent.errors import AgentError, SnapshotNotFound, UsageError
from bulwark.agent.mount.cache import ChunkCache, vault_fetcher
from bulwark.agent.mount.tree import SnapshotTree, View
from bulwark.agent.restore.reader import fetch_manifest, open_snapshot


class FuseMissing(AgentError):
    """libfuse or its Python bindings are not installed: a configuration problem."""

    exit_code = 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mount", help="mount snapshots as a read-only file system (FUSE)",
        description="Serve snapshots read-only at MOUNTPOINT: ids/, nodes/, tags/ and latest, "
        "or one snapshot's tree with --snapshot. File data is fetched and decrypted as it "
        "is read. Stays in the foreground until unmounted (fusermount -u MOUNTPOINT).",
        epilog="example: vaultctl --config operator.toml mount /mnt/ckpt --snapshot latest "
        "--node gpu-1 & cp /mnt/ckpt/data/ckpt/model-00003.safetensors .")
    p.add_argument("mountpoint", metavar="MOUNTPOINT", help="an existing empty folder")
    p.add_argument("--snapshot", metavar="S", default="", help=SNAPSHOT_HELP)
    p.add_argument("--cache-mb", type=int, default=256, metavar="N",
                   help="decrypted chunks kept in memory, MiB (default 256)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object once mounted: mountpoint, snapshots")
    add_selection_args(p)
    p.set_defaults(run=run, needs_config=True)


def _fuse():
    """The FUSE adapter, or FuseMissing naming what to install."""
    try:
        from bulwark.agent.mount import fuse_ops
    except (ImportError, OSError) as exc:
        raise FuseMissing(
            f"mount: FUSE is not available ({exc}); install the mfusepy package and libfuse "
            "(Debian: fuse3, or fuse and libfuse2)") from None
    return fuse_ops


def _check_mountpoint(path: str) -> None:
    if not os.path.isdir(path):
        raise UsageError(f"MOUNTPOINT {path!r}: not an existing folder")
    if os.path.ismount(path):
        raise UsageError(f"MOUNTPOINT {path!r}: something is already mounted there")
    if not os.path.exists("/dev/fuse"):
        raise FuseMissing("mount: /dev/fuse does not exist (no FUSE in this kernel or "
                          "container)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.cache_mb < 1:
        raise UsageError(f"--cache-mb {args.cache_mb}: must be at least 1")
    _check_mountpoint(args.mountpoint)
    fuse_ops = _fuse()
    selection = selection_of(args)
    if args.snapshot:
        snapshots = [resolve(ctx.client, args.snapshot, selection)]
    else:
        snapshots = list(query_snapshots(ctx.client, selection))
        if not snapshots and selection:
            raise SnapshotNotFound(f"no snapshot matches ({selection.describe()})")

    def open_tree(info: SnapshotInfo) -> SnapshotTree:
        opened = open_snapshot(ctx.client, ctx.keyring, info.id)
        with fetch_manifest(ctx.client, opened, ctx.config.workers) as manifest:
            return SnapshotTree(manifest.entries(), info.time_ns)

    if args.snapshot:
        open_tree(snapshots[0])  # a key or manifest problem fails here, before mounting
    view = View(snapshots, open_tree, single=bool(args.snapshot))
    cache = ChunkCache(vault_fetcher(ctx.client), args.cache_mb << 20)

    def ready() -> None:
        out = {"mountpoint": os.path.abspath(args.mountpoint),
               "snapshots": [s.id for s in snapshots], "single": bool(args.snapshot)}
        if args.json:
            print_json(out)
        else:
            print(f"mounted {len(snapshots)} snapshot{'s' if len(snapshots) != 1 else ''} "
                  f"read-only at {out['mountpoint']}; unmount with: fusermount -u "
                  f"{out['mountpoint']}")
        sys.stdout.flush()

    fuse_ops.mount(view, cache, args.mountpoint, ready)
    return 0
