"""Hostile file trees: every shape a backup meets on a real Linux node, and a comparison of
a restored tree with its source that looks at everything a restore must reproduce.

``build_hostile(root)`` makes names that are not UTF-8, very long and backslashed names,
FIFOs, sockets, device nodes, hard links, xattrs and POSIX ACLs (``setfacl``, Debian
``acl``), a capability, sparse files, odd modes, owners and times, and (``locked=True``)
a directory that cannot be listed and a file that cannot be read by an agent without
``CAP_DAC_OVERRIDE`` (run it with :data:`WITHOUT_DAC`). ``tree_state(root)`` reads a tree
back as comparable values; two trees are equal when their states are.

Tests run as root: folders that held device nodes or locked entries are cleaned with
:func:`remove_tree`.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

#: Prefix a command with this to run it as root without the capabilities that bypass file
#: permissions (util-linux setpriv): mode-000 entries become unreadable to it.
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
#: ... as root without CAP_MKNOD (a container, a sandboxed unit): no device nodes.
WITHOUT_MKNOD = ["setpriv", "--bounding-set=-mknod", "--"]
#: ... as the unprivileged user nobody. It keeps CAP_DAC_READ_SEARCH only, to reach an
#: interpreter installed under a private home (as vault-agent.service keeps it to read); it
#: cannot chown, mknod devices or write where nobody may not.
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"]

LONG_NAME = "L" * 250 + ".bin"  # a name near NAME_MAX (255 bytes)
BAD_NAME = b"bad\xffname\xfe.bin"  # not UTF-8
SPARSE_SIZE = 24 << 20


@dataclass
class Hostile:
    """What :func:`build_hostile` made, for the assertions that follow a backup."""

    root: Path
    unreadable: list[Path] = field(default_factory=list)  # only without DAC override
    devices: bool = False  # device nodes were made (mknod permitted)


def _p(root: Path, raw: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(root) + b"/" + raw))


def build_hostile(root: Path, locked: bool = False) -> Hostile:
    """Make the hostile tree under ``root`` (created); see the module docstring."""
    out = Hostile(root)
    root.mkdir(parents=True)
    (root / "names").mkdir()
    _p(root / "names", BAD_NAME).write_bytes(b"bytes name\n")
    (_p(root / "names", b"dir\xc3\x28")).mkdir()  # an invalid 2-byte sequence
    (_p(root / "names", b"dir\xc3\x28") / "inner").write_bytes(b"inside a bad dir\n")
    (root / "names" / LONG_NAME).write_bytes(b"long\n")
    (root / "names" / "back\\xff-slash").write_bytes(b"a literal backslash-x-f-f\n")
    (root / "names" / "new\nline").write_bytes(b"newline in name\n")
    deep = root / "names" / "/".join(["d" * 200] * 6)  # a path of ~1.3 kB
    deep.mkdir(parents=True)
    (deep / "leaf").write_bytes(b"deep\n")

    special = root / "special"
    special.mkdir()
    os.mkfifo(special / "fifo", 0o640)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(special / "sock"))
    try:
        os.mknod(special / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(special / "blk", stat.S_IFBLK | 0o660, os.makedev(7, 42))
        out.devices = True
    except PermissionError:
        pass

    links = root / "links"
    (links / "sub").mkdir(parents=True)
    (links / "a").write_bytes(b"one inode, three names\n" * 100)
    os.link(links / "a", links / "b")
    os.link(links / "a", links / "sub" / "c")
    (links / "big").write_bytes(os.urandom(300_000))  # read ahead into no pack twice
    os.link(links / "big", links / "big2")
    os.symlink("a", links / "sym")

    meta = root / "meta"
    meta.mkdir()
    tagged = meta / "tagged"
    tagged.write_bytes(b"xattrs\n")
    os.setxattr(tagged, "user.comment", b"kept as bytes \x00\xff")
    os.setxattr(tagged, "user.empty", b"")
    os.setxattr(meta, "user.dir", b"on a directory")
    acl = meta / "acl"
    acl.write_bytes(b"acl\n")
    subprocess.run(["setfacl", "-m", "u:nobody:r,g:nogroup:rw", str(acl)], check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:nobody:rx", str(meta)], check=True)
    cap = meta / "cap"
    cap.write_bytes(b"#!/bin/sh\n")
    os.chmod(cap, 0o755)
    os.setxattr(cap, "security.capability",  # cap_net_bind_service+ep, VFS_CAP_REVISION_2
                bytes.fromhex("01000002" "00040000" "00000000" "00000000" "00000000"))
    setuid = meta / "setuid"
    setuid.write_bytes(b"\x7fELF")
    os.chown(setuid, 65534, 65534)
    os.chmod(setuid, 0o4755)
    os.chmod(meta / "cap", 0o750)
    sticky = meta / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    (meta / "empty").write_bytes(b"")
    old = meta / "old"
    old.write_bytes(b"old\n")
    os.utime(old, ns=(123_456_789_012_345_678, 123_456_789_012_345_678))

    sparse = root / "sparse"
    sparse.mkdir()
    with open(sparse / "holes.bin", "wb") as f:
        f.write(b"start")
        f.seek(SPARSE_SIZE - 3)
        f.write(b"end")

    if locked:
        box = root / "locked"
        box.mkdir()
        (box / "hidden").write_bytes(b"cannot be listed\n")
        os.chmod(box, 0)
        secret = root / "unreadable.bin"
        secret.write_bytes(b"cannot be read\n")
        os.chmod(secret, 0)
        out.unreadable = [box, secret]
    return out


def remove_tree(root: Path) -> None:
    """Remove ``root`` whatever it holds (immutable blobs, locked modes, device nodes)."""
    if not os.path.lexists(root):
        return
    subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)
    for directory, dirs, _ in os.walk(root):
        for d in dirs:
            path = os.path.join(directory, d)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
    shutil.rmtree(root)


def _xattrs(path: bytes) -> tuple[tuple[bytes, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    return tuple(sorted((os.fsencode(n), os.getxattr(path, n, follow_symlinks=False))
                        for n in names))


def tree_state(root: Path, times: bool = True) -> dict[bytes, tuple]:
    """Everything a restore must reproduce, by path bytes relative to ``root``: type, mode,
    owner, mtime, content or target or device numbers, xattrs; and which paths share an
    inode (hard links, as sorted groups under the key ``b"//links"``)."""
    base = os.fsencode(root)
    found: dict[bytes, tuple] = {}
    inodes: dict[int, list[bytes]] = {}
    for directory, dirs, files in os.walk(base):
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            rel = path[len(base) + 1:]
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            if kind == stat.S_IFREG:
                with open(path, "rb") as f:
                    detail: object = f.read()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            elif kind == stat.S_IFLNK:
                detail = os.readlink(path)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                detail = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                detail = None
            found[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                          st.st_mtime_ns if times else 0, detail, _xattrs(path))
    found[b"//links"] = tuple(sorted(tuple(sorted(g)) for g in inodes.values() if len(g) > 1))
    return found


def differences(a: dict[bytes, tuple], b: dict[bytes, tuple]) -> list[str]:
    """Readable differences between two :func:`tree_state` results (empty when equal)."""
    out = [f"only in source: {p!r}" for p in sorted(a.keys() - b.keys())]
    out += [f"only in restore: {p!r}" for p in sorted(b.keys() - a.keys())]
    fields = ("type", "mode", "uid", "gid", "mtime", "content", "xattrs")
    for p in sorted(a.keys() & b.keys()):
        if a[p] != b[p]:
            if p == b"//links":
                out.append(f"hard links differ: {a[p]!r} != {b[p]!r}")
                continue
            bad = [f for f, x, y in zip(fields, a[p], b[p], strict=True) if x != y]
            out.append(f"{p!r}: {', '.join(bad)} differ")
    return out


def sparse_blocks(path: Path) -> int:
    """Bytes actually allocated for ``path`` (holes are not)."""
    return os.stat(path).st_blocks * 512
