"""vaultd's stop, bounded in time (issue 15: vaultd once stayed alive 35 s after "stopping
(grace 5s)", its main thread waiting on a futex).

Why a stop could wait without bound: ``grpc.Server.stop(grace)`` cancels the calls still
running when the grace ends, but it cannot end the worker threads serving them. A handler
still computing (a hostile message being parsed, a huge id set being freed), blocked in the
store (a stalled disk) or holding the catalog's lock keeps its thread alive; closing the
catalog then waits on that lock, and the interpreter's exit joins every worker thread of the
server's ``ThreadPoolExecutor`` (they are not daemon threads), however long they take.

So the teardown steps run in a helper thread with one deadline for all of them
(``STOP_SECONDS`` after the grace); a step that overruns is logged by name with the stack of
every thread still running, and :func:`exit_now` then ends the process without joining
them. SQLite (WAL, ``synchronous=FULL``) and the store (a blob is durable before the
catalog records it) are crash-safe, so leaving a stuck call behind loses nothing committed.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence

log = logging.getLogger("vaultd")
STOP_SECONDS = 10  # after the gRPC grace: how long closing the backends may take


def run_steps(steps: Sequence[tuple[str, Callable[[], object]]], limit_s: float) -> bool:
    """Run ``steps`` (name, function) in order within ``limit_s`` seconds in all. True if
    every step finished; False (logged as an ERROR naming the step, with every thread's
    stack on stderr) if the deadline passed first. A step that raises is logged and the
    next one runs."""
    current = ["(none)"]
    done = threading.Event()

    def run() -> None:
        for name, step in steps:
            current[0] = name
            try:
                step()
            except Exception:
                log.exception("stopping: %s failed", name)
        done.set()

    started = time.monotonic()
    threading.Thread(target=run, name="vaultd-stop", daemon=True).start()
    if done.wait(limit_s):
        return True
    log.error("stopping: %s did not finish within %.0f s (a call is still running in the "
              "store or catalog); exiting without waiting for it. Threads still running: %s",
              current[0], time.monotonic() - started, ", ".join(busy_threads()) or "none")
    # Through the log, not faulthandler's direct write: a stderr nobody reads must not
    # block the stop (vault.logsink).
    for stack in thread_stacks():
        log.error("stopping: %s", stack)
    return False


def thread_stacks() -> list[str]:
    """Every thread's name and stack (most recent call last), one string per thread."""
    names = {t.ident: t.name for t in threading.enumerate()}
    return [f"Thread {names.get(ident, '?')} ({ident}), most recent call last:\n"
            + "".join(traceback.format_stack(frame)).rstrip()
            for ident, frame in sys._current_frames().items()]


def busy_threads() -> list[str]:
    """Names of the live non-daemon threads other than the calling one: what the
    interpreter's exit would wait for."""
    me = threading.current_thread()
    return sorted(t.name for t in threading.enumerate()
                  if t is not me and t.is_alive() and not t.daemon)


def exit_now(code: int) -> None:
    """End the process with ``code`` without joining threads that are still serving calls
    (the interpreter's exit would wait for each). Flushes the logs first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_after(limit_s: float, code: int) -> threading.Thread:
    """Bound the interpreter's exit: if the process still runs ``limit_s`` seconds from now
    (its exit joining a worker thread that a call still holds), log which threads it waits
    for and end it with ``code``. A daemon thread: it never delays a quick exit."""

    def watch() -> None:
        time.sleep(limit_s)
        log.warning("stopped, but the exit waited %.0f s for threads still serving calls "
                    "(%s); exiting without them", limit_s, ", ".join(busy_threads()) or "none")
        exit_now(code)

    thread = threading.Thread(target=watch, name="vaultd-exit", daemon=True)
    thread.start()
    return thread
