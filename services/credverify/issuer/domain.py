"""What a source council attests: orders to issue, turned into Attestation messages. No I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from credverify.core.attestation import validate_attestation
from credverify.core.errors import InvalidInput
from credverify.core.timefmt import to_date, to_timestamp
from credverify.v1 import attestation_pb2, common_pb2


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
    version: int | None = None

    @property
    def credential_id(self) -> str:
        return "%s/%s" % (self.issuer_id, self.local_number)


def build_attestation(cmd: IssueAttestation, *, now: dt.datetime) -> attestation_pb2.Attestation:
    """Return the Attestation for ``cmd``, validated. Raises InvalidInput naming the field.

    Without an explicit version the issuing time in microseconds is used, so a
    later status change always outranks an earlier one.
    """
    if not cmd.local_number or "/" in cmd.local_number:
        raise InvalidInput("local_number: expected a non-empty number without '/', found %r" % cmd.local_number)
    att = attestation_pb2.Attestation(
        credential_id=cmd.credential_id,
        issuer_id=cmd.issuer_id,
        version=cmd.version if cmd.version is not None else int(now.timestamp() * 1_000_000),
        issued_at=to_timestamp(now),
        kind=cmd.kind,
        subject=attestation_pb2.Subject(
            practitioner_number=cmd.practitioner_number,
            family_name=cmd.family_name,
            given_names=cmd.given_names,
            date_of_birth=to_date(cmd.date_of_birth),
            country_of_training=cmd.country_of_training,
        ),
        profession_isco=cmd.profession_isco,
        status=cmd.status,
        jurisdiction=cmd.jurisdiction,
        conditions=list(cmd.conditions),
        status_reason=cmd.status_reason,
    )
    if cmd.valid_from:
        att.valid_from.CopyFrom(to_date(cmd.valid_from))
    if cmd.valid_until:
        att.valid_until.CopyFrom(to_date(cmd.valid_until))
    validate_attestation(att)
    return att
