"""WORM retention rules (docs/worm.md), as pure functions over an injected "now".

Coarse access control (which role may call which RPC) is ``vault.rpc.authz``'s table; the rules
here depend on the snapshot's state and the request, and each refusal is its own exception
whose message names the rule:

* commit: retain-until = vault time + max(default_days, minimum_days, requested days);
  a request above ``maximum_days`` is refused. Client timestamps are never used.
* extend: always allowed to the operator and the officer.
* shorten: compliance mode never; governance mode only the officer with ``bypass``.
* delete before retain-until: compliance mode never; governance mode only the officer with
  ``bypass``. A legal hold blocks every delete, whatever the mode or retain-until.
* legal hold set/clear: the officer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bulwark.vault.caller import Caller
from bulwark.vault.errors import (
    HeldByLegalHold,
    InvalidRequest,
    RetentionLocked,
    RoleRefused,
    short_id,
)

GOVERNANCE = "governance"
COMPLIANCE = "compliance"
MODES = (GOVERNANCE, COMPLIANCE)
OFFICER = "officer"
EXTENDERS = ("operator", OFFICER)
DAY_NS = 86_400 * 1_000_000_000
MAX_DAYS = 36_500  # 100 years: the largest retention vault.toml or a request may name


@dataclass(frozen=True)
class RetentionPolicy:
    """``[retention]`` in vault.toml. ``maximum_days`` 0 means no maximum."""

    mode: str = GOVERNANCE
    default_days: int = 30
    minimum_days: int = 1
    maximum_days: int = 0
    lease_hours: int = 24  # how long a chunk reported present stays protected from prune

    @property
    def lease_ns(self) -> int:
        """``lease_hours`` in nanoseconds (vault.ingest.leases)."""
        return self.lease_hours * 3_600_000_000_000


@dataclass(frozen=True)
class Retention:
    """A snapshot's retention state (times on the compliance clock)."""

    mode: str
    retain_until_ns: int
    legal_hold: bool = False
    hold_reason: str = ""


def date(ns: int) -> str:
    """A compliance-clock time for messages: ``2027-03-01T12:00:00Z``."""
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def retention_at_commit(policy: RetentionPolicy, now_ns: int, requested_days: int) -> Retention:
    """The retention the vault gives a snapshot it commits at ``now_ns``.

    A node may ask for more than the default, never for less than the policy (a smaller
    request is raised to it); above ``maximum_days`` the commit is refused.
    """
    if policy.maximum_days and requested_days > policy.maximum_days:
        raise InvalidRequest(
            f"SnapshotHeader.requested_retention_days: {requested_days} exceeds this vault's "
            f"retention.maximum_days ({policy.maximum_days})"
        )
    if requested_days > MAX_DAYS:
        raise InvalidRequest(
            f"SnapshotHeader.requested_retention_days: {requested_days} exceeds {MAX_DAYS}"
        )
    days = max(policy.default_days, policy.minimum_days, requested_days)
    return Retention(policy.mode, now_ns + days * DAY_NS)


def check_set_retention(
    snapshot: str, current: Retention, until_ns: int, caller: Caller, bypass: bool
) -> str:
    """Whether ``caller`` may move retain-until to ``until_ns``: ``"extend"`` or
    ``"shorten"``, or the exception naming the rule that refuses."""
    sid = short_id(snapshot, 12)
    if until_ns >= current.retain_until_ns:
        if caller.role not in EXTENDERS:
            raise RoleRefused(
                f"snapshot {sid}: extending retention needs the operator or officer role, "
                f"not {caller.role!r}"
            )
        return "extend"
    if current.mode == COMPLIANCE:
        raise RetentionLocked(
            f"snapshot {sid} is locked in compliance mode until {date(current.retain_until_ns)}; "
            "its retention can be extended, never shortened, by anyone"
        )
    _governance_bypass(sid, current, caller, bypass, "shorten its retention")
    return "shorten"


def check_delete(
    snapshot: str, current: Retention, now_ns: int, caller: Caller, bypass: bool
) -> str:
    """Whether ``caller`` may delete the snapshot now: ``"expired"`` or ``"bypass"``."""
    sid = short_id(snapshot, 12)
    if current.legal_hold:
        why = f" ({current.hold_reason})" if current.hold_reason else ""
        raise HeldByLegalHold(
            f"snapshot {sid} is under legal hold{why}; nobody can delete it until the "
            "security officer clears the hold"
        )
    if now_ns >= current.retain_until_ns:
        return "expired"
    if current.mode == COMPLIANCE:
        raise RetentionLocked(
            f"snapshot {sid} is locked in compliance mode until {date(current.retain_until_ns)}; "
            "nobody can delete it before then"
        )
    _governance_bypass(sid, current, caller, bypass, "delete it")
    return "bypass"


def _governance_bypass(
    sid: str, current: Retention, caller: Caller, bypass: bool, what: str
) -> None:
    rule = (
        f"snapshot {sid} is locked in governance mode until {date(current.retain_until_ns)}; "
        f"only the security officer with --bypass-governance may {what} earlier"
    )
    if caller.role != OFFICER:
        raise RoleRefused(f"{rule} (caller {caller.name!r} has role {caller.role!r})")
    if not bypass:
        raise RetentionLocked(f"{rule} (the bypass flag was not given)")


def check_hold(snapshot: str, caller: Caller, hold: bool, reason: str) -> None:
    """Legal holds are set and cleared by the security officer only, with a reason to set."""
    verb = "set" if hold else "clear"
    if caller.role != OFFICER:
        raise RoleRefused(
            f"snapshot {short_id(snapshot, 12)}: legal holds are set and cleared only by the "
            f"security officer; caller {caller.name!r} has role {caller.role!r}"
        )
    if hold and not reason.strip():
        raise InvalidRequest(f"legal hold {verb}: a reason is required (--reason TEXT)")
