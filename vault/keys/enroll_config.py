"""``[enroll]`` in vault.toml: fleet enrollment and certificate renewal (docs/operations.md).

::

    [enroll]
    listen = "0.0.0.0:7444"          # the enrollment listener: TLS (the vault's certificate),
                                     # no client certificate asked, serves Enrollment/Join only
    ca_key = "pki/ca.key"            # the site CA key vaultd signs joining/renewing CSRs with
    ca_cert = "pki/ca.crt"           # optional; default [tls] ca
    tokens = "tokens.sqlite"         # optional; default <catalog dir>/tokens.sqlite
    cert_hours = 2160                # lifetime of the certificates vaultd signs (90 days)
    advertise = "vault.example:7443" # optional: the main address joined nodes write into
                                     # agent.toml; default: the host they joined at, main port

Without ``[enroll]`` vaultd opens no enrollment listener, never reads the CA key, and
refuses ``Fleet`` calls that need it (FAILED_PRECONDITION).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENROLL_KEYS = ("listen", "ca_key", "ca_cert", "tokens", "cert_hours", "advertise")
DEFAULT_CERT_HOURS = 90 * 24
MAX_CERT_HOURS = 825 * 24


@dataclass(frozen=True)
class EnrollConfig:
    host: str
    port: int
    ca_key: Path
    ca_cert: Path | None
    tokens: Path | None
    cert_hours: int = DEFAULT_CERT_HOURS
    advertise: str = ""

    @property
    def listen(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_enroll(r: Any, doc: dict[str, Any], parse_listen) -> EnrollConfig | None:
    """The ``[enroll]`` table read through vault.config's reader ``r`` (None if absent)."""
    table = doc.get("enroll")
    if table is None:
        return None
    for key in ("listen", "ca_key"):
        if key not in table:
            raise r.fail(f"enroll.{key}", "required when [enroll] is present")
    try:
        host, port = parse_listen(r.get("enroll", "listen", str, ""))
    except ValueError as exc:
        raise r.fail("enroll.listen", str(exc)) from None
    hours = r.get("enroll", "cert_hours", int, DEFAULT_CERT_HOURS)
    if not 1 <= hours <= MAX_CERT_HOURS:
        raise r.fail("enroll.cert_hours", f"must be between 1 and {MAX_CERT_HOURS}, got {hours}")
    advertise = r.get("enroll", "advertise", str, "")
    if advertise:
        try:
            parse_listen(advertise)
        except ValueError as exc:
            raise r.fail("enroll.advertise", str(exc)) from None
    return EnrollConfig(
        host=host, port=port, ca_key=r.path("enroll", "ca_key", ""),
        ca_cert=r.path("enroll", "ca_cert", "") if "ca_cert" in table else None,
        tokens=r.path("enroll", "tokens", "") if "tokens" in table else None,
        cert_hours=hours, advertise=advertise,
    )
