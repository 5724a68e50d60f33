"""Who is calling, as the domain sees it: a name and a role.

The gRPC edge (``vault.rpc.identity``) reads both from the client certificate; everything
below the edge (retention rules, node isolation, audit entries) receives a :class:`Caller`
and never a gRPC context.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("node", "operator", "officer", "replica", "drill")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: ``name`` (certificate CN) and ``role`` (certificate OU)."""

    name: str
    role: str

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


INSECURE_CALLER = Caller("insecure", "operator")
