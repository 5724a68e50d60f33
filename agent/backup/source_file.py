"""Opening a file the scan found, to read its content: no link followed, no FIFO waited on.

Between the scan and the read a file can be replaced: a training job rewrites a
checkpoint, a user swaps a file for a symbolic link or a FIFO. The agent can read every
file on the node, so following a link put there would back up whatever it points to
(``/etc/shadow``, another tenant's data) under the file's name, and opening a FIFO would
wait for a writer forever. :func:`open_source` refuses both, as restic and borg do: it opens
with ``O_NOFOLLOW | O_NONBLOCK`` and then requires the opened object to be a regular file.
The caller records the refusal as a skipped file, with the reason in the error's
``strerror``.
"""

from __future__ import annotations

import errno
import os
import stat

_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW | os.O_NONBLOCK

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def open_source(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``; the caller closes it.

    Raises ``OSError`` as ``os.open`` does, and also (``errno.ELOOP``) if ``path`` is a
    symbolic link now or (``errno.EINVAL``) if it is no longer a regular file; their
    ``strerror`` says so in words. ``O_NONBLOCK`` does not change reads of a regular file.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "it is a symbolic link now (not followed)", path) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "something else")
            raise OSError(errno.EINVAL, f"it is {kind} now, not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd
