"""``vault.toml``: loading and validation. Every error names the file, the key and the reason.

::

    [server]
    listen = "127.0.0.1:7443"        # host:port ([v6]:port); port 0 picks a free port
    max_message_bytes = 16777216     # largest gRPC message either way (16 MiB)

    [store]
    path = "store"                   # relative paths resolve against this file's directory
                                     # (with type = "s3": the vault's local state folder)
    type = "fs"                      # or "s3": blobs and records in an Object Lock bucket
    endpoint = "https://s3.example:443"  # s3 only (docs/s3.md); http:// for loopback tests
    bucket = "bulwark"               # must exist with Object Lock (and so versioning) enabled
    region = "us-east-1"
    credentials_file = "s3.toml"     # access_key_id, secret_access_key (mode 0600); without
                                     # it, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
    path_style = true                # path-style addressing (false: virtual-hosted)
    ca_bundle = "pki/s3-ca.pem"      # optional CA bundle for the endpoint's TLS certificate
    lock_step_days = 1               # chunk locks rounded up to whole steps (docs/s3.md)

    [catalog]
    path = "catalog.sqlite"          # optional; default <store.path>/catalog.sqlite

    [tls]                            # mTLS; required unless server.insecure = true
    ca = "pki/ca.crt"                # CA that signs every client certificate
    cert = "pki/vault.crt"           # this vault's server certificate and key
    key = "pki/vault.key"
    revoked = ["4f3a..."]            # revoked client certificate serials (hex); re-read on change
    crl = "pki/crl.pem"              # optional CRL signed by the CA (PEM or DER); re-read on change

    [keys]
    enroll_file = "pki/nodes.toml"   # optional: node = "<base64 Ed25519 key>" lines enrolled
                                     # at start and whenever the file changes
    registry = "keys.sqlite"         # optional; default <catalog dir>/keys.sqlite

    [airgap]                         # optional: an air-gap vault (vault.airgap.config,
                                     # docs/airgap.md)

    [[forget]]                       # optional, repeatable: a forget policy vaultd applies
    name = "nightly"                 # on a schedule (vault.worm.forget_jobs documents the keys,
    schedule = "30 3 * * *"          # and how forget and prune relate)
    keep_daily = 7

    [retention]                      # WORM retention (docs/worm.md)
    mode = "governance"              # or "compliance": nobody may shorten or delete early
    default_days = 30                # retain-until = vault commit time + this
    minimum_days = 1                 # a node's request is never allowed below this
    maximum_days = 0                 # 0: no maximum; else larger requests are refused
    lease_hours = 24                 # chunks reported present stay safe from prune this long

    [limits]                         # hostile callers (vault.ingest.limits, docs/threat-model.md)
    workers = 32                     # threads serving calls
    reserved_calls = 8               # of them, only for the operator and officer roles
    calls_per_caller = 8             # calls one certificate holds at once
    idle_stream_seconds = 120        # a stream moving no message this long is cancelled
    snapshots_per_hour = 120         # commits per node in any hour; 0: no limit
    node_stored_bytes = 0            # blob bytes one node put first and the vault holds
    node_uncommitted_bytes = 0       # of them, referenced by no snapshot yet (vault.ingest.quota);
                                     # 0: no quota

    [signals]                        # ransomware marks (vault.worm.signals documents the keys)
    threshold = 0.025                # a scoring measure at or above this share: suspicious

    [audit]                          # room the audit log keeps for a full disk
    reserve_bytes = 8388608          # 0: none (vault.audit.reserve)
    reserve_retry_seconds = 60       # after the reserve is used, how often to take it back

``[server] insecure = true`` serves plaintext gRPC without identities (every caller is
``vault.rpc.identity.INSECURE_CALLER``); vaultd logs a WARNING about it at every start.

Every table and key is optional; unknown tables or keys are errors.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulwark.protos.contract import DEFAULT_MAX_MESSAGE_BYTES
from bulwark.vault.airgap.config import KEYS as AIRGAP_KEYS
from bulwark.vault.airgap.config import AirgapConfig, parse_airgap
from bulwark.vault.airgap.schedule import check as check_cron
from bulwark.vault.audit.reserve import KEYS as RESERVE_KEYS
from bulwark.vault.audit.reserve import ReserveSettings, parse_reserve
from bulwark.vault.errors import ConfigError
from bulwark.vault.ingest.limits import RANGES as LIMIT_RANGES
from bulwark.vault.ingest.limits import Limits, parse_limits
from bulwark.vault.keys.enroll_config import ENROLL_KEYS, EnrollConfig, parse_enroll
from bulwark.vault.store.s3 import S3Settings, environment_has_credentials
from bulwark.vault.worm.forget_jobs import ForgetJob, parse_forget_jobs
from bulwark.vault.worm.retention import MAX_DAYS, MODES, RetentionPolicy
from bulwark.vault.worm.signals import KEYS as SIGNAL_KEYS
from bulwark.vault.worm.signals import SignalPolicy, parse_signals

MiB = 1 << 20
DEFAULT_LISTEN = "127.0.0.1:7443"
MIN_MESSAGE_BYTES = 1 * MiB
MAX_MESSAGE_BYTES = 1024 * MiB

_KEYS = {
    "server": {"listen", "max_message_bytes"},
    "store": {"path", "type", "endpoint", "bucket", "region", "credentials_file",
              "path_style", "ca_bundle", "lock_step_days", "heartbeat_seconds"},
    "catalog": {"path"},
    "tls": {"ca", "cert", "key", "revoked", "crl"},
    "keys": {"enroll_file", "registry"},
    "retention": {"mode", "default_days", "minimum_days", "maximum_days", "lease_hours"},
}
_SERVER_INSECURE = "insecure"
_KEYS["server"] = _KEYS["server"] | {_SERVER_INSECURE}
_KEYS["enroll"] = set(ENROLL_KEYS)  # vault.keys.enroll_config documents them
_KEYS["server"] = _KEYS["server"] | {"metrics"}  # vault.monitor: certificate expiry
_KEYS["airgap"] = set(AIRGAP_KEYS)  # vault.airgap.config validates the values
_ARRAYS = {"forget"}  # arrays of tables, checked by their own parsers (vault.worm.forget_jobs)
_KEYS["limits"] = set(LIMIT_RANGES)  # vault.ingest.limits: calls, idle streams, commits/hour
_KEYS["signals"] = set(SIGNAL_KEYS)  # vault.worm.signals: ransomware marks
_KEYS["audit"] = set(RESERVE_KEYS)  # vault.audit.reserve: space kept for a full disk


@dataclass(frozen=True)
class TlsConfig:
    """Server-side mTLS material; ``revoked`` holds serial numbers."""

    ca: Path
    cert: Path
    key: Path
    revoked: frozenset[int] = frozenset()
    crl: Path | None = None


@dataclass(frozen=True)
class VaultConfig:
    source: Path
    host: str
    port: int
    max_message_bytes: int
    store_path: Path
    catalog_path: Path
    tls: TlsConfig | None = None  # None only with insecure = true
    insecure: bool = False
    enroll_file: Path | None = None
    registry_path: Path | None = None
    retention: RetentionPolicy = RetentionPolicy()  # noqa: RUF009 - frozen, immutable
    enroll: EnrollConfig | None = None  # [enroll]: joins and renewals (vault.keys.enroll_config)
    metrics: tuple[str, int] | None = None  # [server] metrics = "HOST:PORT" (vault.monitor)
    airgap: AirgapConfig | None = None  # [airgap]: this vault pulls from a primary
    forget: tuple[ForgetJob, ...] = ()  # [[forget]]: scheduled policies (vault.worm.forget_jobs)
    s3: S3Settings | None = None  # [store] type = "s3"; None: the filesystem store
    limits: Limits = Limits()  # noqa: RUF009 - [limits] (vault.ingest.limits), frozen
    signals: SignalPolicy = SignalPolicy()  # noqa: RUF009 - [signals] (vault.worm.signals)
    audit_reserve: ReserveSettings = ReserveSettings()  # noqa: RUF009 - [audit], frozen

    @property
    def listen(self) -> str:
        """``host:port`` as gRPC wants it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class _Reader:
    def __init__(self, source: Path, doc: dict[str, Any]) -> None:
        self.source = source
        self.doc = doc

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {reason}")

    def check_unknown(self) -> None:
        store = self.doc.get("store", {})  # not a table: refused below, by name (issue 15)
        leaked = sorted(set(store) & set(_SECRETS)) if isinstance(store, dict) else []
        if leaked:
            raise self.fail(f"store.{leaked[0]}", "S3 credentials never go in vault.toml: put "
                            "them in store.credentials_file (mode 0600) or the environment "
                            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
        for table, value in self.doc.items():
            if table in _ARRAYS:
                continue
            if table not in _KEYS:
                known = ", ".join(sorted(_KEYS.keys() | _ARRAYS))
                raise self.fail(table, f"unknown table (known: {known})")
            if not isinstance(value, dict):
                raise self.fail(table, "must be a table, e.g. [" + table + "]")
            unknown = sorted(set(value) - _KEYS[table])
            if unknown:
                names = ", ".join(f"{table}.{k}" for k in unknown)
                raise self.fail(names, f"unknown key(s) (known: {', '.join(sorted(_KEYS[table]))})")

    def get(self, table: str, key: str, kind: type, default: Any) -> Any:
        value = self.doc.get(table, {}).get(key, default)
        # bool is an int in Python; TOML true is never a valid size.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            noun = {str: "a string", int: "an integer"}[kind]
            raise self.fail(f"{table}.{key}", f"must be {noun}, got {value!r}")
        return value

    def path(self, table: str, key: str, default: str) -> Path:
        value = self.get(table, key, str, default)
        if not value.strip():
            raise self.fail(f"{table}.{key}", "must not be empty")
        try:
            p = Path(value).expanduser()
        except RuntimeError:  # "~name" for a user this host does not know
            raise self.fail(f"{table}.{key}", f"{value!r} names a home folder this host "
                            "does not know") from None
        return p if p.is_absolute() else self.source.parent / p


def parse_listen(value: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port``; raises ``ValueError`` with the reason."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"IPv6 addresses go in brackets, e.g. [::1]:7443, got {value!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port must be 0..65535, got {port!r}")
    return host, int(port)


def load_config(path: Path) -> VaultConfig:
    """Read and validate ``path``. Raises ``ConfigError`` naming the file, key and reason."""
    source = Path(path).absolute()
    try:
        with open(source, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8 (issue 15)
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    r = _Reader(source, doc)
    r.check_unknown()

    listen = r.get("server", "listen", str, DEFAULT_LISTEN)
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise r.fail("server.listen", str(exc)) from None

    max_bytes = r.get("server", "max_message_bytes", int, DEFAULT_MAX_MESSAGE_BYTES)
    if not MIN_MESSAGE_BYTES <= max_bytes <= MAX_MESSAGE_BYTES:
        raise r.fail(
            "server.max_message_bytes",
            f"must be between {MIN_MESSAGE_BYTES} (1 MiB) and {MAX_MESSAGE_BYTES} (1 GiB), "
            f"got {max_bytes}",
        )

    store_path = r.path("store", "path", "store")
    if "path" in doc.get("catalog", {}):
        catalog_path = r.path("catalog", "path", "")
    else:
        catalog_path = store_path / "catalog.sqlite"
    insecure, tls, enroll_file, registry = _security(r, doc)
    return VaultConfig(
        source, host, port, max_bytes, store_path, catalog_path, tls=tls, insecure=insecure,
        airgap=parse_airgap(source, doc["airgap"], check_cron) if "airgap" in doc else None,
        forget=parse_forget_jobs(source, doc["forget"]) if "forget" in doc else (),
        enroll_file=enroll_file, registry_path=registry or catalog_path.parent / "keys.sqlite",
        retention=_retention(r), enroll=parse_enroll(r, doc, parse_listen),
        metrics=_metrics(r), s3=_s3(r, doc), limits=parse_limits(r),
        signals=parse_signals(r), audit_reserve=parse_reserve(r),
    )


_S3_ONLY = ("endpoint", "bucket", "region", "credentials_file", "path_style", "ca_bundle",
            "lock_step_days", "heartbeat_seconds")
_SECRETS = ("access_key", "secret_key", "access_key_id", "secret_access_key", "secret")


def _s3(r: _Reader, doc: dict[str, Any]) -> S3Settings | None:
    """``[store] type = "s3"``: endpoint and bucket required; credentials never here."""
    table = doc.get("store", {})
    kind = r.get("store", "type", str, "fs")
    if kind not in ("fs", "s3"):
        raise r.fail("store.type", f'must be "fs" or "s3", got {kind!r}')
    if kind == "fs":
        extra = [k for k in _S3_ONLY if k in table]
        if extra:
            raise r.fail(f"store.{extra[0]}", 'applies only with store.type = "s3"')
        return None
    for key in ("endpoint", "bucket"):
        if key not in table:
            raise r.fail(f"store.{key}", 'required with store.type = "s3"')
    endpoint = r.get("store", "endpoint", str, "")
    if not endpoint.startswith(("https://", "http://")) or endpoint[-3:] == "://":
        raise r.fail("store.endpoint", f"must be an http:// or https:// URL, got {endpoint!r}")
    bucket = r.get("store", "bucket", str, "")
    if not 3 <= len(bucket) <= 63 or not all(c.islower() or c.isdigit() or c in ".-"
                                              for c in bucket):
        raise r.fail("store.bucket", "must be an S3 bucket name: 3-63 characters, lowercase "
                     f"letters, digits, dots and hyphens, got {bucket!r}")
    path_style = table.get("path_style", True)
    if not isinstance(path_style, bool):
        raise r.fail("store.path_style", f"must be true or false, got {path_style!r}")
    step = r.get("store", "lock_step_days", int, 1)
    if not 0 <= step <= 365:
        raise r.fail("store.lock_step_days", f"must be between 0 and 365, got {step}")
    beat = table.get("heartbeat_seconds", 10)
    if isinstance(beat, bool) or not isinstance(beat, int | float) or not 0.5 <= beat <= 600:
        raise r.fail("store.heartbeat_seconds", f"must be between 0.5 and 600, got {beat!r}")
    creds = r.path("store", "credentials_file", "") if "credentials_file" in table else None
    if creds is not None and not creds.is_file():
        raise r.fail("store.credentials_file", f"{creds}: no such file (it holds "
                     "access_key_id and secret_access_key, mode 0600)")
    if creds is None and not environment_has_credentials():
        raise r.fail("store.credentials_file", "not set, and AWS_ACCESS_KEY_ID / "
                     "AWS_SECRET_ACCESS_KEY are not in the environment: give one of them")
    ca = r.path("store", "ca_bundle", "") if "ca_bundle" in table else None
    if ca is not None and not ca.is_file():
        raise r.fail("store.ca_bundle", f"{ca}: no such file")
    return S3Settings(endpoint=endpoint, bucket=bucket,
                      region=r.get("store", "region", str, "us-east-1"),
                      credentials_file=creds, path_style=path_style, ca_bundle=ca,
                      lock_step_days=step, heartbeat_seconds=float(beat))


def _retention(r: _Reader) -> RetentionPolicy:
    """``[retention]``: 0 <= minimum_days <= default_days <= maximum_days (if set)."""
    d = RetentionPolicy()
    mode = r.get("retention", "mode", str, d.mode)
    if mode not in MODES:
        raise r.fail("retention.mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    values = {}
    for key, default in (("default_days", d.default_days), ("minimum_days", d.minimum_days),
                         ("maximum_days", d.maximum_days), ("lease_hours", d.lease_hours)):
        values[key] = r.get("retention", key, int, default)
        limit = MAX_DAYS if key.endswith("days") else 24 * 365
        if not 0 <= values[key] <= limit:
            raise r.fail(f"retention.{key}", f"must be between 0 and {limit}, got {values[key]}")
    if values["minimum_days"] > values["default_days"]:
        raise r.fail("retention.minimum_days", f"{values['minimum_days']} exceeds "
                     f"retention.default_days ({values['default_days']})")
    if values["maximum_days"] and values["maximum_days"] < values["default_days"]:
        raise r.fail("retention.maximum_days", f"{values['maximum_days']} is below "
                     f"retention.default_days ({values['default_days']})")
    return RetentionPolicy(mode=mode, **values)


def _metrics(r: _Reader) -> tuple[str, int] | None:
    value = r.get("server", "metrics", str, "")
    try:
        return parse_listen(value) if value else None
    except ValueError as exc:
        raise r.fail("server.metrics", str(exc)) from None


def parse_serials(r: _Reader, value: Any) -> frozenset[int]:
    """``tls.revoked``: a list of hex serial numbers (TOML integers cannot hold 160 bits)."""
    if not isinstance(value, list):
        raise r.fail("tls.revoked", f"must be a list of hex strings, got {value!r}")
    serials = set()
    for item in value:
        try:
            serials.add(int(str(item).replace(":", ""), 16))
        except ValueError:
            raise r.fail("tls.revoked", f"{item!r} is not a hex serial number") from None
    return frozenset(serials)


def _security(r: _Reader, doc: dict[str, Any]) -> tuple[bool, TlsConfig | None, Any, Any]:
    insecure = doc.get("server", {}).get(_SERVER_INSECURE, False)
    if not isinstance(insecure, bool):
        raise r.fail("server.insecure", f"must be true or false, got {insecure!r}")
    tls_doc = doc.get("tls", {})
    tls = None
    if tls_doc or not insecure:
        for key in ("ca", "cert", "key"):
            if key not in tls_doc:
                raise r.fail(f"tls.{key}", "required (mTLS), unless [server] insecure = true")
        tls = TlsConfig(
            ca=r.path("tls", "ca", ""), cert=r.path("tls", "cert", ""),
            key=r.path("tls", "key", ""),
            revoked=parse_serials(r, tls_doc.get("revoked", [])),
            crl=r.path("tls", "crl", "") if "crl" in tls_doc else None,
        )
    keys = doc.get("keys", {})
    enroll = r.path("keys", "enroll_file", "") if "enroll_file" in keys else None
    registry = r.path("keys", "registry", "") if "registry" in keys else None
    return insecure, tls, enroll, registry
