from __future__ import annotations

import datetime as dt

from credverify.core.attestation import sign_attestation, verify_attestation
from credverify.core.names import normalise_name
from credverify.core.timefmt import to_date
from credverify.issuer.domain import build_attestation
from credverify.registry.domain import build_move, judge
from credverify.v1 import common_pb2, registry_pb2
from tests.factories import KE_KEY, T0, TODAY, nurse, trust_list


def verified(**overrides: object):  # type: ignore[no-untyped-def]
    att = build_attestation(nurse(**overrides), now=T0)
    return verify_attestation(sign_attestation(att, signer=KE_KEY).SerializeToString(), trust=trust_list())


def codes(judgement) -> list[str]:  # type: ignore[no-untyped-def]
    return [common_pb2.Reason.Name(r).removeprefix("REASON_") for r in judgement.reasons]


def test_names_match_across_case_diacritics_hyphens_and_spacing() -> None:
    assert normalise_name("  NJERI-wanjikú ") == normalise_name("Njeri Wanjiku")
    assert normalise_name("Ionescu") != normalise_name("Ionesco")


def test_a_current_licence_with_matching_details_is_verified() -> None:
    claimed = registry_pb2.ClaimedSubject(family_name="WANJIRU", given_names="grace  akinyi",
                                          date_of_birth=to_date(dt.date(1992, 3, 14)))
    judgement = judge(verified(), claimed, today=TODAY)
    assert judgement.verified and codes(judgement) == ["VERIFIED"]


def test_every_reason_that_applies_is_given() -> None:
    att = verified(status=common_pb2.CREDENTIAL_STATUS_SUSPENDED, valid_until=dt.date(2026, 1, 1))
    claimed = registry_pb2.ClaimedSubject(family_name="Otieno")
    judgement = judge(att, claimed, today=TODAY)
    assert not judgement.verified
    assert codes(judgement) == ["SUSPENDED", "EXPIRED", "SUBJECT_MISMATCH"]
    assert "Otieno" not in judgement.detail and "Wanjiru" not in judgement.detail


def test_conditions_are_reported_with_a_verified_licence() -> None:
    att = verified(status=common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS,
                   conditions=("supervised practice only",))
    judgement = judge(att, None, today=TODAY)
    assert judgement.verified and codes(judgement) == ["VERIFIED", "CONDITIONS_APPLY"]


def test_a_move_carries_no_personal_data_and_a_stable_pseudonym() -> None:
    att = verified()
    move = build_move(att, destination="GB", registered_on=TODAY, pseudonym_key=b"k" * 32)
    again = build_move(att, destination="GB", registered_on=TODAY, pseudonym_key=b"k" * 32)
    other_key = build_move(att, destination="GB", registered_on=TODAY, pseudonym_key=b"x" * 32)
    assert move == again and move.subject_token != other_key.subject_token
    wire = move.SerializeToString()
    for personal in (b"Wanjiru", b"Grace", b"NCK-12345", b"1992"):
        assert personal not in wire
    assert (move.origin_country, move.destination_country, move.profession_isco) == ("KE", "GB", "2221")
    assert not move.return_migration


def test_a_move_back_to_the_country_of_training_is_return_migration() -> None:
    move = build_move(verified(), destination="KE", registered_on=TODAY, pseudonym_key=b"k" * 32)
    assert move.return_migration
