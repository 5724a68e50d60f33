"""vaultd's log lines reach stderr through a bounded queue and one writer thread, so a
stderr that takes nothing never stops the vault (issue 15).

Why: with ``logging.StreamHandler`` every thread that logs writes to stderr itself, holding
the handler's lock. When nobody drains stderr (a stalled journald, a pipe whose reader
stopped, a paused terminal) the first write blocks once the pipe's buffer is full, and every
other thread that logs then waits on that lock: the RPC workers (each refusal is a log
line, so hostile calls fill the pipe fast), the reaper, and the main thread logging
"vaultd stopping" on SIGTERM. A hostile-input run once left vaultd answering nothing and
ignoring SIGTERM this way.

:class:`LogSink` is the one handler vaultd installs. Contract:

* ``emit`` never blocks on stderr: it formats the record in the caller's thread and puts
  the line on a queue of at most ``capacity`` lines (each cut to ``MAX_LINE`` characters,
  so the queue holds at most ``capacity * MAX_LINE`` characters). A full queue drops the
  line and counts it.
* One daemon thread writes the lines with ``os.write`` on the file descriptor (no Python
  lock is held while a write blocks, so neither other threads nor the interpreter's exit
  wait on it). When it has caught up after drops it writes one WARNING saying how many
  lines were dropped.
* ``close`` (``logging.shutdown`` calls it at exit) gives the writer at most
  ``drain_seconds`` to write what is queued, then returns whether it did.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

CAPACITY = 4096  # lines queued at most
MAX_LINE = 16_384  # characters kept of one formatted record (a traceback included)
DRAIN_SECONDS = 2.0


class LogSink(logging.Handler):
    """A logging handler writing formatted lines to ``fd`` from its own thread; see the
    module docstring for what it promises."""

    def __init__(self, fd: int, capacity: int = CAPACITY,
                 drain_seconds: float = DRAIN_SECONDS) -> None:
        super().__init__()
        self._fd = fd
        self._drain = drain_seconds
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=capacity)
        self._dropped = 0
        self._count_lock = threading.Lock()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="log-writer",
                                        daemon=True)
        self._writer.start()

    @property
    def dropped(self) -> int:
        """Lines dropped so far because the queue was full (stderr not taking them)."""
        with self._count_lock:
            return self._dropped

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # a bad argument in a log call must not fail the caller
            text = f"{record.levelname} unformattable log record {record.msg!r}: {exc!r}"
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + f" … ({len(text) - MAX_LINE} characters cut)"
        self._put((text + "\n").encode("utf-8", "backslashreplace"))

    def _put(self, line: bytes) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            with self._count_lock:
                self._dropped += 1

    def flush(self) -> None:
        """Nothing to flush in the caller's thread: the writer writes each line as it comes."""

    def wait_written(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every queued line to be written; True if so."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                done.wait(left)
        return True

    def close(self) -> None:
        """Stop taking lines and give the writer ``drain_seconds`` to write what is queued."""
        if not self._closed:
            self._closed = True
            deadline = time.monotonic() + self._drain
            try:
                self._queue.put(None, timeout=self._drain)
            except queue.Full:
                pass
            self._writer.join(max(0.0, deadline - time.monotonic()))
        super().close()

    # -- the writer thread ------------------------------------------------------------

    def _write_loop(self) -> None:
        reported = 0
        while True:
            line = self._queue.get()
            if line is not None:
                self._write_all(line)
            dropped = self.dropped
            if dropped > reported and self._queue.empty():  # caught up: say what was lost
                self._write_all(self._notice(dropped - reported))
                reported = dropped
            self._queue.task_done()
            if line is None:
                return

    def _notice(self, count: int) -> bytes:
        record = logging.makeLogRecord({
            "name": "vaultd", "levelno": logging.WARNING, "levelname": "WARNING",
            "msg": "%d log line(s) dropped: stderr was not taking them (a reader stalled)",
            "args": (count,)})
        try:
            text = self.format(record)
        except Exception:
            text = record.getMessage()
        return (text + "\n").encode("utf-8", "backslashreplace")

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except InterruptedError:
                continue
            except OSError:  # stderr closed or gone: nothing more can be said there
                return
            view = view[written:]
