"""agent.backup.xattrs: every attribute, sorted, without following links; failures named."""

from __future__ import annotations

import os
import subprocess
import sys

from bulwark.agent.backup.xattrs import read_xattrs
from bulwark.agent.format.manifest import Xattr
from tests.lib.trees import WITHOUT_DAC


def test_attributes_and_acls_are_read_sorted(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"")
    os.setxattr(f, "user.z", b"\x00\xff")
    os.setxattr(f, "user.a", b"")
    subprocess.run(["setfacl", "-m", "u:nobody:r", str(f)], check=True)
    found, problem = read_xattrs(str(f))
    assert problem is None
    assert [x.name for x in found] == [b"system.posix_acl_access", b"user.a", b"user.z"]
    assert Xattr(b"user.z", b"\x00\xff") in found


def test_a_symlink_is_not_followed_and_a_vanished_path_is_not_reported(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    os.setxattr(tmp_path / "f", "user.a", b"1")
    os.symlink("f", tmp_path / "link")
    assert read_xattrs(str(tmp_path / "link")) == ((), None)
    assert read_xattrs(str(tmp_path / "gone")) == ((), None)


def test_an_unreadable_attribute_is_reported(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    (box / "f").write_bytes(b"")
    os.chmod(box, 0)
    try:
        code = ("from bulwark.agent.backup.xattrs import read_xattrs; "
                f"print(read_xattrs({str(box / 'f')!r})[1])")
        out = subprocess.run([*WITHOUT_DAC, sys.executable, "-c", code], capture_output=True,
                             text=True, check=True).stdout
    finally:
        os.chmod(box, 0o700)
    assert out.strip() == "cannot list extended attributes: Permission denied"
