"""vaultd's stop is bounded (vault.shutdown): a teardown step or a worker thread stuck in a
call no longer keeps the process alive (issue 15: alive 35 s after "stopping (grace 5s)").

Each case runs in a process of its own, as vaultd does, with a thread that never ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

STUCK = """
import logging, sys, threading
from bulwark.vault.shutdown import exit_after, exit_now, run_steps
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
forever = threading.Event()
"""


def run(script: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", STUCK + textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=60)
    return proc, time.monotonic() - started


def test_a_worker_thread_stuck_in_a_call_does_not_hold_the_exit():
    proc, took = run("""
        threading.Thread(target=forever.wait, name="vault-rpc_3").start()  # not a daemon
        exit_after(1.0, 0)
        sys.exit(0)
    """)
    assert proc.returncode == 0, proc.stderr
    assert took < 30
    assert "exiting without them" in proc.stderr and "vault-rpc_3" in proc.stderr


def test_a_teardown_step_that_overruns_is_named_and_the_process_ends():
    proc, took = run("""
        ran = []
        ok = run_steps([("the gRPC server", lambda: ran.append(1)),
                        ("the catalog", forever.wait),
                        ("the store", lambda: ran.append(2))], 1.0)
        print(ok, ran)
        sys.stdout.flush()
        exit_now(1)
    """)
    assert proc.returncode == 1
    assert took < 30
    assert proc.stdout.strip() == "False [1]"
    assert "the catalog did not finish within 1 s" in proc.stderr
    assert "Thread" in proc.stderr  # every thread's stack, to find what it waits on


def test_steps_that_finish_run_in_order_and_a_failing_one_does_not_stop_the_rest():
    proc, _ = run("""
        ran = []
        def boom():
            raise OSError("disk gone")
        print(run_steps([("a", lambda: ran.append("a")), ("b", boom),
                         ("c", lambda: ran.append("c"))], 5.0), ran)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True ['a', 'c']"
    assert "stopping: b failed" in proc.stderr and "disk gone" in proc.stderr
