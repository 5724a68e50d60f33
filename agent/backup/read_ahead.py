"""Reading small files ahead of the packer, on threads (issue #6).

Packing 20,000 small files is bound by the one thread that walks them, and opening,
reading, closing and hashing each file took ~40 % of that thread's time. :class:`ReadAhead`
does it on a few threads, in batches of ``batch`` files (a hand-off per file would cost
about what it saves), at most ``ahead`` batches before the caller, and hands the files back
in the order they were planned. The system calls and BLAKE3 release the GIL, so reading
overlaps the caller's own work, and on a cold page cache the reads of different batches
overlap each other's disk latency (restic reads two files at once for the same reason).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import blake3

from bulwark.agent.backup.source_file import open_source


@dataclass(frozen=True)
class SmallFile:
    """A file read whole: its bytes and their BLAKE3-256, or why it could not be read.

    ``data`` may be longer than the file was at the scan (at most ``limit + 1`` bytes are
    read), or shorter: the caller compares it with the size it expects.
    """

    path: str
    data: bytes = b""
    content_hash: bytes = b""
    error: OSError | None = None


def read_small(path: str, limit: int) -> SmallFile:
    """Read up to ``limit + 1`` bytes of ``path`` (to its end if it is shorter) and hash them;
    a path that is not a regular file now is an error (agent.backup.source_file)."""
    try:
        fd = open_source(path)
    except OSError as exc:
        return SmallFile(path, error=exc)
    try:
        data = os.read(fd, limit + 1)
        while 0 < len(data) <= limit:  # read() may return short: read to the end
            more = os.read(fd, limit + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        return SmallFile(path, error=exc)
    finally:
        os.close(fd)
    return SmallFile(path, data, blake3.blake3(data).digest())


def _read_batch(paths: list[str], limit: int) -> list[SmallFile]:
    return [read_small(p, limit) for p in paths]


class ReadAhead:
    """Files planned with :meth:`plan` are read on ``threads`` threads; :meth:`take` returns
    them one by one, in plan order. Memory: at most ``(ahead + 1) * batch`` files of up to
    ``limit + 1`` bytes are held (batches being read, and the one being taken). Not
    thread-safe (one caller)."""

    def __init__(self, limit: int, threads: int, batch: int = 32, ahead: int = 4) -> None:
        self._limit = limit
        self._batch = batch
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="read-ahead")
        self._planned: deque[str] = deque()
        self._reading: deque[Future[list[SmallFile]]] = deque()
        self._ready: deque[SmallFile] = deque()

    def plan(self, paths: Iterable[str]) -> None:
        """Queue ``paths`` to be read after those planned before."""
        self._planned.extend(paths)
        self._submit()

    def take(self, path: str) -> SmallFile:
        """The next planned file, which must be ``path`` (``ValueError`` otherwise, or if
        nothing is planned: caller and plan went out of step)."""
        if not self._ready:
            if not self._reading:
                raise ValueError(f"{path}: not planned for reading ahead")
            self._ready.extend(self._reading.popleft().result())
            self._submit()
        got = self._ready.popleft()
        if got.path != path:
            raise ValueError(f"{path}: expected, but {got.path} was planned next")
        return got

    def backlog(self) -> tuple[int, int]:
        """``(batches being read, paths planned but not yet given to a reader)``: what the
        memory bound above counts."""
        return len(self._reading), len(self._planned)

    def _submit(self) -> None:
        while self._planned and len(self._reading) < self._ahead:
            count = min(self._batch, len(self._planned))
            paths = [self._planned.popleft() for _ in range(count)]
            self._reading.append(self._pool.submit(_read_batch, paths, self._limit))

    def close(self) -> None:
        """Drop what is planned and not taken; wait for the reads already running."""
        self._planned.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._reading.clear()
        self._ready.clear()
