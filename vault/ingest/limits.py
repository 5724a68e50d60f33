"""What one caller may hold of the vault at once, and how fast a node may commit (issue 15).

Below the gRPC edge (``vault.rpc.admission`` applies these to every call); nothing here
knows gRPC. Each refusal is a ``LimitExceeded`` (RESOURCE_EXHAUSTED) whose message names the
limit, its value and the ``[limits]`` key of vault.toml that sets it.

* **Calls per caller**: one certificate (one name) holds at most ``calls_per_caller`` calls
  at once. A backup holds two (FindMissing and one PutChunks stream), a restore up to five.
* **A reserve for operator and officer**: callers of every other role together hold at most
  ``workers - reserved_calls`` of the server's threads, so however many node, replica or
  drill certificates an attacker holds, ``vaultctl`` as the operator or officer still gets
  a thread (idle streams once starved every other call, issue 15 item 2).
* **Idle streams**: a stream that neither receives nor sends a message for
  ``idle_stream_seconds`` is cancelled (``vault.rpc.admission`` runs the reaper).
* **Snapshots per hour**: a node commits at most ``snapshots_per_hour`` snapshots in any
  sliding hour (a stolen certificate once committed 209 per second). Counted in memory: a
  restart forgets the window, which gives an attacker one more hour's worth, not more.
* **Quotas** (``vault.ingest.quota`` enforces them at PutChunks): the blob bytes one caller may
  have brought into the vault (``node_stored_bytes``) and, of them, the bytes no snapshot
  references yet (``node_uncommitted_bytes``: one node once stored 2.28 GB of never-committed
  garbage in 20 s). 0 turns a quota off.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bulwark.vault.caller import Caller
from bulwark.vault.errors import LimitExceeded

HOUR_NS = 3_600 * 1_000_000_000
PRIVILEGED = frozenset({"operator", "officer"})


@dataclass(frozen=True)
class Limits:
    """``[limits]`` in vault.toml (vault.config validates the ranges)."""

    workers: int = 32  # threads serving RPCs
    reserved_calls: int = 8  # of them, kept for the operator and officer roles
    calls_per_caller: int = 8
    idle_stream_seconds: int = 120
    snapshots_per_hour: int = 120  # per node; 0: no limit
    node_stored_bytes: int = 0  # blob bytes one caller first put, still held; 0: no quota
    node_uncommitted_bytes: int = 0  # of them, referenced by no snapshot yet; 0: no quota


class CallLimiter:
    """Counts the calls each caller holds; ``admit`` refuses the one over a limit. Thread-safe."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._per_caller: dict[str, int] = {}
        self._unprivileged = 0

    def holding(self, name: str) -> int:
        """How many calls ``name`` holds now."""
        with self._lock:
            return self._per_caller.get(name, 0)

    @contextmanager
    def admit(self, caller: Caller, method: str) -> Iterator[None]:
        """Hold one call slot of ``caller`` for the ``with`` body; ``LimitExceeded`` if the
        caller (or, for roles other than operator and officer, their share) is full."""
        limits = self._limits
        privileged = caller.role in PRIVILEGED
        with self._lock:
            held = self._per_caller.get(caller.name, 0)
            if held >= limits.calls_per_caller:
                raise LimitExceeded(
                    f"{method}: {caller} already holds {held} calls, at most "
                    f"{limits.calls_per_caller} at once ([limits] calls_per_caller); "
                    "retry when one ends"
                )
            share = limits.workers - limits.reserved_calls
            if not privileged and self._unprivileged >= share:
                raise LimitExceeded(
                    f"{method}: the vault is busy: callers of role node, replica and drill "
                    f"hold {self._unprivileged} of the {share} calls they may hold at once "
                    "([limits] workers - reserved_calls); retry with backoff"
                )
            self._per_caller[caller.name] = held + 1
            self._unprivileged += not privileged
        try:
            yield
        finally:
            with self._lock:
                left = self._per_caller[caller.name] - 1
                if left:
                    self._per_caller[caller.name] = left
                else:
                    del self._per_caller[caller.name]
                self._unprivileged -= not privileged


class CommitRate:
    """A sliding one-hour window of commit times per node. Thread-safe.

    Memory: at most ``snapshots_per_hour`` times per node that committed in the last hour.
    """

    def __init__(self, snapshots_per_hour: int) -> None:
        self._limit = snapshots_per_hour
        self._lock = threading.Lock()
        self._times: dict[str, deque[int]] = {}

    def admit(self, node: str, now_ns: int) -> None:
        """Count one commit of ``node`` at ``now_ns``, or raise ``LimitExceeded`` (and count
        nothing) if the node already committed ``snapshots_per_hour`` in the last hour."""
        if not self._limit:
            return
        with self._lock:
            times = self._times.setdefault(node, deque())
            while times and times[0] <= now_ns - HOUR_NS:
                times.popleft()
            if len(times) >= self._limit:
                wait_s = (times[0] + HOUR_NS - now_ns) // 1_000_000_000 + 1
                raise LimitExceeded(
                    f"CommitSnapshot: node {node!r} committed {len(times)} snapshots in the "
                    f"last hour, at most {self._limit} ([limits] snapshots_per_hour); the "
                    f"next commit is possible in {wait_s} s"
                )
            times.append(now_ns)
            for other in [n for n, t in self._times.items() if not t]:
                del self._times[other]

    def counts(self, now_ns: int) -> dict[str, int]:
        """How many commits each node made in the hour before ``now_ns`` (metrics)."""
        with self._lock:
            return {node: n for node, times in self._times.items()
                    if (n := sum(1 for t in times if t > now_ns - HOUR_NS))}


#: ``[limits]`` keys and their allowed ranges (vault.config reads the table through here).
RANGES = {
    "workers": (4, 1024),
    "reserved_calls": (1, 1023),
    "calls_per_caller": (1, 1024),
    "idle_stream_seconds": (1, 86_400),
    "snapshots_per_hour": (0, 1_000_000),
    "node_stored_bytes": (0, 1 << 60),
    "node_uncommitted_bytes": (0, 1 << 60),
}


def parse_limits(reader) -> Limits:
    """``[limits]`` from a vault.config reader (``get(table, key, type, default)`` and
    ``fail(key, reason)``); ``reserved_calls`` must leave other roles at least one thread."""
    d = Limits()
    values = {}
    for key, (low, high) in RANGES.items():
        values[key] = reader.get("limits", key, int, getattr(d, key))
        if not low <= values[key] <= high:
            raise reader.fail(f"limits.{key}",
                              f"must be between {low} and {high}, got {values[key]}")
    if values["reserved_calls"] >= values["workers"]:
        raise reader.fail("limits.reserved_calls", f"{values['reserved_calls']} leaves no "
                          f"thread of limits.workers ({values['workers']}) to other roles")
    return Limits(**values)
