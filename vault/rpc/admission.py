"""Admission: what every call passes after authorization and before its servicer (issue 15).

:class:`AdmissionInterceptor` wraps every handler the vault serves:

* **Malformed bytes** that are no message of the method's request type are refused with
  ``INVALID_ARGUMENT`` naming the method, the message type and (for a stream) the message's
  position, instead of gRPC's opaque ``INTERNAL: Exception deserializing request!``. In a
  request stream the bad message raises ``InvalidRequest`` where the servicer reads it: the
  vault's servicers map it (``vault.rpc.status.edge``); for one that does not (reflection
  from grpcio-reflection, which answered ``UNKNOWN``) the ``InvalidRequest`` escaping the
  handler is refused here.
* **Per-caller limits** (``vault.ingest.limits.CallLimiter``): a caller over its share gets
  ``RESOURCE_EXHAUSTED`` naming the limit and the vault.toml key.
* **Idle streams**: a call streaming requests or responses that moves no message for
  ``idle_stream_seconds`` is cancelled by a reaper thread (``grpc.RpcContext.cancel``),
  which also ends a request iterator a servicer is blocked on; so neither an idle stream
  nor vaultd's shutdown waits on a client that sends nothing.

Every refusal here is appended to the audit log (outcome ``refused``). Limits themselves
live in ``vault.ingest.limits``; this module is only their gRPC plumbing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import grpc

from bulwark.vault.errors import InvalidRequest, LimitExceeded
from bulwark.vault.ingest.limits import CallLimiter
from bulwark.vault.rpc.identity import caller_of

log = logging.getLogger(__name__)


class Malformed:
    """What the wrapped deserializer returns for bytes that do not parse (never raises)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _tolerant(deserializer: Callable | None, type_name: str) -> Callable | None:
    if deserializer is None:
        return None

    def parse(data: bytes):
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, or anything a parser raises on junk
            return Malformed(f"not a valid {type_name}: {type(exc).__name__}: {exc}")

    return parse


class _Stream:
    """One call that streams: when it last moved a message."""

    __slots__ = ("context", "last", "method", "peer")

    def __init__(self, context: grpc.ServicerContext, method: str) -> None:
        self.context = context
        self.method = method
        self.peer = context.peer() or ""
        self.last = time.monotonic()


class _Held:
    """A call's admission slot and stream registration, given back exactly once."""

    __slots__ = ("_interceptor", "_lock", "_slot", "_stream")

    def __init__(self, slot, stream: _Stream | None, interceptor: AdmissionInterceptor):
        self._slot, self._stream, self._interceptor = slot, stream, interceptor
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            slot, self._slot = self._slot, None
        if slot is not None:
            self._interceptor._forget(self._stream)
            slot.__exit__(None, None, None)


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Parses tolerantly, admits by ``limiter``, reaps streams idle for ``idle_seconds``.

    ``audit`` (``append(actor, role, action, target, outcome, detail)``, may be None in unit
    tests) receives every refusal. Call :meth:`close` when the server stops.
    """

    def __init__(self, limiter: CallLimiter, idle_seconds: float, audit=None) -> None:
        self._limiter = limiter
        self._idle = idle_seconds
        self._audit = audit
        self._streams: dict[int, _Stream] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="idle-reaper", daemon=True)
        self._reaper.start()

    def close(self) -> None:
        self._stop.set()
        self._reaper.join(timeout=5)

    # -- wrapping ---------------------------------------------------------------------

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        parse = handler.request_deserializer
        owner = getattr(parse, "__self__", None)
        type_name = getattr(getattr(owner, "DESCRIPTOR", None), "name", "request message")
        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            behavior = getattr(handler, kind)
            if behavior is not None:
                streams_in, streams_out = kind.startswith("stream"), kind.endswith("stream")
                return getattr(grpc, f"{kind}_rpc_method_handler")(
                    self._admitted(method, behavior, streams_in, streams_out),
                    request_deserializer=_tolerant(parse, type_name),
                    response_serializer=handler.response_serializer,
                )
        return handler  # pragma: no cover - grpc handlers always have one behavior

    def _admitted(self, method: str, behavior, streams_in: bool, streams_out: bool):
        name = method.rsplit("/", 1)[-1]

        def call(request, context):
            caller = caller_of(context)
            if not streams_in and isinstance(request, Malformed):
                self._refuse(context, method, grpc.StatusCode.INVALID_ARGUMENT,
                             f"{name}: {request.reason}")
            try:
                slot = self._limiter.admit(caller, name)
                slot.__enter__()
            except LimitExceeded as exc:
                self._refuse(context, method, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            stream = _Stream(context, method) if streams_in or streams_out else None
            held = _Held(slot, stream, self)
            # However the call ends (answered, aborted, cancelled by the client or the reaper,
            # or a response stream gRPC never started to iterate), its slot is given back:
            # gRPC runs this callback when the RPC terminates.
            context.add_callback(held.release)
            if stream is not None:
                with self._lock:
                    self._streams[id(stream)] = stream
                if streams_in:
                    request = self._requests(request, stream, name)
            try:
                result = behavior(request, context)
            except InvalidRequest as exc:  # malformed bytes the handler did not map itself
                held.release()
                self._refuse(context, method, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except BaseException:
                held.release()
                raise
            if not streams_out:
                held.release()
                return result
            return self._responses(result, held, stream)

        return call

    def _forget(self, stream: _Stream | None) -> None:
        if stream is not None:
            with self._lock:
                self._streams.pop(id(stream), None)

    @staticmethod
    def _requests(iterator, stream: _Stream, name: str) -> Iterator:
        for n, message in enumerate(iterator, start=1):
            stream.last = time.monotonic()
            if isinstance(message, Malformed):
                raise InvalidRequest(f"{name} message {n}: {message.reason}")
            yield message

    def _responses(self, responses, held: _Held, stream: _Stream) -> Iterator:
        try:
            for message in responses:
                stream.last = time.monotonic()
                yield message
                stream.last = time.monotonic()
        except InvalidRequest as exc:  # as in ``call``: a handler that does not map errors
            self._refuse(stream.context, stream.method, grpc.StatusCode.INVALID_ARGUMENT,
                         str(exc))
        finally:
            held.release()

    # -- refusals and the reaper -------------------------------------------------------

    def _refuse(self, context, method: str, code: grpc.StatusCode, detail: str) -> None:
        caller = caller_of(context)
        log.warning("refused %s for %s: %s", method, caller, detail)
        self._audit_refusal(caller.name, caller.role, method, context.peer() or "", detail)
        context.abort(code, detail)

    def _audit_refusal(self, actor: str, role: str, method: str, peer: str,
                       detail: str) -> None:
        if self._audit is None:
            return
        try:
            self._audit.append(actor, role, method, peer, "refused", detail)
        except Exception:  # the refusal stands; the log says why it is not audited
            log.exception("cannot audit the refusal of %s", method)

    def _reap(self) -> None:
        tick = max(0.05, min(1.0, self._idle / 4))
        while not self._stop.wait(tick):
            now = time.monotonic()
            with self._lock:
                idle = [s for s in self._streams.values() if now - s.last > self._idle]
                for s in idle:
                    self._streams.pop(id(s), None)
            for s in idle:
                caller = caller_of(s.context)
                detail = (f"{s.method}: no message for {self._idle:g} s ([limits] "
                          "idle_stream_seconds); stream cancelled")
                log.warning("%s for %s", detail, caller)
                self._audit_refusal(caller.name, caller.role, s.method, s.peer, detail)
                s.context.cancel()
