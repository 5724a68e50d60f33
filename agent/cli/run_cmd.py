"""``vault-agent --config FILE run``: the long-running node daemon (agent.daemon.run)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from bulwark.agent.cli.common import Context


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run scheduled backups and drills until stopped",
                       description="Run the [[backup_set]] and [[drill]] jobs of the "
                       "configuration on their cron schedules. Stops cleanly on SIGTERM.")
    p.set_defaults(run=run, needs_config=True)


def run(args: argparse.Namespace, ctx: Context) -> int:
    # imported here: the scheduler and metrics add ~80 ms to every `vault-agent backup`
    from bulwark.agent.daemon.config import load_daemon_config
    from bulwark.agent.daemon.run import Daemon
    from bulwark.agent.daemon.sdnotify import Notifier

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    daemon = Daemon(ctx.config, load_daemon_config(ctx.config.path), ctx.keyring, ctx.client,
                    Notifier())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: daemon.stop.set())
    return daemon.run()
