"""``vaultctl mount`` against a real vaultd over mTLS: a real FUSE mount of a real snapshot
(libfuse through mfusepy; /dev/fuse), folders listed, a multi-chunk file read byte-identical
through a cache smaller than the file, a range in its middle, writes refused with EROFS, the
by-node/by-tag view with its links, and a clean unmount that ends the command with exit 0."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time

import pytest

from tests.e2e.conftest import BIN, Site

BIG = 9 << 20  # over twice the largest chunk: 3+ chunks


def _unmount(mountpoint) -> None:
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    cmd = [tool, "-u", str(mountpoint)] if tool else ["umount", str(mountpoint)]
    subprocess.run(cmd, capture_output=True, timeout=30)


class Mounted:
    """``vaultctl mount`` running in the background until :meth:`stop`."""

    def __init__(self, site: Site, mountpoint, *args: str) -> None:
        self.mountpoint = mountpoint
        self.proc = subprocess.Popen(
            [BIN / "vaultctl", "--config", site.operator_toml, "mount", mountpoint, "--json",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # printed once libfuse has mounted
        if not line:
            self.proc.wait(timeout=30)
            pytest.fail(f"vaultctl mount exited {self.proc.returncode}: {self.proc.stderr.read()}")
        self.info = json.loads(line)
        for _ in range(300):  # bounded: 30 s
            if os.path.ismount(mountpoint):
                break
            time.sleep(0.1)
        assert os.path.ismount(mountpoint)

    def stop(self) -> int:
        _unmount(self.mountpoint)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.communicate()


def test_mount_reads_one_file_and_refuses_writes(site: Site, tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    big = os.urandom(BIG)
    (data / "model.safetensors").write_bytes(big)
    (data / "sub" / "small.txt").write_text("small")
    os.symlink("sub/small.txt", data / "link")
    sid = site.backup(data, tags=("nightly",))["snapshot"]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = Mounted(site, mnt, "--snapshot", sid[:10], "--cache-mb", "1")
    try:
        assert mounted.info["snapshots"] == [sid] and mounted.info["single"] is True
        inside = mnt / str(data).lstrip("/")
        assert sorted(os.listdir(inside)) == ["link", "model.safetensors", "sub"]
        assert os.listdir(mnt) == [str(data).lstrip("/").split("/")[0]]
        model = inside / "model.safetensors"
        assert model.stat().st_size == BIG
        assert model.read_bytes() == big  # 3+ chunks through a 1 MiB cache
        with open(model, "rb") as f:  # a range across a chunk boundary in the middle
            f.seek(4_000_000)
            assert f.read(2_500_000) == big[4_000_000:6_500_000]
        assert (inside / "sub" / "small.txt").read_text() == "small"
        assert os.readlink(inside / "link") == "sub/small.txt"
        assert (inside / "link").read_text() == "small"
        for attempt in (lambda: open(model, "r+b"), lambda: open(inside / "new", "wb"),
                        lambda: os.mkdir(inside / "d"), lambda: os.unlink(model),
                        lambda: os.chmod(model, 0o600)):
            with pytest.raises(OSError) as refused:
                attempt()
            assert refused.value.errno == errno.EROFS
        assert not (inside / "nope").exists()
    finally:
        code = mounted.stop()
    assert code == 0
    assert not os.path.ismount(mnt) and os.listdir(mnt) == []


def test_mount_by_node_and_tag_and_bad_input(site: Site, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"first")
    first = site.backup(data, tags=("nightly",))["snapshot"]
    (data / "a.bin").write_bytes(b"second")
    second = site.backup(data)["snapshot"]
    assert site.ctl("tag", second, "--add", "reviewed").code == 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = Mounted(site, mnt)
    try:
        assert sorted(os.listdir(mnt)) == ["ids", "latest", "nodes", "tags"]
        assert sorted(os.listdir(mnt / "ids")) == sorted([first, second])
        (node,) = os.listdir(mnt / "nodes")
        assert len(os.listdir(mnt / "nodes" / node)) == 2
        assert sorted(os.listdir(mnt / "tags")) == ["nightly", "reviewed"]
        (tagged,) = os.listdir(mnt / "tags" / "nightly")
        assert tagged.endswith(first[:12])
        rel = str(data / "a.bin").lstrip("/")
        assert (mnt / "tags" / "nightly" / tagged / rel).read_bytes() == b"first"
        assert (mnt / "latest" / rel).read_bytes() == b"second"
        assert os.readlink(mnt / "latest") == f"ids/{second}"
    finally:
        assert mounted.stop() == 0
    not_dir = site.ctl("mount", tmp_path / "nope")
    assert not_dir.code == 2 and "not an existing folder" in not_dir.err
    assert site.ctl("mount", mnt, "--cache-mb", "0").code == 2
    unknown = site.ctl("mount", mnt, "--snapshot", "ffffffff")
    assert unknown.code == 1 and "ffffffff" in unknown.err
    assert site.ctl("mount", mnt, "--tag", "nosuchtag").code == 1
    helped = site.ctl("mount", "--help")
    assert helped.code == 0 and "example: vaultctl" in helped.out
