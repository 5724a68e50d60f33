"""agent.client.status: every gRPC status code maps to one agent error and exit code, naming
the call (and, when unreachable, the address). The codes a real vault answers are met again
in tests/agent/client/test_vault.py."""

from __future__ import annotations

import grpc
import pytest

from bulwark.agent.client.status import USER_INPUT_ERROR, error_for, translate
from bulwark.agent.errors import (
    AccessDenied,
    IntegrityError,
    RetentionRefused,
    SnapshotNotFound,
    UsageError,
    VaultError,
)


class Failed(grpc.RpcError):
    """A failed call as grpc raises it: ``code()`` and ``details()``."""

    def __init__(self, code: grpc.StatusCode, details: str = "why") -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


EXPECTED = {
    grpc.StatusCode.UNAVAILABLE: (
        VaultError, 1, "GetChunks: cannot reach the vault at 10.0.0.1:7443: why"),
    grpc.StatusCode.DATA_LOSS: (IntegrityError, 1, "GetChunks: why"),
    grpc.StatusCode.NOT_FOUND: (SnapshotNotFound, 1, "why"),
    grpc.StatusCode.PERMISSION_DENIED: (
        AccessDenied, 2, "GetChunks: the vault refused this identity: why"),
    grpc.StatusCode.UNAUTHENTICATED: (
        AccessDenied, 2, "GetChunks: the vault refused this identity: why"),
    grpc.StatusCode.FAILED_PRECONDITION: (RetentionRefused, 1, "refused: why"),
}


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK],
                         ids=lambda c: c.name)  # OK is never raised
def test_every_status_code_has_one_error_and_exit_code(code):
    error = error_for(Failed(code), "GetChunks", "10.0.0.1:7443")
    cls, exit_code, message = EXPECTED.get(
        code, (VaultError, 1, f"GetChunks: vault answered {code.name}: why"))
    assert type(error) is cls and error.exit_code == exit_code
    assert str(error) == message


def test_not_found_takes_the_callers_meaning_and_no_details_name_the_code():
    error = error_for(Failed(grpc.StatusCode.NOT_FOUND), "x", "a",
                      not_found=lambda d: IntegrityError(f"lost: {d}"))
    assert type(error) is IntegrityError and str(error) == "lost: why"
    bare = error_for(Failed(grpc.StatusCode.INTERNAL, ""), "PutChunks", "a")
    assert str(bare) == "PutChunks: vault answered INTERNAL: INTERNAL"


def test_translate_raises_the_agent_error_and_lets_others_pass():
    with pytest.raises(AccessDenied) as err, translate("ListNodes", "a"):
        raise Failed(grpc.StatusCode.PERMISSION_DENIED)
    assert err.value.__suppress_context__  # the gRPC error is not chained into the output
    with pytest.raises(KeyError), translate("ListNodes", "a"):
        raise KeyError("not a gRPC failure")


def test_invalid_argument_is_a_usage_error_only_where_the_user_typed_the_argument():
    typed = error_for(Failed(grpc.StatusCode.INVALID_ARGUMENT, "prefix 'a' is ambiguous"),
                      "GetSnapshot", "a", invalid=USER_INPUT_ERROR)
    assert type(typed) is UsageError and typed.exit_code == 2
    assert str(typed) == "prefix 'a' is ambiguous"
    sent = error_for(Failed(grpc.StatusCode.INVALID_ARGUMENT), "CommitSnapshot", "a")
    assert type(sent) is VaultError and sent.exit_code == 1


def test_a_connection_lost_during_a_call_names_the_call_and_no_clock():
    """Issue 15: a link cut mid-upload once read as an unreachable vault with a hint about
    clocks; a failure to connect keeps the hint."""
    lost = error_for(Failed(grpc.StatusCode.UNAVAILABLE,
                            "Stream removed (recvmsg:Connection reset by peer (104))"),
                     "PutChunks", "10.0.0.1:7443")
    assert type(lost) is VaultError and lost.exit_code == 1
    assert str(lost).startswith("PutChunks: lost the connection to the vault at 10.0.0.1:7443")
    assert "clock" not in str(lost)
    refused = error_for(Failed(grpc.StatusCode.UNAVAILABLE,
                               "failed to connect to all addresses; last error: UNAVAILABLE: "
                               "ipv4:10.0.0.1:7443: Socket closed"), "ListSnapshots", "a")
    assert "ListSnapshots: cannot reach the vault at a" in str(refused)
    assert "If the vault's clock is set backwards" in str(refused)
