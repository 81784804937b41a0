"""gRPC RegistryService, with the standard health and reflection services.

Each RPC decides once what a failure means: malformed requests are
INVALID_ARGUMENT, a registration for a credential that does not verify is
FAILED_PRECONDITION, anything unexpected is INTERNAL with a generic message
and the traceback in the log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from credverify.core.errors import DeliveryFailed, InvalidInput, reason_code
from credverify.core.timefmt import from_date, to_timestamp
from credverify.core.trust import TrustList
from credverify.registry import handlers
from credverify.registry.ports import AttestationStore
from credverify.v1 import envelope_pb2, moves_pb2, registry_pb2, registry_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
MAX_MESSAGE_BYTES = 1 * 1024 * 1024
MAX_CREDENTIAL_ID = 256


@dataclass
class RegistryContext:
    """What the servicer reads: the store, the live trust list, the clock, and the move publisher."""

    store: AttestationStore
    trust: Callable[[], TrustList]
    destination: str
    pseudonym_key: bytes | None
    publish_move: Callable[[moves_pb2.VerifiedMove], None]
    today: Callable[[], dt.date]


def _check_request(credential_id: str, claimed: registry_pb2.ClaimedSubject | None) -> None:
    if not credential_id or len(credential_id) > MAX_CREDENTIAL_ID or "/" not in credential_id:
        raise InvalidInput("credential_id: expected '<issuer_id>/<number>', found %r" % credential_id[:80])
    if claimed is not None and claimed.HasField("date_of_birth"):
        try:
            from_date(claimed.date_of_birth)
        except ValueError as exc:
            raise InvalidInput("claimed.date_of_birth: not a calendar date (%s)" % exc) from exc


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx

    def Verify(self, request: registry_pb2.VerifyRequest, context: grpc.ServicerContext
               ) -> registry_pb2.VerifyResponse:
        claimed = request.claimed if request.HasField("claimed") else None
        with _boundary(context, "Verify"):
            _check_request(request.credential_id, claimed)
            outcome = handlers.verify(request.credential_id, claimed, store=self._ctx.store,
                                      trust=self._ctx.trust(), today=self._ctx.today())
            response = registry_pb2.VerifyResponse(
                verified=outcome.judgement.verified,
                reasons=list(outcome.judgement.reasons),
                checked_at=to_timestamp(dt.datetime.now(dt.UTC)),
                detail=outcome.judgement.detail,
            )
            if outcome.verified is not None:
                response.attestation.CopyFrom(outcome.verified.attestation)
                response.evidence.CopyFrom(envelope_pb2.Envelope.FromString(outcome.verified.envelope_bytes))
            return response
        raise AssertionError("unreachable: _boundary aborts")

    def RecordRegistration(self, request: registry_pb2.RecordRegistrationRequest,
                           context: grpc.ServicerContext) -> registry_pb2.RecordRegistrationResponse:
        claimed = request.claimed if request.HasField("claimed") else None
        with _boundary(context, "RecordRegistration"):
            _check_request(request.credential_id, claimed)
            if self._ctx.pseudonym_key is None:
                raise _Refused(grpc.StatusCode.FAILED_PRECONDITION,
                               "this registry has no pseudonym key configured; it cannot record moves")
            try:
                registered_on = from_date(request.registered_on) or self._ctx.today()
            except ValueError as exc:
                raise InvalidInput("registered_on: not a calendar date (%s)" % exc) from exc
            try:
                recorded = handlers.record_registration(
                    request.credential_id, claimed, destination=self._ctx.destination,
                    registered_on=registered_on, pseudonym_key=self._ctx.pseudonym_key or b"",
                    store=self._ctx.store, trust=self._ctx.trust(), today=self._ctx.today(),
                    publish_move=self._ctx.publish_move,
                )
            except handlers.RegistrationRefused as exc:
                raise _Refused(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    "credential does not verify (%s): %s" % (
                        ", ".join(reason_code(r) for r in exc.judgement.reasons), exc.judgement.detail),
                ) from exc
            return registry_pb2.RecordRegistrationResponse(
                move=recorded.move, already_recorded=recorded.already_recorded)
        raise AssertionError("unreachable: _boundary aborts")


class _Refused(Exception):
    """A deliberate refusal with its gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _boundary:
    """Maps what an RPC raised to a gRPC status; the only place that calls context.abort."""

    def __init__(self, context: grpc.ServicerContext, rpc: str) -> None:
        self._context = context
        self._rpc = rpc

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or exc_type is None:
            return
        if isinstance(exc, _Refused):
            self._context.abort(exc.code, str(exc))
        if isinstance(exc, InvalidInput):
            self._context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if isinstance(exc, DeliveryFailed):
            logger.warning("%s: %s", self._rpc, exc)
            self._context.abort(grpc.StatusCode.UNAVAILABLE, "the hub did not confirm the record; retry")
        if isinstance(exc, Exception):
            logger.error("%s failed", self._rpc, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
            self._context.abort(grpc.StatusCode.INTERNAL, "internal error; the registry logged the details")


def build_server(ctx: RegistryContext, *, listen: str, max_workers: int = 16
                 ) -> tuple[grpc.Server, health.HealthServicer, int]:
    """Return a bound, not yet started, plaintext server; its health servicer (NOT_SERVING until
    the composition root says otherwise); and the port it bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(ctx), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError("cannot listen on %s" % listen)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    return server, health_servicer, port
