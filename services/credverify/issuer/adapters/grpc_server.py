"""gRPC IssuerService for a council's own systems, built with the server kit every service shares
(health, reflection, shutdown gate, metrics, INVALID_ARGUMENT for undecodable requests).

Who may call is the registry's model: mutual TLS, then an allow-list of the council's own systems
by certificate identity, each with roles (``ROLE_OF_RPC``): a ``reader`` looks credentials and keys
up, an ``issuer`` signs new credentials and status changes, a ``key-admin`` adds keys and stops a
compromised one. A caller without the role an RPC needs gets PERMISSION_DENIED before anything runs.

Each RPC decides once what a failure means: a malformed request or a change that
does not apply is INVALID_ARGUMENT, an unknown credential or key NOT_FOUND, no
key that may sign FAILED_PRECONDITION, a record the hub did not confirm
UNAVAILABLE (the caller retries; the ledger makes the retry safe), anything else
INTERNAL with a generic message and the traceback in the log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc

from credverify.core.adapters import grpc_server_kit as kit
from credverify.core.adapters.grpc_security import AccessPolicy, ServerTls, admit
from credverify.core.adapters.grpc_server_kit import GrpcServer, GrpcServerMetrics, RpcBoundary, ServiceBinding
from credverify.core.errors import ConfigurationError, DeliveryFailed, InvalidInput, NotFound
from credverify.core.issuing import IssueAttestation
from credverify.core.keys import public_jwk, public_pem
from credverify.core.timefmt import from_date, from_timestamp, to_timestamp
from credverify.issuer.adapters.keyring import Keyring
from credverify.issuer.domain import ChangeStatus, choose_signing_key, key_state
from credverify.issuer.handlers import AttestationIssued, credentials, current_attestation
from credverify.v1 import attestation_pb2, envelope_pb2, issuer_pb2, issuer_pb2_grpc

if TYPE_CHECKING:  # the composition root imports this module to build the server
    from credverify.issuer.bootstrap import Issuer

logger = logging.getLogger(__name__)

SERVICE_NAME = issuer_pb2.DESCRIPTOR.services_by_name["IssuerService"].full_name
# Threads for calls: writes take turns on one lock anyway; the rest are quick reads.
WORKERS = 8

# Which role each RPC needs. Every RPC of the service is here (a test checks it), so a new RPC cannot
# be served without someone deciding who may call it.
READER, ISSUER, KEY_ADMIN = "reader", "issuer", "key-admin"
ROLE_OF_RPC = {
    "GetCredential": READER,
    "GetIssuer": READER,
    "Issue": ISSUER,
    "ChangeStatus": ISSUER,
    "RotateKey": KEY_ADMIN,
    "ReportCompromise": KEY_ADMIN,
}
ROLES = frozenset(ROLE_OF_RPC.values())

_ACTIONS = {
    issuer_pb2.STATUS_ACTION_SUSPEND: "suspend",
    issuer_pb2.STATUS_ACTION_REINSTATE: "reinstate",
    issuer_pb2.STATUS_ACTION_REVOKE: "revoke",
    issuer_pb2.STATUS_ACTION_LAPSE: "lapse",
    issuer_pb2.STATUS_ACTION_ADD_CONDITION: "add-condition",
    issuer_pb2.STATUS_ACTION_LIFT_CONDITION: "lift-condition",
}


def command_from(att: attestation_pb2.Attestation, *, issuer_id: str, jurisdiction: str) -> IssueAttestation:
    """Return the order for a requested attestation. Raises InvalidInput naming the field."""
    if att.issuer_id and att.issuer_id != issuer_id:
        raise InvalidInput("attestation.issuer_id: this service issues for %s, found %r" % (issuer_id, att.issuer_id))
    if att.jurisdiction and att.jurisdiction != jurisdiction:
        raise InvalidInput("attestation.jurisdiction: this service issues for %s, found %r" % (
            jurisdiction, att.jurisdiction))
    prefix = issuer_id + "/"
    if not att.credential_id.startswith(prefix):
        raise InvalidInput("attestation.credential_id: expected '%s<number>', found %r" % (
            prefix, att.credential_id[:80]))

    def day(name: str, value: object) -> dt.date | None:
        try:
            return from_date(value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidInput("attestation.%s: not a calendar date (%s)" % (name, exc)) from exc

    dob = day("subject.date_of_birth", att.subject.date_of_birth)
    if dob is None:
        raise InvalidInput("attestation.subject.date_of_birth: missing")
    return IssueAttestation(
        issuer_id=issuer_id,
        jurisdiction=jurisdiction,
        local_number=att.credential_id[len(prefix):],
        kind=att.kind,
        practitioner_number=att.subject.practitioner_number,
        family_name=att.subject.family_name,
        given_names=att.subject.given_names,
        date_of_birth=dob,
        country_of_training=att.subject.country_of_training,
        profession_isco=att.profession_isco,
        status=att.status,
        valid_from=day("valid_from", att.valid_from),
        valid_until=day("valid_until", att.valid_until),
        conditions=tuple(att.conditions),
        status_reason=att.status_reason,
        institution=att.diploma.institution,
        programme=att.diploma.programme,
        award_date=day("diploma.award_date", att.diploma.award_date),
    )


class IssuerServicer(issuer_pb2_grpc.IssuerServiceServicer):
    def __init__(self, issuer: Issuer, access: AccessPolicy) -> None:
        self._issuer = issuer
        self._access = access
        # One writer at a time: versions come from the ledger, and two changes of one credential
        # in parallel must not both build on the same version.
        self._write = threading.Lock()

    def Issue(self, request: issuer_pb2.IssueRequest, context: grpc.ServicerContext) -> issuer_pb2.IssueResponse:
        with RpcBoundary(context, "Issue", service="issuer"):
            admit(self._access, context, ROLE_OF_RPC["Issue"])
            settings = self._issuer.settings
            cmd = command_from(request.attestation, issuer_id=settings.issuer_id, jurisdiction=settings.jurisdiction)
            return self._written(lambda: self._issuer.issue([cmd]))

    def ChangeStatus(self, request: issuer_pb2.ChangeStatusRequest, context: grpc.ServicerContext
                     ) -> issuer_pb2.IssueResponse:
        with RpcBoundary(context, "ChangeStatus", service="issuer"):
            admit(self._access, context, ROLE_OF_RPC["ChangeStatus"])
            if request.action not in _ACTIONS:
                raise InvalidInput("action: expected one of %s" % ", ".join(
                    issuer_pb2.StatusAction.Name(a) for a in _ACTIONS))
            self._own(request.credential_id)
            change = ChangeStatus(credential_id=request.credential_id, action=_ACTIONS[request.action],
                                  reason=request.reason, condition=request.condition)
            return self._written(lambda: self._issuer.change_statuses([change]))

    def GetCredential(self, request: issuer_pb2.GetCredentialRequest, context: grpc.ServicerContext
                      ) -> issuer_pb2.IssueResponse:
        with RpcBoundary(context, "GetCredential", service="issuer"):
            admit(self._access, context, ROLE_OF_RPC["GetCredential"])
            self._own(request.credential_id)
            att, entry = current_attestation(request.credential_id, ledger=self._issuer.ledger)
            return issuer_pb2.IssueResponse(
                credential_id=entry.credential_id, version=entry.version,
                envelope=envelope_pb2.Envelope.FromString(entry.envelope_bytes), attestation=att,
                delivery=issuer_pb2.Delivery(topic=self._submissions_of(entry.credential_id),
                                             partition=entry.partition or 0, offset=entry.offset or 0,
                                             confirmed=entry.confirmed),
                credential=self._credential_text(entry.credential_id))

    def GetIssuer(self, request: issuer_pb2.GetIssuerRequest, context: grpc.ServicerContext
                  ) -> issuer_pb2.GetIssuerResponse:
        with RpcBoundary(context, "GetIssuer", service="issuer"):
            admit(self._access, context, ROLE_OF_RPC["GetIssuer"])
            return self._issuer_view()

    def RotateKey(self, request: issuer_pb2.RotateKeyRequest, context: grpc.ServicerContext) -> issuer_pb2.KeyInfo:
        with RpcBoundary(context, "RotateKey", service="issuer"):
            admit(self._access, context, ROLE_OF_RPC["RotateKey"])
            keyring = self._keyring()
            with self._write:
                signer = keyring.generate()
            info = self._key_info(signer.keyid, signer.private_key.public_key())
            info.next_step = (
                "send the public key to the federation operator (credverify trust rotate-key --issuer-id %s "
                "--new-public-key FILE); this service signs with it once the trust list lists it"
                % self._issuer.settings.issuer_id)
            return info

    def ReportCompromise(self, request: issuer_pb2.ReportCompromiseRequest, context: grpc.ServicerContext
                         ) -> issuer_pb2.KeyInfo:
        with RpcBoundary(context, "ReportCompromise", service="issuer"):
            admit(self._access, context, ROLE_OF_RPC["ReportCompromise"])
            keyring = self._keyring()
            signers = keyring.signers()
            wanted = request.keyid.lower()
            matches = [k for k in signers if len(wanted) >= 8 and k.startswith(wanted)]
            if len(matches) != 1:
                raise NotFound("keyid: expected one key of this service (8+ hex digits), found %d matching %r" % (
                    len(matches), request.keyid[:80]))
            at = (from_timestamp(request.compromised_at) if request.HasField("compromised_at")
                  else self._issuer.clock())
            with self._write:
                keyring.mark_compromised(matches[0], at)
            info = self._key_info(matches[0], signers[matches[0]].private_key.public_key())
            info.compromised_at.CopyFrom(to_timestamp(at))
            info.next_step = (
                "this service no longer signs with it. Ask the federation operator to run: credverify trust "
                "report-compromise --issuer-id %s --keyid %s --at %s; and rotate (RotateKey) if no other key "
                "is valid" % (self._issuer.settings.issuer_id, matches[0], at.isoformat()))
            return info

    # --- helpers ----------------------------------------------------------------------------------

    def _own(self, credential_id: str) -> None:
        if not credential_id.startswith(self._issuer.settings.issuer_id + "/"):
            raise InvalidInput("credential_id: expected '%s/<number>', found %r" % (
                self._issuer.settings.issuer_id, credential_id[:80]))

    def _keyring(self) -> Keyring:
        if self._issuer.keyring is None:
            raise ConfigurationError("this service signs with one key file; start it with --keyring to "
                                     "manage keys over gRPC")
        return self._issuer.keyring

    def _written(self, write: Callable[[], list[AttestationIssued]]) -> issuer_pb2.IssueResponse:
        """Run one write under the writer lock; answer with the version it signed (or found unchanged).
        Raises DeliveryFailed when the hub did not confirm it."""
        with self._write:
            [event] = write()
        return self._response(event)

    def _submissions_of(self, credential_id: str) -> str:
        """The topic a credential of this council is delivered to: its submission topic on the hub."""
        return self._issuer.settings.kafka.topics.submissions(credential_id.partition("/")[0])

    def _response(self, event: AttestationIssued) -> issuer_pb2.IssueResponse:
        if not event.confirmed:
            raise DeliveryFailed("%s: %s" % (event.credential_id, event.error or "not confirmed"))
        att, entry = current_attestation(event.credential_id, ledger=self._issuer.ledger)
        response = issuer_pb2.IssueResponse(
            credential_id=event.credential_id, version=event.version, envelope=event.envelope,
            unchanged=event.delivery is None, attestation=att, credential=self._credential_text(event.credential_id))
        if event.delivery is not None:
            response.delivery.CopyFrom(issuer_pb2.Delivery(
                topic=event.delivery.record.topic, partition=event.delivery.partition or 0,
                offset=event.delivery.offset or 0, confirmed=True))
        else:
            response.delivery.CopyFrom(issuer_pb2.Delivery(
                topic=self._submissions_of(event.credential_id), partition=entry.partition or 0,
                offset=entry.offset or 0, confirmed=entry.confirmed))
        return response

    def _credential_text(self, credential_id: str) -> str:
        """The practitioner's credential, signed now; "" for a credential signed as v1."""
        found = credentials([credential_id], ledger=self._issuer.ledger, signer=self._issuer.signer(),
                            now=self._issuer.clock())
        return found[credential_id].text if credential_id in found else ""

    def _key_info(self, keyid: str, public: object) -> issuer_pb2.KeyInfo:
        return issuer_pb2.KeyInfo(keyid=keyid, public_key_pem=public_pem(public),  # type: ignore[arg-type]
                                  public_key_jwk=json.dumps(public_jwk(public)))  # type: ignore[arg-type]

    def _issuer_view(self) -> issuer_pb2.GetIssuerResponse:
        issuer = self._issuer
        response = issuer_pb2.GetIssuerResponse(issuer_id=issuer.settings.issuer_id,
                                                jurisdiction=issuer.settings.jurisdiction)
        record = issuer.record()
        if record is not None:
            response.record.CopyFrom(record)
            envelope_bytes = issuer.record_envelope()
            if envelope_bytes:
                response.record_envelope.ParseFromString(envelope_bytes)
        now = issuer.clock()
        if issuer.keyring is None:
            signer = issuer.signer()
            info = self._key_info(signer.keyid, signer.private_key.public_key())
            info.state = issuer_pb2.KEY_STATE_SIGNING
            response.signing_keyid = signer.keyid
            response.keys.append(info)
            return response
        signers = issuer.keyring.signers()
        compromised = issuer.keyring.compromised()
        try:
            response.signing_keyid = choose_signing_key(set(signers), record=record,
                                                        locally_compromised=set(compromised), now=now)
        except ConfigurationError:
            response.signing_keyid = ""
        for keyid, signer in sorted(signers.items()):
            info = self._key_info(keyid, signer.private_key.public_key())
            info.state = (issuer_pb2.KEY_STATE_SIGNING if keyid == response.signing_keyid else key_state(  # type: ignore[assignment]
                keyid, record=record, locally_compromised=keyid in compromised, now=now))
            if keyid in compromised:
                info.compromised_at.CopyFrom(to_timestamp(compromised[keyid]))
            response.keys.append(info)
        return response


def build_server(issuer: Issuer, *, listen: str, tls: ServerTls | None, access: AccessPolicy,
                 metrics: GrpcServerMetrics | None = None, workers: int = WORKERS) -> GrpcServer:
    """Return a bound, not yet started IssuerService server (NOT_SERVING until the composition root
    says otherwise) that admits callers by ``access``. Raises ConfigurationError when ``listen`` cannot
    be bound or TLS files are unusable."""
    servicer = IssuerServicer(issuer, access)
    service = ServiceBinding(
        issuer_pb2.DESCRIPTOR.services_by_name["IssuerService"],
        lambda server: issuer_pb2_grpc.add_IssuerServiceServicer_to_server(servicer, server),
        label="issuer")
    return kit.build_server(service, listen=listen, tls=tls, metrics=metrics, workers=workers)
