"""Node signing keys pinned on first sight (trust on first use, then never again).

The air-gap vault keeps its own key registry (``keys.sqlite``, ``vault.keys.registry``). The
first snapshot it sees of a node pins the key the primary reports for that node, and only
if the snapshot's header names that same key; from then on the pinned key alone decides.
A primary that later reports another key for a known node (a compromised primary trying
to slip in snapshots under a real node's name) is refused: ``KeyChanged``, audited and
alerted by the caller. An operator may pin keys ahead of time, out of band, with
``Keys.EnrollNode`` on the air-gap vault, which removes even the first-use trust.
"""

from __future__ import annotations

from bulwark.vault.errors import PermissionDenied
from bulwark.vault.keys.registry import Registry


class KeyChanged(PermissionDenied):
    """The primary reports a signing key for a known node that differs from the pinned one."""


class Pins:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def key_for(self, node: str, reported: bytes, header_key: bytes) -> tuple[bytes, bool]:
        """The pinned key of ``node`` and whether it was pinned just now.

        Raises ``KeyChanged`` if ``reported`` differs from an existing pin, and
        ``PermissionDenied`` if a first sight's header names a key other than ``reported``.
        """
        pinned = self.registry.node_key(node)
        if pinned is not None:
            if reported != pinned:
                raise KeyChanged(
                    f"node {node!r}: the primary reports signing key {reported.hex()[:16]}…, "
                    f"pinned {pinned.hex()[:16]}…; refused (a node's key never changes)"
                )
            return pinned, False
        if header_key != reported:
            raise PermissionDenied(
                f"node {node!r}: first sight, but the header's key is not the key the "
                "primary has enrolled; nothing pinned"
            )
        key, _ = self.registry.enroll(node, reported)
        return key, True

    def count(self) -> int:
        return len(self.registry.nodes())
