"""The admission interceptor (vault.rpc.admission) in front of a handler the vault did not
write: grpcio-reflection's, which does not map errors of its request stream (issue 15: it
answered garbage with UNKNOWN). A real gRPC server on loopback, the interceptor as vaultd
installs it; the whole vault behind mTLS is tests/e2e/test_hostile_rpc.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_reflection.v1alpha import reflection, reflection_pb2

from bulwark.vault.ingest.limits import CallLimiter, Limits
from bulwark.vault.rpc.admission import AdmissionInterceptor

METHOD = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple] = []

    def append(self, *entry) -> None:
        self.entries.append(entry)


@pytest.fixture
def served():
    audit = Audit()
    admission = AdmissionInterceptor(CallLimiter(Limits()), 120, audit)
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=[admission])
    reflection.enable_server_reflection((reflection.SERVICE_NAME,), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel.stream_stream(METHOD, request_serializer=None,
                                response_deserializer=None), audit
    channel.close()
    server.stop(None)
    admission.close()


def test_garbage_in_a_request_stream_the_handler_does_not_map_is_invalid_argument(served):
    call, audit = served
    good = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    with pytest.raises(grpc.RpcError) as refused:
        list(call(iter([good, b"\xff\xff\xff"]), timeout=10))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith(
        "ServerReflectionInfo message 2: not a valid ServerReflectionRequest: DecodeError")
    assert [(e[2], e[4]) for e in audit.entries] == [(METHOD, "refused")]


def test_a_well_formed_stream_is_still_answered(served):
    call, audit = served
    good = reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()
    answers = [reflection_pb2.ServerReflectionResponse.FromString(raw)
               for raw in call(iter([good]), timeout=10)]
    assert [s.name for s in answers[0].list_services_response.service] == [
        reflection.SERVICE_NAME]
    assert audit.entries == []
