"""Fixed keys, clocks and records for tests: nothing random, nothing from the wall clock."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core.attestation import sign_attestation
from credverify.core.envelope import ATTESTATION_TYPE, Signer
from credverify.core.trust import RootKeys, TrustList, sign_issuer_record, verify_issuer_record
from credverify.federation.domain import RegisterIssuer, build_issuer_record
from credverify.issuer.domain import IssueAttestation, build_attestation
from credverify.v1 import attestation_pb2, common_pb2, trust_pb2

T0 = dt.datetime(2026, 1, 15, 9, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 6, 1)


def fixed_signer(name: str) -> Signer:
    """A deterministic Ed25519 key derived from ``name``."""
    return Signer(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest()))


ROOT = fixed_signer("federation root")
KE_KEY = fixed_signer("nursing council of kenya")
RO_KEY = fixed_signer("colegiul medicilor romania")
ROOTS = RootKeys({ROOT.keyid: ROOT.private_key.public_key()})


def kenya_record(*, keys: tuple[Signer, ...] = (KE_KEY,),
                 professions: tuple[str, ...] = ("2221", "2222", "3221")) -> RegisterIssuer:
    return RegisterIssuer(
        issuer_id="KE-NCK",
        country="KE",
        display_name="Nursing Council of Kenya",
        credential_kinds=(common_pb2.CREDENTIAL_KIND_LICENCE, common_pb2.CREDENTIAL_KIND_GOOD_STANDING),
        professions_isco=professions,
        public_keys=tuple(k.private_key.public_key() for k in keys),
    )


def romania_record() -> RegisterIssuer:
    return RegisterIssuer(
        issuer_id="RO-CMR",
        country="RO",
        display_name="Colegiul Medicilor din Romania",
        credential_kinds=(common_pb2.CREDENTIAL_KIND_LICENCE, common_pb2.CREDENTIAL_KIND_DIPLOMA),
        professions_isco=("2211", "2212"),
        public_keys=(RO_KEY.private_key.public_key(),),
    )


def signed_record_bytes(cmd: RegisterIssuer, *, now: dt.datetime = T0 - dt.timedelta(days=30),
                        root: Signer = ROOT) -> bytes:
    return sign_issuer_record(build_issuer_record(cmd, now=now), root=root).SerializeToString()


def trust_list(*records: RegisterIssuer) -> TrustList:
    trust = TrustList()
    for cmd in records or (kenya_record(), romania_record()):
        trust = trust.applied(verify_issuer_record(signed_record_bytes(cmd), roots=ROOTS))
    return trust


def nurse(number: str = "12345", **overrides: object) -> IssueAttestation:
    fields: dict[str, object] = dict(
        issuer_id="KE-NCK",
        jurisdiction="KE",
        local_number=number,
        kind=common_pb2.CREDENTIAL_KIND_LICENCE,
        practitioner_number="NCK-" + number,
        family_name="Wanjiru",
        given_names="Grace Akinyi",
        date_of_birth=dt.date(1992, 3, 14),
        country_of_training="KE",
        profession_isco="2221",
        valid_from=dt.date(2020, 1, 1),
        valid_until=dt.date(2028, 12, 31),
    )
    fields.update(overrides)
    return IssueAttestation(**fields)  # type: ignore[arg-type]


def record_bytes(record: trust_pb2.IssuerRecord, *, root: Signer = ROOT) -> bytes:
    """The root-signed envelope of an issuer record a test built or edited by hand."""
    return sign_issuer_record(record, root=root).SerializeToString()


def kenya_issuer_record(*, now: dt.datetime = T0 - dt.timedelta(days=30), **kwargs: object) -> trust_pb2.IssuerRecord:
    """Kenya's issuer record as a message to edit (scope, key validity, compromise) and re-sign."""
    return build_issuer_record(kenya_record(**kwargs), now=now)  # type: ignore[arg-type]


def attestation_bytes(cmd: IssueAttestation | None = None, *, signer: Signer = KE_KEY,
                      now: dt.datetime = T0) -> bytes:
    return sign_attestation(build_attestation(cmd or nurse(), now=now), signer=signer).SerializeToString()


def bulk_attestations(count: int, *, start: int = 0, now: dt.datetime = T0, signer: Signer = KE_KEY,
                      version: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(record key, envelope) of ``count`` Kenyan nurses numbered from ``start``, signed by ``signer``.

    Built from one validated template and only the numbers changed, so that tens of thousands are
    signed in seconds."""
    template = build_attestation(nurse("0", version=version), now=now)
    for number in range(start, start + count):
        att = attestation_pb2.Attestation()
        att.CopyFrom(template)
        att.credential_id = "KE-NCK/%d" % number
        att.subject.practitioner_number = "NCK-%d" % number
        envelope = signer.sign(ATTESTATION_TYPE, att.SerializeToString(deterministic=True))
        yield att.credential_id.encode(), envelope.SerializeToString()
