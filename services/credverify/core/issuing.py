"""An order to issue an attestation and the Attestation message it becomes: what a council's issuer
service signs and what the registrar pages (``web``) check and preview before asking it to sign.

Pure: the clock and the previous version are passed in; nothing here touches a file, a key or the network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from credverify.core.attestation import validate_attestation
from credverify.core.errors import InvalidInput
from credverify.core.timefmt import to_date, to_timestamp
from credverify.v1 import attestation_pb2, common_pb2

__all__ = ["PERSONAL_FIELDS", "IssueAttestation", "build_attestation", "next_version", "without_personal_value"]


@dataclass(frozen=True)
class IssueAttestation:
    """Order: attest one practitioner's credential (a new credential or a new version of one)."""

    issuer_id: str
    jurisdiction: str
    local_number: str
    kind: common_pb2.CredentialKind
    practitioner_number: str
    family_name: str
    given_names: str
    date_of_birth: dt.date
    country_of_training: str
    profession_isco: str
    status: common_pb2.CredentialStatus = common_pb2.CREDENTIAL_STATUS_ACTIVE
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    conditions: tuple[str, ...] = field(default_factory=tuple)
    status_reason: str = ""
    institution: str = ""   # DIPLOMA only
    programme: str = ""     # DIPLOMA only
    award_date: dt.date | None = None  # DIPLOMA only
    version: int | None = None

    @property
    def credential_id(self) -> str:
        return "%s/%s" % (self.issuer_id, self.local_number)


def next_version(now: dt.datetime, previous: int | None) -> int:
    """Return the version for a new signing at ``now``: its time in microseconds, and always above
    ``previous``, so versions stay monotonic even if two changes share a clock tick or the clock steps back."""
    by_clock = int(now.timestamp() * 1_000_000)
    return by_clock if previous is None else max(by_clock, previous + 1)


def build_attestation(cmd: IssueAttestation, *, now: dt.datetime, previous_version: int | None = None
                      ) -> attestation_pb2.Attestation:
    """Return the Attestation for ``cmd``, validated. Raises InvalidInput naming the field and value.

    Without an explicit version, the version is ``next_version(now, previous_version)``.
    """
    _check_numbering(cmd, previous_version)
    att = attestation_pb2.Attestation(
        credential_id=cmd.credential_id,
        issuer_id=cmd.issuer_id,
        version=cmd.version if cmd.version is not None else next_version(now, previous_version),
        issued_at=to_timestamp(now),
        kind=cmd.kind,
        subject=_subject(cmd),
        profession_isco=cmd.profession_isco,
        status=cmd.status,
        jurisdiction=cmd.jurisdiction,
        conditions=list(cmd.conditions),
        status_reason=cmd.status_reason,
    )
    _add_optional_fields(att, cmd)
    validate_attestation(att)
    return att


def _check_numbering(cmd: IssueAttestation, previous_version: int | None) -> None:
    """Raise InvalidInput for a local number the credential id cannot carry, or an explicit version
    that is not above the one issued."""
    if not cmd.local_number or "/" in cmd.local_number:
        raise InvalidInput("local_number: expected a non-empty number without '/', found %r" % cmd.local_number)
    if cmd.version is not None and previous_version is not None and cmd.version <= previous_version:
        raise InvalidInput("version: expected more than the issued version %d, found %d" % (
            previous_version, cmd.version))


def _subject(cmd: IssueAttestation) -> attestation_pb2.Subject:
    return attestation_pb2.Subject(
        practitioner_number=cmd.practitioner_number,
        family_name=cmd.family_name,
        given_names=cmd.given_names,
        date_of_birth=to_date(cmd.date_of_birth),
        country_of_training=cmd.country_of_training,
    )


def _add_optional_fields(att: attestation_pb2.Attestation, cmd: IssueAttestation) -> None:
    """Set the validity dates and diploma details ``cmd`` gives; unset ones stay absent from ``att``."""
    if cmd.valid_from:
        att.valid_from.CopyFrom(to_date(cmd.valid_from))
    if cmd.valid_until:
        att.valid_until.CopyFrom(to_date(cmd.valid_until))
    if cmd.institution or cmd.programme or cmd.award_date:
        att.diploma.institution = cmd.institution
        att.diploma.programme = cmd.programme
        if cmd.award_date:
            att.diploma.award_date.CopyFrom(to_date(cmd.award_date))


# Fields whose values are personal data (names, numbers, birth dates) or may be (a condition on
# practice can describe someone's health): an error about them names the field, never the value.
PERSONAL_FIELDS = ("subject.", "conditions", "condition", "family_name", "given_names", "date_of_birth",
                   "practitioner_number")


def without_personal_value(error: InvalidInput) -> InvalidInput:
    """Return ``error``, or when it is about a personal field, the same error cut before the value it
    quotes ("subject.family_name: control characters are not allowed, found '...'" loses ", found ...")."""
    text = str(error)
    if not text.partition(":")[0].startswith(PERSONAL_FIELDS):
        return error
    cut = text.find(" found ")
    return InvalidInput(text[:cut].rstrip(",")) if cut >= 0 else error
