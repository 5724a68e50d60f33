"""Upload leases: chunks announced to an upload stay safe from prune until its commit
(docs/worm.md, "Leases").

When FindMissing answers "present" for a chunk, or PutChunks stores or finds it, the chunk
is leased until ``lease_until_ns`` (the compliance clock's now + ``[retention]
lease_hours``), and prune leaves leased chunks alone. The leases are held **in memory**: a
lease costs a dictionary entry, not a catalog row written inside the answer's transaction
(4,096 present ids took 119 ms that way at 300k chunks, 22 ms when all were absent, and the
rows stayed until a real prune).

What memory loses is covered by a floor, "every chunk the catalog holds is leased until
then", which only ever keeps chunks longer:

- **Restart**: the leases of the previous process are gone, and each of them ended at most
  ``lease_hours`` after that process's last answer, so vaultd calls :meth:`Leases.hold_all`
  with its start time + ``lease_hours``: nothing the catalog holds is pruned before then.
  (The compliance clock never moves backward; after a reboot it resumes at most 10 s behind,
  and a commit re-checks every chunk row anyway: an agent whose chunk is gone gets
  FAILED_PRECONDITION, never a snapshot with a hole.)
- **Capacity**: at most ``capacity`` ids are kept (about 80 bytes each: 1,048,576 ids take
  ~80 MiB). A grant that takes the table past it raises the floor to the latest lease held
  and empties the table. Prune drops ended leases every run, so only more distinct ids than
  that, leased within one ``lease_hours`` plus the time between prunes, get there.

Ids are keyed by their first 8 bytes (chunk ids are BLAKE3 hashes): two chunks that share
them are both leased when either is, which again only keeps a chunk longer.

Not thread-safe: ``vault.catalog.db.Catalog`` calls every method under its lock, so a grant and
prune's re-check inside its delete transaction cannot interleave.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

CAPACITY = 1 << 20  # leased ids held in memory (~80 MiB); beyond: the floor (module doc)

T = TypeVar("T")


def _key(chunk_id: bytes) -> int:
    return int.from_bytes(chunk_id[:8], "little")


class Leases:
    """The vault's upload leases (module doc). Times are compliance-clock nanoseconds."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._until: dict[int, int] = {}
        self._all_until = 0  # every chunk with a catalog row is leased until then

    def __len__(self) -> int:
        return len(self._until)

    @property
    def all_until_ns(self) -> int:
        """The floor: every chunk the catalog holds is leased until then (0: none)."""
        return self._all_until

    def hold_all(self, until_ns: int) -> None:
        """Lease every chunk the catalog holds until ``until_ns`` (at vaultd's start: start
        time + ``lease_hours``). Never lowers the floor."""
        self._all_until = max(self._all_until, until_ns)

    def grant(self, chunk_ids: Iterable[bytes], until_ns: int) -> None:
        """Lease ``chunk_ids`` until ``until_ns`` (a longer lease already held is kept)."""
        table = self._until
        for cid in chunk_ids:
            key = _key(cid)
            if table.get(key, 0) < until_ns:
                table[key] = until_ns
        if len(table) > self.capacity:
            self._overflow()

    def _overflow(self) -> None:
        """Past capacity: the floor takes over the whole table (module doc)."""
        latest = max(self._until.values())
        self._all_until = max(self._all_until, latest)
        self._until.clear()
        log.warning("more than %d chunks leased at once: every chunk stays leased until %d "
                    "(prune frees nothing held until then)", self.capacity, latest)

    def until_ns(self, chunk_id: bytes, has_row: bool) -> int:
        """When ``chunk_id``'s lease ends (0: never leased). ``has_row``: the catalog holds
        the chunk, so the floor applies to it."""
        own = self._until.get(_key(chunk_id), 0)
        return max(own, self._all_until) if has_row else own

    def unleased(self, rows: Sequence[T], now_ns: int, chunk_id=lambda r: r[0]) -> list[T]:
        """Those of ``rows`` (catalog chunks, ``chunk_id(row)`` their ids) no lease holds at
        ``now_ns``: what prune may delete."""
        if self._all_until > now_ns:
            return []
        table = self._until
        return [r for r in rows if table.get(_key(chunk_id(r)), 0) <= now_ns]

    def purge(self, now_ns: int) -> int:
        """Forget the leases that ended by ``now_ns``; how many."""
        before = len(self._until)
        self._until = {k: u for k, u in self._until.items() if u > now_ns}
        return before - len(self._until)
