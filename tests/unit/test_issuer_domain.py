"""The issuer's pure rules: the attestation model, the status lifecycle, which key signs."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.core.errors import ConfigurationError, InvalidInput
from credverify.core.issuing import build_attestation
from credverify.core.timefmt import to_timestamp
from credverify.issuer.domain import (
    ChangeStatus,
    change_status,
    choose_signing_key,
    content_digest,
    key_state,
)
from credverify.v1 import common_pb2, issuer_pb2, trust_pb2
from tests.factories import KE_KEY, RO_KEY, T0, nurse

ACTIVE = common_pb2.CREDENTIAL_STATUS_ACTIVE
SUSPENDED = common_pb2.CREDENTIAL_STATUS_SUSPENDED
WITH_CONDITIONS = common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS


def licence():  # type: ignore[no-untyped-def]
    return build_attestation(nurse(), now=T0)


def test_a_diploma_needs_its_institution_programme_and_award_date() -> None:
    with pytest.raises(InvalidInput, match="diploma.institution: missing"):
        build_attestation(nurse(kind=common_pb2.CREDENTIAL_KIND_DIPLOMA), now=T0)
    with pytest.raises(InvalidInput, match="diploma.award_date: missing"):
        build_attestation(nurse(kind=common_pb2.CREDENTIAL_KIND_DIPLOMA, institution="University of Nairobi",
                                programme="BSc Nursing"), now=T0)
    att = build_attestation(nurse(kind=common_pb2.CREDENTIAL_KIND_DIPLOMA, institution="University of Nairobi",
                                  programme="BSc Nursing", award_date=dt.date(2014, 12, 5)), now=T0)
    assert att.diploma.award_date.year == 2014


def test_a_licence_cannot_carry_diploma_details() -> None:
    with pytest.raises(InvalidInput, match="only a DIPLOMA carries diploma details"):
        build_attestation(nurse(institution="University of Nairobi"), now=T0)


@pytest.mark.parametrize(("override", "message"), [
    ({"profession_isco": "9999"}, "profession_isco: expected an ISCO-08 health unit group.*'9999'"),
    ({"country_of_training": "XK1"}, "subject.country_of_training: expected an ISO 3166-1 alpha-2.*'XK1'"),
    ({"jurisdiction": "ke"}, "jurisdiction: expected an ISO 3166-1 alpha-2.*'ke'"),
    ({"status": WITH_CONDITIONS}, "conditions: status ACTIVE_WITH_CONDITIONS needs at least one condition"),
    ({"conditions": ("supervised",)}, "status: ACTIVE with 1 condition"),
    ({"status_reason": "BECAUSE"}, "status_reason: expected a status reason code.*'BECAUSE'"),
    ({"valid_until": dt.date(2019, 1, 1)}, "valid_until: expected on or after valid_from 2020-01-01, found 2019-01-01"),
    ({"family_name": "Wan\x00jiru"}, "subject.family_name: control characters"),
])
def test_invalid_fields_are_named_with_their_value(override: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_attestation(nurse(**override), now=T0)


def test_versions_grow_even_when_two_changes_share_a_clock_tick() -> None:
    first = licence()
    second = change_status(first, ChangeStatus(first.credential_id, "suspend", "INTERIM_ORDER"), now=T0)
    assert second.version == first.version + 1
    assert build_attestation(nurse(), now=T0 - dt.timedelta(days=1), previous_version=second.version).version \
        == second.version + 1


def test_suspension_then_reinstatement_keeps_the_credential_and_records_the_reason() -> None:
    active = licence()
    suspended = change_status(active, ChangeStatus(active.credential_id, "suspend", "INTERIM_ORDER"),
                              now=T0 + dt.timedelta(days=1))
    assert (suspended.status, suspended.status_reason) == (SUSPENDED, "INTERIM_ORDER")
    assert suspended.version > active.version and suspended.issued_at.seconds > active.issued_at.seconds
    back = change_status(suspended, ChangeStatus(active.credential_id, "reinstate", "SUSPENSION_ENDED"),
                         now=T0 + dt.timedelta(days=30))
    assert back.status == ACTIVE
    assert content_digest(back) != content_digest(active)  # the reason differs
    assert back.subject == active.subject


def test_a_revocation_is_final() -> None:
    active = licence()
    revoked = change_status(active, ChangeStatus(active.credential_id, "revoke", "FRAUDULENT_ENTRY"), now=T0)
    with pytest.raises(InvalidInput, match="revocation is final"):
        change_status(revoked, ChangeStatus(active.credential_id, "reinstate", "APPEAL_UPHELD"), now=T0)


def test_only_a_suspended_or_lapsed_credential_can_be_reinstated() -> None:
    active = licence()
    with pytest.raises(InvalidInput, match="cannot reinstate a credential that is ACTIVE"):
        change_status(active, ChangeStatus(active.credential_id, "reinstate", "SUSPENSION_ENDED"), now=T0)


def test_conditions_are_added_and_lifted_one_by_one() -> None:
    active = licence()
    one = change_status(active, ChangeStatus(active.credential_id, "add-condition", "CONDITIONS_IMPOSED",
                                             "supervised practice"), now=T0)
    two = change_status(one, ChangeStatus(active.credential_id, "add-condition", "CONDITIONS_IMPOSED",
                                          "no prescribing"), now=T0)
    assert (two.status, list(two.conditions)) == (WITH_CONDITIONS, ["supervised practice", "no prescribing"])
    lifted = change_status(two, ChangeStatus(active.credential_id, "lift-condition", "CONDITIONS_LIFTED",
                                             "supervised practice"), now=T0)
    assert (lifted.status, list(lifted.conditions)) == (WITH_CONDITIONS, ["no prescribing"])
    clear = change_status(lifted, ChangeStatus(active.credential_id, "lift-condition", "CONDITIONS_LIFTED",
                                               "no prescribing"), now=T0)
    assert (clear.status, list(clear.conditions)) == (ACTIVE, [])
    with pytest.raises(InvalidInput, match="conditions in force"):
        change_status(clear, ChangeStatus(active.credential_id, "lift-condition", "CONDITIONS_LIFTED", "x"), now=T0)


def test_a_status_change_needs_a_known_reason_code() -> None:
    active = licence()
    with pytest.raises(InvalidInput, match="reason: expected a status reason code"):
        change_status(active, ChangeStatus(active.credential_id, "suspend", "he was rude"), now=T0)


def test_the_content_digest_ignores_when_it_was_signed() -> None:
    assert content_digest(build_attestation(nurse(), now=T0)) == content_digest(
        build_attestation(nurse(), now=T0 + dt.timedelta(days=3)))
    assert content_digest(licence()) != content_digest(build_attestation(nurse(family_name="Wanjiku"), now=T0))


def _record(*keys: trust_pb2.IssuerKey) -> trust_pb2.IssuerRecord:
    return trust_pb2.IssuerRecord(issuer_id="KE-NCK", version=1, country="KE", keys=list(keys))


def _key(signer, start: dt.datetime, end: dt.datetime | None = None,  # type: ignore[no-untyped-def]
         compromised: dt.datetime | None = None) -> trust_pb2.IssuerKey:
    key = trust_pb2.IssuerKey(keyid=signer.keyid, not_before=to_timestamp(start))
    if end:
        key.not_after.CopyFrom(to_timestamp(end))
    if compromised:
        key.compromised_at.CopyFrom(to_timestamp(compromised))
    return key


def test_signing_moves_to_the_new_key_once_the_trust_list_lists_it() -> None:
    held = {KE_KEY.keyid, RO_KEY.keyid}
    only_old = _record(_key(KE_KEY, T0))
    assert choose_signing_key(held, record=only_old, locally_compromised=set(), now=T0 + dt.timedelta(days=1)) \
        == KE_KEY.keyid
    assert key_state(RO_KEY.keyid, record=only_old, locally_compromised=False, now=T0) == issuer_pb2.KEY_STATE_PENDING
    rotated = _record(_key(KE_KEY, T0, end=T0 + dt.timedelta(days=2)), _key(RO_KEY, T0 + dt.timedelta(days=2)))
    assert choose_signing_key(held, record=rotated, locally_compromised=set(), now=T0 + dt.timedelta(days=3)) \
        == RO_KEY.keyid
    assert key_state(KE_KEY.keyid, record=rotated, locally_compromised=False, now=T0 + dt.timedelta(days=3)) \
        == issuer_pb2.KEY_STATE_RETIRED


def test_a_compromised_key_never_signs_even_before_the_trust_list_says_so() -> None:
    record = _record(_key(KE_KEY, T0))
    with pytest.raises(ConfigurationError, match="none of the 1 key"):
        choose_signing_key({KE_KEY.keyid}, record=record, locally_compromised={KE_KEY.keyid}, now=T0)
    listed = _record(_key(KE_KEY, T0, compromised=T0 + dt.timedelta(hours=1)))
    with pytest.raises(ConfigurationError):
        choose_signing_key({KE_KEY.keyid}, record=listed, locally_compromised=set(), now=T0 + dt.timedelta(days=1))


def test_no_trust_record_means_no_signing() -> None:
    with pytest.raises(ConfigurationError, match="no record for this issuer"):
        choose_signing_key({KE_KEY.keyid}, record=None, locally_compromised=set(), now=T0)


def test_a_country_error_never_echoes_text_that_is_not_a_code() -> None:
    from credverify.core.codes import check_country
    from credverify.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        check_country("subject.country_of_training", "Wanjiru Grace")
    assert "Wanjiru" not in str(refused.value) and "13 characters that are not a code" in str(refused.value)
