"""The node's baseline: snapshot-level counts against the previous backup of the scope."""

from bulwark.agent.signals.baseline import Baseline
from bulwark.agent.signals.file_stats import FileRecord
from bulwark.agent.signals.names import is_ransom_note, stem


def h(n: int) -> bytes:
    return bytes([n]) * 32


def test_changed_deleted_renamed_new_and_extensions(tmp_path):
    b = Baseline(tmp_path, ["/data"])
    assert not b.has_previous
    for i in range(6):
        b.stage(b"d/f%d.bin" % i, h(i), FileRecord(10, "text", True), 10)
    first = b.totals()
    assert (first.has_baseline, first.files, first.new) == (False, 6, 6)
    b.swap()
    b.close()

    b = Baseline(tmp_path, ["/data"])
    assert b.previous(b"d/f1.bin") == FileRecord(10, "text", True)
    assert b.has_content(h(3)) and not b.has_content(h(99))
    b.stage(b"d/f0.bin", h(0), None, 10)  # unchanged (file cache): carries its numbers
    b.stage(b"d/f1.bin", h(11), FileRecord(10), 10)  # changed
    b.stage(b"d/f2.bin.locked", h(12), FileRecord(10), 10)  # extension appended
    b.stage(b"d/f3.enc", h(13), FileRecord(10), 10)  # extension replaced
    b.stage(b"e/f4.bin", h(4), FileRecord(10), 10)  # moved: same content
    b.stage(b"d/new.txt", h(20), FileRecord(10), 10)  # new
    t = b.totals()
    assert (t.changed, t.renamed, t.new, t.renamed_ext, t.previous_files) == (1, 1, 3, 2, 6)
    assert t.deleted == 3  # f2, f3 and f5 (f4's content moved)
    b.swap()
    assert b.previous(b"d/f0.bin") == FileRecord(10, "text", True)
    b.close()


def test_scopes_are_apart_and_a_failed_run_keeps_the_previous(tmp_path):
    b = Baseline(tmp_path, ["/a"])
    b.stage(b"x", h(1), FileRecord(1), 1)
    b.swap()
    b.close()
    other = Baseline(tmp_path, ["/b"])
    assert not other.has_previous
    other.close()
    again = Baseline(tmp_path, ["/a"])
    again.stage(b"y", h(2), FileRecord(1), 1)
    again.discard()
    again.close()
    assert Baseline(tmp_path, ["/a"]).previous(b"x") == FileRecord(1)


def test_names():
    assert is_ransom_note(b"d/HOW_TO_DECRYPT_YOUR_FILES.txt", 100)
    assert is_ransom_note(b"README_RESTORE_FILES.html", 100)
    assert not is_ransom_note(b"README.md", 100) and not is_ransom_note(b"restore.py", 100)
    assert not is_ransom_note(b"decrypt.txt", 1 << 20)  # too large for a note
    assert stem(b"a/b.tar.locked") == b"a/b.tar" and stem(b"a/.hidden") == b"a/.hidden"


def _baseline_of(tmp_path, rows) -> dict:
    b = Baseline(tmp_path, ["/data"])
    for path, n, record in rows:
        b.stage(path, h(n), record, 10)
    b.totals()
    b.swap()
    b.close()
    b = Baseline(tmp_path, ["/data"])
    b.prefetch([p for p, _, _ in rows] + [b"d/a", b"d/b", b"d/c", b"d/z"])
    got = {p: b.previous(p, h(n)) for p, n, _ in rows}
    assert b.totals().files == 0  # nothing of the swapped run stays staged
    b.close()
    return got


BASE = [(b"d/a", 1, FileRecord(10, "text", True)), (b"d/b", 2, FileRecord(10, "json", True)),
        (b"d/c", 3, FileRecord(10, "", False, 500))]


def test_an_unchanged_tree_keeps_the_baseline_and_any_difference_replaces_it(tmp_path):
    _baseline_of(tmp_path, BASE)
    assert _baseline_of(tmp_path, BASE) == {p: r for p, _, r in BASE}  # unchanged run
    for rows in (
        BASE[:2] + [(b"d/c", 3, FileRecord(10, "", False, 501))],  # one number differs
        BASE[:2] + [(b"d/c", 4, FileRecord(10, "", False, 500))],  # the content differs
        BASE[:2] + [(b"d/z", 3, FileRecord(10, "", False, 500))],  # same count, a new path
        BASE[:2],  # a file gone
        BASE + [(b"d/z", 9, FileRecord(10))],  # a file added
    ):
        assert _baseline_of(tmp_path, rows) == {p: r for p, _, r in rows}
    # a file staged without numbers (unchanged per the file cache) takes its previous ones
    _baseline_of(tmp_path, BASE)
    assert _baseline_of(tmp_path, BASE[:2] + [(b"d/c", 3, None)])[b"d/c"] == BASE[2][2]
