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
from bulwark.protos.bulwark.v1 import forget_pb2, forget_pb2_grpc, snapshots_pb2, snapshots_pb2_grpc


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


LATEST_CLEAN = "latest-clean"


def resolve(client: VaultClient, ref: str, selection: SnapshotFilter) -> SnapshotInfo:
    """The snapshot ``ref`` names: ``latest`` narrowed by ``selection``; ``latest-clean``,
    the newest of those not marked suspicious (ransomware signals); else an id or unique
    prefix (``selection.node`` still scopes it). SnapshotNotFound if none matches."""
    if ref == LATEST_CLEAN:
        clean = (s for s in query_snapshots(client, selection, newest_first=True)
                 if not s.suspicious)
        found = next(clean, None)
        if found is None:
            raise SnapshotNotFound(f"snapshot {ref!r}: no snapshot that is not marked "
                                   f"suspicious matches ({selection.describe()})")
        return found
    if ref != "latest":
        return client.get_snapshot(ref, selection.node)
    newest = next(query_snapshots(client, selection, newest_first=True, limit=1), None)
    if newest is None:
        raise SnapshotNotFound(f"snapshot 'latest': no snapshot matches ({selection.describe()})")
    return newest


@dataclass(frozen=True)
class KeepPolicy:
    """restic's ``--keep-*`` rules (0 unused, -1 every period); ``within``: (years, months,
    days, hours) or None; ``tag_sets`` as in :class:`SnapshotFilter`."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: tuple[int, int, int, int] | None = None
    tag_sets: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ForgetDecision:
    snapshot_id: str
    node: str
    time_ns: int
    group: str
    reasons: tuple[str, ...]
    outcome: str  # keep | forget | would-forget | locked | held
    retain_until_ns: int


def forget(client: VaultClient, selection: SnapshotFilter, policy: KeepPolicy,
           group_by: tuple[str, ...], dry_run: bool) -> Iterator[ForgetDecision]:
    """Apply ``policy`` in the vault (``bulwark.v1.Forget``): one decision per snapshot."""
    pb = forget_pb2.KeepPolicy(
        last=policy.last, hourly=policy.hourly, daily=policy.daily, weekly=policy.weekly,
        monthly=policy.monthly, yearly=policy.yearly,
        tag_sets=[snapshots_pb2.TagSet(tags=ts) for ts in policy.tag_sets])
    if policy.within is not None:
        years, months, days, hours = policy.within
        pb.within.CopyFrom(forget_pb2.KeepWithin(years=years, months=months, days=days,
                                                 hours=hours))
    request = forget_pb2.ForgetRequest(
        query=snapshots_pb2.SnapshotQuery(
            node=selection.node, hosts=selection.hosts, paths=selection.paths,
            tag_sets=[snapshots_pb2.TagSet(tags=ts) for ts in selection.tag_sets]),
        policy=pb, group_by=group_by, dry_run=dry_run)
    stub = forget_pb2_grpc.ForgetStub(client.channel)
    with client.translate("Forget"):
        for d in stub.Forget(request):
            yield ForgetDecision(d.snapshot_id, d.node, d.time_ns, d.group, tuple(d.reasons),
                                 d.outcome, d.retain_until_ns)
