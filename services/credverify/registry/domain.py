"""A destination regulator's judgement of a stored attestation. Pure: time and keys are passed in."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import unicodedata
from dataclasses import dataclass

from credverify.core.attestation import VerifiedAttestation
from credverify.core.errors import RegistrationRefused
from credverify.core.timefmt import from_date, to_date
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


# Every Verify with claimed details normalises the attested and the claimed names; the same
# names come back call after call, and folding them is most of the cost of a judgement. Names
# reach it capped (MAX_NAME_CHARS, checked at the gRPC boundary and in the gate), so the cache
# holds at most NAME_CACHE_ENTRIES x 200 characters: a few MB.
NAME_CACHE_ENTRIES = 16_384


@functools.lru_cache(maxsize=NAME_CACHE_ENTRIES)
def normalise_name(name: str) -> str:
    """Fold case, diacritics, hyphens and spacing so 'NJERI-Wanjiku ' matches 'Njeri Wanjikú'."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    spaced = "".join(" " if ch in "-'’.," else ch for ch in stripped)
    return " ".join(spaced.casefold().split())


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
    verified: VerifiedAttestation, claimed: registry_pb2.ClaimedSubject | None, *, today: dt.date
) -> Judgement:
    """Return every reason that applies to a stored, signature-checked attestation today."""
    att = verified.attestation
    # In the order of spec 11.3: status, expiry, start, subject.
    findings = [finding for finding in (
        _status_finding(att),
        _expiry_finding(att, today),
        _start_finding(att, today),
        _sealed_subject_finding(claimed) if verified.subject_sealed else _subject_finding(att, claimed),
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


def build_move(
    verified: VerifiedAttestation, *, destination: str, registered_on: dt.date, pseudonym_key: bytes
) -> moves_pb2.VerifiedMove:
    """Return the VerifiedMove for registering this attestation's holder in ``destination``. Raises
    RegistrationRefused (SUBJECT_NOT_CHECKED) for a v2 attestation: without the register number the
    pseudonym would be the same for every practitioner of the issuer."""
    att = verified.attestation
    if verified.subject_sealed:
        raise RegistrationRefused(att.credential_id, (common_pb2.REASON_SUBJECT_NOT_CHECKED,),
                                  "a v2 attestation carries no practitioner details; registration needs her "
                                  "presentation")
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
