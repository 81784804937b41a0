"""What a case officer sees of a verification, built from the registry's answer: pure, no I/O."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from credverify.core.errors import reason_code
from credverify.core.names import normalise_name
from credverify.core.sdjwt import PresentationRejected, parse_jws, split_combined
from credverify.core.timefmt import from_date
from credverify.v1 import common_pb2, registry_pb2

# Reasons that say the issuer, its key or the trust list are at fault, not the practitioner's standing.
TRUST_REASONS = frozenset({"ISSUER_UNKNOWN", "ISSUER_NOT_AUTHORISED", "KEY_REVOKED", "KEY_NOT_VALID",
                           "SIGNATURE_INVALID", "TRUST_LIST_INVALID", "SD_JWT_SIGNATURE_INVALID"})
# docs/spec.md 7.1: issuer id and local number, each 1 to 64 printable ASCII characters without space or '/'.
CREDENTIAL_ID_SHAPE = re.compile(r"[\x21-\x2e\x30-\x7e]{1,64}/[\x21-\x2e\x30-\x7e]{1,64}")
# The typed details and the claim of her presentation each is compared with.
COMPARED = (("family_name", "family_name"), ("given_names", "given_names"), ("date_of_birth", "birth_date"))


class NotACredential(Exception):
    """The text is not an SD-JWT presentation the pages can read a credential id from."""


@dataclass(frozen=True)
class Typed:
    family_name: str
    given_names: str
    date_of_birth: dt.date | None

    def value(self, name: str) -> str:
        if name == "date_of_birth":
            return self.date_of_birth.isoformat() if self.date_of_birth else ""
        return str(getattr(self, name))


@dataclass(frozen=True)
class Comparison:
    field: str  # family_name, given_names, date_of_birth
    typed: str
    disclosed: str | None  # None: she did not disclose it
    agrees: bool | None  # None: nothing to compare


@dataclass(frozen=True)
class Verdict:
    credential_id: str
    verified: bool
    reasons: tuple[str, ...]  # reason codes, for the audit log; the page shows their wording
    comparisons: tuple[Comparison, ...]
    other_disclosed: tuple[tuple[str, str], ...]  # claim name, value as text
    disclosed_claims: tuple[str, ...]
    issuer_id: str
    jurisdiction: str
    kind: str
    profession_isco: str
    status: str
    valid_until: str
    issuer_trusted: bool
    version: int
    checked_at: str


def credential_id_of(presentation: str) -> str:
    """Return the credential id a presentation claims (its signature is checked by the registry, not
    here). Raises NotACredential."""
    try:
        payload = parse_jws(split_combined(presentation).jwt, "issuer-signed JWT").payload("issuer-signed JWT")
    except PresentationRejected as exc:
        raise NotACredential(str(exc)) from exc
    credential_id = payload.get("credential_id")
    if not isinstance(credential_id, str) or not CREDENTIAL_ID_SHAPE.fullmatch(credential_id):
        raise NotACredential("the issuer-signed JWT names no credential_id of the shape ISSUER/NUMBER")
    return credential_id


def file_name_of(credential_id: str) -> str:
    """A file name for a credential's download: only letters, digits, '.', '_' and '-' (no quote or
    line break can reach a Content-Disposition header)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", credential_id)


def _as_text(value: str) -> str:
    """A disclosed value (JSON for a list or object) as a person reads it."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if isinstance(parsed, list):
        return "; ".join(str(item) for item in parsed)
    if isinstance(parsed, dict):
        return "; ".join("%s: %s" % (k, v) for k, v in parsed.items())
    return str(parsed)


def compare(typed: Typed, disclosed: dict[str, str]) -> tuple[Comparison, ...]:
    rows = []
    for field, claim in COMPARED:
        mine, theirs = typed.value(field), disclosed.get(claim)
        # The registry's own folding (case, diacritics, hyphens, spacing): the page never disagrees with its verdict.
        agrees = None if not mine or theirs is None else normalise_name(mine) == normalise_name(_as_text(theirs))
        rows.append(Comparison(field, mine, _as_text(theirs) if theirs is not None else None, agrees))
    return tuple(rows)


def _enum_name(enum_type: Any, value: int, prefix: str) -> str:
    return str(enum_type.Name(value)).removeprefix(prefix) if value else ""


def _checked_at(answer: registry_pb2.VerifyResponse) -> str:
    if not answer.HasField("checked_at"):
        return ""
    return answer.checked_at.ToDatetime(tzinfo=dt.UTC).isoformat(timespec="seconds")


def verdict_of(credential_id: str, typed: Typed, answer: registry_pb2.VerifyResponse) -> Verdict:
    disclosed = dict(answer.disclosed)
    reasons = tuple(reason_code(r) for r in answer.reasons) or ("NOT_FOUND",)
    att = answer.attestation
    compared_claims = {claim for _, claim in COMPARED}
    until = from_date(att.valid_until) if att.HasField("valid_until") else None
    return Verdict(
        credential_id=credential_id, verified=answer.verified, reasons=reasons,
        comparisons=compare(typed, disclosed),
        other_disclosed=tuple((name, _as_text(value)) for name, value in sorted(disclosed.items())
                              if name not in compared_claims),
        disclosed_claims=tuple(sorted(disclosed)),
        issuer_id=att.issuer_id, jurisdiction=att.jurisdiction,
        kind=_enum_name(common_pb2.CredentialKind, att.kind, "CREDENTIAL_KIND_"),
        profession_isco=att.profession_isco,
        status=_enum_name(common_pb2.CredentialStatus, att.status, "CREDENTIAL_STATUS_"),
        valid_until=until.isoformat() if until else "",
        issuer_trusted=bool(att.issuer_id) and not TRUST_REASONS.intersection(reasons),
        version=answer.current_version,
        checked_at=_checked_at(answer),
    )
