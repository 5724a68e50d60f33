"""Snapshot selection: restic's ``--host --tag --path`` filter, answered by the vault.

:class:`SnapshotFilter` is what a command narrows snapshots by; :func:`query_snapshots` streams
the matches (``bulwark.v1.Snapshots/QuerySnapshots``: the vault filters and pages, so a
listing is never one message however many snapshots there are) and :func:`resolve` turns a
reference into one snapshot: ``latest`` is the newest snapshot the filter matches; a full id
or a unique prefix names one snapshot whatever the filter says (as in restic).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bulwark.agent.client.vault import SnapshotInfo, VaultClient, snapshot_info
from bulwark.agent.errors import SnapshotNotFound
from bulwark.protos.bulwark.v1 import snapshots_pb2, snapshots_pb2_grpc


@dataclass(frozen=True)
class SnapshotFilter:
    """Empty fields match everything. ``tag_sets``: a snapshot matches if it carries every
    tag of at least one set (restic's ``--tag a,b --tag c``). ``paths``: every one of them
    must be among the snapshot's (absolute) paths."""

    node: str = ""
    hosts: tuple[str, ...] = ()
    tag_sets: tuple[tuple[str, ...], ...] = ()
    paths: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.node or self.hosts or self.tag_sets or self.paths)

    def describe(self) -> str:
        """``node 'gpu-1', tag nightly,ckpt`` — for messages that say what matched nothing."""
        parts = [f"node {self.node!r}"] if self.node else []
        parts += [f"host {h!r}" for h in self.hosts]
        parts += [f"tag {','.join(ts)}" for ts in self.tag_sets]
        parts += [f"path {p}" for p in self.paths]
        return ", ".join(parts) or "no filter"


def query_snapshots(client: VaultClient, selection: SnapshotFilter, newest_first: bool = False,
                    limit: int = 0) -> Iterator[SnapshotInfo]:
    """The matching snapshots, oldest first (or newest first), at most ``limit`` (0: all)."""
    stub = snapshots_pb2_grpc.SnapshotsStub(client.channel)
    request = snapshots_pb2.SnapshotQuery(
        node=selection.node, hosts=selection.hosts,
        tag_sets=[snapshots_pb2.TagSet(tags=ts) for ts in selection.tag_sets],
        paths=selection.paths, newest_first=newest_first, limit=limit,
    )
    with client.translate("QuerySnapshots"):
        for message in stub.QuerySnapshots(request):
            yield snapshot_info(message)


def resolve(client: VaultClient, ref: str, selection: SnapshotFilter) -> SnapshotInfo:
    """The snapshot ``ref`` names: ``latest`` narrowed by ``selection``, else an id or
    unique prefix (``selection.node`` still scopes it). SnapshotNotFound if none matches."""
    if ref != "latest":
        return client.get_snapshot(ref, selection.node)
    newest = next(query_snapshots(client, selection, newest_first=True, limit=1), None)
    if newest is None:
        raise SnapshotNotFound(f"snapshot 'latest': no snapshot matches ({selection.describe()})")
    return newest
