"""Hostile trees through real processes: backups that survive real file systems and
restores that never clobber by surprise (issue 13). Every tree is backed up by the real
``vault-agent`` against a real ``vaultd`` and restored by the real ``vaultctl``, and the
restored tree is compared with its source in bytes, names, types, modes, owners, times,
hard links, device numbers and xattrs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bulwark.agent.format.pathtext import show_path
from tests.e2e.conftest import BIN, Result
from tests.lib.trees import (
    AS_NOBODY,
    BAD_NAME,
    NOBODY,
    SPARSE_SIZE,
    WITHOUT_DAC,
    WITHOUT_MKNOD,
    build_hostile,
    differences,
    remove_tree,
    sparse_blocks,
    tree_state,
)


@pytest.fixture
def work(tmp_path):
    yield tmp_path
    remove_tree(tmp_path / "src")
    remove_tree(tmp_path / "r")


def restored(target: Path, source: Path) -> Path:
    return target / str(source).lstrip("/")


def test_hostile_tree_round_trips_exactly(site, work):
    tree = build_hostile(work / "src")
    assert tree.devices, "tests run as root: device nodes can be made"
    backup = site.agent("backup", tree.root, "--json")
    assert backup.code == 0, backup.err
    summary = backup.json()
    assert summary["skipped"] == [] and summary["changed"] == []

    restore = site.ctl("restore", backup.json()["snapshot"], work / "r", "--json", "--verify")
    assert restore.code == 0, restore.err
    report = restore.json()
    assert report["failed"] == [] and report["skipped"] == []
    assert report["verified"] == report["files"] > 0
    out = restored(work / "r", tree.root)
    assert differences(tree_state(tree.root), tree_state(out)) == []
    # holes come back as holes where a whole chunk (up to 4 MiB) is zeros: the 24 MiB file
    # with 8 bytes of data keeps at most its first and last chunk allocated
    assert sparse_blocks(out / "sparse" / "holes.bin") <= 2 * (4 << 20) < SPARSE_SIZE


def _agent_without_dac(site, *args: object) -> Result:
    cmd = [*WITHOUT_DAC, str(BIN / "vault-agent"), "--config", str(site.agent_toml),
           *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_what_cannot_be_read_is_reported_and_exits_3(site, work):
    tree = build_hostile(work / "src", locked=True)
    backup = _agent_without_dac(site, "backup", tree.root, "--json")
    assert backup.code == 3, backup.err
    summary = backup.json()
    box, secret = tree.unreadable
    assert summary["skipped"] == [
        {"path": str(box), "reason": "cannot list: Permission denied"},
        {"path": str(secret), "reason": "cannot read: Permission denied"},
    ]
    assert f"skipped {box}: cannot list: Permission denied" in backup.err
    # the snapshot was committed with everything else
    restore = site.ctl("restore", summary["snapshot"], work / "r", "--json")
    assert restore.code == 0, restore.err
    out = restored(work / "r", tree.root)
    assert (out / "locked").is_dir() and not os.listdir(out / "locked")
    assert not (out / "unreadable.bin").exists()
    assert (out / "links" / "a").read_bytes() == (tree.root / "links" / "a").read_bytes()


def test_non_utf8_names_in_json_and_in_restore_path(site, work):
    tree = build_hostile(work / "src")
    victim = Path(os.fsdecode(os.fsencode(tree.root / "names") + b"/" + BAD_NAME))
    os.chmod(victim, 0)  # unreadable to an agent without DAC override: reported by name
    backup = _agent_without_dac(site, "backup", tree.root / "names", "--json")
    assert backup.code == 3, backup.err
    shown = show_path(str(victim))
    assert shown.endswith("/names/bad\\xffname\\xfe.bin")
    assert backup.json()["skipped"] == [{"path": shown,
                                         "reason": "cannot read: Permission denied"}]
    os.chmod(victim, 0o644)
    snapshot = site.backup(tree.root / "names")["snapshot"]
    literal = tree.root / "names" / "back\\xff-slash"  # a real backslash: shown doubled
    for path in (victim, literal):
        target = work / "r" / path.name.encode("utf-8", "surrogateescape").hex()
        got = site.ctl("restore", snapshot, target, "--path", show_path(str(path)), "--json")
        assert got.code == 0, got.err
        assert got.json()["files"] == 1
        names = os.listdir(os.fsencode(restored(target, path.parent)))
        assert names == [os.fsencode(path.name)]
    bad = site.ctl("restore", snapshot, work / "r" / "x", "--path", "/names/a\\qb")
    assert bad.code == 2 and "--path" in bad.err and "position" in bad.err


def test_a_file_growing_during_the_backup_is_flagged(site, work):
    src = work / "src"
    src.mkdir()
    grower = src / "train.log"
    grower.write_bytes(os.urandom(8 << 20))
    stop = threading.Event()

    def grow() -> None:
        with open(grower, "ab") as f:
            for _ in range(20_000):  # bounded: at most 20,000 small appends
                if stop.is_set():
                    return
                f.write(b"step\n" * 100)
                f.flush()
                time.sleep(0.0005)

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        time.sleep(0.05)
        backup = site.agent("backup", src, "--json")
    finally:
        stop.set()
        writer.join()
    assert backup.code == 0, backup.err
    assert backup.json()["changed"] == [str(grower)]
    assert "changed while it was read" in backup.err
    again = site.agent("backup", src, "--json")  # a changed file was not cached
    assert again.code == 0 and again.json()["files_read"] == 1


def test_restore_never_clobbers_by_default_and_each_rule_does_what_it_says(site, work):
    src = work / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.txt").write_bytes(b"snapshot a\n")
    (src / "d" / "b.txt").write_bytes(b"snapshot b\n")
    (src / "d" / "c").mkdir()
    snapshot = site.backup(src)["snapshot"]
    target = work / "r"
    out = restored(target, src)
    assert site.ctl("restore", snapshot, target).code == 0

    (out / "d" / "a.txt").write_bytes(b"local edit\n")
    (out / "d" / "stray").write_bytes(b"not in the snapshot\n")
    again = site.ctl("restore", snapshot, target, "--json")  # default: never
    assert again.code == 0, again.err
    report = again.json()
    assert report["files"] == 0 and report["unchanged"] == 1
    assert [k["path"] for k in report["kept"]] == [str(src / "d" / "a.txt")]
    assert (out / "d" / "a.txt").read_bytes() == b"local edit\n"
    assert "kept" in again.err

    dry = site.ctl("restore", snapshot, target, "--overwrite", "if-changed", "--delete",
                   "--dry-run", "--json")
    assert dry.code == 0, dry.err
    actions = {a["path"]: a["action"] for a in dry.json()["actions"]}
    assert actions[str(src / "d" / "a.txt")] == "replace"
    assert actions[str(src / "d" / "b.txt")] == "unchanged"
    assert actions[str(src / "d" / "stray")] == "delete"
    assert (out / "d" / "a.txt").read_bytes() == b"local edit\n"  # nothing written
    assert (out / "d" / "stray").exists()

    fixed = site.ctl("restore", snapshot, target, "--overwrite", "if-changed", "--delete",
                     "--verify", "--json")
    assert fixed.code == 0, fixed.err
    report = fixed.json()
    assert report["files"] == 1 and report["verified"] == 1
    assert report["deleted"] == [str(src / "d" / "stray")]
    assert (out / "d" / "a.txt").read_bytes() == b"snapshot a\n"
    assert sorted(os.listdir(out / "d")) == ["a.txt", "b.txt", "c"]

    os.utime(out / "d" / "b.txt", ns=(1, 1))  # older than the snapshot's: replaced
    (out / "d" / "b.txt").write_bytes(b"old local\n")
    os.utime(out / "d" / "b.txt", ns=(1, 1))
    newer = site.ctl("restore", snapshot, target, "--overwrite", "if-newer", "--json")
    assert newer.code == 0 and newer.json()["files"] == 1
    assert (out / "d" / "b.txt").read_bytes() == b"snapshot b\n"


def test_type_conflicts_and_a_file_target_get_clear_errors(site, work):
    src = work / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"file\n")
    (src / "d" / "sub").mkdir()
    (src / "d" / "sub" / "x").write_bytes(b"x\n")
    (src / "d" / "ok").write_bytes(b"fine\n")
    snapshot = site.backup(src)["snapshot"]
    target = work / "r"
    out = restored(target, src)
    (out / "d" / "f").mkdir(parents=True)  # a directory where the snapshot has a file
    (out / "d" / "sub").parent.mkdir(parents=True, exist_ok=True)
    (out / "d" / "sub").write_bytes(b"a file where the snapshot has a directory\n")
    got = site.ctl("restore", snapshot, target, "--overwrite", "always", "--json")
    assert got.code == 1, got.err
    failed = {f["path"]: f["error"] for f in got.json()["failed"]}
    assert "a directory stands where the snapshot has a file" in failed[str(src / "d" / "f")]
    assert (out / "d" / "sub" / "x").read_bytes() == b"x\n"  # "always" replaced the file
    assert (out / "d" / "ok").read_bytes() == b"fine\n"
    assert "Traceback" not in got.err

    never = site.ctl("restore", snapshot, work / "r2")
    assert never.code == 0
    (work / "r3" / str(src / "d").lstrip("/")).mkdir(parents=True)
    (work / "r3" / str(src / "d" / "sub").lstrip("/")).write_bytes(b"in the way\n")
    blocked = site.ctl("restore", snapshot, work / "r3", "--json")
    assert blocked.code == 1
    paths = {f["path"]: f["error"] for f in blocked.json()["failed"]}
    assert "only --overwrite always replaces it" in paths[str(src / "d" / "sub")]
    assert paths[str(src / "d" / "sub" / "x")] == "its directory could not be restored"

    (work / "file-target").write_bytes(b"")
    bad = site.ctl("restore", snapshot, work / "file-target")
    assert bad.code == 2 and "exists and is not a directory" in bad.err
    assert "Traceback" not in bad.err


def test_alternating_paths_do_not_re_read_unchanged_files(site, work):
    data, big = work / "src" / "data", work / "src" / "big"
    data.mkdir(parents=True)
    big.mkdir()
    for i in range(30):
        (data / f"f{i}").write_bytes(os.urandom(1000 + i))
    (big / "one.bin").write_bytes(os.urandom(5000))
    reads = [site.backup(p)["files_read"] for p in (data, big, data, big)]
    assert reads == [30, 1, 0, 0]


def test_paths_round_trip_from_ls_json_into_ls_and_restore_path(site, work):
    """``ls --json`` prints each path in the one text form ``restore --path`` and ``ls PATH``
    read back (agent.format.pathtext): a literal backslash-x-4-1 is not the letter A, and a
    byte that is not UTF-8 is that byte (issue 13)."""
    src = work / "src"
    src.mkdir()
    contents = {b"lit\\x41": b"a literal backslash\n", b"litA": b"the letter A\n",
                b"bad\xffname": b"not UTF-8\n"}
    for raw, data in contents.items():
        Path(os.fsdecode(os.fsencode(src) + b"/" + raw)).write_bytes(data)
    snapshot = site.backup(src)["snapshot"]
    listing = site.ctl("ls", snapshot, src, "--json")
    assert listing.code == 0, listing.err
    shown = sorted(e["path"] for e in listing.json() if e["type"] == "file")
    assert shown == [f"{src}/bad\\xffname", f"{src}/litA", f"{src}/lit\\\\x41"]
    for n, path in enumerate(shown):
        again = site.ctl("ls", snapshot, path, "--json")
        assert again.code == 0 and [e["path"] for e in again.json()] == [path], again.err
        target = work / "r" / str(n)
        got = site.ctl("restore", snapshot, target, "--path", path, "--json")
        assert got.code == 0 and got.json()["files"] == 1, got.err
        out = os.fsencode(restored(target, src))
        [name] = os.listdir(out)
        with open(out + b"/" + name, "rb") as f:
            assert f.read() == contents[name]


def _special_tree(root: Path) -> Path:
    """A device node, a FIFO, a file of another owner and one of root's, under ``root``."""
    (root / "d").mkdir(parents=True)
    os.mknod(root / "d" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(root / "d" / "fifo", 0o640)
    (root / "d" / "theirs").write_bytes(b"owned by 1000\n")
    os.chown(root / "d" / "theirs", 1000, 1000)
    (root / "d" / "mine").write_bytes(b"owned by root\n")
    return root


def _ctl_as(prefix: list[str], config: Path, *args: object) -> Result:
    proc = subprocess.run([*prefix, str(BIN / "vaultctl"), "--config", str(config),
                           *map(str, args)], capture_output=True, text=True, timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_a_device_node_without_cap_mknod_is_skipped_and_exits_3(site, work):
    src = _special_tree(work / "src")
    snapshot = site.backup(src)["snapshot"]
    got = _ctl_as(WITHOUT_MKNOD, site.operator_toml, "restore", snapshot, work / "r", "--json")
    assert got.code == 3, got.err
    node = show_path(str(src / "d" / "null"))
    reason = "device node not created: this restore may not create device nodes (needs CAP_MKNOD)"
    assert got.json()["skipped"] == [{"path": node, "reason": reason}]
    assert got.json()["failed"] == [] and got.json()["files"] == 2
    assert f"vaultctl: warning: {node}: {reason}" in got.err
    out = restored(work / "r", src) / "d"
    assert sorted(os.listdir(out)) == ["fifo", "mine", "theirs"]  # the rest is there
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)
    assert (out / "theirs").read_bytes() == b"owned by 1000\n"


def test_an_unprivileged_restore_keeps_its_own_owner_and_says_so(site, work):
    src = _special_tree(work / "src")
    snapshot = site.backup(src)["snapshot"]
    home = work / "r"  # nobody's: its configuration, keys, cache and restore target
    (home / "pki").mkdir(parents=True)
    for name in ("operator.toml", "tenant.key", "pki/ca.crt", "pki/operator-operator.crt",
                 "pki/operator-operator.key"):
        shutil.copy2(site.dir / name, home / name)
    for path in (home, home / "pki", *home.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    got = _ctl_as(AS_NOBODY, home / "operator.toml", "restore", snapshot, home / "t", "--json")
    assert got.code == 3, got.err  # the device node, as without CAP_MKNOD; nothing else
    summary = got.json()
    assert [s["path"] for s in summary["skipped"]] == [show_path(str(src / "d" / "null"))]
    assert summary["failed"] == [] and summary["files"] == 2
    out = restored(home / "t", src) / "d"
    assert {os.lstat(out / n).st_uid for n in ("fifo", "mine", "theirs")} == {NOBODY}
    assert (out / "theirs").read_bytes() == b"owned by 1000\n"
    # every restored entry named another owner: the folders down to d, fifo, mine, theirs
    entries = len(src.parts) - 1 + 1 + 3
    assert summary["owners_not_set"] == entries
    assert (f"vaultctl: warning: not root: {entries} entries belong to uid {NOBODY} here, not "
            "to the owner the snapshot names") in got.err


def test_root_without_cap_chown_restores_the_file_and_reports_its_owner(site, work):
    """A container's root may not chown: the file used to be lost ("not restored:
    Operation not permitted"); it is restored, owned by root, and the owner is reported."""
    src = _special_tree(work / "src")
    snapshot = site.backup(src)["snapshot"]
    got = _ctl_as(["setpriv", "--bounding-set=-chown", "--"], site.operator_toml, "restore",
                  snapshot, work / "r", "--json")
    assert got.code == 3, got.err
    theirs = show_path(str(src / "d" / "theirs"))
    assert got.json()["skipped"] == [
        {"path": theirs, "reason": "owner 1000:1000 not restored: Operation not permitted"}]
    assert got.json()["failed"] == [] and got.json()["owners_not_set"] == 0
    out = restored(work / "r", src) / "d"
    assert (out / "theirs").read_bytes() == b"owned by 1000\n"
    assert os.lstat(out / "theirs").st_uid == 0
