"""Per-caller call limits, the operator reserve, commits per hour, and [limits] parsing."""

from __future__ import annotations

import pytest

from bulwark.vault.caller import Caller
from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError, LimitExceeded
from bulwark.vault.ingest.limits import HOUR_NS, CallLimiter, CommitRate, Limits

NODE = Caller("gpu-01", "node")


def test_one_caller_holds_at_most_calls_per_caller_and_gets_them_back():
    limiter = CallLimiter(Limits(calls_per_caller=2))
    with limiter.admit(NODE, "PutChunks"), limiter.admit(NODE, "PutChunks"):
        with pytest.raises(LimitExceeded, match=r"calls_per_caller"), \
                limiter.admit(NODE, "PutChunks"):
            pass
        with limiter.admit(Caller("gpu-02", "node"), "PutChunks"):
            pass
    assert limiter.holding(NODE.name) == 0


def test_the_reserve_keeps_threads_for_operator_and_officer():
    limiter = CallLimiter(Limits(workers=6, reserved_calls=2, calls_per_caller=8))
    held = [limiter.admit(Caller(f"n{i}", "node"), "FindMissing") for i in range(4)]
    for cm in held:
        cm.__enter__()
    with pytest.raises(LimitExceeded, match=r"workers - reserved_calls"), \
            limiter.admit(Caller("n9", "replica"), "GetChunks"):
        pass
    with limiter.admit(Caller("ops", "operator"), "ListSnapshots"):
        pass
    for cm in held:
        cm.__exit__(None, None, None)
    with limiter.admit(Caller("n9", "replica"), "GetChunks"):
        pass


def test_commits_per_hour_slide():
    rate = CommitRate(2)
    rate.admit("gpu-01", 0)
    rate.admit("gpu-01", 10)
    with pytest.raises(LimitExceeded, match=r"snapshots_per_hour.*in \d+ s"):
        rate.admit("gpu-01", 20)
    rate.admit("gpu-02", 20)
    rate.admit("gpu-01", HOUR_NS + 1)  # the first commit left the window
    CommitRate(0).admit("gpu-01", 0)  # 0: no limit


def test_commit_counts_are_the_last_hours_for_metrics():
    rate = CommitRate(5)
    for t in (0, 10, 20):
        rate.admit("gpu-01", t)
    assert rate.counts(20) == {"gpu-01": 3}
    rate.admit("gpu-02", HOUR_NS)
    assert rate.counts(HOUR_NS + 15) == {"gpu-01": 1, "gpu-02": 1}  # 0 and 10 left it
    assert rate.counts(3 * HOUR_NS) == {}


@pytest.mark.parametrize(("text", "message"), [
    ("workers = 2", "limits.workers: must be between 4 and 1024, got 2"),
    ("workers = 8\nreserved_calls = 8", "limits.reserved_calls: 8 leaves no thread"),
    ("calls_per_caller = true", "limits.calls_per_caller: must be an integer"),
    ("burst = 1", "limits.burst: unknown key"),
])
def test_bad_limits_name_the_key(tmp_path, text, message):
    path = tmp_path / "vault.toml"
    path.write_text(f"[server]\ninsecure = true\n\n[limits]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_limits_default_and_read(tmp_path):
    path = tmp_path / "vault.toml"
    path.write_text("[server]\ninsecure = true\n\n[limits]\nsnapshots_per_hour = 5\n")
    assert load_config(path).limits == Limits(snapshots_per_hour=5)
