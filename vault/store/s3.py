"""S3 Object Lock chunk store: one object per blob in a versioned, Object-Lock-enabled bucket.

For when one machine is not enough (DESIGN.md §9, issue 17): Ceph RGW, Scality, MinIO, AWS.
The object store itself enforces immutability, not only vaultd:

* Every blob is written with per-object retention in the vault's mode (``[retention] mode``:
  GOVERNANCE or COMPLIANCE) until the end of the upload lease (``lease_hours``), the window
  in which the catalog also protects an uncommitted chunk. ``lock`` extends it when a
  snapshot references the chunk (lock extension by reference, ``vault.store.s3_records``)
  to the snapshot's retain-until; ``hold`` sets or clears object legal holds.
* Retention is sent with the single-part PUT. Blobs are at most the gRPC message size (16 MiB
  by default, 1 GiB at most), far below S3's 5 GiB single-part limit, so this store never
  uses multipart uploads, on which Ceph RGW 16 ignores the lock headers.
  ``check_bucket`` writes a probe object at start and reads its retention back.
* A delete removes every version of the blob's key; the object store refuses versions
  still locked or held (``BlobLocked``), whatever the catalog says.

Keys::

    chunks/<64 hex>          one blob, exactly the bytes the agent sent
    probe/<time>-<random>    start-up check that retention on PUT is honoured (1 day)

(``vault.store.s3_records`` adds ``snapshots/``, ``index/`` and ``audit/``.)

Times: the catalog's retain-until is on the vault's compliance clock; the object store
enforces on its own wall clock. ``wall_until`` converts, adding how far the compliance
clock lags the host's wall clock, so the object's lock never ends before the vault's.

Write-once: a put HEADs the key first and skips a present blob; puts of one id are
serialised in this process (one vaultd per bucket, like the filesystem store's root). Anyone
holding the bucket's keys can stack a newer version on a key; the locked original stays in
the bucket, and the vault's digest check on every read (and scrub) reports the substitute.

Errors: throttling (503 SlowDown), 5xx and connection failures are retried by botocore with
exponential backoff (``RETRIES`` attempts); then, and for every other failure, a
``StorageError`` names the bucket, the operation and the key. A missing key is ``NotFound``.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bulwark.vault.errors import BlobLocked, ConfigError, NotFound, StorageError, short_id
from bulwark.vault.store.base import ID_SIZE, ChunkStore, Item

log = logging.getLogger(__name__)

CHUNKS = "chunks/"
PROBE = "probe/"
PROBE_LOCK_NS = 3_600_000_000_000  # a start-up probe's lock: one hour, then removed
THREADS = 16  # requests in flight per batch; they wait on the network, not the GIL
RETRIES = 6  # attempts per request (botocore "standard" mode: backoff with jitter)
HOUR_NS = 3_600 * 1_000_000_000
DAY_NS = 24 * HOUR_NS
LOCK_MARGIN_NS = 2_000_000_000  # a lock ending sooner is not sent (whole seconds, clock skew)
MODES = {"governance": "GOVERNANCE", "compliance": "COMPLIANCE"}
_HEX = frozenset("0123456789abcdef")
_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchVersion")
_LOCKED = ("AccessDenied",)


@dataclass(frozen=True)
class S3Settings:
    """``[store] type = "s3"`` in vault.toml (validated by ``vault.config``).

    Credentials never live in vault.toml: ``credentials_file`` (TOML with
    ``access_key_id`` and ``secret_access_key``, mode 0600) or else the environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, boto3's default chain).
    """

    endpoint: str
    bucket: str
    region: str = "us-east-1"
    credentials_file: Path | None = None
    path_style: bool = True
    ca_bundle: Path | None = None
    lock_step_days: int = 1
    heartbeat_seconds: float = 10.0  # the owner object's heartbeat (vault.store.s3_owner)
    take_over: bool = False  # vaultd --take-over, never from vault.toml


def read_credentials(path: Path) -> tuple[str, str]:
    """``(access key id, secret access key)`` from a TOML credentials file.

    Raises ``ConfigError`` naming the file and the reason (missing, group- or
    world-readable, malformed)."""
    import tomllib

    try:
        mode = path.stat().st_mode
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read S3 credentials: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if mode & 0o077:
        raise ConfigError(f"{path}: S3 credentials must not be readable by group or others "
                          f"(mode {mode & 0o777:04o}); chmod 0600 {path}")
    values = []
    for key in ("access_key_id", "secret_access_key"):
        value = doc.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: {key}: required, a non-empty string")
        values.append(value)
    unknown = sorted(set(doc) - {"access_key_id", "secret_access_key"})
    if unknown:
        raise ConfigError(f"{path}: {', '.join(unknown)}: unknown key(s) "
                          "(known: access_key_id, secret_access_key)")
    return values[0], values[1]


def make_client(settings: S3Settings, threads: int = THREADS) -> Any:
    """A boto3 S3 client for ``settings`` (thread-safe; one per store)."""
    kwargs: dict[str, Any] = {}
    if settings.credentials_file is not None:
        access, secret = read_credentials(settings.credentials_file)
        kwargs.update(aws_access_key_id=access, aws_secret_access_key=secret)
    config = Config(
        region_name=settings.region,
        s3={"addressing_style": "path" if settings.path_style else "virtual"},
        retries={"max_attempts": RETRIES, "mode": "standard"},
        max_pool_connections=2 * threads,
        connect_timeout=5,
        read_timeout=60,
        # RGW 16 predates the CRC checksums botocore now sends by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    verify: Any = str(settings.ca_bundle) if settings.ca_bundle else None
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.endpoint, config=config, verify=verify, **kwargs)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(ns: int) -> datetime:
    """A retain-until for S3: whole seconds, rounded up (never a moment early)."""
    return datetime.fromtimestamp(-(-ns // 1_000_000_000), UTC)


class S3ChunkStore(ChunkStore):
    """Chunk store in ``settings.bucket``; checks the bucket at construction (``check``).

    ``mode`` is the vault's retention mode, ``put_lock_ns`` how long a new blob is locked
    before any snapshot references it (the upload lease; 0: not locked until referenced).
    ``clock`` is the compliance clock (``wall_until`` uses it); ``client`` replaces the
    boto3 client (tests). ``lock_step_ns``: chunk locks are rounded up to a multiple of it
    (``[store] lock_step_days``), trading up to one step of extra retention for one
    retention request per chunk per step instead of per snapshot.
    """

    def __init__(self, settings: S3Settings, mode: str = "governance",
                 put_lock_ns: int = 24 * HOUR_NS, clock: Any = None, client: Any = None,
                 check: bool = True, wall: Callable[[], int] = time.time_ns,
                 lock_step_ns: int = DAY_NS) -> None:
        if mode not in MODES:
            raise ValueError(f"retention mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.settings = settings
        self.bucket = settings.bucket
        self.mode = mode
        self.put_lock_ns = put_lock_ns
        self.lock_step_ns = lock_step_ns
        self.clock = clock
        self._wall = wall
        self.client = client if client is not None else make_client(settings)
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="s3")
        self._busy: set[bytes] = set()
        self._busy_cond = threading.Condition()
        self.requests = 0  # every request sent (bench: requests per GB stored)
        self.state_lock: int | None = None  # the local state folder's LOCK, closed with us
        self.probe_lock_ns = PROBE_LOCK_NS
        self.probes_removed = 0  # by the last check_bucket
        self.owner: Any = None  # the bucket's owner claim (vault.store.s3_owner), released too
        self._count_lock = threading.Lock()
        if check:
            self.check_bucket()

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, operation: str, key: str, **kwargs: Any) -> Any:
        """``client.<operation>(Bucket=…, Key=key, **kwargs)``; errors name bucket, op, key.

        A missing key raises ``NotFound``; ``ClientError`` codes in ``_LOCKED`` are re-raised
        as they are for the caller to interpret; everything else is ``StorageError``."""
        with self._count_lock:
            self.requests += 1
        args = {"Bucket": self.bucket, **({"Key": key} if key else {}), **kwargs}
        try:
            return getattr(self.client, operation)(**args)
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING:
                raise NotFound(f"s3://{self.bucket}/{key}: no such object") from None
            if code in _LOCKED:
                raise
            raise self._error(operation, key, f"{code or 'error'}: "
                              f"{exc.response.get('Error', {}).get('Message') or exc}") from None
        except BotoCoreError as exc:
            raise self._error(operation, key, str(exc)) from None

    def _error(self, operation: str, key: str, reason: str) -> StorageError:
        where = f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"
        return StorageError(f"{operation} {where} at {self.settings.endpoint}: {reason}")

    def _map(self, fn: Callable[[Any], Any], args: Iterable[Any]) -> list[Any]:
        """``[fn(a) for a in args]`` on the store's threads; waits for all, raises the first
        error (so nothing is still in flight when the caller reports)."""
        args = list(args)
        if len(args) <= 1:
            return [fn(a) for a in args]
        futures = [self._pool.submit(fn, a) for a in args]
        errors = [f.exception() for f in futures]
        for exc in errors:
            if exc is not None:
                raise exc
        return [f.result() for f in futures]

    @staticmethod
    def key_of(chunk_id: bytes) -> str:
        return CHUNKS + chunk_id.hex()

    def wall_until(self, until_ns: int) -> int:
        """A compliance-clock retain-until as a wall-clock time for the object store: later
        by the compliance clock's lag behind the wall clock, never earlier."""
        clock = self.clock or getattr(self.locks, "clock", None)  # vaultd: CatalogLocks
        lag = self._wall() - clock.now_ns() if clock is not None else 0
        return until_ns + max(0, lag)

    def in_future(self, wall_until_ns: int) -> bool:
        """Whether a lock until ``wall_until_ns`` still has something to protect: it ends
        more than ``LOCK_MARGIN_NS`` from now. S3 refuses a retain-until date that is not in
        the future (a snapshot kept 0 days, an upload lease of 0 hours), so such a lock is
        not sent; the object keeps whatever lock it already has."""
        return wall_until_ns > self._wall() + LOCK_MARGIN_NS

    def lock_args(self, wall_until_ns: int, hold: bool = False) -> dict[str, Any]:
        """PUT arguments: retention until ``wall_until_ns`` (none if ``in_future`` says it
        has passed), and the legal hold with ``hold``."""
        args: dict[str, Any] = {}
        if self.in_future(wall_until_ns):
            args = {"ObjectLockMode": MODES[self.mode],
                    "ObjectLockRetainUntilDate": _date(wall_until_ns)}
        if hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        return args

    # -- start-up -------------------------------------------------------------------------

    def check_bucket(self) -> None:
        """Refuse (``StorageError`` saying what to fix) unless the bucket exists with
        versioning and Object Lock enabled and honours retention sent with a PUT."""
        fix = (f"create it with Object Lock enabled (which enables versioning), e.g. "
               f"`aws s3api create-bucket --bucket {self.bucket} "
               f"--object-lock-enabled-for-bucket --endpoint-url {self.settings.endpoint}`")
        try:
            self._call("head_bucket", "")
        except NotFound:
            raise StorageError(f"s3://{self.bucket} at {self.settings.endpoint}: no such "
                               f"bucket; {fix}") from None
        except ClientError as exc:
            raise self._error("head_bucket", "", f"{_code(exc)}: the credentials may not use "
                              "this bucket; grant them s3:ListBucket and object access") from None
        versioning = self._call("get_bucket_versioning", "").get("Status")
        if versioning != "Enabled":
            raise StorageError(
                f"s3://{self.bucket}: versioning is {versioning or 'not enabled'}; Object Lock "
                f"needs it: {fix} (a bucket cannot gain Object Lock later on every store)")
        try:
            conf = self._call("get_object_lock_configuration", "")
            enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        except (NotFound, StorageError, ClientError):
            enabled = None
        if enabled != "Enabled":
            raise StorageError(f"s3://{self.bucket}: Object Lock is not enabled on the bucket; "
                               f"the vault needs the object store to enforce retention: {fix}")
        self._probe()

    def _probe(self) -> None:
        """Write a probe object locked for ``probe_lock_ns`` and read its retention back;
        then delete the probes of earlier starts whose lock has passed."""
        key = f"{PROBE}{self._wall():020d}-{secrets.token_hex(4)}"
        until = self._wall() + self.probe_lock_ns
        self._call("put_object", key, Body=b"bulwark lock probe\n", **self.lock_args(until))
        head = self._call("head_object", key)
        if head.get("ObjectLockMode") != MODES[self.mode] or not head.get(
                "ObjectLockRetainUntilDate"):
            raise StorageError(
                f"s3://{self.bucket}: the object store accepted a PUT with retention "
                f"({MODES[self.mode]}) but did not apply it (read back: "
                f"{head.get('ObjectLockMode')!r}); it does not enforce Object Lock")
        self.probes_removed = 0
        for old, _size in list(self.list_keys(PROBE)):
            written = old[len(PROBE):].split("-", 1)[0]
            if old == key or not written.isdigit() or \
                    int(written) + self.probe_lock_ns + LOCK_MARGIN_NS >= self._wall():
                continue
            try:
                self.delete_versions(old, f"probe {old}")
                self.probes_removed += 1
            except (BlobLocked, NotFound):  # a longer lock of an older version: later
                pass

    # -- ChunkStore ---------------------------------------------------------------------

    def _claim(self, chunk_id: bytes) -> None:
        with self._busy_cond:
            while chunk_id in self._busy:
                self._busy_cond.wait()
            self._busy.add(chunk_id)

    def _release(self, chunk_id: bytes) -> None:
        with self._busy_cond:
            self._busy.discard(chunk_id)
            self._busy_cond.notify_all()

    def _put_one(self, item: tuple[bytes, bytes]) -> bool:
        chunk_id, data = item
        self._claim(chunk_id)
        try:
            if self.has(chunk_id):
                return False
            lock = self.lock_args(self._wall() + self.put_lock_ns) if self.put_lock_ns else {}
            self._call("put_object", self.key_of(chunk_id), Body=bytes(data), **lock)
            return True
        except ClientError as exc:
            raise self._error("put_object", self.key_of(chunk_id), _code(exc)) from None
        finally:
            self._release(chunk_id)

    def _store_verified(self, items: Sequence[Item]) -> list[bool]:
        seen: set[bytes] = set()
        todo: list[tuple[int, bytes, bytes]] = []
        results = [False] * len(items)
        for i, (chunk_id, data, _digest) in enumerate(items):
            if chunk_id not in seen:
                seen.add(chunk_id)
                todo.append((i, chunk_id, data))
        stored = self._map(self._put_one, [(c, d) for _, c, d in todo])
        for (i, _, _), new in zip(todo, stored, strict=True):
            results[i] = new
        return results

    def get(self, chunk_id: bytes) -> bytes:
        try:
            body = self._call("get_object", self.key_of(chunk_id))["Body"]
            try:
                return body.read()
            finally:
                body.close()
        except NotFound:
            raise NotFound(f"chunk {short_id(chunk_id)}: not in the store") from None
        except ClientError as exc:
            raise self._error("get_object", self.key_of(chunk_id), _code(exc)) from None
        except BotoCoreError as exc:  # a body read that failed half-way
            raise self._error("get_object", self.key_of(chunk_id), str(exc)) from None

    def _head(self, chunk_id: bytes) -> dict[str, Any] | None:
        try:
            return self._call("head_object", self.key_of(chunk_id))
        except NotFound:
            return None
        except ClientError as exc:
            raise self._error("head_object", self.key_of(chunk_id), _code(exc)) from None

    def has(self, chunk_id: bytes) -> bool:
        return self._head(chunk_id) is not None

    def has_many(self, chunk_ids: Iterable[bytes]) -> set[bytes]:
        ids = list(set(chunk_ids))
        present = self._map(self.has, ids)
        return {c for c, p in zip(ids, present, strict=True) if p}

    def size(self, chunk_id: bytes) -> int:
        head = self._head(chunk_id)
        if head is None:
            raise NotFound(f"chunk {short_id(chunk_id)}: not in the store")
        return int(head["ContentLength"])

    def versions(self, key: str) -> list[tuple[str, bool]]:
        """``(version id, is delete marker)`` of every version of exactly ``key``."""
        found: list[tuple[str, bool]] = []
        marker: dict[str, str] = {}
        while True:
            page = self._call("list_object_versions", "", Prefix=key, **marker)
            for v in page.get("Versions", []):
                if v["Key"] == key:
                    found.append((v["VersionId"], False))
            for m in page.get("DeleteMarkers", []):
                if m["Key"] == key:
                    found.append((m["VersionId"], True))
            if not page.get("IsTruncated"):
                return found
            marker = {"KeyMarker": page["NextKeyMarker"],
                      "VersionIdMarker": page["NextVersionIdMarker"]}

    def delete_versions(self, key: str, what: str) -> None:
        """Permanently delete every version of ``key``: ``BlobLocked`` naming the lock if the
        object store refuses one (retention or legal hold), ``NotFound`` if none exists."""
        versions = self.versions(key)
        if not any(not marker for _, marker in versions):
            raise NotFound(f"{what}: not in the store")
        for version_id, _marker in sorted(versions, key=lambda v: not v[1]):
            try:
                self._call("delete_object", key, VersionId=version_id)
            except ClientError:
                raise BlobLocked(f"{what}: the object store refuses to delete it "
                                 f"({self._lock_state(key, version_id)})") from None

    def _lock_state(self, key: str, version_id: str) -> str:
        try:
            head = self._call("head_object", key, VersionId=version_id)
        except (NotFound, StorageError, ClientError):
            return "locked"
        parts = []
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            parts.append("legal hold")
        if head.get("ObjectLockRetainUntilDate"):
            until = head["ObjectLockRetainUntilDate"]
            parts.append(f"{str(head.get('ObjectLockMode', '')).lower()} retention until "
                         f"{until.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
        return ", ".join(parts) or "access denied"

    def _delete(self, chunk_id: bytes) -> None:
        self.delete_versions(self.key_of(chunk_id), f"chunk {short_id(chunk_id)}")

    def list_keys(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of the current (not deleted) objects under ``prefix``."""
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", "", Prefix=prefix, MaxKeys=1000, **token)
            for obj in page.get("Contents", []):
                yield obj["Key"], int(obj["Size"])
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def iter_ids(self) -> Iterator[bytes]:
        for key, _size in self.list_keys(CHUNKS):
            name = key[len(CHUNKS):]
            if len(name) == 2 * ID_SIZE and set(name) <= _HEX:
                yield bytes.fromhex(name)

    # -- retention in the object store --------------------------------------------------

    def extend(self, key: str, wall_until_ns: int) -> None:
        """Make ``key``'s retention last at least until ``wall_until_ns`` (never shorter:
        a store refusal to shorten is checked against the retention read back)."""
        retention = {"Mode": MODES[self.mode], "RetainUntilDate": _date(wall_until_ns)}
        try:
            self._call("put_object_retention", key, Retention=retention)
        except ClientError as exc:
            head = self._call("head_object", key)
            current = head.get("ObjectLockRetainUntilDate")
            if current is None or current.timestamp() * 1e9 < wall_until_ns - 1e9:
                raise self._error("put_object_retention", key,
                                  f"{_code(exc)}: cannot extend retention to "
                                  f"{_iso(wall_until_ns)}") from None

    def step_up(self, until_ns: int) -> int:
        """``until_ns`` rounded up to the next multiple of ``lock_step_ns`` (the lock a chunk
        gets, so that snapshots within one step extend each chunk once)."""
        step = self.lock_step_ns
        return -(-until_ns // step) * step if step > 1 else until_ns

    def lock(self, chunk_ids: Iterable[bytes], until_ns: int) -> None:
        """Lock every blob in ``chunk_ids`` at least until ``until_ns`` (compliance clock),
        rounded up by ``step_up``; nothing to do for a lock that has passed (``in_future``)."""
        wall = self.wall_until(self.step_up(until_ns))
        if not self.in_future(wall):
            return
        self._map(lambda c: self.extend(self.key_of(c), wall), chunk_ids)

    def set_hold(self, key: str, on: bool, version_id: str | None = None) -> None:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            self._call("put_object_legal_hold", key,
                       LegalHold={"Status": "ON" if on else "OFF"}, **extra)
        except ClientError as exc:
            raise self._error("put_object_legal_hold", key, _code(exc)) from None

    def hold(self, chunk_ids: Iterable[bytes], on: bool) -> None:
        """Set (or clear) the object legal hold of every blob in ``chunk_ids``."""
        self._map(lambda c: self.set_hold(self.key_of(c), on), chunk_ids)

    def close(self) -> None:
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.release()
        self._pool.shutdown(wait=True)
        lock, self.state_lock = self.state_lock, None
        if lock is not None:
            os.close(lock)  # drops the flock


def environment_has_credentials() -> bool:
    """Whether boto3's default chain can find keys in the environment."""
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"))
