"""vaultd's log handler (vault.logsink): a stderr nobody reads never blocks a thread that
logs (issue 15: RPC workers and the SIGTERM path once hung on a full stderr pipe)."""

from __future__ import annotations

import logging
import os
import threading

from bulwark.vault.logsink import MAX_LINE, LogSink


def make_logger(sink: LogSink, name: str) -> logging.Logger:
    logger = logging.getLogger(f"test-logsink-{name}")
    logger.propagate = False
    logger.handlers = [sink]
    logger.setLevel(logging.INFO)
    return logger


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def stalled_pipe() -> tuple[int, int]:
    """A pipe already full, as when its reader stopped: the next write blocks."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        while True:
            os.write(write_end, b"p" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(write_end, True)
    return read_end, write_end


def test_a_pipe_nobody_reads_drops_lines_instead_of_blocking_and_says_how_many():
    read_end, write_end = stalled_pipe()
    sink = LogSink(write_end, capacity=64)
    logger = make_logger(sink, "stalled")
    line = "refused /bulwark.v1.Vault/PutChunks: " + "x" * 400
    lines = 1000

    def log_many() -> None:
        for n in range(lines):
            logger.warning("%d %s", n, line)

    worker = threading.Thread(target=log_many, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "a thread that logs blocked on the full pipe"
    assert sink.dropped > 0
    dropped = sink.dropped
    reader = threading.Thread(target=lambda: out.append(read_all(read_end)), daemon=True)
    out: list[bytes] = []
    reader.start()  # the reader comes back: what was queued is written, then the count
    assert sink.wait_written(30)
    sink.close()
    os.close(write_end)
    reader.join(30)
    text = out[0].decode()
    written = text.count("refused /bulwark.v1.Vault/PutChunks")
    assert written + dropped == lines
    assert text.rstrip().endswith(f"{dropped} log line(s) dropped: stderr was not taking "
                                  "them (a reader stalled)")
    os.close(read_end)


def test_lines_are_written_whole_and_in_order_and_a_huge_record_is_cut():
    read_end, write_end = os.pipe()
    sink = LogSink(write_end)
    logger = make_logger(sink, "order")
    for n in range(50):
        logger.info("line %d", n)
    logger.error("%s", "y" * (MAX_LINE * 3))
    sink.close()
    os.close(write_end)
    lines = read_all(read_end).decode().splitlines()
    os.close(read_end)
    assert lines[:50] == [f"line {n}" for n in range(50)]
    assert lines[50].startswith("y" * MAX_LINE) and lines[50].endswith(
        f"({MAX_LINE * 2} characters cut)")
    assert sink.dropped == 0
