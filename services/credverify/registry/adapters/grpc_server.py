"""gRPC RegistryService, with the standard health and reflection services.

Each RPC decides once what a failure means: a request that does not decode or
is malformed is INVALID_ARGUMENT; a caller not admitted, or registering for
another country, is PERMISSION_DENIED; a credential the registry never accepted
is NOT_FOUND for GetAttestation and RecordRegistration (Verify answers it as a
verdict); a registration for a credential that does not verify is
FAILED_PRECONDITION; the hub not confirming a move is UNAVAILABLE; anything
unexpected is INTERNAL with a generic message and the traceback in the log.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from credverify.core.adapters.grpc_boundary import Refused, RpcBoundary
from credverify.core.adapters.grpc_security import AccessDenied, AccessPolicy, ServerTls
from credverify.core.adapters.kafka import DELIVERY_TIMEOUT_MS
from credverify.core.errors import InvalidInput, RecordRejected, reason_code
from credverify.core.timefmt import from_date
from credverify.core.trust import TrustList
from credverify.registry import handlers
from credverify.registry.ports import AttestationStore
from credverify.registry.verification_cache import VerificationCache
from credverify.registry.watch import MAX_FOLLOWED_PER_WATCH, MAX_SUBSCRIPTIONS, StatusHub, TooManyWatchers
from credverify.v1 import common_pb2, envelope_pb2, moves_pb2, registry_pb2, registry_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
# An attestation envelope is a few hundred bytes (at most 64 KiB); a watch of 1,000 ids is ~30 KB.
MAX_MESSAGE_BYTES = 1 * 1024 * 1024
MAX_CREDENTIAL_ID = 256
# Threads for unary calls; each open WatchStatus stream holds one more (up to MAX_SUBSCRIPTIONS).
UNARY_WORKERS = 16
# Time left for the reply after a registration's move is confirmed by the hub.
REPLY_MARGIN_S = 0.05
# Pings on idle connections find a watcher whose machine vanished, so its stream is released.
KEEPALIVE_MS = 60_000


def _no_verdicts(rpc: str, reasons: Sequence[common_pb2.Reason]) -> None:
    return None


@dataclass
class RegistryContext:
    """What the servicer reads: the store, the live trust list, the clock, who may call, and the
    move publisher (``publish_move(move, timeout_s)`` returns once the hub confirmed the move)."""

    store: AttestationStore
    trust: Callable[[], TrustList]
    destination: str
    pseudonym_key: bytes | None
    publish_move: Callable[[moves_pb2.VerifiedMove, float], None]
    today: Callable[[], dt.date]
    access: AccessPolicy
    cache: VerificationCache = field(default_factory=VerificationCache)
    hub: StatusHub = field(default_factory=StatusHub)
    on_verdict: Callable[[str, Sequence[common_pb2.Reason]], None] = _no_verdicts
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


def _check_credential_id(credential_id: str, name: str = "credential_id") -> None:
    if not credential_id or len(credential_id) > MAX_CREDENTIAL_ID or "/" not in credential_id:
        raise InvalidInput("%s: expected '<issuer_id>/<number>', found %r" % (name, credential_id[:80]))


def _check_claimed(claimed: registry_pb2.ClaimedSubject | None) -> None:
    if claimed is not None and claimed.HasField("date_of_birth"):
        try:
            from_date(claimed.date_of_birth)
        except ValueError as exc:
            raise InvalidInput("claimed.date_of_birth: not a calendar date (%s)" % exc) from exc


def _check_request(credential_id: str, claimed: registry_pb2.ClaimedSubject | None) -> None:
    _check_credential_id(credential_id)
    _check_claimed(claimed)


def _watch_ids(request: registry_pb2.WatchStatusRequest) -> list[str]:
    ids = list(dict.fromkeys(request.credential_ids))
    if not ids:
        raise InvalidInput("credential_ids: expected at least one credential to watch, found none")
    if len(ids) > MAX_FOLLOWED_PER_WATCH:
        raise InvalidInput("credential_ids: expected at most %d, found %d" % (MAX_FOLLOWED_PER_WATCH, len(ids)))
    for index, credential_id in enumerate(ids):
        _check_credential_id(credential_id, "credential_ids[%d]" % index)
    return ids


def _response(outcome: handlers.VerifyOutcome, checked_at: dt.datetime,
              evidence: envelope_pb2.Envelope | None = None) -> registry_pb2.VerifyResponse:
    response = registry_pb2.VerifyResponse(
        verified=outcome.judgement.verified,
        reasons=outcome.judgement.reasons,
        # what to_timestamp does, without its conversions: this runs on every Verify
        checked_at=Timestamp(seconds=calendar.timegm(checked_at.utctimetuple()), nanos=checked_at.microsecond * 1000),
        detail=outcome.judgement.detail,
        current_version=outcome.current_version,
    )
    if outcome.verified is not None:
        response.attestation.CopyFrom(outcome.verified.attestation)
        response.evidence.CopyFrom(evidence or outcome.evidence
                                   or envelope_pb2.Envelope.FromString(outcome.verified.envelope_bytes))
    elif outcome.evidence is not None:  # no longer trusted: the envelope once accepted, without a summary
        response.evidence.CopyFrom(outcome.evidence)
    return response


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx

    def Verify(self, request: registry_pb2.VerifyRequest, context: grpc.ServicerContext
               ) -> registry_pb2.VerifyResponse:
        with RpcBoundary(context, "Verify", service="registry"):
            self._ctx.access.caller(context)
            claimed = request.claimed if request.HasField("claimed") else None
            _check_request(request.credential_id, claimed)
            outcome = handlers.verify(request.credential_id, claimed, store=self._ctx.store,
                                      trust=self._ctx.trust(), today=self._ctx.today(), cache=self._ctx.cache)
            self._ctx.on_verdict("Verify", outcome.judgement.reasons)
            return _response(outcome, self._ctx.now())
        raise AssertionError("unreachable: RpcBoundary aborts")

    def VerifyPresented(self, request: registry_pb2.VerifyPresentedRequest, context: grpc.ServicerContext
                        ) -> registry_pb2.VerifyResponse:
        with RpcBoundary(context, "VerifyPresented", service="registry"):
            self._ctx.access.caller(context)
            if not request.HasField("envelope"):
                raise InvalidInput("envelope: expected the envelope the applicant presented, found none")
            claimed = request.claimed if request.HasField("claimed") else None
            _check_claimed(claimed)
            outcome = handlers.verify_presented(
                request.envelope.SerializeToString(), claimed, store=self._ctx.store, trust=self._ctx.trust(),
                today=self._ctx.today(), cache=self._ctx.cache)
            self._ctx.on_verdict("VerifyPresented", outcome.judgement.reasons)
            return _response(outcome, self._ctx.now(), evidence=request.envelope)
        raise AssertionError("unreachable: RpcBoundary aborts")

    def GetAttestation(self, request: registry_pb2.GetAttestationRequest, context: grpc.ServicerContext
                       ) -> registry_pb2.GetAttestationResponse:
        with RpcBoundary(context, "GetAttestation", service="registry"):
            self._ctx.access.caller(context)
            _check_credential_id(request.credential_id)
            stored = self._ctx.store.get(request.credential_id)
            if stored is None:
                raise Refused(grpc.StatusCode.NOT_FOUND,
                               "no accepted attestation with id %r" % request.credential_id)
            try:
                verified, evidence = self._ctx.cache.verify(stored, self._ctx.trust())
            except RecordRejected as exc:
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                               "the attestation held no longer verifies (%s): %s" % (exc.code, exc.detail)) from exc
            return registry_pb2.GetAttestationResponse(attestation=verified.attestation, evidence=evidence)
        raise AssertionError("unreachable: RpcBoundary aborts")

    def WatchStatus(self, request: registry_pb2.WatchStatusRequest, context: grpc.ServicerContext
                    ) -> Iterator[registry_pb2.StatusUpdate]:
        with RpcBoundary(context, "WatchStatus", service="registry"):
            self._ctx.access.caller(context)
            ids = _watch_ids(request)
            try:
                subscription = self._ctx.hub.subscribe(ids)
            except TooManyWatchers as exc:
                raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, "%s; try again later" % exc) from exc
            # Runs when the caller cancels, its deadline passes or its connection dies.
            if not context.add_callback(subscription.close):
                subscription.close()
            try:
                # Subscribed first, then read: a change committed in between is sent again after
                # the initial state, never lost.
                for credential_id in ids:
                    yield handlers.status_update(
                        credential_id, store=self._ctx.store, trust=self._ctx.trust(), today=self._ctx.today(),
                        observed_at=self._ctx.now(), initial=True, cache=self._ctx.cache)
                while (updates := subscription.take()) is not None:
                    yield from updates
            finally:
                self._ctx.hub.unsubscribe(subscription)
            if context.is_active():  # the hub closed: the registry is shutting down
                raise Refused(grpc.StatusCode.UNAVAILABLE, "the registry is shutting down; watch again")

    def RecordRegistration(self, request: registry_pb2.RecordRegistrationRequest,
                           context: grpc.ServicerContext) -> registry_pb2.RecordRegistrationResponse:
        with RpcBoundary(context, "RecordRegistration", service="registry"):
            caller = self._ctx.access.caller(context)
            claimed = request.claimed if request.HasField("claimed") else None
            _check_request(request.credential_id, claimed)
            if caller.country != self._ctx.destination:
                raise AccessDenied("caller %s acts for %s; this registry records registrations in %s only" % (
                    caller.id, caller.country, self._ctx.destination))
            if self._ctx.pseudonym_key is None:
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                               "this registry has no pseudonym key configured; it cannot record moves")
            try:
                registered_on = from_date(request.registered_on) or self._ctx.today()
            except ValueError as exc:
                raise InvalidInput("registered_on: not a calendar date (%s)" % exc) from exc
            remaining = context.time_remaining()
            timeout = DELIVERY_TIMEOUT_MS / 1000 if remaining is None else max(remaining - REPLY_MARGIN_S, 0.0)
            try:
                recorded = handlers.record_registration(
                    request.credential_id, claimed, destination=self._ctx.destination,
                    registered_on=registered_on, pseudonym_key=self._ctx.pseudonym_key,
                    store=self._ctx.store, trust=self._ctx.trust(), today=self._ctx.today(),
                    publish_move=lambda move: self._ctx.publish_move(move, timeout),
                )
            except handlers.RegistrationRefused as exc:
                if exc.judgement.reasons == (common_pb2.REASON_NOT_FOUND,):
                    raise Refused(grpc.StatusCode.NOT_FOUND,
                                   "no accepted attestation with id %r" % request.credential_id) from exc
                raise Refused(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "credential does not verify (%s): %s" % (
                        ", ".join(reason_code(r) for r in exc.judgement.reasons), exc.judgement.detail),
                ) from exc
            return registry_pb2.RecordRegistrationResponse(
                move=recorded.move, already_recorded=recorded.already_recorded)
        raise AssertionError("unreachable: RpcBoundary aborts")


class _Undecodable:
    """Stands for request bytes that are not the method's message (gRPC itself would say INTERNAL)."""

    def __init__(self, message_name: str) -> None:
        self.message_name = message_name


class DecodeErrorsAreInvalidArgument(grpc.ServerInterceptor):  # type: ignore[misc]
    """Answers a request whose bytes do not parse with INVALID_ARGUMENT: the sender's mistake.

    gRPC Python reports a request deserializer's exception as INTERNAL, which would tell the
    caller (and the alerts) that the server is at fault."""

    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler | None] = {}

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if method not in self._handlers:
            self._handlers[method] = self._wrap(continuation(handler_call_details))
        return self._handlers[method]

    @staticmethod
    def _wrap(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler
        parse = handler.request_deserializer
        message_name = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
        undecodable = _Undecodable(message_name.full_name if message_name is not None else "request")

        def lenient(data: bytes) -> Any:
            try:
                return parse(data)
            except DecodeError:
                return undecodable

        def checked(behavior: Callable[[Any, grpc.ServicerContext], Any]
                    ) -> Callable[[Any, grpc.ServicerContext], Any]:
            def call(request: Any, context: grpc.ServicerContext) -> Any:
                if request is undecodable:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  "request: expected a serialized %s" % undecodable.message_name)
                return behavior(request, context)
            return call

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                checked(handler.unary_unary), request_deserializer=lenient,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                checked(handler.unary_stream), request_deserializer=lenient,
                response_serializer=handler.response_serializer)
        return handler


class ShutdownGate(grpc.ServerInterceptor):  # type: ignore[misc]
    """Lets a server stop without cancelling anyone: once ``drain`` is called, new calls to ``service``
    are answered UNAVAILABLE (which clients retry, on another replica), and ``drain`` returns when
    the calls already running have finished.

    gRPC Python's own ``stop(grace)`` lets running calls finish too, but calls that reach it during
    the grace period are left unanswered and then CANCELLED, which clients do not retry. So the gate
    also waits until no call has come for QUIET_S: a client whose last answer was just sent has had
    the time to hear UNAVAILABLE on its next call before the server stops listening."""

    QUIET_S = 0.25

    def __init__(self, service: str) -> None:
        self._prefix = "/%s/" % service
        self._idle = threading.Condition()
        self._running = 0
        self._draining = False
        self._last_refused = 0.0
        self._handlers: dict[str, grpc.RpcMethodHandler | None] = {}

    def drain(self, timeout: float) -> bool:
        """Refuse new calls; wait up to ``timeout`` seconds for running ones to finish and for callers
        to go quiet. Returns True when no call is left running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._draining = True
            self._last_refused = time.monotonic()
            if not self._idle.wait_for(lambda: self._running == 0, timeout=timeout):
                return False
            while True:
                now = time.monotonic()
                quiet_from = self._last_refused + self.QUIET_S
                if now >= quiet_from or now >= deadline:
                    break
                self._idle.wait(min(quiet_from, deadline) - now)
            return self._running == 0

    def _enter(self, context: grpc.ServicerContext) -> None:
        with self._idle:
            admitted = not self._draining
            if admitted:
                self._running += 1
            else:
                self._last_refused = time.monotonic()
        if not admitted:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the registry is shutting down; retry")

    def _leave(self) -> None:
        with self._idle:
            self._running -= 1
            if self._running == 0:
                self._idle.notify_all()

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if method not in self._handlers:
            handler = continuation(handler_call_details)
            self._handlers[method] = self._wrap(handler) if method.startswith(self._prefix) else handler
        return self._handlers[method]

    def _wrap(self, handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
        if handler is None:
            return None
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            def gated(request: Any, context: grpc.ServicerContext) -> Any:
                self._enter(context)
                try:
                    return unary(request, context)
                finally:
                    self._leave()

            return grpc.unary_unary_rpc_method_handler(gated, request_deserializer=handler.request_deserializer,
                                                       response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            streaming = handler.unary_stream

            def gated_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                self._enter(context)
                try:
                    yield from streaming(request, context)
                finally:
                    self._leave()

            return grpc.unary_stream_rpc_method_handler(
                gated_stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler


def build_server(ctx: RegistryContext, *, listen: str, tls: ServerTls | None,
                 interceptors: Sequence[grpc.ServerInterceptor] = ()
                 ) -> tuple[grpc.Server, health.HealthServicer, int]:
    """Return a bound, not yet started server (TLS when ``tls`` is given, else plaintext); its health
    servicer (NOT_SERVING until the composition root says otherwise); and the port it bound.

    Raises OSError when ``listen`` cannot be bound and ConfigurationError for unusable TLS files."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=UNARY_WORKERS + MAX_SUBSCRIPTIONS, thread_name_prefix="grpc"),
        interceptors=[*interceptors, DecodeErrorsAreInvalidArgument()],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Without this, a second registry on the same port would share it silently.
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_time_ms", KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_MS // 3),
        ],
    )
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(ctx), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    credentials = tls.credentials() if tls else None
    try:
        port = server.add_secure_port(listen, credentials) if credentials else server.add_insecure_port(listen)
    except RuntimeError as exc:  # what gRPC raises when the address is taken or does not resolve
        raise OSError("cannot listen on %s: %s" % (listen, exc)) from exc
    if port == 0:
        raise OSError("cannot listen on %s" % listen)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    return server, health_servicer, port
