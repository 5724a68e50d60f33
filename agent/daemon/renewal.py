"""The daemon renews its own certificate before it expires (issue 16, "Renewal").

Once at start and then every ``[daemon] renew_every`` seconds, :meth:`Renewer.check` reads
the certificate ``[tls] cert`` names, publishes when it expires
(``bulwark_agent_certificate_expiry_timestamp_seconds``), and, when less than ``[daemon]
renew_share`` of its life is left (``agent.site.enroll.renewal_due``), renews it through
``Fleet.Renew`` with a key made here (``agent.site.enroll.renew`` replaces key and
certificate, each by rename). Then ``on_renewed`` runs: the daemon opens a new channel,
because a gRPC channel keeps the credentials it was made with.

A renewal that fails (vault unreachable, vault without ``[enroll]``, certificate revoked,
``pki/`` not writable) is an ERROR line and ``bulwark_agent_certificate_renew_failures_total``,
and is tried again at the next check; backups go on with the current certificate while it
is valid. An expired certificate cannot renew itself (``Fleet.Renew`` authenticates with it):
the log says so, when it expired, and how to get a new one.

Time is a dependency (``clock.now_ns()``), so the rule is tested without waiting; the
certificates themselves are dated by the vault's wall clock, which TLS checks.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509

from bulwark.agent.client.channel import channel_for
from bulwark.agent.client.enroll import FleetClient
from bulwark.agent.daemon.metrics import Metrics
from bulwark.agent.errors import AgentError
from bulwark.agent.site.config import AgentConfig
from bulwark.agent.site.enroll import renew, renewal_due

log = logging.getLogger("vault-agent")


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    """The system's wall clock (certificates are dated in wall time)."""

    def now_ns(self) -> int:
        return time.time_ns()


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Renewer:
    """Checks, and when due renews, the certificate of ``config``'s ``[tls]``."""

    config: AgentConfig
    share: float
    metrics: Metrics
    on_renewed: Callable[[], None]
    clock: Clock = field(default_factory=WallClock)

    def check(self) -> bool:
        """Renew the certificate if it is due; whether it was renewed. Never raises for a
        renewal that fails: it is logged, counted and tried again at the next check."""
        tls = self.config.tls
        if tls is None:
            return False  # [vault] insecure = true: no certificate to renew
        now = dt.datetime.fromtimestamp(self.clock.now_ns() / 1e9, dt.UTC)
        try:
            end = x509.load_pem_x509_certificate(tls.cert.read_bytes()).not_valid_after_utc
            due = renewal_due(tls.cert, self.share, now)
        except (OSError, ValueError) as exc:
            self.metrics.cert_renew_failures.inc()
            log.error("certificate %s: cannot read it: %s", tls.cert, exc)
            return False
        self.metrics.cert_expiry.set(end.timestamp())
        if not due:
            return False
        if now >= end:
            self.metrics.cert_renew_failures.inc()
            log.error("certificate %s expired at %s and cannot renew itself: join again with "
                      "a new token (vault-agent enroll) or have an operator issue a new one",
                      tls.cert, _iso(end))
            return False
        try:
            fleet = FleetClient(channel_for(self.config), self.config.vault_address)
            try:
                reply = renew(tls.cert, tls.key, fleet)
            finally:
                fleet.close()
        except (AgentError, OSError) as exc:
            self.metrics.cert_renew_failures.inc()
            log.error("certificate %s: renewal due (expires %s) FAILED: %s; tried again at "
                      "the next check", tls.cert, _iso(end), exc)
            return False
        self.metrics.cert_renewals.inc()
        self.metrics.cert_expiry.set(reply.not_after_s)
        log.info("certificate %s renewed: serial %s, valid until %s (was %s)", tls.cert,
                 reply.serial_hex, _iso(dt.datetime.fromtimestamp(reply.not_after_s, dt.UTC)),
                 _iso(end))
        self.on_renewed()
        return True
