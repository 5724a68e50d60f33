"""Per-node quotas on what a caller brings into the vault (issue 15; ``[limits]`` keys in
``vault.ingest.limits``), enforced at PutChunks before a message's blobs are stored.

Two numbers per caller name (a node's certificate CN; the operator when it backs up):

* **stored**: the blob bytes of every chunk this caller put first that the vault still holds
  (``chunk_uploads``, written with the chunk's catalog row in one transaction; a chunk's
  row goes when prune deletes it). A chunk another node put first is not charged again:
  deduplicating against the fleet costs nothing.
* **uncommitted**: of those, the bytes no snapshot references yet. They stay until the
  caller commits a snapshot that references them, or until their upload lease
  (``[retention] lease_hours``) passes and prune reclaims them.

A message whose new bytes would take either number over its quota is refused whole with
``LimitExceeded`` (RESOURCE_EXHAUSTED) naming the quota, its key, the caller and the
numbers; nothing of it is stored.

Cost: the numbers are kept in memory per caller as upper bounds (they only grow between
reads: a commit or a prune only lowers them) and read exactly from the catalog (one indexed
pass over the caller's upload rows) when a caller is first seen and whenever the bound
would refuse, so a commit or a prune is never missed. ``charge`` is atomic per caller and
counts what concurrent streams charged but have not recorded yet, so two streams of one node
cannot both pass the last free byte.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bulwark.vault.errors import LimitExceeded
from bulwark.vault.ingest.limits import Limits

_USAGE = """
SELECT u.node, coalesce(sum(u.size), 0),
       coalesce(sum(CASE WHEN NOT EXISTS (SELECT 1 FROM snapshot_chunks sc
                                          WHERE sc.chunk_id = u.chunk_id)
                    THEN u.size ELSE 0 END), 0)
FROM chunk_uploads u {where} GROUP BY u.node ORDER BY u.node
"""


_WHAT = {"node_stored_bytes": "stored", "node_uncommitted_bytes": "of uncommitted uploads"}


@dataclass(frozen=True)
class NodeUsage:
    """What one caller holds against its quotas, in blob bytes."""

    node: str
    stored_bytes: int = 0
    uncommitted_bytes: int = 0


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class Quotas:
    """Quota checks over the catalog file at ``catalog_path`` (read through a read-only
    connection of its own; WAL readers never block the catalog's writers). Thread-safe."""

    def __init__(self, catalog_path: Path, limits: Limits) -> None:
        self.limits = limits
        self._path = Path(catalog_path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._bound: dict[str, list[int]] = {}  # node -> [stored, uncommitted], upper bounds
        self._pending: dict[str, int] = {}  # node -> bytes charged, not yet in the catalog

    @property
    def enabled(self) -> bool:
        return bool(self.limits.node_stored_bytes or self.limits.node_uncommitted_bytes)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def usage(self, node: str = "") -> list[NodeUsage]:
        """Exact usage of ``node`` (or of every caller that put a chunk), read now."""
        with self._lock:
            return self._read(node)

    def _read(self, node: str) -> list[NodeUsage]:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True,
                                       isolation_level=None, check_same_thread=False)
        where, args = ("WHERE u.node = ?", (node,)) if node else ("", ())
        rows = self._db.execute(_USAGE.format(where=where), args).fetchall()
        return [NodeUsage(*row) for row in rows]

    @contextmanager
    def charge(self, node: str, new_sizes: Sequence[int],
               method: str = "PutChunks") -> Iterator[int]:
        """Charge ``new_sizes`` (blob sizes of chunks the vault does not hold yet) to
        ``node`` for the ``with`` body, which stores and records them; yields their sum.
        ``LimitExceeded`` (nothing charged) if either quota would be exceeded. If the body
        raises, the charge is given back."""
        total = self._reserve(node, new_sizes, method)
        try:
            yield total
        except BaseException:
            self._settle(node, total, stored=False)
            raise
        self._settle(node, total, stored=True)

    def _reserve(self, node: str, new_sizes: Sequence[int], method: str) -> int:
        total = sum(new_sizes)
        if not self.enabled or not total:
            return 0
        with self._lock:
            bound = self._bound.get(node)
            if bound is None or self._over(bound, total):
                exact = self._read(node)
                held = [exact[0].stored_bytes, exact[0].uncommitted_bytes] if exact else [0, 0]
                pending = self._pending.get(node, 0)  # charged, not recorded yet
                bound = [held[0] + pending, held[1] + pending]
                self._bound[node] = bound
            problem = self._over(bound, total)
            if problem:
                key, quota, held_now = problem
                raise LimitExceeded(
                    f"{method}: node {node!r} holds {_size(held_now)} {_WHAT[key]}"
                    f" and this message adds {_size(total)}, over its quota of {_size(quota)}"
                    f" ([limits] {key}); "
                    + ("commit a snapshot, or wait until prune reclaims uploads past their "
                       "lease" if key == "node_uncommitted_bytes" else
                       "forget and prune snapshots, or raise the quota"))
            bound[0] += total
            bound[1] += total
            self._pending[node] = self._pending.get(node, 0) + total
        return total

    def _settle(self, node: str, total: int, stored: bool) -> None:
        if not total:
            return
        with self._lock:
            left = self._pending.get(node, 0) - total
            if left > 0:
                self._pending[node] = left
            else:
                self._pending.pop(node, None)
            bound = self._bound.get(node)
            if not stored and bound is not None:
                bound[0] = max(0, bound[0] - total)
                bound[1] = max(0, bound[1] - total)

    def _over(self, bound: list[int], total: int) -> tuple[str, int, int] | None:
        for key, held in (("node_stored_bytes", bound[0]),
                          ("node_uncommitted_bytes", bound[1])):
            quota = getattr(self.limits, key)
            if quota and held + total > quota:
                return key, quota, held
        return None
