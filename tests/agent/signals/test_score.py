"""The summary and its reasons."""

from bulwark.agent.signals.baseline import Totals
from bulwark.agent.signals.score import Tally, reasons, summarize
from bulwark.protos.contract import PPM


def test_summary_takes_the_larger_of_files_and_bytes_share():
    tally = Tally()
    tally.count(("format_lost",), 900)  # one file of 10, but 90 % of the bytes
    tally.note(b"d1")
    tally.note(b"d2")
    totals = Totals(True, 10, 1000, 10, 1, 0, 0, 0, 0)
    s = summarize(tally, totals, new_bytes=100)
    assert s.format_lost_ppm == 900_000 and s.score_ppm == 900_000
    assert (s.changed_ppm, s.new_bytes_ppm, s.ransom_note_dirs) == (100_000, 100_000, 2)
    assert reasons(s) == ["format_lost 90.0% >= 2.5%", "ransom notes in 2 directories"]


def test_a_quiet_snapshot_has_no_reasons():
    s = summarize(Tally(), Totals(True, 10, 1000, 10, 0, 0, 0, 0, 0), 0)
    assert s.score_ppm == 0 and reasons(s) == [] and max(s.measures().values()) < PPM
