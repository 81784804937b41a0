"""Where bytes from Kafka become a verified attestation.

``verify_attestation`` is the one gate: nothing reaches a registry's store
without passing it, and it returns a type nothing else constructs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from credverify.core.codes import check_country, check_isco
from credverify.core.envelope import ATTESTATION_TYPE, Signer, parse_envelope, verify_signature
from credverify.core.errors import InvalidInput, Malformed, Untrusted
from credverify.core.timefmt import from_date, from_timestamp
from credverify.core.trust import TrustList
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2


@dataclass(frozen=True)
class VerifiedAttestation:
    """An attestation whose signature and trust rules have been checked; only the gate makes one."""

    attestation: attestation_pb2.Attestation
    envelope_bytes: bytes  # exactly what was signed and sent: the evidence a registry hands out
    keyid: str
    issuer_country: str

    @property
    def credential_id(self) -> str:
        return self.attestation.credential_id

    @property
    def version(self) -> int:
        return self.attestation.version


def validate_attestation(att: attestation_pb2.Attestation) -> None:
    """Check the fields an issuer must get right before signing. Raises InvalidInput naming the field."""
    if not att.issuer_id or "/" in att.issuer_id:
        raise InvalidInput("issuer_id: expected a non-empty id without '/', found %r" % att.issuer_id)
    prefix = att.issuer_id + "/"
    if not att.credential_id.startswith(prefix) or len(att.credential_id) == len(prefix):
        raise InvalidInput("credential_id: expected '%s<number>', found %r" % (prefix, att.credential_id))
    if att.version < 1:
        raise InvalidInput("version: expected 1 or more, found %d" % att.version)
    if not att.HasField("issued_at"):
        raise InvalidInput("issued_at: missing")
    if att.kind == common_pb2.CREDENTIAL_KIND_UNSPECIFIED:
        raise InvalidInput("kind: expected LICENCE, DIPLOMA or GOOD_STANDING")
    if att.status == common_pb2.CREDENTIAL_STATUS_UNSPECIFIED:
        raise InvalidInput("status: missing")
    check_isco("profession_isco", att.profession_isco)
    check_country("jurisdiction", att.jurisdiction)
    subject = att.subject
    if not subject.practitioner_number:
        raise InvalidInput("subject.practitioner_number: missing")
    if not subject.family_name.strip():
        raise InvalidInput("subject.family_name: missing")
    check_country("subject.country_of_training", subject.country_of_training)
    for name in ("valid_from", "valid_until"):
        try:
            from_date(getattr(att, name))
        except ValueError as exc:
            raise InvalidInput("%s: not a calendar date (%s)" % (name, exc)) from exc
    try:
        born = from_date(subject.date_of_birth)
    except ValueError as exc:
        raise InvalidInput("subject.date_of_birth: not a calendar date (%s)" % exc) from exc
    if born is None:
        raise InvalidInput("subject.date_of_birth: missing")


def sign_attestation(att: attestation_pb2.Attestation, *, signer: Signer) -> envelope_pb2.Envelope:
    """Validate ``att`` and return its signed envelope. Raises InvalidInput."""
    validate_attestation(att)
    return signer.sign(ATTESTATION_TYPE, att.SerializeToString(deterministic=True))


def verify_attestation(data: bytes, *, trust: TrustList, record_key: str | None = None) -> VerifiedAttestation:
    """Verify the bytes of an attestation envelope against the trust list.

    Returns a VerifiedAttestation. Raises Malformed or Untrusted, whose ``reason``
    is the credverify.v1.Reason a registry reports. Whether the version is newer
    than a stored one is the store's question, not this function's.
    """
    # (1) parse the envelope, nothing more: the payload stays opaque bytes
    envelope = parse_envelope(data)

    # (2) a signature names a key that some issuer on the trust list holds (the keyid alone
    # says so, without trusting anything else in the envelope)
    keys = trust.public_keys()
    if not any(signature.keyid in keys for signature in envelope.signatures):
        raise Untrusted(
            common_pb2.REASON_ISSUER_UNKNOWN,
            "signed by key(s) %s, which no issuer on the trust list holds"
            % ", ".join(s.keyid[:16] or "(empty keyid)" for s in envelope.signatures),
        )

    # (3) payload type, and a signature over PAE that verifies with such a key
    keyid = verify_signature(envelope, expected_type=ATTESTATION_TYPE, keys=keys)
    trusted = trust.key(keyid)
    assert trusted is not None  # verify_signature only returns keyids it was given

    # (4) only now parse the payload
    att = attestation_pb2.Attestation()
    try:
        att.ParseFromString(envelope.payload)
    except DecodeError as exc:
        raise Malformed("signed payload is not an Attestation: %s" % exc) from exc
    try:
        validate_attestation(att)
    except InvalidInput as exc:
        raise Malformed("signed attestation is invalid: %s" % exc) from exc

    # (5) the signing key belongs to the issuer the attestation names
    issuer = trust.issuer(trusted.issuer_id)
    assert issuer is not None  # every trusted key comes from an issuer record
    if trusted.issuer_id != att.issuer_id:
        raise Untrusted(
            common_pb2.REASON_SIGNATURE_INVALID,
            "signed by a key of issuer %r, but the attestation names issuer %r" % (
                trusted.issuer_id, att.issuer_id),
        )

    # (6) the key was valid when the attestation was issued and not yet compromised
    issued_at = from_timestamp(att.issued_at)
    if trusted.compromised_at is not None and issued_at >= trusted.compromised_at:
        raise Untrusted(
            common_pb2.REASON_KEY_REVOKED,
            "key %s was reported compromised at %s; attestation issued at %s" % (
                keyid[:16], trusted.compromised_at.isoformat(), issued_at.isoformat()),
        )
    if (trusted.not_before is not None and issued_at < trusted.not_before) or (
        trusted.not_after is not None and issued_at >= trusted.not_after
    ):
        raise Untrusted(
            common_pb2.REASON_KEY_NOT_VALID,
            "key %s is valid from %s to %s; attestation issued at %s" % (
                keyid[:16], _fmt(trusted.not_before), _fmt(trusted.not_after), issued_at.isoformat()),
        )

    # (7) the issuer may attest this kind, profession and jurisdiction
    if att.kind not in issuer.credential_kinds:
        raise Untrusted(
            common_pb2.REASON_ISSUER_NOT_AUTHORISED,
            "issuer %s may not attest %s" % (att.issuer_id, common_pb2.CredentialKind.Name(att.kind)),
        )
    if att.profession_isco not in issuer.professions_isco:
        raise Untrusted(
            common_pb2.REASON_ISSUER_NOT_AUTHORISED,
            "issuer %s may not attest ISCO-08 group %s" % (att.issuer_id, att.profession_isco),
        )
    if att.jurisdiction != issuer.country:
        raise Untrusted(
            common_pb2.REASON_ISSUER_NOT_AUTHORISED,
            "issuer %s attests for %s, not %s" % (att.issuer_id, issuer.country, att.jurisdiction),
        )

    # (8) the Kafka key is the credential id, so compaction keeps the right record
    if record_key is not None and record_key != att.credential_id:
        raise Untrusted(
            common_pb2.REASON_RECORD_KEY_MISMATCH,
            "record key %r differs from credential id %r" % (record_key[:200], att.credential_id),
        )
    return VerifiedAttestation(
        attestation=att, envelope_bytes=data, keyid=keyid, issuer_country=issuer.country
    )


def _fmt(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else "(open)"
