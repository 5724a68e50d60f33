"""The vault's judgment of signal summaries, the [signals] policy, the mark in the catalog,
latest-clean, and what a mark does to the node's clean snapshots (real SQLite, real audit)."""

import dataclasses

import pytest

from bulwark.vault.audit.log import AuditLog
from bulwark.vault.caller import Caller
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError, InvalidRequest, NotFound
from bulwark.vault.worm.quarantine import protect_clean, set_by_officer
from bulwark.vault.worm.retention import DAY_NS, Retention
from bulwark.vault.worm.signals import Mark, SignalPolicy, judge, mark_from_json, mark_json
from tests.lib.clock import FakeClock

POLICY = SignalPolicy()
NOW = 1_750_000_000 * 10**9


def test_judge_names_every_measure_at_or_above_its_threshold():
    mark = judge({"format_lost": 300_000, "high_entropy": 24_999, "wiped": 25_000}, 0,
                 400_000, POLICY, NOW)
    assert mark.suspicious and mark.score_ppm == 300_000
    assert mark.reasons == ("format_lost 30.0% >= 2.5%", "wiped 2.5% >= 2.5%",
                            "new chunks 40.0%")
    quiet = judge({"format_lost": 1_000}, 1, 1_000_000, POLICY, NOW)
    assert not quiet.suspicious and quiet.reasons == ()  # a fine-tune rewrites every chunk
    notes = judge({}, 3, 0, POLICY, NOW)
    assert notes.suspicious and notes.reasons[0] == "ransom notes in 3 directories"
    unscored = judge(None, 0, 0, POLICY, NOW)
    assert not unscored.suspicious and unscored.reasons == ()
    strict = SignalPolicy(measure_ppm={"format_lost": 500_000})
    assert not judge({"format_lost": 300_000}, 0, 0, strict, NOW).suspicious


def test_mark_round_trips_through_json():
    mark = Mark(True, 5, ("a", "b"), "ofc", "why", 7, 9)
    assert mark_from_json(mark_json(mark)) == mark
    assert mark_from_json("") == Mark()


def _config(tmp_path, text: str):
    path = tmp_path / "vault.toml"
    path.write_text('[store]\npath = "s"\n[server]\ninsecure = true\n' + text)
    return load_config(path)


def test_config_reads_signals_and_names_bad_keys(tmp_path):
    policy = _config(tmp_path, "[signals]\nthreshold = 0.05\nprotect_clean = 5\n"
                     "[signals.thresholds]\nwiped = 0.1\n").signals
    assert (policy.threshold_ppm, policy.protect_clean, policy.threshold("wiped")) == (
        50_000, 5, 100_000)
    for text, key in (("threshold = 2", "signals.threshold"),
                      ("protect_days = -1", "signals.protect_days"),
                      ("[signals.thresholds]\nentropy = 0.1", "signals.thresholds.entropy"),
                      ("colour = 1", "signals.colour")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            _config(tmp_path, "[signals]\n" + text + "\n")


def _record(n: int, suspicious: bool = False) -> SnapshotRecord:
    sid = f"{n:x}" * 64
    return SnapshotRecord(sid, NOW + n, "gpu-1", b"h" + sid.encode(), b"s" * 64, (), ("/d",),
                          1, 1, 0, Retention("governance", NOW + 30 * DAY_NS),
                          Mark(suspicious, reasons=("x",) if suspicious else ()))


@pytest.fixture
def vault(tmp_path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    audit = AuditLog(tmp_path / "audit.sqlite", FakeClock(NOW, step=1))
    for n in range(1, 6):
        catalog.commit_snapshot(_record(n, suspicious=n in (2, 5)), [])
    yield catalog, audit
    catalog.close()
    audit.close()


def test_latest_clean_and_the_mark_in_the_catalog(vault):
    catalog, _ = vault
    assert catalog.resolve("latest").id == f"{5:x}" * 64
    assert catalog.resolve("latest-clean").id == f"{4:x}" * 64
    assert catalog.resolve(f"{5:x}" * 64).mark.suspicious
    with pytest.raises(NotFound):
        catalog.resolve("latest-clean", node="gpu-2")


def test_a_mark_extends_the_last_clean_snapshots(vault):
    catalog, audit = vault
    suspicious = catalog.resolve(f"{5:x}" * 64)
    caller = Caller("vault", "operator")
    extended = protect_clean(audit, catalog, SignalPolicy(protect_clean=2), suspicious, caller,
                             NOW)
    assert extended == [f"{4:x}" * 64, f"{3:x}" * 64]  # 2 is suspicious, 1 beyond the count
    assert catalog.resolve(f"{4:x}" * 64).retention.retain_until_ns == NOW + 90 * DAY_NS
    assert catalog.resolve(f"{1:x}" * 64).retention.retain_until_ns == NOW + 30 * DAY_NS
    entries = [e for e in audit.entries() if e.fields["action"] == "retention.extend"]
    assert len(entries) == 2 and "[retention retain_until_ns=" in entries[0].fields["detail"]


def test_officer_clears_and_sets_by_hand_audited(vault):
    catalog, audit = vault
    officer = Caller("alice", "officer")
    cleared = set_by_officer(audit, catalog, POLICY, f"{5:x}" * 10, False, "planned", officer,
                             NOW)
    assert not cleared.mark.suspicious and cleared.mark.set_by == "alice"
    assert catalog.resolve("latest-clean").id == f"{5:x}" * 64
    set_by_officer(audit, catalog, POLICY, f"{4:x}" * 64, True, "seen on the node", officer, NOW)
    assert catalog.resolve(f"{4:x}" * 64).mark == dataclasses.replace(
        catalog.resolve(f"{4:x}" * 64).mark, suspicious=True, note="seen on the node")
    actions = [e.fields["action"] for e in audit.entries()]
    assert "snapshot.unmark" in actions and "snapshot.mark" in actions
    with pytest.raises(InvalidRequest, match="reason"):
        set_by_officer(audit, catalog, POLICY, f"{4:x}" * 64, False, " ", officer, NOW)
    with pytest.raises(InvalidRequest, match="by id"):
        set_by_officer(audit, catalog, POLICY, "latest-clean", False, "x", officer, NOW)


def test_a_mark_is_counted_in_the_metrics_vaultd_serves(vault):
    from prometheus_client import generate_latest

    from bulwark.vault.monitor import CertWatch
    from bulwark.vault.worm.quarantine import marked

    catalog, audit = vault
    watch = CertWatch({})
    before = watch.registry.get_sample_value("bulwark_vault_snapshots_marked_total",
                                             {"node": "gpu-1"}) or 0
    marked(audit, catalog, POLICY, catalog.resolve(f"{5:x}" * 64), Caller("gpu-1", "node"), NOW)
    assert watch.registry.get_sample_value("bulwark_vault_snapshots_marked_total",
                                           {"node": "gpu-1"}) == before + 1
    assert b"bulwark_vault_snapshots_marked_total" in generate_latest(watch.registry)
    assert audit.latest(f"snapshot:{'5' * 64}", ("snapshot.mark",)) is not None
