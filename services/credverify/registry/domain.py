"""A destination regulator's judgement of a stored attestation. Pure: time and keys are passed in."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from credverify.core import sdjwt
from credverify.core.attestation import VerifiedAttestation
from credverify.core.errors import RegistrationRefused, reason_from_code
from credverify.core.names import normalise_name
from credverify.core.timefmt import from_date, to_date
from credverify.core.trust import TrustList
from credverify.v1 import attestation_pb2, common_pb2, moves_pb2, registry_pb2

STATUS_REASONS = {
    common_pb2.CREDENTIAL_STATUS_SUSPENDED: common_pb2.REASON_SUSPENDED,
    common_pb2.CREDENTIAL_STATUS_REVOKED: common_pb2.REASON_REVOKED,
    common_pb2.CREDENTIAL_STATUS_LAPSED: common_pb2.REASON_LAPSED,
}


@dataclass(frozen=True)
class Judgement:
    verified: bool
    reasons: tuple[common_pb2.Reason, ...]
    detail: str


def subject_mismatches(subject: attestation_pb2.Subject, claimed: registry_pb2.ClaimedSubject) -> list[str]:
    """Return the names of the claimed fields that differ from the attested subject (never the values)."""
    differing = []
    if claimed.family_name and normalise_name(claimed.family_name) != normalise_name(subject.family_name):
        differing.append("family_name")
    if claimed.given_names and normalise_name(claimed.given_names) != normalise_name(subject.given_names):
        differing.append("given_names")
    if claimed.HasField("date_of_birth") and from_date(claimed.date_of_birth) != from_date(subject.date_of_birth):
        differing.append("date_of_birth")
    return differing


def judge(
    verified: VerifiedAttestation, claimed: registry_pb2.ClaimedSubject | None, *, today: dt.date,
    disclosed: Mapping[str, object] | None = None,
) -> Judgement:
    """Return every reason that applies to a stored, signature-checked attestation today.
    ``disclosed``: for a v2 attestation, the details a checked presentation disclosed (see
    ``check_presentation``); the claimed details are compared with them."""
    att = verified.attestation
    # In the order of spec 11.3: status, expiry, start, subject.
    findings = [finding for finding in (
        _status_finding(att),
        _expiry_finding(att, today),
        _start_finding(att, today),
        *_subject_findings(verified, claimed, disclosed),
    ) if finding is not None]
    if findings:
        return Judgement(False, tuple(reason for reason, _ in findings), "; ".join(note for _, note in findings))
    if att.status == common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS:
        return Judgement(True, (common_pb2.REASON_VERIFIED, common_pb2.REASON_CONDITIONS_APPLY),
                         "active with conditions: " + ("; ".join(att.conditions) if not verified.subject_sealed
                                                       else "their text is in the practitioner's credential"))
    return Judgement(True, (common_pb2.REASON_VERIFIED,), "genuine and current")


# A reason that stops a credential from being current, with the note that explains it.
_Finding = tuple[common_pb2.Reason, str]


def _status_finding(att: attestation_pb2.Attestation) -> _Finding | None:
    if att.status not in STATUS_REASONS:
        return None
    return STATUS_REASONS[att.status], "status %s%s" % (
        common_pb2.CredentialStatus.Name(att.status).removeprefix("CREDENTIAL_STATUS_").lower(),
        " (%s)" % att.status_reason if att.status_reason else "")


def _expiry_finding(att: attestation_pb2.Attestation, today: dt.date) -> _Finding | None:
    valid_until = from_date(att.valid_until)
    if valid_until is None or valid_until >= today:
        return None
    return common_pb2.REASON_EXPIRED, "expired on %s" % valid_until.isoformat()


def _start_finding(att: attestation_pb2.Attestation, today: dt.date) -> _Finding | None:
    valid_from = from_date(att.valid_from)
    if valid_from is None or valid_from <= today:
        return None
    return common_pb2.REASON_NOT_YET_VALID, "valid from %s" % valid_from.isoformat()


def _subject_finding(att: attestation_pb2.Attestation, claimed: registry_pb2.ClaimedSubject | None
                     ) -> _Finding | None:
    differing = subject_mismatches(att.subject, claimed) if claimed is not None else []
    if not differing:
        return None
    return common_pb2.REASON_SUBJECT_MISMATCH, "claimed %s differ from the attestation" % ", ".join(differing)


def _subject_findings(verified: VerifiedAttestation, claimed: registry_pb2.ClaimedSubject | None,
                      disclosed: Mapping[str, object] | None) -> tuple[_Finding | None, ...]:
    if not verified.subject_sealed:
        return (_subject_finding(verified.attestation, claimed),)
    if disclosed is None:
        return (_sealed_subject_finding(claimed),)
    return _disclosed_subject_findings(disclosed, claimed)


def disclosed_subject(disclosed: Mapping[str, object]) -> tuple[attestation_pb2.Subject, frozenset[str]]:
    """Return the practitioner's details a presentation disclosed as a Subject, and the names of the
    ClaimedSubject fields it can be compared on (those disclosed as text of the profile's shape)."""
    subject = attestation_pb2.Subject()
    comparable = set()
    for field_name, claim in (("family_name", "family_name"), ("given_names", "given_names"),
                              ("practitioner_number", "practitioner_number"),
                              ("country_of_training", "country_of_training")):
        value = disclosed.get(claim)
        if isinstance(value, str):
            setattr(subject, field_name, value)
            comparable.add(field_name)
    birth = disclosed.get("birth_date")
    if isinstance(birth, str):
        try:
            subject.date_of_birth.CopyFrom(to_date(dt.date.fromisoformat(birth)))
            comparable.add("date_of_birth")
        except ValueError:
            pass  # a birth date not of the profile's shape compares with nothing: reported unchecked
    return subject, frozenset(comparable)


def _disclosed_subject_findings(disclosed: Mapping[str, object], claimed: registry_pb2.ClaimedSubject | None
                                ) -> tuple[_Finding | None, _Finding | None]:
    """The claimed details against the disclosed ones, as v1 compares them with the attested ones; a
    claimed detail the applicant did not disclose is unchecked, never matching."""
    if claimed is None:
        return None, None
    subject, comparable = disclosed_subject(disclosed)
    given = [name for name in ("family_name", "given_names", "date_of_birth")
             if (claimed.HasField(name) if name == "date_of_birth" else getattr(claimed, name))]
    unchecked = [name for name in given if name not in comparable]
    partial = registry_pb2.ClaimedSubject()
    partial.CopyFrom(claimed)
    for name in unchecked:
        partial.ClearField(name)
    differing = subject_mismatches(subject, partial)
    mismatch = (common_pb2.REASON_SUBJECT_MISMATCH, "claimed %s differ from the presented credential"
                % ", ".join(differing)) if differing else None
    not_checked = (common_pb2.REASON_SUBJECT_NOT_CHECKED, "claimed %s not checked: the presentation does not "
                   "disclose them" % ", ".join(unchecked)) if unchecked else None
    return mismatch, not_checked


# A key-binding JWT answers the nonce the caller gave the applicant for this presentation: minutes
# cover a case officer's interview, and a replayed one older than that is refused.
KEY_BINDING_MAX_AGE = dt.timedelta(minutes=10)


def presentation_refusal(exc: sdjwt.PresentationRejected) -> tuple[common_pb2.Reason, str]:
    """Return the Reason and detail of a refused presentation (its codes are Reason values)."""
    return reason_from_code(exc.reason), "presentation refused: " + exc.detail


def check_presentation(text: str, verified: VerifiedAttestation, *, trust: TrustList, audience: str, nonce: str,
                       now: dt.datetime) -> sdjwt.VerifiedPresentation:
    """Return the applicant's presentation of the credential ``verified`` holds, checked.

    Raises sdjwt.PresentationRejected: the reasons of ``sdjwt.verify_presentation``, with
    SD_JWT_SIGNATURE_INVALID for a key that is not the issuer's, KEY_REVOKED or KEY_NOT_VALID for an
    issuer's key reported compromised or out of its validity when the credential was signed, and
    DIGESTS_NOT_CURRENT for a credential whose digests are not those of the version held (a v1
    attestation has none).
    """
    att = verified.attestation
    # (1) the keys the trust list holds for the attestation's issuer: another issuer's key verifies nothing
    keys = {keyid: key for keyid, key in trust.public_keys().items()
            if (held := trust.key(keyid)) is not None and held.issuer_id == att.issuer_id}
    # (2) signature, disclosures, digests of the version held, key binding (the SD-JWT gate)
    presented = sdjwt.verify_presentation(text, keys_by_kid=keys, audience=audience, nonce=nonce, now=now,
                                          max_age=KEY_BINDING_MAX_AGE, expected_digests=verified.subject_digests)
    # (3) the signing key was valid, and not yet reported compromised, when the credential was signed
    _check_presentation_key(presented, trust)
    # (4) it names the issuer and credential of the record (the issuer's own slip otherwise)
    if presented.issuer_id != att.issuer_id or presented.claims.get("credential_id") != att.credential_id:
        raise sdjwt.PresentationUntrusted(sdjwt.DIGESTS_NOT_CURRENT, "the credential names another issuer or "
                                          "credential than %s" % att.credential_id)
    return presented


def _check_presentation_key(presented: sdjwt.VerifiedPresentation, trust: TrustList) -> None:
    held = trust.key(presented.keyid)
    assert held is not None  # the gate verified with it
    signed_at = dt.datetime.fromtimestamp(presented.issued_at, dt.UTC)
    # ``iat`` counts whole seconds: each bound is compared at that precision, so a credential signed in
    # the second a key became valid is taken, and one signed in the second it was compromised or
    # expired is refused (docs/sd-jwt.md).
    not_before, not_after, compromised_at = (
        None if moment is None else moment.replace(microsecond=0)
        for moment in (held.not_before, held.not_after, held.compromised_at))
    if compromised_at is not None and signed_at >= compromised_at:
        raise sdjwt.PresentationUntrusted("KEY_REVOKED", "key %s was reported compromised at %s; credential "
                                          "signed at %s" % (presented.keyid[:16], compromised_at.isoformat(),
                                                            signed_at.isoformat()))
    if (not_before is not None and signed_at < not_before) or (not_after is not None and signed_at >= not_after):
        raise sdjwt.PresentationUntrusted("KEY_NOT_VALID", "key %s was not valid when the credential was signed "
                                          "at %s" % (presented.keyid[:16], signed_at.isoformat()))


def _sealed_subject_finding(claimed: registry_pb2.ClaimedSubject | None) -> _Finding | None:
    """A v2 attestation carries only digests of the practitioner's details: claimed details cannot be
    compared with them until she presents her credential, so they are reported unchecked, never as
    matching."""
    if claimed is None or not (claimed.family_name or claimed.given_names or claimed.HasField("date_of_birth")):
        return None
    return common_pb2.REASON_SUBJECT_NOT_CHECKED, ("claimed details not checked: the attestation carries only "
                                                    "digests of them; the practitioner's presentation can open them")


def subject_token(pseudonym_key: bytes, att: attestation_pb2.Attestation) -> str:
    """Return a keyed pseudonym of the practitioner: the same person gives the same token, and
    without the key nothing about them can be recovered from it."""
    message = ("%s\x00%s" % (att.issuer_id, att.subject.practitioner_number)).encode()
    return hmac.new(pseudonym_key, message, hashlib.sha256).hexdigest()


# What a v2 registration needs disclosed: the register number for the pseudonym (without it every
# practitioner of the issuer would share one), the country of training for the return-migration flag.
REGISTRATION_CLAIMS = ("practitioner_number", "country_of_training")


def build_move(
    verified: VerifiedAttestation, *, destination: str, registered_on: dt.date, pseudonym_key: bytes,
    disclosed: Mapping[str, object] | None = None,
) -> moves_pb2.VerifiedMove:
    """Return the VerifiedMove for registering this attestation's holder in ``destination``. A v2
    attestation takes the register number and country of training from ``disclosed`` (a checked
    presentation's); raises RegistrationRefused (SUBJECT_NOT_CHECKED) when they are not there."""
    att = verified.attestation
    if verified.subject_sealed:
        att = _with_disclosed_subject(att, disclosed)
    token = subject_token(pseudonym_key, att)
    move_id = hashlib.sha256(("%s\x00%s\x00%s" % (token, att.credential_id, destination)).encode()).hexdigest()
    return moves_pb2.VerifiedMove(
        move_id=move_id[:32],
        origin_country=verified.issuer_country,
        destination_country=destination,
        profession_isco=att.profession_isco,
        credential_kind=att.kind,
        registered_on=to_date(registered_on),
        return_migration=att.subject.country_of_training == destination,
        subject_token=token,
        country_of_training=att.subject.country_of_training,
    )


def _with_disclosed_subject(att: attestation_pb2.Attestation, disclosed: Mapping[str, object] | None
                            ) -> attestation_pb2.Attestation:
    """Return a copy of ``att`` whose subject holds only the register number and country of training
    disclosed. Raises RegistrationRefused (SUBJECT_NOT_CHECKED) when either is missing."""
    subject, comparable = disclosed_subject(disclosed or {})
    missing = [name for name in REGISTRATION_CLAIMS if name not in comparable or not getattr(subject, name)]
    if missing:
        raise RegistrationRefused(att.credential_id, (common_pb2.REASON_SUBJECT_NOT_CHECKED,),
                                  "a v2 attestation carries no practitioner details; registration needs her "
                                  "presentation disclosing %s" % ", ".join(missing))
    copy = attestation_pb2.Attestation()
    copy.CopyFrom(att)
    copy.subject.practitioner_number = subject.practitioner_number
    copy.subject.country_of_training = subject.country_of_training
    return copy
