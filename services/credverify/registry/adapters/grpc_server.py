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
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from credverify.core.adapters import grpc_server_kit as kit
from credverify.core.adapters.grpc_security import AccessPolicy, ServerTls
from credverify.core.adapters.grpc_server_kit import GrpcServer, GrpcServerMetrics, RpcBoundary, ServiceBinding
from credverify.core.adapters.kafka import DELIVERY_TIMEOUT_MS
from credverify.core.attestation import MAX_NAME_CHARS
from credverify.core.envelope import MAX_ENVELOPE_BYTES
from credverify.core.errors import AccessDenied, InvalidInput, RecordRejected, Refused, ShuttingDown
from credverify.core.sdjwt import MAX_AUDIENCE_CHARS, MAX_NONCE_CHARS, MAX_PRESENTATION_CHARS
from credverify.core.timefmt import from_date
from credverify.core.trust import TrustList
from credverify.registry import handlers
from credverify.registry.ports import AttestationStore
from credverify.registry.verification_cache import VerificationCache
from credverify.registry.watch import MAX_FOLLOWED_PER_WATCH, MAX_SUBSCRIPTIONS, StatusHub
from credverify.v1 import common_pb2, envelope_pb2, moves_pb2, registry_pb2, registry_pb2_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name
MAX_CREDENTIAL_ID = 256
# Threads for unary calls; each open WatchStatus stream holds one more (up to MAX_SUBSCRIPTIONS).
UNARY_WORKERS = 16
# A registration is recorded when it happens: up to a year late (a backlog entered afterwards),
# a day early (a registry whose day starts before the caller's). Moves outside it would put
# flows in calendar months already published.
REGISTRATION_WINDOW = (dt.timedelta(days=366), dt.timedelta(days=1))
# Time left for the reply after a registration's move is confirmed by the hub.
REPLY_MARGIN_S = 0.05
# Calls accepted at once, running or queued for a worker: every worker busy plus a queue of as
# many again; beyond it a call fails at once with RESOURCE_EXHAUSTED instead of queueing without bound.
MAX_CONCURRENT_RPCS = 2 * (UNARY_WORKERS + MAX_SUBSCRIPTIONS)
# A presentation longer than the SD-JWT gate reads is refused at the door: it would only be answered
# PRESENTATION_OVERSIZED after being copied around (a real one is about 1.5 KB).
MAX_PRESENTATION_REQUEST_CHARS = MAX_PRESENTATION_CHARS
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
    """Claimed details are capped as the attestation's own fields are (a ~900 KB name would cost
    seconds of CPU to fold and stay in the folding cache). Raises InvalidInput naming the field,
    never its value."""
    if claimed is None:
        return
    for name, value in (("claimed.family_name", claimed.family_name), ("claimed.given_names", claimed.given_names)):
        if len(value) > MAX_NAME_CHARS:
            raise InvalidInput("%s: expected at most %d characters, found %d" % (name, MAX_NAME_CHARS, len(value)))
    if claimed.HasField("date_of_birth"):
        try:
            from_date(claimed.date_of_birth)
        except ValueError as exc:
            raise InvalidInput("claimed.date_of_birth: not a calendar date (%s)" % exc) from exc


def _registered_on(value: common_pb2.Date, today: dt.date) -> dt.date:
    """The registration date asked for (today when unset), within REGISTRATION_WINDOW of today.
    Raises InvalidInput."""
    try:
        registered_on = from_date(value) or today
    except ValueError as exc:
        raise InvalidInput("registered_on: not a calendar date (%s)" % exc) from exc
    earliest, latest = today - REGISTRATION_WINDOW[0], today + REGISTRATION_WINDOW[1]
    if not earliest <= registered_on <= latest:
        raise InvalidInput("registered_on: expected a date from %s to %s, found %s" % (
            earliest, latest, registered_on))
    return registered_on


def _check_request(credential_id: str, claimed: registry_pb2.ClaimedSubject | None) -> None:
    _check_credential_id(credential_id)
    _check_claimed(claimed)


def _presented(presentation: str, audience: str, nonce: str, now: dt.datetime) -> handlers.Presented | None:
    """The applicant's presentation of a request, None when it has none. Raises InvalidInput for one
    above the caps (naming the field, never its content) or an audience or nonce without it."""
    for name, value, limit in (("presentation", presentation, MAX_PRESENTATION_REQUEST_CHARS),
                               ("audience", audience, MAX_AUDIENCE_CHARS), ("nonce", nonce, MAX_NONCE_CHARS)):
        if len(value) > limit:
            raise InvalidInput("%s: expected at most %d characters, found %d" % (name, limit, len(value)))
    if not presentation:
        if audience or nonce:
            raise InvalidInput("presentation: an audience or nonce was given, but no presentation")
        return None
    return handlers.Presented(text=presentation, audience=audience, nonce=nonce, now=now)


def _disclosed_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


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
    for name, value in outcome.disclosed.items():  # for this caller only; the registry keeps none of it
        response.disclosed[name] = _disclosed_text(value)
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
            presented = _presented(request.presentation, request.audience, request.nonce, self._ctx.now())
            outcome = handlers.verify(request.credential_id, claimed, store=self._ctx.store,
                                      trust=self._ctx.trust(), today=self._ctx.today(), cache=self._ctx.cache,
                                      presented=presented)
            self._ctx.on_verdict("Verify", outcome.judgement.reasons)
            return _response(outcome, self._ctx.now())
        raise AssertionError("unreachable: RpcBoundary aborts")

    def VerifyPresented(self, request: registry_pb2.VerifyPresentedRequest, context: grpc.ServicerContext
                        ) -> registry_pb2.VerifyResponse:
        with RpcBoundary(context, "VerifyPresented", service="registry"):
            self._ctx.access.caller(context)
            if not request.HasField("envelope"):
                raise InvalidInput("envelope: expected the envelope the applicant presented, found none")
            if request.envelope.ByteSize() > MAX_ENVELOPE_BYTES:
                raise InvalidInput("envelope: expected at most %d bytes, found %d" % (
                    MAX_ENVELOPE_BYTES, request.envelope.ByteSize()))
            claimed = request.claimed if request.HasField("claimed") else None
            _check_claimed(claimed)
            now = self._ctx.now()
            outcome = handlers.verify_presented(
                request.envelope.SerializeToString(), claimed, store=self._ctx.store, trust=self._ctx.trust(),
                today=self._ctx.today(), now=now, cache=self._ctx.cache,
                presented=_presented(request.presentation, request.audience, request.nonce, now))
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
                raise Refused("NOT_FOUND", "no accepted attestation with id %r" % request.credential_id)
            try:
                verified, evidence = self._ctx.cache.verify(stored, self._ctx.trust())
            except RecordRejected as exc:
                raise Refused("FAILED_PRECONDITION",
                              "the attestation held no longer verifies (%s): %s" % (exc.code, exc.detail)) from exc
            return registry_pb2.GetAttestationResponse(attestation=verified.attestation, evidence=evidence)
        raise AssertionError("unreachable: RpcBoundary aborts")

    def WatchStatus(self, request: registry_pb2.WatchStatusRequest, context: grpc.ServicerContext
                    ) -> Iterator[registry_pb2.StatusUpdate]:
        with RpcBoundary(context, "WatchStatus", service="registry"):
            caller = self._ctx.access.caller(context)
            ids = _watch_ids(request)
            subscription = self._ctx.hub.subscribe(ids, caller=caller.id)
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
                raise ShuttingDown("the registry is shutting down; watch again")

    def RecordRegistration(self, request: registry_pb2.RecordRegistrationRequest,
                           context: grpc.ServicerContext) -> registry_pb2.RecordRegistrationResponse:
        with RpcBoundary(context, "RecordRegistration", service="registry"):
            caller = self._ctx.access.caller(context)
            claimed = request.claimed if request.HasField("claimed") else None
            _check_request(request.credential_id, claimed)
            presented = _presented(request.presentation, request.audience, request.nonce, self._ctx.now())
            if caller.country != self._ctx.destination:
                raise AccessDenied("caller %s acts for %s; this registry records registrations in %s only" % (
                    caller.id, caller.country, self._ctx.destination))
            if self._ctx.pseudonym_key is None:
                raise Refused("FAILED_PRECONDITION",
                              "this registry has no pseudonym key configured; it cannot record moves")
            registered_on = _registered_on(request.registered_on, self._ctx.today())
            remaining = context.time_remaining()
            timeout = DELIVERY_TIMEOUT_MS / 1000 if remaining is None else max(remaining - REPLY_MARGIN_S, 0.0)
            recorded = handlers.record_registration(
                request.credential_id, claimed, destination=self._ctx.destination,
                registered_on=registered_on, pseudonym_key=self._ctx.pseudonym_key,
                store=self._ctx.store, trust=self._ctx.trust(), today=self._ctx.today(),
                publish_move=lambda move: self._ctx.publish_move(move, timeout), presented=presented,
            )
            return registry_pb2.RecordRegistrationResponse(
                move=recorded.move, already_recorded=recorded.already_recorded)
        raise AssertionError("unreachable: RpcBoundary aborts")


def build_server(ctx: RegistryContext, *, listen: str, tls: ServerTls | None,
                 metrics: GrpcServerMetrics | None = None, reuse_port: bool = False) -> GrpcServer:
    """Return a bound, not yet started RegistryService server (NOT_SERVING until the composition root
    says otherwise); with ``reuse_port``, one of several worker processes sharing the port. Raises
    ConfigurationError when ``listen`` cannot be bound or TLS files are unusable."""
    service = ServiceBinding(
        registry_pb2.DESCRIPTOR.services_by_name["RegistryService"],
        lambda server: registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(ctx), server),
        label="registry")
    return kit.build_server(service, listen=listen, tls=tls, metrics=metrics,
                            workers=UNARY_WORKERS + MAX_SUBSCRIPTIONS, keepalive_ms=KEEPALIVE_MS,
                            maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS, reuse_port=reuse_port)
