"""The drill sandbox: a fresh mount, network and PID namespace around ``agent.drill.inside``.

The sandbox is made with util-linux ``unshare`` (``--mount --net --pid --fork
--mount-proc --kill-child``, plus ``--user --map-root-user`` when the process is not
root). Inside, ``agent.drill.inside`` finishes the set-up before it looks at any data:

* the loopback interface is brought up (an ``SIOCSIFFLAGS`` ioctl, so iproute2 is not
  needed); it is the only interface a new network namespace has, so nothing can reach
  the host, the vault or the internet;
* a fresh tmpfs is mounted on ``/tmp`` (private tmp);
* the restored tree is bind-mounted read-only at ``/tmp/restore``.

The restore itself happens outside, in the parent, because the sandbox has no network
and the data has to come from the vault: the parent fetches, decrypts and writes the
snapshot into a fresh 0700 directory; only then does the sandbox start, and every check
on the data (hashes against the manifest, validators, the user's command) runs inside
it. When the sandbox's PID 1 exits the kernel kills whatever the command left behind,
and the namespaces with their mounts disappear; the parent then deletes the directory.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

from bulwark.agent.errors import AgentError

_BASE = ["--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child"]
_AS_USER = ["--user", "--map-root-user"]


class SandboxUnavailable(AgentError):
    """This process cannot create the namespaces a drill sandbox needs."""

    exit_code = 2


@functools.cache
def unshare_flags() -> tuple[str, ...]:
    """The ``unshare`` options that work for this process; SandboxUnavailable if none do.

    Tried in order: plain namespaces (root, or CAP_SYS_ADMIN), then a user namespace
    mapping this user to root inside it (unprivileged, where the kernel allows it).
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SandboxUnavailable(
            "cannot isolate the drill: the 'unshare' command (util-linux) is not installed; "
            "install it, or run with --isolation none (recorded in the report)")
    tried = []
    for flags in ([*_BASE], [*_AS_USER, *_BASE]):
        try:
            probe = subprocess.run([unshare, *flags, "true"], capture_output=True, text=True,
                                   timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(str(exc))
            continue
        if probe.returncode == 0:
            return (unshare, *flags)
        tried.append(probe.stderr.strip().splitlines()[-1] if probe.stderr.strip()
                     else f"exit {probe.returncode}")
    raise SandboxUnavailable(
        "cannot isolate the drill: this process may not create mount and network "
        f"namespaces ({'; '.join(tried)}); grant it (root, CAP_SYS_ADMIN, or unprivileged "
        "user namespaces), or run with --isolation none (recorded in the report)")


def inside_command(isolated: bool) -> list[str]:
    """The command line that runs ``agent.drill.inside``, in a sandbox or not."""
    python = [sys.executable, "-m", "bulwark.agent.drill.inside"]
    if not isolated:
        return python
    return [*unshare_flags(), "--", *python]


def child_env() -> dict[str, str]:
    """The environment of the inside process: the parent's, minus proxies and sockets
    that point outside (they would not work anyway, and must not leak)."""
    env = dict(os.environ)
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                 "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY", "no_proxy", "NO_PROXY", "SSH_AUTH_SOCK"):
        env.pop(name, None)
    return env
