"""What every command shares: loading the context, JSON output, exit-code mapping.

A reader that closes stdout early (``vaultctl snapshots | head -2``) ends the command quietly
with exit 141, as the shell reports coreutils killed by SIGPIPE: no traceback, no message.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import select
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bulwark.agent import allocator
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import AgentError
from bulwark.agent.keys.keyfile import KeyRing, load_keyring
from bulwark.agent.site.config import AgentConfig, load_agent_config

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
#: The work was done, but not all of it as asked: a backup that could not read some source
#: data (the snapshot was committed; restic's 3), a restore that could not recreate some
#: entries or attributes. The ``skipped`` list in ``--json`` says what and why.
EXIT_PARTIAL = 3


@dataclass
class Context:
    config: AgentConfig
    keyring: KeyRing
    client: VaultClient


def open_context(config_path: str) -> Context:
    """Load the configuration and its key file and connect to the vault (lazily)."""
    config = load_agent_config(config_path)
    keyring = load_keyring(config.key_file, config.node)
    return Context(config, keyring, VaultClient.from_config(config))


class _MissingConfig(AgentError):
    exit_code = EXIT_USAGE


def require_config(args: argparse.Namespace, prog: str) -> Context:
    if not args.config:
        raise _MissingConfig(f"--config FILE is required for '{prog} {args.command}'")
    return open_context(args.config)


def counted(n: int, noun: str, plural: str = "") -> str:
    """``1 file``, ``2 files`` (``plural`` where adding 's' is wrong: ``entry``/``entries``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def print_json(value: object) -> None:
    json.dump(value, sys.stdout, indent=None, sort_keys=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def dispatch(args: argparse.Namespace, prog: str) -> int:
    """Run the parsed command: with a Context (closed afterwards) when it needs a
    configuration, without one otherwise; exceptions become exit codes (run_main)."""

    def handler() -> int:
        if not args.needs_config:
            return args.run(args)
        ctx = require_config(args, prog)
        try:
            return args.run(args, ctx)
        finally:
            ctx.client.close()

    allocator.tune()
    # Everything imported so far lives until exit: keep the collector from re-scanning it on
    # every pass (collections took ~2.7 % of a checkpoint restore's CPU; issue #6).
    gc.freeze()
    return run_main(prog, handler)


#: Exit status of a command whose stdout reader went away (128 + SIGPIPE, as a shell shows it).
EXIT_PIPE_CLOSED = 128 + signal.SIGPIPE


def run_main(prog: str, handler: Callable[[], int]) -> int:
    """Run ``handler`` and map the agent's exceptions to exit codes (one place)."""
    try:
        code = handler()
        sys.stdout.flush()  # inside the try: a closed pipe fails here, not at exit
        return code
    except BrokenPipeError:
        if not stdout_closed():
            raise  # some other pipe: not ours to hide
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail
        return EXIT_PIPE_CLOSED
    except AgentError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def stdout_closed() -> bool:
    """True when stdout is a pipe whose reader has closed it (poll reports POLLERR)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError):
        return False
