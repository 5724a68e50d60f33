"""What the WORM commands share: the admin client, dates and sizes for humans."""

from __future__ import annotations

from datetime import UTC, datetime

from bulwark.agent.cli.common import Context
from bulwark.agent.client.admin import AdminClient, RetentionView
from bulwark.agent.errors import ConfigError


def admin_client(ctx: Context) -> AdminClient:
    return AdminClient.from_config(ctx.config)


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str) -> int:
    """``2027-03-01`` or ``2027-03-01T12:00:00[Z|+hh:mm]`` (UTC if no zone) -> ns."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--until {text!r}: expected a date like 2027-03-01") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000_000


def retention_json(v: RetentionView) -> dict:
    return {"snapshot": v.snapshot_id, "mode": v.mode, "retain_until": iso(v.retain_until_ns),
            "retain_until_ns": v.retain_until_ns, "legal_hold": v.legal_hold,
            "hold_reason": v.hold_reason, "now": iso(v.now_ns), "expired": v.now_ns
            >= v.retain_until_ns}


def retention_text(v: RetentionView) -> str:
    state = "expired" if v.now_ns >= v.retain_until_ns else "locked"
    hold = f", LEGAL HOLD ({v.hold_reason})" if v.legal_hold else ""
    return (f"snapshot {v.snapshot_id}: {v.mode} mode, {state} until {iso(v.retain_until_ns)}"
            f"{hold} (vault clock {iso(v.now_ns)})")
