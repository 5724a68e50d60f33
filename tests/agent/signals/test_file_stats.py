"""Per-file comparison: each measure fires on what it names and not on normal changes."""

from bulwark.agent.format.facts import ChunkFacts
from bulwark.agent.signals.file_stats import FileFacts, FileRecord, compare
from bulwark.protos.contract import PPM

TEXT = FileRecord(1000, "text", True, stored_ppm=400_000)
NOISE = FileRecord(1000, "", False, stored_ppm=PPM, high_ppm=PPM)
TENSOR = FileRecord(10_000, "safetensors", True, 700_000, 0, 0, 2_900, 120_000)


def test_encrypted_file_counts_high_entropy_and_format_lost():
    assert compare(NOISE, TEXT) == ("high_entropy", "format_lost")


def test_an_edit_counts_nothing():
    assert compare(FileRecord(1200, "text", True, 420_000), TEXT) == ()


def test_random_bits_in_tensors_move_the_exponents_a_fine_tune_does_not():
    noisy = FileRecord(10_000, "safetensors", True, 990_000, 0, 0, 7_000, 63_000)
    tuned = FileRecord(10_000, "safetensors", True, 710_000, 0, 0, 2_950, 120_100)
    assert compare(noisy, TENSOR) == ("exponents_moved",)
    assert compare(tuned, TENSOR) == ()


def test_wipers():
    zeroed = FileRecord(1000, "", False, 1_000, 0, PPM)
    assert compare(zeroed, TEXT) == ("format_lost", "wiped")
    assert "wiped" in compare(FileRecord(0, "empty", True), TEXT)


def test_new_noise_counts_new_known_format_does_not():
    assert compare(NOISE, None) == ("high_entropy",)
    assert compare(TEXT, None) == ()


def test_facts_add_up_to_a_record():
    facts = FileFacts("safetensors", True)
    facts.add(ChunkFacts(100, 70, 3, -1, False, 50, 3000, 120_000), 100)
    facts.add(ChunkFacts(100, 101, 0, 7990, False), 100)
    facts.add(None, 100)  # not measured: counted as stored as is
    r = facts.record()
    assert (r.size, r.stored_ppm, r.high_ppm) == (300, 271 * PPM // 300, 100 * PPM // 300)
    assert (r.exp_entropy_mbit, r.exp_mean_milli) == (3000, 120_000)
