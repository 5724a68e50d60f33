"""Side-by-side benchmark: Bulwark vs restic vs borg on the same data, same run.

    python -m bench.run [--quick] [--repeats N] [--out bench/results/RESULT.json]
                        [--tools bulwark,restic,borg] [--workloads checkpoint,shards,smallfiles]

For every workload (see bench/workload.py) and every tool, in a fresh repository:

    first       back up the first state
    unchanged   back up again, nothing touched
    v2 / lora   switch the source folder to the next state and back it up
    restore     restore the latest snapshot into an empty folder, check every byte

Per phase: wall time, MB/s (source bytes / wall time, MB = 10^6 bytes), bytes the
repository grew by (apparent size of every file under it, before/after), peak
RSS and CPU time of the tool's process (rusage from wait4), and for Bulwark
the vault daemon's peak RSS (VmHWM, reset before each phase) and CPU time.
Nothing here is part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from bench import workload as wl

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PASSWORD = "bench-password-not-secret"
ALL_TOOLS = ("bulwark", "restic", "restic-sftp", "borg")
SSHD = "/usr/sbin/sshd"
MB = 1e6


class BenchError(RuntimeError):
    """A tool failed or a restore was not byte-identical."""


# ---------------------------------------------------------------------------
# process running with rusage


@dataclass
class Run:
    argv: list[str]
    rc: int
    wall_s: float
    maxrss_kb: int
    cpu_user_s: float
    cpu_sys_s: float
    stdout: str
    stderr: str

    def check(self) -> Run:
        if self.rc != 0:
            raise BenchError(f"command failed (exit {self.rc}): {' '.join(self.argv)}\n"
                             f"--- stdout ---\n{self.stdout[-4000:]}\n"
                             f"--- stderr ---\n{self.stderr[-4000:]}")
        return self


GNU_TIME = "/usr/bin/time"


def _gnu_time_ok() -> bool:
    try:
        r = subprocess.run([GNU_TIME, "-f", "%M", "true"], capture_output=True, timeout=10)
        return r.returncode == 0 and r.stderr.strip().isdigit()
    except (OSError, subprocess.TimeoutExpired):
        return False


# Peak RSS: the kernel folds the RSS of the address space a process had *before*
# exec into its ru_maxrss, so a tool spawned straight from this (large) Python
# process would inherit our own footprint. GNU time is a tiny intermediary whose
# child starts clean; without it we fall back to wait4 and say so in the JSON.
RSS_METHOD = "gnu-time" if os.path.exists(GNU_TIME) and _gnu_time_ok() else "wait4"


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 3600.0) -> Run:
    """Run ``argv`` to completion; wall time, peak RSS and CPU time of the tool."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="bench-time-") as tf:
        full = argv
        if RSS_METHOD == "gnu-time":
            full = [GNU_TIME, "-q", "-o", tf.name, "-f", "%M %U %S", *argv]
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             env=env, cwd=cwd)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        rss, utime, stime = ru.ru_maxrss, ru.ru_utime, ru.ru_stime
        if RSS_METHOD == "gnu-time":
            lines = Path(tf.name).read_text().strip().splitlines()
            try:
                m, u, s_ = lines[-1].split()
                rss, utime, stime = int(m), float(u), float(s_)
            except (IndexError, ValueError):
                pass
        out.seek(0)
        err.seek(0)
        return Run(argv, p.returncode, wall, rss, utime, stime,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def last_json(text: str) -> dict:
    """The last line of ``text`` that parses as a JSON object ({} if none)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else {"value": obj}
    except ValueError:
        return {}


def tree_size(path: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
            except FileNotFoundError:
                pass
    return total


def remove_tree(path: Path) -> None:
    """Remove a work folder. Bulwark's store marks blobs immutable (chattr +i) when it
    runs with the capability, so clear that attribute first where needed."""
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
        return
    except OSError:
        pass
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-R", "-f", "-i", str(path)], capture_output=True)
    try:
        shutil.rmtree(path)
    except OSError as e:
        print(f"warning: could not remove {path}: {e}", file=sys.stderr)


def set_workers(config: Path, workers: int) -> None:
    """Set ``[backup] workers`` in a configuration `vaultctl init` wrote (BenchError if the
    file has no such line to set)."""
    text = config.read_text()
    new, n = re.subn(r"(?m)^workers = \d+$", f"workers = {workers}", text)
    if n != 1:
        raise BenchError(f"{config}: expected one 'workers = N' line, found {n}")
    config.write_text(new)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_exe(name: str) -> str | None:
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    return shutil.which(name)


# ---------------------------------------------------------------------------
# tools


class Tool(ABC):
    """One backup tool driven through its real command line."""

    name = "?"

    def __init__(self, work: Path):
        self.work = work
        self.repo = work / "repo"
        self.env = dict(os.environ)

    @abstractmethod
    def version(self) -> str:
        """The tool's own version line."""

    @abstractmethod
    def setup(self) -> None:
        """Create an empty repository (and start any server it needs)."""

    @abstractmethod
    def backup(self, src: Path, tag: str) -> tuple[Run, dict]:
        """Back up ``src`` as one snapshot; the run and the tool's own report."""

    @abstractmethod
    def restore(self, target: Path) -> tuple[Run, dict]:
        """Restore the latest snapshot under ``target``."""

    def repo_bytes(self) -> int:
        return tree_size(self.repo)

    def phase_start(self) -> None:  # noqa: B027 - optional hook
        """Called before each measured phase (Bulwark resets vaultd's peak RSS)."""

    def phase_end(self) -> dict:
        return {}

    def close(self) -> dict:
        return {}


class Restic(Tool):
    name = "restic"

    def __init__(self, work: Path):
        super().__init__(work)
        self.env.update(RESTIC_PASSWORD=PASSWORD, RESTIC_CACHE_DIR=str(work / "cache"),
                        RESTIC_REPOSITORY=str(self.repo))

    def version(self) -> str:
        return run(["restic", "version"]).stdout.strip()

    def setup(self) -> None:
        run(["restic", "init", "--quiet"], env=self.env).check()

    def backup(self, src: Path, tag: str) -> tuple[Run, dict]:
        r = run(["restic", "backup", "--json", "--quiet", "--tag", tag, str(src)],
                env=self.env).check()
        return r, last_json(r.stdout)

    def restore(self, target: Path) -> tuple[Run, dict]:
        r = run(["restic", "restore", "latest", "--quiet", "--target", str(target)],
                env=self.env).check()
        return r, {}


class ResticSftp(Restic):
    """restic's most common remote set-up: a repository over SFTP, here to an sshd on
    loopback that the bench starts itself (its own host key, client key and config in the
    work folder; nothing listens beyond 127.0.0.1). The client's CPU (restic plus its ssh
    child, which restic waits for) is what GNU time reports; sshd is the server side, like
    vaultd for Bulwark."""

    name = "restic-sftp"

    def __init__(self, work: Path):
        super().__init__(work)
        self.ssh_dir = work / "ssh"
        self.port = free_port()
        self.sshd: subprocess.Popen | None = None
        key = self.ssh_dir / "client_key"
        ssh = (f"ssh -p {self.port} -i {key} -o StrictHostKeyChecking=no "
               f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes")
        self.env["RESTIC_REPOSITORY"] = f"sftp:{getpass.getuser()}@127.0.0.1:{self.repo}"
        self.sftp_command = f"{ssh} {getpass.getuser()}@127.0.0.1 -s sftp"

    @staticmethod
    def available() -> str | None:
        missing = [e for e in ("restic", "ssh", "ssh-keygen") if not find_exe(e)]
        if not os.path.exists(SSHD):
            missing.append(SSHD)
        return f"missing {', '.join(missing)}" if missing else None

    def setup(self) -> None:
        self.ssh_dir.mkdir(parents=True)
        for name in ("host_key", "client_key"):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                 str(self.ssh_dir / name)]).check()
        (self.ssh_dir / "authorized_keys").write_text(
            (self.ssh_dir / "client_key.pub").read_text())
        os.chmod(self.ssh_dir / "authorized_keys", 0o600)
        config = self.ssh_dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.ssh_dir / 'host_key'}",
            f"AuthorizedKeysFile {self.ssh_dir / 'authorized_keys'}",
            f"PidFile {self.ssh_dir / 'sshd.pid'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", ""]))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise BenchError(f"sshd did not listen on 127.0.0.1:{self.port}")
        run(["restic", "init", "--quiet", "-o", f"sftp.command={self.sftp_command}"],
            env=self.env).check()

    def backup(self, src: Path, tag: str) -> tuple[Run, dict]:
        r = run(["restic", "backup", "--json", "--quiet", "--tag", tag,
                 "-o", f"sftp.command={self.sftp_command}", str(src)], env=self.env).check()
        return r, last_json(r.stdout)

    def restore(self, target: Path) -> tuple[Run, dict]:
        r = run(["restic", "restore", "latest", "--quiet", "--target", str(target),
                 "-o", f"sftp.command={self.sftp_command}"], env=self.env).check()
        return r, {}

    def close(self) -> dict:
        if self.sshd is not None:
            self.sshd.terminate()
            self.sshd.wait(timeout=10)
        return {}


class Borg(Tool):
    name = "borg"

    def __init__(self, work: Path):
        super().__init__(work)
        self.env.update(BORG_PASSPHRASE=PASSWORD, BORG_BASE_DIR=str(work / "borgbase"),
                        BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
                        BORG_CHECK_I_KNOW_WHAT_I_AM_DOING="NO")
        self.last: str | None = None

    def version(self) -> str:
        return run(["borg", "--version"]).stdout.strip()

    def setup(self) -> None:
        run(["borg", "init", "-e", "repokey", str(self.repo)], env=self.env).check()

    def backup(self, src: Path, tag: str) -> tuple[Run, dict]:
        name = f"{tag}-{int(time.time() * 1000)}"
        r = run(["borg", "create", "--json", "--compression", "zstd,3",
                 f"{self.repo}::{name}", str(src)], env=self.env).check()
        self.last = name
        return r, last_json(r.stdout)

    def restore(self, target: Path) -> tuple[Run, dict]:
        assert self.last, "nothing backed up"
        r = run(["borg", "extract", f"{self.repo}::{self.last}"], env=self.env,
                cwd=target).check()
        return r, {}


class Bulwark(Tool):
    """Bulwark through its real CLIs: vaultctl init, vaultd, vault-agent, vaultctl."""

    name = "bulwark"
    #: ``[backup] workers`` for the agent and the operator (None: what `vaultctl init` wrote)
    workers: int | None = None

    def __init__(self, work: Path):
        super().__init__(work)
        self.dir = work / "vault"
        self.exe = {n: find_exe(n) for n in ("vaultctl", "vaultd", "vault-agent")}
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.store = self.dir / "store"
        self.snapshot: str | None = None
        self._cpu0 = 0.0

    @classmethod
    def available(cls) -> str | None:
        """None when the CLIs work, else the reason they do not."""
        for n in ("vaultctl", "vaultd", "vault-agent"):
            exe = find_exe(n)
            if exe is None:
                return f"{n} not found (run `pip install -e .` in {REPO_ROOT})"
            r = run([exe, "--help"], timeout=60)
            if r.rc != 0:
                return f"`{n} --help` exits {r.rc}: {(r.stderr or r.stdout).strip()[-600:]}"
        return None

    def version(self) -> str:
        r = run([self.exe["vaultctl"], "--version"], timeout=60)
        v = (r.stdout or r.stderr).strip() if r.rc == 0 else ""
        if not v:
            try:
                from importlib.metadata import version
                v = "bulwark " + version("bulwark")
            except Exception:
                v = "bulwark (unknown version)"
        commit = run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"])
        commit = commit.stdout.strip()
        return f"{v} (git {commit})" if commit else v

    def setup(self) -> None:
        port = free_port()
        run([self.exe["vaultctl"], "init", str(self.dir), "--port", str(port)],
            env=self.env).check()
        if self.workers is not None:
            for name in ("agent.toml", "operator.toml"):
                set_workers(self.dir / name, self.workers)
        cfg_path = self.dir / "vault.toml"
        with open(cfg_path, "rb") as f:
            cfg = tomllib.load(f)
        store = cfg.get("store", {}).get("path")
        if store:
            p = Path(store)
            self.store = p if p.is_absolute() else (self.dir / p)
        port_file = self.work / "vaultd.port"
        self.log = open(self.work / "vaultd.log", "wb")
        self.proc = subprocess.Popen(
            [self.exe["vaultd"], "--config", str(cfg_path), "--port-file", str(port_file)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"vaultd exited {self.proc.returncode} at start:\n"
                                 + self._log_tail())
            if port_file.exists() and port_file.read_text().strip():
                try:
                    actual = int(port_file.read_text().strip())
                    with socket.create_connection(("127.0.0.1", actual), timeout=1):
                        break
                except (OSError, ValueError):
                    pass
            if time.monotonic() > deadline:
                raise BenchError("vaultd did not come up within 60 s:\n" + self._log_tail())
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return (self.work / "vaultd.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def repo_bytes(self) -> int:
        return tree_size(self.store)

    def _proc_cpu(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            tick = os.sysconf("SC_CLK_TCK")
            return (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, AttributeError, IndexError):
            return 0.0

    def _hwm_kb(self) -> int:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def phase_start(self) -> None:
        try:  # reset the peak-RSS counter so VmHWM is per phase
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            pass
        self._cpu0 = self._proc_cpu()

    def phase_end(self) -> dict:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"vaultd died (exit {self.proc.returncode}):\n" + self._log_tail())
        return {"vaultd_rss_kb": self._hwm_kb(),
                "vaultd_cpu_s": round(self._proc_cpu() - self._cpu0, 3)}

    def backup(self, src: Path, tag: str) -> tuple[Run, dict]:
        r = run([self.exe["vault-agent"], "--config", str(self.dir / "agent.toml"), "backup",
                 str(src), "--tag", tag, "--json"], env=self.env).check()
        rep = last_json(r.stdout)
        if not rep.get("snapshot"):
            raise BenchError(f"vault-agent backup printed no snapshot id:\n{r.stdout[-2000:]}"
                             f"\n{r.stderr[-2000:]}")
        if rep.get("skipped"):
            raise BenchError(f"vault-agent backup skipped files: {str(rep['skipped'])[:2000]}")
        self.snapshot = str(rep["snapshot"])
        return r, rep

    def restore(self, target: Path) -> tuple[Run, dict]:
        assert self.snapshot, "nothing backed up"
        # Nodes are write-only: restores run with the operator's config (tenant key)
        # where `vaultctl init` wrote one, as a user is told to; else with agent.toml.
        cfg = self.dir / "operator.toml"
        if not cfg.exists():
            cfg = self.dir / "agent.toml"
        r = run([self.exe["vaultctl"], "--config", str(cfg), "restore",
                 self.snapshot, str(target), "--json"], env=self.env).check()
        rep = last_json(r.stdout)
        if rep.get("failed"):
            raise BenchError(f"vaultctl restore reports failed files: {str(rep['failed'])[:2000]}")
        return r, rep

    def close(self) -> dict:
        info: dict = {}
        if self.proc is not None:
            info["vaultd_total_hwm_kb"] = self._hwm_kb()
            if self.proc.poll() is None:
                info["vaultd_stopped_by_bench"] = True
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    info["vaultd_stop"] = "killed after 30 s without exiting on SIGTERM"
            info["vaultd_exit"] = self.proc.returncode
            self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        return info


TOOLS = {"bulwark": Bulwark, "restic": Restic, "restic-sftp": ResticSftp, "borg": Borg}


# ---------------------------------------------------------------------------
# source states and verification


def mirror(state: Path, src: Path) -> None:
    """Make ``src`` look like ``state``: hard links, untouched where the inode matches
    (an unchanged file keeps its inode and times, like in a real folder)."""
    want: set[str] = set()
    for dirpath, _, names in os.walk(state):
        for n in names:
            s = Path(dirpath, n)
            rel = s.relative_to(state)
            want.add(str(rel))
            d = src / rel
            try:
                if os.lstat(d).st_ino == os.lstat(s).st_ino:
                    continue
                d.unlink()
            except FileNotFoundError:
                pass
            d.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)
    for dirpath, dirs, names in os.walk(src, topdown=False):
        for n in names:
            p = Path(dirpath, n)
            if str(p.relative_to(src)) not in want:
                p.unlink()
        for dn in dirs:
            p = Path(dirpath, dn)
            if not any(p.iterdir()):
                p.rmdir()


def file_hash(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


_HASHES: dict[Path, dict[str, str]] = {}


def state_hashes(state: Path) -> dict[str, str]:
    if state not in _HASHES:
        out = {}
        for dirpath, _, names in os.walk(state):
            for n in names:
                p = Path(dirpath, n)
                out[str(p.relative_to(state))] = file_hash(p)
        _HASHES[state] = out
    return _HASHES[state]


def verify_restore(expected: dict[str, str], restored_root: Path) -> str | None:
    """None when ``restored_root`` holds exactly the expected files with the expected
    bytes, else a description of the first differences."""
    if not restored_root.is_dir():
        return f"restored tree {restored_root} does not exist"
    got: dict[str, Path] = {}
    for dirpath, _, names in os.walk(restored_root):
        for n in names:
            p = Path(dirpath, n)
            got[str(p.relative_to(restored_root))] = p
    problems = []
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected, e.g. {extra[:3]}")
    bad = [rel for rel in sorted(set(expected) & set(got)) if file_hash(got[rel]) != expected[rel]]
    if bad:
        problems.append(f"{len(bad)} with different content, e.g. {bad[:3]}")
    return "; ".join(problems) or None


# ---------------------------------------------------------------------------
# the benchmark


def bench_one(tool_name: str, kind: str, data: Path, work: Path, repeat: int) -> list[dict]:
    """All phases of one workload for one tool, in a fresh repository."""
    remove_tree(work)
    work.mkdir(parents=True)
    src = work / "src" / kind
    src.mkdir(parents=True)
    tool: Tool = TOOLS[tool_name](work)
    rows: list[dict] = []
    sts = wl.states(data, kind)
    plan = [("first", sts[0]), ("unchanged", sts[0])] + [(n, (n, p)) for n, p in sts[1:]]
    try:
        tool.setup()
        for phase, (state_name, state_path) in plan:
            mirror(state_path, src)
            files, size = wl.tree_bytes(src)
            before = tool.repo_bytes()
            tool.phase_start()
            r, rep = tool.backup(src, f"{kind}-{state_name}")
            extra = tool.phase_end()
            after = tool.repo_bytes()
            rows.append(_row(tool_name, kind, repeat, phase, state_name, files, size, r,
                             before, after, extra, rep))
            _progress(rows[-1])
        # restore the latest snapshot into an empty folder
        target = work / "restore"
        target.mkdir()
        state_name, state_path = plan[-1][1]
        files, size = wl.tree_bytes(state_path)
        before = tool.repo_bytes()
        tool.phase_start()
        r, rep = tool.restore(target)
        extra = tool.phase_end()
        row = _row(tool_name, kind, repeat, "restore", state_name, files, size, r, before,
                   tool.repo_bytes(), extra, rep)
        problem = verify_restore(state_hashes(state_path), target / src.relative_to("/"))
        row["verified"] = problem is None
        if problem:
            row["verify_error"] = problem
            print(f"\n!!! RESTORE MISMATCH: {tool_name} {kind}: {problem}\n", file=sys.stderr)
        rows.append(row)
        _progress(row)
    except BenchError as e:
        print(f"\n!!! {tool_name} {kind} failed: {e}\n", file=sys.stderr)
        rows.append({"tool": tool_name, "workload": kind, "repeat": repeat, "phase": "error",
                     "error": str(e)[-6000:]})
    finally:
        info = tool.close()
        if info:
            for row in rows:
                row.setdefault("tool_info", info)
            if info.get("vaultd_stopped_by_bench") and info.get("vaultd_exit") not in (
                    0, -signal.SIGTERM):
                print(f"!!! vaultd exited {info['vaultd_exit']} on SIGTERM", file=sys.stderr)
    return rows


def _row(tool, kind, repeat, phase, state, files, size, r: Run, before, after, extra, rep):
    return {
        "tool": tool, "workload": kind, "repeat": repeat, "phase": phase, "state": state,
        "src_files": files, "src_bytes": size, "wall_s": round(r.wall_s, 4),
        "mb_s": round(size / MB / r.wall_s, 2) if r.wall_s > 0 else None,
        "repo_before": before, "repo_after": after, "added_bytes": after - before,
        "peak_rss_kb": r.maxrss_kb, "cpu_user_s": round(r.cpu_user_s, 3),
        "cpu_sys_s": round(r.cpu_sys_s, 3),
        # The CPU the backup takes from the node (training): the client process and the
        # children it waited for (restic's ssh), never the server's (vaultd, sshd).
        "client_cpu_s_per_gb": round((r.cpu_user_s + r.cpu_sys_s) / max(size, 1) * 1e9, 3),
        **extra, "report": rep,
    }


def _progress(row: dict) -> None:
    vd = f" vaultd {row['vaultd_rss_kb'] / 1024:.0f} MB" if row.get("vaultd_rss_kb") else ""
    ok = ""
    if row["phase"] == "restore":
        ok = "  verified" if row.get("verified") else "  MISMATCH"
    print(f"  {row['tool']:8} {row['workload']:10} {row['phase']:9} {row['wall_s']:8.2f}s "
          f"{row['mb_s']:8.1f} MB/s  +{row['added_bytes'] / MB:8.2f} MB  "
          f"rss {row['peak_rss_kb'] / 1024:.0f} MB{vd}{ok}", flush=True)


# ---------------------------------------------------------------------------
# report


def _rng_fmt(vals: list[float], fmt: str) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    lo, hi = min(vals), max(vals)
    a, b = format(lo, fmt), format(hi, fmt)
    return a if a == b else f"{a}–{b}"


def _size_fmt(vals: list[int]) -> str:
    """A byte count (or min–max) in a unit that keeps small increments visible."""
    hi = max(vals)
    if hi >= MB:
        return _rng_fmt([v / MB for v in vals], ".2f") + " MB"
    if hi >= 10_000:
        return _rng_fmt([v / 1e3 for v in vals], ".1f") + " kB"
    return _rng_fmt(vals, ".0f") + " B"


def _vs_restic(rs: list[dict], base: list[dict], key: str) -> str:
    """This tool's value / restic's, paired repeat by repeat (the two ran minutes
    apart under the same conditions), as min–max over the repeats."""
    by_rep = {r["repeat"]: r[key] for r in base}
    ratios = [r[key] / by_rep[r["repeat"]] for r in rs
              if by_rep.get(r["repeat"]) and r[key] is not None]
    return _rng_fmt(ratios, ".2f") if ratios else "–"


def report(rows: list[dict], tools: list[str], meta: dict) -> str:
    la0, la1 = meta.get("loadavg_start", (0,))[0], meta.get("loadavg_end", (0,))[0]
    out = [f"# Bulwark bench — {meta['date']}", "",
           f"scale {meta['scale']}, repeats {meta['repeats']}, {meta['machine']['nproc']} CPUs "
           f"({meta['machine']['cpu']}), {meta['machine']['mem_gb']} GB RAM, "
           f"load average {la0:.2f} at start / {la1:.2f} at end", ""]
    for t, v in meta["versions"].items():
        out.append(f"- {t}: {v}")
    out.append("")
    out.append("MB = 10^6 bytes. MB/s = source (or restored) bytes / wall time. "
               "`×restic` = this tool's value / restic's (MB/s: higher is faster; stored: "
               "lower is smaller). added = growth of the repository directory in this phase; "
               "added/src = added / source bytes of the phase. RSS = peak resident memory.")
    ok_rows = [r for r in rows if r["phase"] != "error"]
    for kind in dict.fromkeys(r["workload"] for r in rows):
        out += ["", f"## {kind}", ""]
        for phase in dict.fromkeys(r["phase"] for r in ok_rows if r["workload"] == kind):
            sel = [r for r in ok_rows if r["workload"] == kind and r["phase"] == phase]
            src = sel[0]
            out.append(f"### {phase} ({src['state']}: {src['src_files']} files, "
                       f"{src['src_bytes'] / MB:.1f} MB)")
            out.append("")
            is_restore = phase == "restore"
            hdr = ["tool", "wall s", "MB/s", "×restic", "×restic-sftp"]
            if not is_restore:
                hdr += ["added", "added/src", "stored ×restic"]
            hdr += ["RSS tool MB", "RSS vaultd MB", "CPU s", "client CPU s/GB",
                    "client CPU ×restic"]
            if is_restore:
                hdr += ["verified"]
            out.append("| " + " | ".join(hdr) + " |")
            out.append("|" + "---|" * len(hdr))
            base = [r for r in sel if r["tool"] == "restic"]
            sftp = [r for r in sel if r["tool"] == "restic-sftp"]
            for tool in tools:
                rs = [r for r in sel if r["tool"] == tool]
                if not rs:
                    continue
                cells = [tool, _rng_fmt([r["wall_s"] for r in rs], ".2f"),
                         _rng_fmt([r["mb_s"] for r in rs], ".1f")]
                cells.append(_vs_restic(rs, base, "mb_s") if tool != "restic"
                             else ("1" if base else "–"))
                cells.append(_vs_restic(rs, sftp, "mb_s") if tool != "restic-sftp"
                             else ("1" if sftp else "–"))
                if not is_restore:
                    cells.append(_size_fmt([r["added_bytes"] for r in rs]))
                    cells.append(_rng_fmt([r["added_bytes"] / max(r["src_bytes"], 1) for r in rs],
                                          ".3f"))
                    cells.append(_vs_restic(rs, base, "added_bytes") if tool != "restic"
                                 else ("1" if base else "–"))
                cells.append(_rng_fmt([r["peak_rss_kb"] / 1024 for r in rs], ".0f"))
                cells.append(_rng_fmt([r.get("vaultd_rss_kb", 0) / 1024 for r in rs], ".0f")
                             if tool == "bulwark" else "–")
                cells.append(_rng_fmt([r["cpu_user_s"] + r["cpu_sys_s"]
                                       + r.get("vaultd_cpu_s", 0) for r in rs], ".1f"))
                cells.append(_rng_fmt([r["client_cpu_s_per_gb"] for r in rs], ".2f"))
                cells.append(_vs_restic(rs, base, "client_cpu_s_per_gb") if tool != "restic"
                             else ("1" if base else "–"))
                if is_restore:
                    cells.append("yes" if all(r.get("verified") for r in rs) else "**NO**")
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
    errors = [r for r in rows if r["phase"] == "error"]
    if errors:
        out += ["## Failures", ""]
        for r in errors:
            first = r["error"].strip().splitlines()[0] if r["error"].strip() else "?"
            out.append(f"- {r['tool']} / {r['workload']} (repeat {r['repeat']}): {first}")
        out.append("")
    out.append("CPU s = user + system time of the tool's process (for Bulwark plus vaultd's). "
               "client CPU s/GB = user + system time of the client process alone (and the "
               "children it waited for, e.g. restic's ssh) per GB of source; ×restic-sftp = "
               "MB/s / restic-over-SFTP's MB/s in the same repeat.")
    return "\n".join(out) + "\n"


def result_stem() -> str:
    """Result files are named ``<commit>-<what>``: the commit measured (``git describe
    --always --dirty``), then ``scale<N>`` for the side-by-side run or the scenario's name."""
    out = run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"])
    return out.stdout.strip() or "unknown"


def machine_facts() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "sched_cpus": len(os.sched_getaffinity(0)), "cpu": cpu,
            "mem_gb": mem, "kernel": platform.release(), "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (scale 0.1), for smoke checks")
    ap.add_argument("--scale", type=float, default=None, help="workload size multiplier "
                    "(default 1.0, or 0.1 with --quick)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="runs of every workload and tool (default 3, or 1 with --quick)")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS))
    ap.add_argument("--workers", type=int, default=None, metavar="N",
                    help="Bulwark's [backup] workers (default: what `vaultctl init` chooses, "
                         "at most 2); raise it on a many-core node")
    ap.add_argument("--workloads", default=",".join(wl.KINDS))
    ap.add_argument("--out", type=Path, default=None,
                    help="result JSON (default bench/results/<date>[-quick].json); "
                         "the Markdown table goes next to it")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where data, repositories and restores go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--report", type=Path, metavar="RESULT.json",
                    help="only re-render the Markdown table of an earlier result")
    ap.add_argument("--scenario", metavar="memory|files|nodes",
                    help="run one optional scenario of bench/scenarios.py instead, with its "
                         "own options (see `python -m bench.scenarios --help`)")
    a = ap.parse_args(argv)
    if a.report:
        res = json.loads(a.report.read_text())
        md = report(res["rows"], res["meta"]["tools"], res["meta"])
        a.report.with_suffix(".md").write_text(md)
        print(md)
        return 0

    scale = a.scale if a.scale is not None else (0.1 if a.quick else 1.0)
    a.repeats = a.repeats if a.repeats is not None else (1 if a.quick else 3)
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    kinds = [k.strip() for k in a.workloads.split(",") if k.strip()]
    for t in tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r} (choose from {', '.join(ALL_TOOLS)})")
    for k in kinds:
        if k not in wl.KINDS:
            ap.error(f"unknown workload {k!r} (choose from {', '.join(wl.KINDS)})")
    if a.workers is not None and not 1 <= a.workers <= 256:
        ap.error(f"--workers must be between 1 and 256, got {a.workers}")
    Bulwark.workers = a.workers
    for t in tools:
        if t in ("restic", "borg") and not shutil.which(t):
            ap.error(f"{t} is not installed (apt-get install restic borgbackup)")
    if "restic-sftp" in tools and (why := ResticSftp.available()):
        ap.error(f"restic-sftp: {why} (apt-get install restic openssh-server openssh-client)")
    if "bulwark" in tools:
        why = Bulwark.available()
        if why:
            print(f"error: Bulwark CLIs unusable: {why}", file=sys.stderr)
            return 2

    out = a.out or HERE / "results" / f"{result_stem()}-scale{scale:g}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    root = a.workdir or Path(tempfile.mkdtemp(prefix="bulwark-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"

    versions = {t: TOOLS[t](root / "probe").version() for t in tools}
    meta = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "scale": scale,
            "repeats": a.repeats, "quick": a.quick, "tools": tools, "workloads": kinds,
            "machine": machine_facts(), "versions": versions, "rss_method": RSS_METHOD,
            "workdir": str(root),
            "settings": {"restic": "repository v2, compression auto (default)",
                         "restic-sftp": "as restic, repository over SFTP to a loopback sshd "
                                        "the bench starts (ed25519 keys, internal-sftp)",
                         "borg": "repokey encryption, --compression zstd,3, default chunker",
                         "bulwark": "vaultctl init defaults, vaultd on loopback"
                                    + (f", [backup] workers = {a.workers}" if a.workers else "")}}
    print(f"bench: scale {scale}, tools {', '.join(tools)}, workloads {', '.join(kinds)}, "
          f"work dir {root}", flush=True)

    rows: list[dict] = []
    meta["loadavg_start"] = os.getloadavg()
    t_start = time.monotonic()
    try:
        for kind in kinds:
            t = time.monotonic()
            wl.generate(data, kind, scale)
            sizes = {n: wl.tree_bytes(p) for n, p in wl.states(data, kind)}
            meta.setdefault("data", {})[kind] = {n: {"files": f, "bytes": b}
                                                 for n, (f, b) in sizes.items()}
            print(f"{kind}: generated in {time.monotonic() - t:.1f}s "
                  + ", ".join(f"{n} {b / MB:.0f} MB/{f} files" for n, (f, b) in sizes.items()),
                  flush=True)
            for _state, p in wl.states(data, kind):
                state_hashes(p)
            for rep in range(a.repeats):
                order = tools[rep % len(tools):] + tools[:rep % len(tools)]  # rotate order
                for tool in order:
                    rows += bench_one(tool, kind, data, root / "runs" / f"{kind}-{tool}", rep)
                    remove_tree(root / "runs" / f"{kind}-{tool}")
            shutil.rmtree(data / kind, ignore_errors=True)
            _HASHES.clear()
    finally:
        meta["elapsed_s"] = round(time.monotonic() - t_start, 1)
        meta["loadavg_end"] = os.getloadavg()
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        md = report(rows, tools, meta)
        out.with_suffix(".md").write_text(md)
        print()
        print(md)
        print(f"results: {out} and {out.with_suffix('.md')} ({meta['elapsed_s']} s)")
        if not a.keep:
            remove_tree(root)
    failed = [r for r in rows if r["phase"] == "error" or r.get("verified") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
