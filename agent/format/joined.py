"""A joined node's key origin: the join token its snapshot signing key derives from.

A node that joined with a token (``vault-agent enroll``) signs with a key derived from that
token's secret and its own name, and the token's creator derived the secret from the tenant
master, the token id and the token's scope (FORMAT.md "Joined nodes' signing keys"). The node
names its token in every header it signs (``SnapshotHeader.joined``), so a reader holding the
tenant key re-derives the key from the header alone: the vault's registry is never asked.

``JoinOrigin`` is that statement: the token id and exactly one of ``name`` (the token is for
this one node name) or ``prefix`` (for any name starting with it). Construction refuses
anything else with ``ValueError`` naming the field; callers turn that into their own error
(a header: ManifestError; a key file: KeyMaterialError).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bulwark.protos.bulwark.v1 import joined_pb2

TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class JoinOrigin:
    """Which token a joined node's signing key derives from, and the names it covers."""

    token_id: str
    name: str = ""
    prefix: str = ""

    def __post_init__(self) -> None:
        if not TOKEN_ID.match(self.token_id):
            raise ValueError(f"join token id {self.token_id!r}: expected 16 lowercase hex "
                             "digits")
        if bool(self.name) == bool(self.prefix):
            raise ValueError(f"join token {self.token_id}: exactly one of name and prefix "
                             "must be set")

    @property
    def scope(self) -> str:
        """``name:<name>`` or ``prefix:<prefix>``: the bytes (UTF-8) the derivation binds."""
        return f"name:{self.name}" if self.name else f"prefix:{self.prefix}"

    def covers(self, node: str) -> bool:
        """Whether ``node`` is a name this token could join."""
        return node == self.name if self.name else node.startswith(self.prefix)

    def describe(self) -> str:
        who = f"name {self.name!r}" if self.name else f"names starting {self.prefix!r}"
        return f"join token {self.token_id} ({who})"


def origin_pb(origin: JoinOrigin) -> joined_pb2.JoinOrigin:
    return joined_pb2.JoinOrigin(token_id=origin.token_id, name=origin.name,
                                 prefix=origin.prefix)


def origin_from_pb(message: joined_pb2.JoinOrigin) -> JoinOrigin:
    """The origin a message states; ValueError if it is not a valid one."""
    return JoinOrigin(message.token_id, message.name, message.prefix)
