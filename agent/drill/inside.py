"""Runs inside the drill sandbox: set it up, then check the restored tree.

Reads the job from stdin as JSON lines and writes one JSON result to stdout
(``agent.drill.runner`` is the other end)::

    line 1    {"root": DIR, "isolated": bool, "command": str | null, "timeout": seconds}
    then      [path, size, blake3 hex]        one line per file the manifest expects
    result    {"sandbox": {...}, "verify": {...}, "validators": [...], "command": {...} | null}

The expected files are read and checked one line at a time, so memory does not grow with
the number of files (issue #6).

With ``isolated`` it is PID 1 of fresh mount, network and PID namespaces (see
``agent.drill.sandbox``) and first brings ``lo`` up, mounts a tmpfs on /tmp and
bind-mounts the restored tree read-only at /tmp/restore. Everything it imports is
imported before that, so hiding the host's /tmp cannot break an import.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import blake3

from bulwark.agent.drill.validators import validate_tree

SANDBOX_ROOT = "/tmp/restore"
TAIL_BYTES = 4096

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1, 2, 4, 32, 4096, 16384, 1 << 18)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    def enc(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _enter(root: str) -> tuple[str, dict[str, object]]:
    """Finish the sandbox; returns the path of the restored tree inside it."""
    _loopback_up()
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=1777")
    os.mkdir(SANDBOX_ROOT, 0o755)
    _mount(f"/proc/self/fd/{fd}", SANDBOX_ROOT, None, _MS_BIND | _MS_REC)
    _mount(None, SANDBOX_ROOT, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY)
    os.close(fd)
    interfaces = sorted(name for _, name in socket.if_nameindex())
    return SANDBOX_ROOT, {"interfaces": interfaces, "private_tmp": True,
                          "read_only_restore": True, "pid": os.getpid()}


def _verify(root: Path, expected: Iterable[list]) -> dict[str, object]:
    problems = []
    checked = count = 0
    for rel, size, digest in expected:
        count += 1
        path = root / rel.lstrip("/")
        try:
            st = path.lstat()
            if not path.is_file() or path.is_symlink():
                raise ValueError("not a regular file")
            if st.st_size != size:
                raise ValueError(f"size {st.st_size}, manifest says {size}")
            hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
            if size:
                hasher.update_mmap(path)
            if hasher.hexdigest() != digest:
                raise ValueError("content hash does not match the manifest")
            checked += 1
        except FileNotFoundError:
            problems.append({"path": rel, "error": "missing"})
        except (OSError, ValueError) as exc:
            problems.append({"path": rel, "error": str(exc)})
    return {"files_checked": checked, "files_expected": count, "problems": problems}


def _tail(data: bytes) -> str:
    return data[-TAIL_BYTES:].decode("utf-8", "replace")


def _run_command(cmd: str, root: str, timeout: float, isolated: bool) -> dict[str, object]:
    env = dict(os.environ, BULWARK_DRILL_ROOT=root)
    if isolated:
        env.update(TMPDIR="/tmp", HOME="/tmp")
    started = time.monotonic()
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", cmd], cwd=root, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return {"cmd": cmd, "exit_code": None, "timed_out": False, "duration_s": 0.0,
                "output_tail": f"cannot start: {exc}"}
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    return {"cmd": cmd, "exit_code": None if timed_out else proc.returncode,
            "timed_out": timed_out, "duration_s": time.monotonic() - started,
            "output_tail": _tail(out or b"")}


def run(job: dict, expected: Iterable[list]) -> dict[str, object]:
    """Set up the sandbox (if ``job["isolated"]``), check ``expected`` against the tree,
    run the validators and the command; the result as JSON-ready data."""
    root = job["root"]
    result: dict[str, object] = {"sandbox": {}, "command": None}
    if job["isolated"]:
        try:
            root, result["sandbox"] = _enter(root)
        except OSError as exc:
            result["sandbox"] = {"error": f"sandbox set-up failed: {exc}"}
            return result
    tree = Path(root)
    result["verify"] = _verify(tree, expected)
    result["validators"] = [c.to_json() for c in validate_tree(tree)]
    if job.get("command"):
        result["command"] = _run_command(job["command"], root, float(job["timeout"]),
                                         job["isolated"])
    return result


def main() -> int:
    job = json.loads(sys.stdin.readline())
    json.dump(run(job, (json.loads(line) for line in sys.stdin)), sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
