"""Revoked client certificates: serials listed in vault.toml ``[tls] revoked`` and a CRL.

Both sources are re-read when their file changes (checked at most every
``RECHECK_SECONDS``), so a revocation takes effect on the revoked caller's next call
without restarting vaultd. A source that becomes unreadable or invalid keeps the last
good list and logs an error: a broken edit never un-revokes anyone.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from cryptography import x509

from bulwark.vault.config import TlsConfig, load_config
from bulwark.vault.errors import ConfigError

log = logging.getLogger(__name__)
RECHECK_SECONDS = 0.0  # a stat() per call is cheap; raise it if it ever shows up


def load_crl(path: Path, ca_path: Path) -> frozenset[int]:
    """Serials of a CRL (PEM or DER) whose signature the CA verifies; ConfigError otherwise."""
    try:
        data = path.read_bytes()
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: tls.crl: cannot read: {exc.strerror or exc}") from None
    try:
        crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----")
               else x509.load_der_x509_crl(data))
    except ValueError as exc:
        raise ConfigError(f"{path}: tls.crl: not a CRL: {exc}") from None
    if not crl.is_signature_valid(ca.public_key()):
        raise ConfigError(f"{path}: tls.crl: not signed by the CA {ca_path}")
    return frozenset(r.serial_number for r in crl)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat() if path else None
    except OSError:
        return None
    return None if st is None else (st.st_mtime_ns, st.st_size)


class Revocations:
    """``is_revoked(serial)`` for the interceptor; reloads its sources when they change."""

    def __init__(self, config_path: Path, tls: TlsConfig) -> None:
        self._config_path = config_path
        self._tls = tls
        self._lock = threading.Lock()
        self._config_serials = tls.revoked
        self._crl_serials = load_crl(tls.crl, tls.ca) if tls.crl else frozenset()
        self._stamps = (_stamp(config_path), _stamp(tls.crl))
        self._checked = time.monotonic()

    def is_revoked(self, serial: int) -> bool:
        self._refresh()
        return serial in self._config_serials or serial in self._crl_serials

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._checked < RECHECK_SECONDS:
                return
            self._checked = time.monotonic()
            config_stamp = _stamp(self._config_path)
            if config_stamp != self._stamps[0]:
                try:
                    tls = load_config(self._config_path).tls
                    if tls is not None:
                        self._config_serials = tls.revoked
                        self._tls = tls
                    self._stamps = (config_stamp, self._stamps[1])
                except ConfigError as exc:
                    log.error("revocations: keeping the last good list: %s", exc)
            crl = self._tls.crl
            crl_stamp = _stamp(crl)
            if crl is not None and crl_stamp != self._stamps[1]:
                try:
                    self._crl_serials = load_crl(crl, self._tls.ca)
                    self._stamps = (self._stamps[0], crl_stamp)
                except ConfigError as exc:
                    log.error("revocations: keeping the last good list: %s", exc)
