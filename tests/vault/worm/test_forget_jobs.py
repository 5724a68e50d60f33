"""vault.worm.forget_jobs: [[forget]] tables in vault.toml, checked with errors naming file, entry
and key. (Running them on a schedule against a real vaultd: tests/e2e/test_forget_jobs.py.)"""

from __future__ import annotations

import pytest

from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError
from bulwark.vault.worm.forget import Within
from bulwark.vault.worm.forget_jobs import parse_within

BASE = '[server]\ninsecure = true\n'


def load(tmp_path, text: str):
    p = tmp_path / "vault.toml"
    p.write_text(BASE + text)
    return load_config(p)


def test_jobs_are_read_with_filters_and_policy(tmp_path):
    cfg = load(tmp_path, '[[forget]]\nname = "n"\nschedule = "30 3 * * *"\nnode = "gpu-1"\n'
               'tags = ["a,b", "c"]\npaths = ["/data"]\nkeep_daily = 7\nkeep_within = "1m2d"\n'
               'keep_tag = ["release"]\ngroup_by = ["node"]\n'
               '[[forget]]\nname = "m"\nschedule = "*/5 * * * * *"\nkeep_last = -1\n')
    n, m = cfg.forget
    assert (n.name, n.query.node, n.query.tag_sets, n.query.paths) == (
        "n", "gpu-1", (("a", "b"), ("c",)), ("/data",))
    assert (n.policy.daily, n.policy.within, n.policy.tag_sets, n.group_by) == (
        7, Within(months=1, days=2), (("release",),), ("node",))
    assert m.policy.last == -1 and m.group_by == ("node", "paths")
    assert load(tmp_path, "").forget == ()


@pytest.mark.parametrize(("text", "message"), [
    ('[[forget]]\nschedule = "* * * * *"\nkeep_last = 1\n', r"forget\[0\]\.name: required"),
    ('[[forget]]\nname = "a"\nschedule = "61 * * * *"\nkeep_last = 1\n',
     r"forget\[0\]\.schedule: "),
    ('[[forget]]\nname = "a"\nschedule = "* * *"\nkeep_last = 1\n', "5 or 6 cron fields"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\n', r"forget\[0\]\.keep_\*: .*no keep rule"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = -2\n', "keep-last -2"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_within = "3w"\n',
     r"forget\[0\]\.keep_within: '3w' is not a duration"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = "1"\n',
     r"keep_last: must be an integer"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = 1\ngroup_by = ["host"]\n',
     r"group_by: unknown key 'host'"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = 1\npaths = ["rel"]\n',
     r"forget\[0\]\.filter: .*not absolute"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = 1\nkeep_dayly = 1\n',
     r"forget\[0\]\.keep_dayly: unknown key"),
    ('[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = 1\n'
     '[[forget]]\nname = "a"\nschedule = "* * * * *"\nkeep_last = 2\n',
     r"forget\[1\]\.name: 'a' is used"),
    ('[forget]\nname = "a"\n', "forget: must be an array of tables"),
])
def test_bad_tables_name_file_entry_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as err:
        load(tmp_path, text)
    assert str(tmp_path / "vault.toml") in str(err.value)


def test_within_parses_restic_durations():
    assert parse_within("1y2m3d4h") == Within(1, 2, 3, 4)
    assert parse_within("12h") == Within(hours=12)
    for bad in ("", "1w", "d", "1d1y"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_within(bad)
