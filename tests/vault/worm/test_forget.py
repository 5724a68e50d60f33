"""Forget policies: restic's bucketing rules, checked on hand-made timelines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bulwark.vault.catalog.db import SnapshotRecord
from bulwark.vault.errors import InvalidRequest
from bulwark.vault.worm.forget import ForgetPolicy, Within, apply_policy, group_key


def snap(when: str, tags: tuple[str, ...] = (), node: str = "gpu-1") -> SnapshotRecord:
    t = datetime.fromisoformat(when).replace(tzinfo=UTC)
    return SnapshotRecord(id=when, time_ns=int(t.timestamp()) * 10**9, node=node, header=b"",
                          signature=b"", tags=tags, paths=("/data",), files=0, bytes=0,
                          chunk_count=0)


# two a day for ten days in January, one on 1 Feb and one a year earlier
TIMELINE = ([snap(f"2024-01-{d:02d}T{h:02d}:00") for d in range(1, 11) for h in (6, 18)]
            + [snap("2024-02-01T12:00"), snap("2023-01-15T12:00", tags=("release",))])


def kept(policy: ForgetPolicy, records=TIMELINE) -> list[str]:
    return [d.record.id for d in apply_policy(records, policy) if d.keep]


def test_last_keeps_the_newest():
    assert kept(ForgetPolicy(last=3)) == ["2024-02-01T12:00", "2024-01-10T18:00",
                                          "2024-01-10T06:00"]


def test_daily_keeps_the_newest_of_each_day_with_a_snapshot():
    assert kept(ForgetPolicy(daily=3)) == ["2024-02-01T12:00", "2024-01-10T18:00",
                                           "2024-01-09T18:00"]


def test_monthly_and_yearly_count_periods_that_have_snapshots():
    assert kept(ForgetPolicy(monthly=3)) == ["2024-02-01T12:00", "2024-01-10T18:00",
                                             "2023-01-15T12:00"]
    assert kept(ForgetPolicy(yearly=-1)) == ["2024-02-01T12:00", "2023-01-15T12:00"]


def test_weekly_uses_iso_weeks():
    # 2024-01-07 is a Sunday (ISO week 1); 2024-01-08..10 are week 2
    assert kept(ForgetPolicy(weekly=3)) == ["2024-02-01T12:00", "2024-01-10T18:00",
                                            "2024-01-07T18:00"]


def test_within_counts_back_from_the_newest_snapshot_not_now():
    assert kept(ForgetPolicy(within=Within(days=22))) == ["2024-02-01T12:00",
                                                          "2024-01-10T18:00"]
    assert Within(months=1).before(datetime(2024, 3, 31, tzinfo=UTC)) == \
        datetime(2024, 2, 29, tzinfo=UTC)


def test_rules_combine_and_name_their_reasons():
    decisions = apply_policy(TIMELINE, ForgetPolicy(last=1, daily=2, tag_sets=(("release",),)))
    reasons = {d.record.id: d.reasons for d in decisions if d.keep}
    assert reasons == {"2024-02-01T12:00": ["last", "daily"], "2024-01-10T18:00": ["daily"],
                       "2023-01-15T12:00": ["tag"]}
    assert sum(not d.keep for d in decisions) == len(TIMELINE) - 3


@pytest.mark.parametrize("policy, words", [
    (ForgetPolicy(), "no keep rule"), (ForgetPolicy(daily=-2), "keep-daily"),
    (ForgetPolicy(within=Within(days=-1)), "keep-within"),
    (ForgetPolicy(tag_sets=(("",),)), "keep-tag"),
])
def test_bad_policies_are_refused(policy, words):
    with pytest.raises(InvalidRequest, match=words):
        apply_policy(TIMELINE, policy)


def test_group_key():
    assert group_key(snap("2024-01-01T00:00", tags=("b", "a")), ("node", "tags")) == \
        ("gpu-1", ("a", "b"))
    with pytest.raises(InvalidRequest, match="colour"):
        group_key(TIMELINE[0], ("colour",))


def test_run_forget_deletes_only_what_no_lock_or_hold_keeps():
    from bulwark.vault.worm.forget import run_forget
    from bulwark.vault.worm.retention import Retention

    def locked(r, until, hold=False):
        return SnapshotRecord(**{**vars(r), "retention": Retention("governance", until, hold)})

    now = TIMELINE[0].time_ns + 10**9
    records = [locked(TIMELINE[0], 0), locked(TIMELINE[1], now + 1),
               locked(TIMELINE[2], 0, hold=True), locked(TIMELINE[3], 0)]
    deleted = []
    out = {o.record.id: o.outcome for o in run_forget(
        records, ForgetPolicy(last=1), ("node",), now, lambda r: deleted.append(r.id))}
    assert out == {TIMELINE[3].id: "keep", TIMELINE[2].id: "held",
                   TIMELINE[1].id: "locked", TIMELINE[0].id: "forget"}
    assert deleted == [TIMELINE[0].id]
    dry = [o.outcome for o in run_forget(records, ForgetPolicy(last=1), (), now, None)]
    assert dry.count("would-forget") == 1 and not deleted[1:]
