"""Reading an object's extended attributes for its manifest entry.

Kept, as restic and borg keep them: every name ``listxattr(2)`` returns without following
a symlink (``user.*``, ``trusted.*`` as root, ``security.*`` such as
``security.capability``, and POSIX ACLs as ``system.posix_acl_access`` /
``system.posix_acl_default`` in the kernel's binary form). A file system without xattr
support gives none, silently; any other failure is returned as a reason, so the backup
reports the object as partly read (issue 13: nothing vanishes unreported).
"""

from __future__ import annotations

import errno
import os

from bulwark.agent.format.manifest import Xattr

#: No attributes, nothing to report: the file system has none, or the object is gone (its
#: read reports that).
_NONE = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT}


def read_xattrs(path: str) -> tuple[tuple[Xattr, ...], str | None]:
    """(the attributes of ``path`` sorted by name, None), or (those read, why not all were).

    An attribute removed between listing and reading (``ENODATA``), or an object that is gone
    (``ENOENT``: reading it reports that), is left out silently.
    """
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _NONE:
            return (), None
        return (), f"cannot list extended attributes: {exc.strerror}"
    found: list[Xattr] = []
    problem = None
    for name in sorted(names, key=os.fsencode):
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA and problem is None:
                problem = f"cannot read extended attribute {name}: {exc.strerror}"
            continue
        found.append(Xattr(os.fsencode(name), value))
    return tuple(found), problem
