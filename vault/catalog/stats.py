"""Storage statistics from the catalog, without keys: what the vault, a node or one snapshot
holds, and what deleting them would free (``bulwark.v1.Stats``, ``vaultctl stats``); and the
stored size of given chunks (``ls --long``).

For a scope (the vault, a node's snapshots, one snapshot): ``logical_bytes`` sums the
snapshots' file bytes; ``chunks``/``stored_bytes`` count each distinct referenced chunk once,
at its blob size (compressed and encrypted); ``unique_chunks``/``unique_bytes`` are those no
snapshot outside the scope references, so deleting the scope frees them once the locks allow
and prune runs. Deduplication and compression ratios need plaintext chunk sizes, which only
the manifest has: the client adds them (``agent.cli.stats_cmd``).

Reads through a read-only SQLite connection of its own (WAL: readers never block the
catalog's writers); each call is one read transaction, so its numbers are consistent.
Costs one pass over the scope's chunk references (SQLite, not Python memory).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bulwark.vault.catalog.db import BATCH
from bulwark.vault.errors import NotFound


@dataclass(frozen=True)
class Usage:
    scope: str
    snapshots: int = 0
    logical_bytes: int = 0
    chunks: int = 0
    stored_bytes: int = 0
    unique_chunks: int = 0
    unique_bytes: int = 0


# The scope's snapshots are put in a temporary table ``scope``; the rest follows from it.
_USAGE = """
WITH refs AS (SELECT DISTINCT sc.chunk_id FROM snapshot_chunks sc JOIN scope s
              ON s.id = sc.snapshot_id),
     only AS (SELECT chunk_id FROM refs r WHERE NOT EXISTS (
              SELECT 1 FROM snapshot_chunks o WHERE o.chunk_id = r.chunk_id
              AND o.snapshot_id NOT IN (SELECT id FROM scope)))
SELECT (SELECT count(*) FROM scope),
       (SELECT coalesce(sum(bytes), 0) FROM snapshots WHERE id IN (SELECT id FROM scope)),
       (SELECT count(*) FROM refs),
       (SELECT coalesce(sum(c.size), 0) FROM refs JOIN chunks c ON c.id = refs.chunk_id),
       (SELECT count(*) FROM only),
       (SELECT coalesce(sum(c.size), 0) FROM only JOIN chunks c ON c.id = only.chunk_id)
"""


class CatalogStats:
    """Statistics over the catalog file at ``path`` (opened read-only)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _usage(self, scope: str, select: str, args: tuple) -> Usage:
        db = self._db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS scope (id TEXT PRIMARY KEY)")
        db.execute("DELETE FROM scope")
        db.execute(f"INSERT INTO scope {select}", args)
        return Usage(scope, *db.execute(_USAGE).fetchone())

    def chunk_sizes(self, chunk_ids: Sequence[bytes]) -> list[int]:
        """The blob size of each of ``chunk_ids``, in order; 0 for a chunk not held. One
        indexed lookup per distinct id, in batches of ``BATCH``."""
        sizes: dict[bytes, int] = {}
        distinct = list(dict.fromkeys(chunk_ids))
        with self._lock:
            for i in range(0, len(distinct), BATCH):
                batch = distinct[i:i + BATCH]
                rows = self._db.execute(
                    f"SELECT id, size FROM chunks WHERE id IN ({','.join('?' * len(batch))})",
                    batch)
                sizes.update((bytes(cid), size) for cid, size in rows)
        return [sizes.get(bytes(c), 0) for c in chunk_ids]

    def node_activity(self) -> dict[str, tuple[int, int]]:
        """``{node: (snapshots held, newest commit time ns)}`` (``vaultctl keys list``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node, count(*), max(time_ns) FROM snapshots GROUP BY node").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def usage(self, snapshot_id: str = "", node: str = "") -> tuple[Usage | None,
                                                                     list[Usage], Usage | None]:
        """(vault, nodes, snapshot): the vault's usage unless ``node`` is given, each node's
        (or ``node``'s), and ``snapshot_id``'s if given. NotFound for an unknown node or
        snapshot id."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                names = [r[0] for r in self._db.execute(
                    "SELECT DISTINCT node FROM snapshots ORDER BY node")]
                if node and node not in names:
                    raise NotFound(f"no snapshots of node {node!r}")
                vault = None if node else self._usage("vault", "SELECT id FROM snapshots", ())
                nodes = [self._usage(f"node:{n}", "SELECT id FROM snapshots WHERE node = ?",
                                     (n,)) for n in ([node] if node else names)]
                snap = None
                if snapshot_id:
                    snap = self._usage(f"snapshot:{snapshot_id}",
                                       "SELECT id FROM snapshots WHERE id = ?", (snapshot_id,))
                    if not snap.snapshots:
                        raise NotFound(f"no snapshot {snapshot_id}")
                return vault, nodes, snap
            finally:
                self._db.execute("ROLLBACK")
