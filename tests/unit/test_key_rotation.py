"""Rotation and compromise on the trust list, judged by the registry's verifier."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.core.attestation import sign_attestation, verify_attestation
from credverify.core.errors import InvalidInput, RecordRejected
from credverify.core.trust import TrustList, sign_issuer_record, verify_issuer_record
from credverify.federation.domain import build_issuer_record, change_scope, report_compromise, rotate_key
from credverify.issuer.domain import build_attestation
from credverify.v1 import trust_pb2
from tests.factories import KE_KEY, ROOT, ROOTS, T0, fixed_signer, kenya_record, nurse

NEW_KEY = fixed_signer("nursing council of kenya, 2026 key")
DAY = dt.timedelta(days=1)


def trust_of(record: trust_pb2.IssuerRecord) -> TrustList:
    trust = TrustList()
    trust = trust.applied(verify_issuer_record(sign_issuer_record(record, root=ROOT).SerializeToString(), roots=ROOTS))
    return trust


def verdict(signer, at: dt.datetime, trust: TrustList) -> str:  # type: ignore[no-untyped-def]
    att = build_attestation(nurse(), now=at)
    data = sign_attestation(att, signer=signer).SerializeToString()
    try:
        verify_attestation(data, trust=trust)
    except RecordRejected as exc:
        return exc.code
    return "VERIFIED"


def original() -> trust_pb2.IssuerRecord:
    return build_issuer_record(kenya_record(), now=T0 - 30 * DAY)


def test_after_a_rotation_the_old_key_holds_for_what_it_signed_before_retirement() -> None:
    rotated = rotate_key(original(), NEW_KEY.private_key.public_key(), now=T0)
    trust = trust_of(rotated)
    assert rotated.version > original().version
    assert verdict(KE_KEY, T0 - DAY, trust) == "VERIFIED"
    assert verdict(KE_KEY, T0 + DAY, trust) == "KEY_NOT_VALID"
    assert verdict(NEW_KEY, T0 + DAY, trust) == "VERIFIED"
    assert verdict(NEW_KEY, T0 - DAY, trust) == "KEY_NOT_VALID"  # not valid before it was listed


def test_a_rotation_can_leave_the_old_key_valid_for_an_overlap() -> None:
    trust = trust_of(rotate_key(original(), NEW_KEY.private_key.public_key(), now=T0, retire_at=T0 + 7 * DAY))
    assert verdict(KE_KEY, T0 + 3 * DAY, trust) == "VERIFIED"
    assert verdict(KE_KEY, T0 + 8 * DAY, trust) == "KEY_NOT_VALID"


def test_what_a_compromised_key_signed_after_the_instant_is_refused_and_before_it_is_kept() -> None:
    compromised = report_compromise(original(), KE_KEY.keyid[:12], compromised_at=T0, now=T0 + DAY)
    trust = trust_of(compromised)
    assert verdict(KE_KEY, T0 - DAY, trust) == "VERIFIED"
    assert verdict(KE_KEY, T0, trust) == "KEY_REVOKED"
    assert verdict(KE_KEY, T0 + DAY, trust) == "KEY_REVOKED"


def test_a_later_compromise_instant_cannot_readmit_signatures() -> None:
    first = report_compromise(original(), KE_KEY.keyid, compromised_at=T0, now=T0 + DAY)
    with pytest.raises(InvalidInput, match="re-admit"):
        report_compromise(first, KE_KEY.keyid, compromised_at=T0 + DAY, now=T0 + 2 * DAY)
    earlier = report_compromise(first, KE_KEY.keyid, compromised_at=T0 - DAY, now=T0 + 2 * DAY)
    assert verdict(KE_KEY, T0 - DAY / 2, trust_of(earlier)) == "KEY_REVOKED"


def test_an_unknown_keyid_is_named_in_the_error() -> None:
    with pytest.raises(InvalidInput, match="lists no key 'deadbeef'"):
        report_compromise(original(), "deadbeef", compromised_at=T0, now=T0)


def test_a_rotation_to_a_key_already_listed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="listed for KE-NCK already"):
        rotate_key(original(), KE_KEY.private_key.public_key(), now=T0)


def test_narrowing_the_scope_takes_a_profession_away() -> None:
    narrowed = change_scope(original(), now=T0 - DAY, professions_isco=("2222",))
    assert verdict(KE_KEY, T0, trust_of(narrowed)) == "ISSUER_NOT_AUTHORISED"
