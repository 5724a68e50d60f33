"""vault.ingest.upload_guard: uploads run together, prune runs alone and is not starved."""

from __future__ import annotations

import threading
import time

from bulwark.vault.ingest.upload_guard import UploadGuard


def _spawn(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def test_uploads_hold_the_guard_together():
    guard = UploadGuard(max_uploads=3)
    inside = threading.Barrier(3, timeout=10)  # only passable if all three are inside at once

    def upload():
        with guard.upload():
            inside.wait()

    threads = [_spawn(upload) for _ in range(3)]
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)


def test_prune_waits_for_uploads_and_excludes_new_ones():
    guard = UploadGuard()
    events: list[str] = []
    release_upload = threading.Event()
    upload_in = threading.Event()

    def first_upload():
        with guard.upload():
            upload_in.set()
            release_upload.wait(10)
            events.append("upload 1 done")

    def prune():
        with guard.prune():
            events.append("prune")

    def late_upload():
        with guard.upload():
            events.append("upload 2")

    t1 = _spawn(first_upload)
    assert upload_in.wait(10)
    t2 = _spawn(prune)
    while not guard.prunes_waiting:  # the prune is queued behind upload 1
        time.sleep(0.001)
    t3 = _spawn(late_upload)
    time.sleep(0.05)  # upload 2 must not slip in ahead of the waiting prune
    assert events == []
    release_upload.set()
    for t in (t1, t2, t3):
        t.join(10)
    assert events == ["upload 1 done", "prune", "upload 2"]


def test_an_exception_releases_the_guard():
    guard = UploadGuard()
    for lock in (guard.upload, guard.prune):
        try:
            with lock():
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    done = threading.Event()
    _spawn(lambda: (guard.prune().__enter__(), done.set()))
    assert done.wait(10)


def test_at_most_max_uploads_at_once():
    guard = UploadGuard(max_uploads=2)
    inside = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def upload():
        nonlocal inside, most
        with guard.upload():
            with lock:
                inside += 1
                most = max(most, inside)
            release.wait(10)
            with lock:
                inside -= 1

    threads = [_spawn(upload) for _ in range(5)]
    while True:
        with lock:
            if inside == 2:
                break
        time.sleep(0.001)
    time.sleep(0.05)  # a third would have entered by now if it could
    release.set()
    for t in threads:
        t.join(10)
    assert most == 2 and not any(t.is_alive() for t in threads)
