"""One vaultd per bucket, across hosts (issue 17): the owner object and its heartbeat.

The bucket is the source of truth, so two vaultds serving one bucket from two state folders
would each keep a catalog the other does not see and fork the audit chain (``audit/<seq>``).
The local ``state/LOCK`` only stops a second vaultd on the same folder; this stops one
anywhere.

``vaultd/owner`` (not locked: it is rewritten) holds JSON naming the holder::

    {"format": "bulwark-bucket-owner-v1", "instance": <32 hex, new per process>,
     "host": <hostname>, "state": <state folder>, "pid": <pid>,
     "heartbeat_seconds": <interval>, "written_ns": <holder's wall clock>,
     "released": <true once it stopped cleanly>}

* **Claim** (``BucketOwner.claim``, at start, before any other write, with the state
  folder's ``LOCK`` held): the newest version of ``vaultd/owner`` is read. If a vaultd on
  another host or state folder wrote it less than ``STALE_HEARTBEATS`` of *its* intervals
  ago (by the object store's ``LastModified`` against this host's clock) and did not
  release it, the start is refused, naming the holder, unless ``take_over``. Otherwise this instance
  PUTs its own version, lists the key's versions again and wins only if its version is the
  oldest of those written since the read (RGW 16 has no conditional PUT: two claimers that
  both saw a stale holder both PUT, and both then see the same order, so exactly one wins;
  the loser deletes its version and is refused, naming the winner). The winner deletes every
  other version of the key.
* **Heartbeat** (a thread, every ``heartbeat_seconds``): if the key's newest version is
  still this instance's, a new version replaces it (the old one is deleted, so the key keeps
  one version); if not, another vaultd took the bucket over: ``on_lost`` is called (vaultd
  stops, exit 1) and nothing more is written here.
* **Release** (``release``, at a clean stop): this instance's version is replaced by one
  marked ``"released": true``, so the next start need not wait for it to go stale.
* **Moving**: the holder names its state folder and host, so a vaultd that claims a bucket
  last served from another one knows its own catalog may be behind the bucket and rebuilds
  it first (``vault.store.s3_open.claim_bucket``).

What remains (docs/s3.md, "One vaultd per bucket"): a holder that pauses (SIGSTOP, a frozen
VM, a partition) for longer than the stale time and then resumes keeps serving until its
next heartbeat, up to one interval after a new vaultd took over; and a paused holder's
heartbeat that lands after a new claimer's check makes the claimer, not the old holder,
stop at its next heartbeat. Clocks of the hosts and the object store must agree to well
within the stale time (``STALE_HEARTBEATS`` intervals).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulwark.vault.errors import NotFound, StorageError
from bulwark.vault.store.s3 import S3ChunkStore

log = logging.getLogger(__name__)

OWNER = "vaultd/owner"
OWNER_FORMAT = "bulwark-bucket-owner-v1"
STALE_HEARTBEATS = 6  # a holder silent this many of its intervals is taken to be dead
HEARTBEAT_SECONDS = 10  # [store] heartbeat_seconds default


@dataclass(frozen=True)
class Holder:
    """A version of the owner object: who wrote it and when (the store's clock)."""

    version_id: str
    written_s: float  # LastModified, seconds since the epoch
    doc: dict[str, Any]

    @property
    def instance(self) -> str:
        return str(self.doc.get("instance", ""))

    def describe(self) -> str:
        d = self.doc
        return (f"vaultd {self.instance[:12]} on host {d.get('host', '?')} (state folder "
                f"{d.get('state', '?')}, pid {d.get('pid', '?')})")

    def age_s(self, now_s: float) -> float:
        return max(0.0, now_s - self.written_s)

    @property
    def released(self) -> bool:
        return bool(self.doc.get("released"))

    def served_from(self, state: Path) -> bool:
        """Whether this holder served the bucket from ``state`` on this host."""
        return (self.doc.get("state") == str(state)
                and self.doc.get("host") == socket.gethostname())

    def stale_after_s(self) -> float:
        return STALE_HEARTBEATS * float(self.doc.get("heartbeat_seconds", HEARTBEAT_SECONDS))


class BucketOwner:
    """This process's claim on ``store``'s bucket (module docstring)."""

    def __init__(self, store: S3ChunkStore, state: Path,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.state = Path(state)
        self.heartbeat_seconds = heartbeat_seconds
        self.instance = secrets.token_hex(16)
        self.version_id = ""
        self.took_over: Holder | None = None  # a fresh holder displaced with take_over
        self.lost = threading.Event()
        self._wall = wall
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the object -----------------------------------------------------------------------

    def _versions(self) -> list[tuple[str, float]]:
        """``(version id, LastModified s)`` of every version of the key, newest first."""
        reply = self.store._call("list_object_versions", "", Prefix=OWNER)
        versions = [(v["VersionId"], v["LastModified"].timestamp())
                    for v in reply.get("Versions", []) if v["Key"] == OWNER]
        return versions  # S3 lists a key's versions newest first

    def _read(self, version_id: str, written_s: float) -> Holder:
        reply = self.store._call("get_object", OWNER, VersionId=version_id)
        body = reply["Body"]
        try:
            doc = json.loads(body.read())
        except ValueError:
            doc = {}
        finally:
            body.close()
        return Holder(version_id, written_s, doc if isinstance(doc, dict) else {})

    def _put(self, released: bool = False) -> str:
        doc = {"format": OWNER_FORMAT, "instance": self.instance, "host": socket.gethostname(),
               "state": str(self.state), "pid": os.getpid(),
               "heartbeat_seconds": self.heartbeat_seconds, "written_ns": time.time_ns(),
               "released": released}
        reply = self.store._call("put_object", OWNER, Body=json.dumps(doc, sort_keys=True)
                                 .encode(), ContentType="application/json")
        return str(reply.get("VersionId", ""))

    def _delete(self, version_id: str) -> None:
        try:
            self.store._call("delete_object", OWNER, VersionId=version_id)
        except (NotFound, StorageError) as exc:
            log.info("owner object version %s not deleted: %s", version_id, exc)

    def _newest(self, versions: list[tuple[str, float]]) -> Holder | None:
        for version_id, written_s in versions:
            try:
                return self._read(version_id, written_s)
            except NotFound:  # deleted since the listing
                continue
        return None

    # -- claim, heartbeat, release --------------------------------------------------------

    def claim(self, take_over: bool = False) -> Holder | None:
        """Become the bucket's one vaultd, or ``StorageError`` naming the holder (module
        docstring, "Claim"). Returns the previous holder's version (``None`` for a bucket
        never served), so the caller can tell whether another state folder served it."""
        where = f"s3://{self.store.bucket}"
        before = self._versions()
        holder = self._newest(before)
        now = self._wall()
        # A holder on this host with this state folder is gone: the caller holds the
        # folder's LOCK, which that vaultd held until it died (a kill -9, then a restart).
        if holder is not None and not holder.released and not holder.served_from(self.state) \
                and holder.age_s(now) < holder.stale_after_s():
            if not take_over:
                raise StorageError(
                    f"{where} is served by {holder.describe()}, last heartbeat "
                    f"{holder.age_s(now):.0f} s ago: one vaultd per bucket. If that vaultd is "
                    f"gone, start this one after {holder.stale_after_s():.0f} s without a "
                    "heartbeat, or with --take-over (audited; the holder stops at its next "
                    "heartbeat)")
            self.took_over = holder
        seen = {version_id for version_id, _ in before}
        self.version_id = self._put()
        new = [v for v in self._versions() if v[0] not in seen]
        if self.took_over is not None:  # the displaced holder's heartbeats are not claims
            new = [v for v in new if v[0] == self.version_id
                   or self._read(*v).instance != self.took_over.instance]
        first = new[-1][0] if new else self.version_id  # oldest written since the read
        if first != self.version_id:
            winner = self._newest([v for v in new if v[0] == first])
            self._delete(self.version_id)
            raise StorageError(
                f"{where}: {winner.describe() if winner else 'another vaultd'} claimed the "
                "bucket at the same moment and was first; one vaultd per bucket")
        for version_id, _ in self._versions():
            if version_id != self.version_id:
                self._delete(version_id)
        if self.took_over is not None:
            log.warning("%s taken over from %s", where, self.took_over.describe())
        return holder

    def beat(self) -> bool:
        """One heartbeat; False (and ``lost`` set) if another vaultd holds the bucket now."""
        newest = self._versions()
        if not newest or newest[0][0] != self.version_id:
            holder = self._newest(newest)
            log.critical("s3://%s was taken over by %s: this vaultd stops", self.store.bucket,
                         holder.describe() if holder else "another vaultd (owner deleted)")
            self.lost.set()
            return False
        old, self.version_id = self.version_id, self._put()
        self._delete(old)
        return True

    def start(self, on_lost: Callable[[], None] | None = None) -> None:
        """Heartbeats on a daemon thread until ``release``; ``on_lost`` once if lost (by
        default SIGTERM to this process: vaultd stops as an operator's stop would, and exits
        1 because ``lost`` is set)."""
        if on_lost is None:
            def on_lost() -> None:
                os.kill(os.getpid(), signal.SIGTERM)

        def run() -> None:
            while not self._stop.wait(self.heartbeat_seconds):
                try:
                    if not self.beat():
                        on_lost()
                        return
                except (StorageError, NotFound) as exc:  # retried at the next beat
                    log.warning("owner heartbeat: %s", exc)

        self._thread = threading.Thread(target=run, name="s3-owner", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeats and replace this instance's version with a released one
        (unless it was lost): the next start need not wait, and sees who served last."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.version_id and not self.lost.is_set():
            old, self.version_id = self.version_id, self._put(released=True)
            self._delete(old)
