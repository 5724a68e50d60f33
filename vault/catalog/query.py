"""Snapshot queries: which snapshots match a filter, streamed page by page from the catalog.

Below the gRPC edge (``vault.rpc.snapshots_service`` decodes the request and the headers).
The filter is restic's (``restic snapshots --host --tag --path``): a snapshot matches if it
is of the node (when one is given), of one of the hosts, carries every tag of at least one
tag set (signed by the node or added in the vault, ``vault.catalog.tags``), and has every one of the
paths among its own. The listing is read from the catalog
``PAGE`` rows at a time, so neither the vault's memory nor one message grows with the number
of snapshots (issue 20: the unary listing failed near 35k snapshots at the 16 MiB cap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.catalog.tags import tags_of
from bulwark.vault.errors import InvalidRequest

#: Catalog rows read per page (one short lock hold each).
PAGE = 500


@dataclass(frozen=True)
class SnapshotQuery:
    """A filter; empty fields match everything. ``tag_sets``: any set, every tag in it."""

    node: str = ""
    hosts: tuple[str, ...] = ()
    tag_sets: tuple[tuple[str, ...], ...] = ()
    paths: tuple[str, ...] = ()
    newest_first: bool = False
    limit: int = 0

    def check(self) -> None:
        """InvalidRequest naming the field for an empty tag or host, or a relative path."""
        for tags in self.tag_sets:
            if not tags or any(not t for t in tags):
                raise InvalidRequest("SnapshotQuery.tag_sets: a tag set or a tag is empty")
        if any(not h for h in self.hosts):
            raise InvalidRequest("SnapshotQuery.hosts: a host name is empty")
        for path in self.paths:
            if not path.startswith("/"):
                raise InvalidRequest(
                    f"SnapshotQuery.paths: {path!r} is not absolute (paths are stored absolute)"
                )
        if self.limit < 0:
            raise InvalidRequest("SnapshotQuery.limit: must not be negative")

    def matches(self, record: SnapshotRecord, host: Callable[[SnapshotRecord], str]) -> bool:
        """True if ``record`` passes every filter; ``host`` is asked only when hosts are
        given (it decodes the signed header)."""
        if self.node and record.node != self.node:
            return False
        if self.tag_sets and not any(set(ts) <= record.all_tags for ts in self.tag_sets):
            return False
        if self.paths and not set(self.paths) <= {p.rstrip("/") or "/" for p in record.paths}:
            return False
        return not self.hosts or host(record) in self.hosts


def query_snapshots(
    catalog: Catalog, query: SnapshotQuery, host: Callable[[SnapshotRecord], str]
) -> Iterator[SnapshotRecord]:
    """Every snapshot ``query`` matches, in its order, at most ``query.limit`` (0: all).

    Reads the catalog a page at a time; snapshots committed while the stream runs appear if
    they sort after the position reached (keyset paging), deleted ones may still appear.
    """
    query.check()
    wanted = {p.rstrip("/") or "/" for p in query.paths}
    query = SnapshotQuery(query.node, query.hosts, query.tag_sets, tuple(sorted(wanted)),
                          query.newest_first, query.limit)
    after: tuple[int, str] | None = None
    sent = 0
    while True:
        page = catalog.snapshot_page(query.node or None, query.newest_first, after, PAGE)
        page = tags_of(catalog).attach(page)  # tag filters match signed and added tags
        for record in page:
            if query.matches(record, host):
                yield record
                sent += 1
                if query.limit and sent >= query.limit:
                    return
        if len(page) < PAGE:
            return
        after = (page[-1].time_ns, page[-1].id)
