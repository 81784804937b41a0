"""The gate: every trust rule of the contract, one claim per test."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from credverify.core.attestation import sign_attestation, verify_attestation
from credverify.core.errors import InvalidInput, Malformed, Untrusted
from credverify.core.timefmt import to_timestamp
from credverify.core.trust import TrustList, verify_issuer_record
from credverify.federation.domain import build_issuer_record
from credverify.issuer.domain import build_attestation
from credverify.v1 import common_pb2, trust_pb2
from tests.factories import KE_KEY, RO_KEY, ROOT, ROOTS, T0, fixed_signer, kenya_record, nurse, trust_list


def signed(cmd=None, *, signer=KE_KEY, now=T0) -> bytes:  # type: ignore[no-untyped-def]
    att = build_attestation(cmd or nurse(), now=now)
    return sign_attestation(att, signer=signer).SerializeToString()


def reason_of(data: bytes, trust: TrustList, record_key: str | None = None) -> str:
    with pytest.raises((Untrusted, Malformed)) as err:
        verify_attestation(data, trust=trust, record_key=record_key)
    return err.value.code  # type: ignore[union-attr]


def test_accepts_a_licence_signed_by_its_issuers_listed_key() -> None:
    verified = verify_attestation(signed(), trust=trust_list(), record_key="KE-NCK/12345")
    assert verified.credential_id == "KE-NCK/12345"
    assert verified.keyid == KE_KEY.keyid
    assert verified.issuer_country == "KE"


def test_rejects_attestation_from_unknown_issuer() -> None:
    stranger = fixed_signer("not on the trust list")
    assert reason_of(signed(signer=stranger), trust_list()) == "ISSUER_UNKNOWN"
    assert reason_of(signed(), TrustList()) == "ISSUER_UNKNOWN"


def test_rejects_a_changed_payload_under_a_listed_key() -> None:
    data = signed().replace(b"Wanjiru", b"Wanjiro")
    assert reason_of(data, trust_list()) == "SIGNATURE_INVALID"


def test_rejects_an_issuer_signing_in_another_issuers_name() -> None:
    assert reason_of(signed(signer=RO_KEY), trust_list()) == "SIGNATURE_INVALID"


def test_rejects_a_profession_outside_the_issuers_scope() -> None:
    assert reason_of(signed(nurse(profession_isco="2211")), trust_list()) == "ISSUER_NOT_AUTHORISED"


def test_rejects_a_kind_outside_the_issuers_scope() -> None:
    diploma = nurse(kind=common_pb2.CREDENTIAL_KIND_DIPLOMA, institution="University of Nairobi",
                    programme="BSc Nursing", award_date=dt.date(2015, 11, 20))
    assert reason_of(signed(diploma), trust_list()) == "ISSUER_NOT_AUTHORISED"


def test_rejects_a_jurisdiction_other_than_the_issuers_country() -> None:
    assert reason_of(signed(nurse(jurisdiction="UG")), trust_list()) == "ISSUER_NOT_AUTHORISED"


def test_rejects_what_a_key_signed_after_its_reported_compromise() -> None:
    record = build_issuer_record(kenya_record(), now=T0 - dt.timedelta(days=30))
    record.version += 1
    record.keys[0].compromised_at.CopyFrom(to_timestamp(T0))
    trust = TrustList.of([verify_issuer_record(
        ROOT.sign("application/vnd.credverify.issuer-record.v1+protobuf", record.SerializeToString()
                  ).SerializeToString(), roots=ROOTS)])
    before = signed(now=T0 - dt.timedelta(seconds=1))
    assert verify_attestation(before, trust=trust).keyid == KE_KEY.keyid
    assert reason_of(signed(now=T0), trust) == "KEY_REVOKED"


def test_rejects_what_a_key_signed_outside_its_validity() -> None:
    record_time = T0 - dt.timedelta(days=30)
    assert reason_of(signed(now=record_time - dt.timedelta(days=1)), trust_list()) == "KEY_NOT_VALID"
    record = build_issuer_record(kenya_record(), now=record_time)
    record.keys[0].not_after.CopyFrom(to_timestamp(T0))
    trust = TrustList.of([verify_issuer_record(
        ROOT.sign("application/vnd.credverify.issuer-record.v1+protobuf", record.SerializeToString()
                  ).SerializeToString(), roots=ROOTS)])
    assert reason_of(signed(now=T0 + dt.timedelta(hours=1)), trust) == "KEY_NOT_VALID"


def test_rejects_a_record_key_other_than_the_credential_id() -> None:
    assert reason_of(signed(), trust_list(), record_key="KE-NCK/99999") == "RECORD_KEY_MISMATCH"


def test_rejects_an_issuer_record_not_signed_by_a_root() -> None:
    impostor = fixed_signer("self-appointed root")
    data = impostor.sign("application/vnd.credverify.issuer-record.v1+protobuf",
                         build_issuer_record(kenya_record(), now=T0).SerializeToString()).SerializeToString()
    with pytest.raises(Untrusted) as err:
        verify_issuer_record(data, roots=ROOTS)
    assert err.value.code == "TRUST_LIST_INVALID"


def test_an_older_issuer_record_does_not_replace_a_newer_one() -> None:
    trust = trust_list(kenya_record())
    older = build_issuer_record(dataclasses.replace(kenya_record(), professions_isco=("2211",)),
                                now=T0 - dt.timedelta(days=60))
    data = ROOT.sign("application/vnd.credverify.issuer-record.v1+protobuf",
                     older.SerializeToString()).SerializeToString()
    assert trust.applied(verify_issuer_record(data, roots=ROOTS)) is trust
    issuer = trust.issuer("KE-NCK")
    assert isinstance(issuer, trust_pb2.IssuerRecord) and "2221" in issuer.professions_isco


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"jurisdiction": "XX"}, "jurisdiction"),
        ({"country_of_training": "Kenya"}, "country_of_training"),
        ({"profession_isco": "9999"}, "profession_isco"),
        ({"family_name": "  "}, "family_name"),
        ({"local_number": "a/b"}, "local_number"),
    ],
)
def test_issuing_names_the_invalid_field(override: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        build_attestation(nurse(**override), now=T0)
