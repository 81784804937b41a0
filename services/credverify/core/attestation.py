"""Where bytes from Kafka become a verified attestation.

``verify_attestation`` is the one gate: nothing reaches a registry's store
without passing it, and it returns a type nothing else constructs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from credverify.core.codes import check_country, check_isco
from credverify.core.envelope import ATTESTATION_TYPE, Signer, parse_envelope, verify_signature
from credverify.core.errors import InvalidInput, Malformed, Untrusted
from credverify.core.sdjwt import (
    MAX_DIGESTS,
    SD_ALG,
    IssuedCredential,
    content_of_attestation,
    issue_credential,
)
from credverify.core.sdjwt import open_disclosures as open_sd_disclosures
from credverify.core.timefmt import from_date, from_timestamp
from credverify.core.trust import TrustedKey, TrustList
from credverify.core.wire import WireError, check_absent, check_wire
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2, trust_pb2

# Why a credential has the status it has (Attestation.status_reason). A closed list, so that a
# registry in another country can act on the code without reading the issuer's language.
STATUS_REASON_CODES: dict[str, str] = {
    "NEW_REGISTRATION": "first entry on the register",
    "RENEWED": "registration renewed for a new period",
    "DETAILS_CORRECTED": "register details corrected; the standing is unchanged",
    "FITNESS_TO_PRACTISE_INVESTIGATION": "suspended while fitness to practise is investigated",
    "INTERIM_ORDER": "interim order pending a hearing",
    "DISCIPLINARY_SANCTION": "sanction imposed after a hearing",
    "CONDITIONS_IMPOSED": "practice restricted by conditions",
    "CONDITIONS_LIFTED": "conditions on practice lifted",
    "SUSPENSION_ENDED": "suspension ended or set aside",
    "APPEAL_UPHELD": "an earlier decision was overturned on appeal",
    "NON_PAYMENT": "annual fee not paid",
    "NOT_RENEWED": "registration not renewed in time",
    "VOLUNTARY_REMOVAL": "removed at the practitioner's request",
    "DECEASED": "the practitioner has died",
    "FRAUDULENT_ENTRY": "entry obtained by fraud",
    "ADMINISTRATIVE_ERROR": "entry made in error",
    "COURT_ORDER": "ordered by a court",
    "OTHER": "another reason, recorded by the issuer",
}
# Bounds on free text: far above real names and conditions, low enough to keep records small.
MAX_NAME_CHARS = 200
MAX_CONDITION_CHARS = 500
MAX_CONDITIONS = 20
# How far ``issued_at`` may run ahead of the hub's append time (spec 10.3): the signer's and the
# broker's clocks differ by seconds when kept by NTP; minutes cover a badly kept one. Beyond it the
# signer claims a time the hub never saw, which only a backdating or broken signer does.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
# Control characters (spec 7.1): Unicode general category Cc, C0 and C1 alike. Neither belongs in a
# name, and a C1 character such as U+0085 breaks lines in some viewers.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What "blank" means (spec 7.1): empty, or only code points with the Unicode White_Space property
# (PropList.txt, unchanged since Unicode 6.3). Spelled out rather than str.isspace(), which also
# counts U+001C..U+001F and so would not match another language's notion.
_WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                         "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
# issuer_id and the local number of a credential_id (spec 7.1): printable ASCII without space or
# '/', so that the id is one unambiguous Kafka key, file name part and URL path segment.
_ID_PART = re.compile(r"[\x21-\x2e\x30-\x7e]{1,64}")
MAX_ID_PART_CHARS = 64
# Version 2 (spec 15): the same attestation without the person, who is sealed in salted digests.
ATTESTATION_V2_TYPE = "application/vnd.credverify.attestation.v2+protobuf"
ATTESTATION_TYPES = (ATTESTATION_TYPE, ATTESTATION_V2_TYPE)
# The field numbers v1 gives personal data (subject, conditions, diploma), reserved in AttestationV2.
V1_PERSONAL_FIELD_NUMBERS = frozenset({6, 12, 14})
# A digest (spec 15.2): unpadded base64url of 32 bytes is 43 characters, and the last carries 4 bits
# of data and 2 unused, which must be zero for one digest to have one spelling (RFC 4648 section 3.5).
_DIGEST = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


@dataclass(frozen=True)
class VerifiedAttestation:
    """An attestation whose signature and trust rules have been checked; only the gate makes one."""

    attestation: attestation_pb2.Attestation
    envelope_bytes: bytes  # exactly what was signed and sent: the evidence a registry hands out
    keyid: str
    issuer_country: str
    # The hub's append time it was judged with (spec 10.3); None: judged on issued_at alone.
    witnessed_at: dt.datetime | None = None
    payload_type: str = ATTESTATION_TYPE
    # v2 only: the signed AttestationV2. ``attestation`` is then its non-personal fields in v1 shape,
    # with subject, conditions and diploma unset, so code written for v1 reads no personal data.
    attestation_v2: attestation_pb2.AttestationV2 | None = None

    @property
    def subject_sealed(self) -> bool:
        """Whether the practitioner's details are only digests here (v2): nothing to compare them with."""
        return self.attestation_v2 is not None

    @property
    def subject_digests(self) -> tuple[str, ...]:
        """The SD-JWT digests a v2 attestation carries, sorted; empty for v1."""
        return tuple(self.attestation_v2.subject_digests) if self.attestation_v2 is not None else ()

    @property
    def has_conditions(self) -> bool:
        if self.attestation_v2 is not None:
            return self.attestation_v2.has_conditions
        return bool(self.attestation.conditions)

    @property
    def credential_id(self) -> str:
        return self.attestation.credential_id

    @property
    def version(self) -> int:
        return self.attestation.version


def validate_attestation(att: attestation_pb2.Attestation) -> None:
    """Check the fields an issuer must get right before signing. Raises InvalidInput naming the field.

    The sections follow docs/spec.md 7.1-7.4, in an order that decides which error a message
    with several faults reports: identity, classification, subject, dates, diploma, conditions,
    status.
    """
    _check_identity(att)
    _check_classification(att)
    _check_subject(att.subject)
    dates = _parse_dates(att)
    _check_dates(dates)
    _check_diploma(att, dates["diploma.award_date"])
    _check_conditions(att)
    _check_status(att)


def _check_identity(att: attestation_pb2.Attestation) -> None:
    """Who issued which credential, which version, when (7.1 fields 1-4)."""
    if not _ID_PART.fullmatch(att.issuer_id):
        raise InvalidInput("issuer_id: expected 1 to %d printable ASCII characters without space or '/', "
                           "found %r" % (MAX_ID_PART_CHARS, att.issuer_id[:80]))
    prefix = att.issuer_id + "/"
    if not att.credential_id.startswith(prefix) or not _ID_PART.fullmatch(att.credential_id[len(prefix):]):
        raise InvalidInput("credential_id: expected '%s<number>', the number 1 to %d printable ASCII characters "
                           "without space or '/', found %r" % (prefix, MAX_ID_PART_CHARS, att.credential_id[:200]))
    if att.version < 1:
        raise InvalidInput("version: expected 1 or more, found %d" % att.version)
    if not att.HasField("issued_at"):
        raise InvalidInput("issued_at: missing")
    try:
        from_timestamp(att.issued_at)
    except ValueError as exc:  # out of the years 1-9999, or nanos out of range: unusable as a time
        raise InvalidInput("issued_at: not a valid time (%s)" % exc) from exc


def _check_classification(att: attestation_pb2.Attestation) -> None:
    """Kind, status, profession and jurisdiction: the values an issuer's scope is judged on."""
    # proto3 enums are open: a number this version does not define must not pass as a known value.
    if att.kind == common_pb2.CREDENTIAL_KIND_UNSPECIFIED or att.kind not in common_pb2.CredentialKind.values():
        raise InvalidInput("kind: expected LICENCE, DIPLOMA or GOOD_STANDING, found %d" % att.kind)
    if att.status == common_pb2.CREDENTIAL_STATUS_UNSPECIFIED or att.status not in common_pb2.CredentialStatus.values():
        raise InvalidInput("status: expected a CredentialStatus, found %d" % att.status)
    check_isco("profession_isco", att.profession_isco)
    check_country("jurisdiction", att.jurisdiction)


def _check_subject(subject: attestation_pb2.Subject) -> None:
    """The practitioner (7.2), all but the date of birth, which is checked with the other dates."""
    if is_blank(subject.practitioner_number):
        raise InvalidInput("subject.practitioner_number: missing")
    if is_blank(subject.family_name):
        raise InvalidInput("subject.family_name: missing")
    check_country("subject.country_of_training", subject.country_of_training)
    for name, value in (("subject.practitioner_number", subject.practitioner_number),
                        ("subject.family_name", subject.family_name),
                        ("subject.given_names", subject.given_names)):
        _check_text(name, value, MAX_NAME_CHARS)


def _parse_dates(att: attestation_pb2.Attestation) -> dict[str, dt.date | None]:
    """Return every date of the message by field name, None where unset. Raises InvalidInput."""
    dates: dict[str, dt.date | None] = {}
    for date_name, date_value in (("valid_from", att.valid_from), ("valid_until", att.valid_until),
                                  ("subject.date_of_birth", att.subject.date_of_birth),
                                  ("diploma.award_date", att.diploma.award_date)):
        try:
            dates[date_name] = from_date(date_value)
        except ValueError as exc:
            raise InvalidInput("%s: not a calendar date (%d-%02d-%02d: %s)" % (
                date_name, date_value.year, date_value.month, date_value.day, exc)) from exc
    return dates


def _check_dates(dates: dict[str, dt.date | None]) -> None:
    """A date of birth, and a validity period that does not end before it starts."""
    if dates["subject.date_of_birth"] is None:
        raise InvalidInput("subject.date_of_birth: missing")
    _check_period(dates)


def _check_period(dates: dict[str, dt.date | None]) -> None:
    """A validity period that does not end before it starts."""
    start, end = dates["valid_from"], dates["valid_until"]
    if start is not None and end is not None and end < start:
        raise InvalidInput("valid_until: expected on or after valid_from %s, found %s" % (start, end))


def _check_diploma(att: attestation_pb2.Attestation, award_date: dt.date | None) -> None:
    """Diploma details (7.3): required on a DIPLOMA, refused on any other kind."""
    if att.kind == common_pb2.CREDENTIAL_KIND_DIPLOMA:
        if is_blank(att.diploma.institution):
            raise InvalidInput("diploma.institution: missing (required for a DIPLOMA)")
        if is_blank(att.diploma.programme):
            raise InvalidInput("diploma.programme: missing (required for a DIPLOMA)")
        if award_date is None:
            raise InvalidInput("diploma.award_date: missing (required for a DIPLOMA)")
        _check_text("diploma.institution", att.diploma.institution, MAX_NAME_CHARS)
        _check_text("diploma.programme", att.diploma.programme, MAX_NAME_CHARS)
    elif att.HasField("diploma"):
        raise InvalidInput("diploma: only a DIPLOMA carries diploma details, found them on a %s"
                           % common_pb2.CredentialKind.Name(att.kind).removeprefix("CREDENTIAL_KIND_"))


def _check_conditions(att: attestation_pb2.Attestation) -> None:
    """At most MAX_CONDITIONS conditions, each non-blank text."""
    if len(att.conditions) > MAX_CONDITIONS:
        raise InvalidInput("conditions: expected at most %d, found %d" % (MAX_CONDITIONS, len(att.conditions)))
    for index, condition in enumerate(att.conditions):
        if is_blank(condition):
            raise InvalidInput("conditions[%d]: empty" % index)
        _check_text("conditions[%d]" % index, condition, MAX_CONDITION_CHARS)


def _check_status(att: attestation_pb2.Attestation) -> None:
    """A status that agrees with the conditions, and a reason code from the closed list."""
    if att.status == common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS and not att.conditions:
        raise InvalidInput("conditions: status ACTIVE_WITH_CONDITIONS needs at least one condition, found none")
    if att.status == common_pb2.CREDENTIAL_STATUS_ACTIVE and att.conditions:
        raise InvalidInput("status: ACTIVE with %d condition(s); expected ACTIVE_WITH_CONDITIONS" % len(att.conditions))
    if att.status_reason and att.status_reason not in STATUS_REASON_CODES:
        raise InvalidInput("status_reason: expected a status reason code such as INTERIM_ORDER or NOT_RENEWED, "
                           "found %r" % att.status_reason[:80])


def is_blank(value: str) -> bool:
    """Return whether ``value`` is empty or only white space (spec 7.1)."""
    return all(character in _WHITE_SPACE for character in value)


def _check_text(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidInput("%s: expected at most %d characters, found %d" % (name, limit, len(value)))
    found = _CONTROL_CHARACTERS.search(value)
    if found:  # the position, never the text: it may be a person's name, and errors reach logs
        raise InvalidInput("%s: control characters are not allowed, found one at character %d"
                           % (name, found.start()))


def sign_attestation(att: attestation_pb2.Attestation, *, signer: Signer) -> envelope_pb2.Envelope:
    """Validate ``att`` and return its signed envelope. Raises InvalidInput."""
    validate_attestation(att)
    return signer.sign(ATTESTATION_TYPE, att.SerializeToString(deterministic=True))


def verify_attestation(data: bytes, *, trust: TrustList, record_key: str | None = None,
                       witnessed_at: dt.datetime | None = None) -> VerifiedAttestation:
    """Verify the bytes of an attestation envelope against the trust list.

    ``witnessed_at`` is when a clock the signer does not control saw the bytes: the hub's append
    time of the Kafka record (LogAppendTime), or the moment a registry is handed an envelope. With
    it, a key reported compromised bounds what it signed by that time as well as by ``issued_at``,
    and an ``issued_at`` after it (beyond MAX_CLOCK_SKEW) is refused (spec 10.3). None: judged on
    ``issued_at`` alone, as an auditor re-checking stored evidence offline does.

    Returns a VerifiedAttestation. Raises Malformed or Untrusted, whose ``reason``
    is the credverify.v1.Reason a registry reports. Whether the version is newer
    than a stored one is the store's question, not this function's.
    """
    # (1) parse the envelope, nothing more: the payload stays opaque bytes
    envelope = parse_envelope(data)

    # (2) a signature names a key that some issuer on the trust list holds (the keyid alone
    # says so, without trusting anything else in the envelope)
    keys = _listed_keys(envelope, trust)

    # (3) payload type (v1 or v2), and a signature over PAE that verifies with such a key
    payload_type = envelope.payloadType if envelope.payloadType in ATTESTATION_TYPES else ATTESTATION_TYPE
    keyid = verify_signature(envelope, expected_type=payload_type, keys=keys)
    trusted = trust.key(keyid)
    assert trusted is not None  # verify_signature only returns keyids it was given

    # (4) only now parse the payload, with the parser its type names; a v2 one is read on as its
    # non-personal fields in v1 shape, which is all steps (5) to (8) look at
    att_v2 = _parse_payload_v2(envelope.payload) if payload_type == ATTESTATION_V2_TYPE else None
    att = _parse_payload(envelope.payload) if att_v2 is None else v1_view(att_v2)

    # (5) the signing key belongs to the issuer the attestation names
    issuer = _issuer_of_key(trusted, att, trust)

    # (6) the key was not yet compromised when the attestation was issued nor when the hub saw it,
    # the issue time is not after the time the hub saw it, and the key was valid at issue
    _check_key_valid_at_issue(keyid, trusted, att, witnessed_at)

    # (7) the issuer may attest this kind, profession and jurisdiction
    _check_issuer_scope(issuer, att)

    # (8) the Kafka key is the credential id, so compaction keeps the right record
    _check_record_key(record_key, att)
    return VerifiedAttestation(
        attestation=att, envelope_bytes=data, keyid=keyid, issuer_country=issuer.country, witnessed_at=witnessed_at,
        payload_type=payload_type, attestation_v2=att_v2,
    )


def _listed_keys(envelope: envelope_pb2.Envelope, trust: TrustList) -> Mapping[str, Ed25519PublicKey]:
    """Step (2): return the trust list's keys. Raises Untrusted (ISSUER_UNKNOWN) when no signature names one."""
    keys = trust.public_keys()
    if not any(signature.keyid in keys for signature in envelope.signatures):
        raise Untrusted(
            common_pb2.REASON_ISSUER_UNKNOWN,
            "signed by key(s) %s, which no issuer on the trust list holds"
            % ", ".join(s.keyid[:16] or "(empty keyid)" for s in envelope.signatures),
        )
    return keys


def _parse_payload(payload: bytes) -> attestation_pb2.Attestation:
    """Step (4): return the signed payload as a valid Attestation. Raises Malformed."""
    att = attestation_pb2.Attestation()
    try:
        att.ParseFromString(payload)
        check_wire(payload, attestation_pb2.Attestation.DESCRIPTOR)
    except (DecodeError, WireError) as exc:
        raise Malformed("signed payload is not an Attestation: %s" % exc) from exc
    try:
        validate_attestation(att)
    except InvalidInput as exc:
        raise Malformed("signed attestation is invalid: %s" % exc) from exc
    return att


def _issuer_of_key(trusted: TrustedKey, att: attestation_pb2.Attestation,
                   trust: TrustList) -> trust_pb2.IssuerRecord:
    """Step (5): return the record of the issuer holding the key. Raises Untrusted (SIGNATURE_INVALID)
    when that is not the issuer the attestation names."""
    issuer = trust.issuer(trusted.issuer_id)
    assert issuer is not None  # every trusted key comes from an issuer record
    if trusted.issuer_id != att.issuer_id:
        raise Untrusted(
            common_pb2.REASON_SIGNATURE_INVALID,
            "signed by a key of issuer %r, but the attestation names issuer %r" % (
                trusted.issuer_id, att.issuer_id),
        )
    return issuer


def _check_key_valid_at_issue(keyid: str, trusted: TrustedKey, att: attestation_pb2.Attestation,
                              witnessed_at: dt.datetime | None) -> None:
    """Step (6). Raises Untrusted: KEY_REVOKED, then ISSUED_AFTER_WITNESSED, then KEY_NOT_VALID."""
    issued_at = from_timestamp(att.issued_at)
    _check_not_compromised(keyid, trusted, issued_at, witnessed_at)
    if witnessed_at is not None and issued_at > witnessed_at + MAX_CLOCK_SKEW:
        raise Untrusted(
            common_pb2.REASON_ISSUED_AFTER_WITNESSED,
            "issued_at %s is more than %d s after the hub's append time %s" % (
                issued_at.isoformat(), MAX_CLOCK_SKEW.total_seconds(), witnessed_at.isoformat()),
        )
    if (trusted.not_before is not None and issued_at < trusted.not_before) or (
        trusted.not_after is not None and issued_at >= trusted.not_after
    ):
        raise Untrusted(
            common_pb2.REASON_KEY_NOT_VALID,
            "key %s is valid from %s to %s; attestation issued at %s" % (
                keyid[:16], _fmt(trusted.not_before), _fmt(trusted.not_after), issued_at.isoformat()),
        )


def _check_not_compromised(keyid: str, trusted: TrustedKey, issued_at: dt.datetime,
                           witnessed_at: dt.datetime | None) -> None:
    """Step (6a). Raises Untrusted (KEY_REVOKED) when the key's compromise came at or before the issue
    time or the witnessed time: whoever holds a stolen key can write any issued_at, not the hub's clock."""
    compromised_at = trusted.compromised_at
    if compromised_at is None:
        return
    if issued_at >= compromised_at:
        raise Untrusted(
            common_pb2.REASON_KEY_REVOKED,
            "key %s was reported compromised at %s; attestation issued at %s" % (
                keyid[:16], compromised_at.isoformat(), issued_at.isoformat()),
        )
    if witnessed_at is not None and witnessed_at >= compromised_at:
        raise Untrusted(
            common_pb2.REASON_KEY_REVOKED,
            "key %s was reported compromised at %s; the hub appended the attestation at %s, whatever its "
            "issued_at %s says" % (keyid[:16], compromised_at.isoformat(), witnessed_at.isoformat(),
                                   issued_at.isoformat()),
        )


def _check_issuer_scope(issuer: trust_pb2.IssuerRecord, att: attestation_pb2.Attestation) -> None:
    """Step (7). Raises Untrusted (ISSUER_NOT_AUTHORISED) for a kind, profession or jurisdiction
    outside the issuer's record."""
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


def _check_record_key(record_key: str | None, att: attestation_pb2.Attestation) -> None:
    """Step (8), skipped when there is no Kafka record. Raises Untrusted (RECORD_KEY_MISMATCH)."""
    if record_key is not None and record_key != att.credential_id:
        raise Untrusted(
            common_pb2.REASON_RECORD_KEY_MISMATCH,
            "record key %r differs from credential id %r" % (record_key[:200], att.credential_id),
        )


def _fmt(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment else "(open)"


# --- version 2: the person sealed in digests (spec 15) ---------------------------------------------

def validate_attestation_v2(att: attestation_pb2.AttestationV2) -> None:
    """Check the fields of a v2 attestation (spec 15.2). Raises InvalidInput naming the field.

    The shared fields follow the v1 rules in the v1 order (identity, classification, dates); then
    the status against the conditions flag, then the digests.
    """
    view = v1_view(att)
    _check_identity(view)
    _check_classification(view)
    _check_period(_parse_dates(view))
    _check_status_v2(att)
    _check_digests(att)


def _check_status_v2(att: attestation_pb2.AttestationV2) -> None:
    """The status agrees with the conditions flag; a reason code from the closed list."""
    conditioned = att.status == common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS
    if conditioned and not att.has_conditions:
        raise InvalidInput("has_conditions: status ACTIVE_WITH_CONDITIONS needs has_conditions, found false")
    if att.status == common_pb2.CREDENTIAL_STATUS_ACTIVE and att.has_conditions:
        raise InvalidInput("status: ACTIVE with has_conditions; expected ACTIVE_WITH_CONDITIONS")
    if att.status_reason and att.status_reason not in STATUS_REASON_CODES:
        raise InvalidInput("status_reason: expected a status reason code such as INTERIM_ORDER or NOT_RENEWED, "
                           "found %r" % att.status_reason[:80])


def _check_digests(att: attestation_pb2.AttestationV2) -> None:
    """sd_alg is sha-256; 1 to MAX_DIGESTS digests, each canonical base64url of 32 bytes, sorted and
    unique (so that one set of digests has one encoding and a verifier need not sort)."""
    if att.sd_alg != SD_ALG:
        raise InvalidInput("sd_alg: expected %r, found %r" % (SD_ALG, att.sd_alg[:40]))
    digests = att.subject_digests
    if not 1 <= len(digests) <= MAX_DIGESTS:
        raise InvalidInput("subject_digests: expected 1 to %d, found %d" % (MAX_DIGESTS, len(digests)))
    for index, digest in enumerate(digests):
        if not _DIGEST.fullmatch(digest):
            raise InvalidInput("subject_digests[%d]: expected 43 characters of canonical unpadded base64url "
                               "(a SHA-256 digest), found %d characters %r" % (index, len(digest), digest[:60]))
        if index and digest <= digests[index - 1]:
            raise InvalidInput("subject_digests[%d]: expected sorted and unique, found %s" % (
                index, "a duplicate" if digest == digests[index - 1] else "one out of order"))


def v1_view(att: attestation_pb2.AttestationV2) -> attestation_pb2.Attestation:
    """Return the fields v1 and v2 share, as a v1 Attestation without subject, conditions or diploma."""
    view = attestation_pb2.Attestation(
        credential_id=att.credential_id, issuer_id=att.issuer_id, version=att.version, kind=att.kind,
        profession_isco=att.profession_isco, status=att.status, jurisdiction=att.jurisdiction,
        status_reason=att.status_reason)
    for name in ("issued_at", "valid_from", "valid_until"):
        if att.HasField(name):
            getattr(view, name).CopyFrom(getattr(att, name))
    return view


def attestation_v2_of(att: attestation_pb2.Attestation, digests: Sequence[str]) -> attestation_pb2.AttestationV2:
    """Return the v2 attestation of a v1-shaped one: its non-personal fields and ``digests`` (the
    SD-JWT's ``_sd`` array, e.g. ``IssuedCredential.digests`` or ``sdjwt.hub_digests``), sorted."""
    att_v2 = attestation_pb2.AttestationV2(
        credential_id=att.credential_id, issuer_id=att.issuer_id, version=att.version, kind=att.kind,
        profession_isco=att.profession_isco, status=att.status, jurisdiction=att.jurisdiction,
        status_reason=att.status_reason, has_conditions=bool(att.conditions),
        subject_digests=sorted(digests), sd_alg=SD_ALG)
    for name in ("issued_at", "valid_from", "valid_until"):
        if att.HasField(name):
            getattr(att_v2, name).CopyFrom(getattr(att, name))
    return att_v2


def sign_attestation_v2(att: attestation_pb2.AttestationV2, *, signer: Signer) -> envelope_pb2.Envelope:
    """Validate ``att`` and return its signed envelope (payloadType v2). Raises InvalidInput."""
    validate_attestation_v2(att)
    return signer.sign(ATTESTATION_V2_TYPE, att.SerializeToString(deterministic=True))


def issue_attestation_v2(att: attestation_pb2.Attestation, *, signer: Signer, now: dt.datetime,
                         random_bytes: Callable[[int], bytes]) -> tuple[envelope_pb2.Envelope, IssuedCredential]:
    """Return the hub's v2 envelope for the issuer's (v1-shaped, complete) attestation and the
    practitioner's SD-JWT VC whose Disclosures open it. ``random_bytes`` gives the salts (pass
    secrets.token_bytes). Raises InvalidInput."""
    validate_attestation(att)
    credential = issue_credential(content_of_attestation(att), signer=signer, now=now, random_bytes=random_bytes)
    return sign_attestation_v2(attestation_v2_of(att, credential.digests), signer=signer), credential


def open_disclosures(disclosures: Sequence[str], verified: VerifiedAttestation) -> dict[str, object]:
    """Return the claims that ``disclosures`` (SD-JWT Disclosures) disclose, each checked against the
    digests of a v2 attestation (RFC 9901 section 7.1 step 3). Raises PresentationMalformed for one
    that does not decode, PresentationUntrusted: DISCLOSURE_UNKNOWN when its digest is not among the
    attestation's (forged, or from another credential, or a v1 attestation, which has none),
    DISCLOSURE_DUPLICATE, DISCLOSURE_RESERVED_NAME, DISCLOSURE_CLAIM_CLASH for two of one claim."""
    where = "among the %d of credential %s version %d" % (len(verified.subject_digests), verified.credential_id,
                                                            verified.version)
    return open_sd_disclosures(disclosures, verified.subject_digests, where=where)


def _parse_payload_v2(payload: bytes) -> attestation_pb2.AttestationV2:
    """Step (4) for v2: return the signed payload as a valid AttestationV2. Raises Malformed, also for
    a payload carrying a field v1 gives personal data (a v1 payload sent under the v2 type)."""
    att = attestation_pb2.AttestationV2()
    try:
        att.ParseFromString(payload)
        check_wire(payload, attestation_pb2.AttestationV2.DESCRIPTOR)
        check_absent(payload, V1_PERSONAL_FIELD_NUMBERS, attestation_pb2.AttestationV2.DESCRIPTOR)
    except (DecodeError, WireError) as exc:
        raise Malformed("signed payload is not an AttestationV2: %s" % exc) from exc
    try:
        validate_attestation_v2(att)
    except InvalidInput as exc:
        raise Malformed("signed v2 attestation is invalid: %s" % exc) from exc
    return att
