"""Where the attestation rules draw their lines (docs/spec.md 7.1-7.4, 10.2, 11.1).

Every limit is checked one step inside (accepted) and one step outside (refused), and a refusal
says in words which field is wrong, what was expected and what was found: that sentence is what an
issuer's operator reads when signing fails and what a registry writes to the dead-letter topic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from credverify.core.attestation import (
    MAX_CONDITION_CHARS,
    MAX_CONDITIONS,
    MAX_NAME_CHARS,
    sign_attestation,
    validate_attestation,
    verify_attestation,
)
from credverify.core.errors import InvalidInput, Malformed, Untrusted
from credverify.core.timefmt import to_date, to_timestamp
from credverify.core.trust import TrustList, verify_issuer_record
from credverify.issuer.domain import build_attestation
from credverify.v1 import attestation_pb2, common_pb2
from tests.factories import (
    KE_KEY,
    RO_KEY,
    ROOTS,
    T0,
    fixed_signer,
    kenya_issuer_record,
    nurse,
    record_bytes,
    trust_list,
)

Edit = Callable[[attestation_pb2.Attestation], None]


def valid() -> attestation_pb2.Attestation:
    return build_attestation(nurse(), now=T0)


def edited(edit: Edit) -> attestation_pb2.Attestation:
    att = valid()
    edit(att)
    return att


def refusal(edit: Edit) -> str:
    with pytest.raises(InvalidInput) as err:
        validate_attestation(edited(edit))
    return str(err.value)


def set_field(**fields: object) -> Edit:
    def edit(att: attestation_pb2.Attestation) -> None:
        for name, value in fields.items():
            setattr(att, name, value)
    return edit


def set_subject(**fields: object) -> Edit:
    def edit(att: attestation_pb2.Attestation) -> None:
        for name, value in fields.items():
            setattr(att.subject, name, value)
    return edit


def with_conditions(*conditions: str, status: int = common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS) -> Edit:
    def edit(att: attestation_pb2.Attestation) -> None:
        del att.conditions[:]
        att.conditions.extend(conditions)
        att.status = status
    return edit


def as_diploma(institution: str = "University of Nairobi", programme: str = "BSc Nursing",
               award_date: dt.date | None = dt.date(2015, 11, 20)) -> Edit:
    def edit(att: attestation_pb2.Attestation) -> None:
        att.kind = common_pb2.CREDENTIAL_KIND_DIPLOMA
        att.diploma.institution = institution
        att.diploma.programme = programme
        if award_date is not None:
            att.diploma.award_date.CopyFrom(to_date(award_date))
    return edit


def valid_from_until(start: dt.date, end: dt.date) -> Edit:
    def edit(att: attestation_pb2.Attestation) -> None:
        att.valid_from.CopyFrom(to_date(start))
        att.valid_until.CopyFrom(to_date(end))
    return edit


ISSUER_ID_RULE = "issuer_id: expected 1 to 64 printable ASCII characters without space or '/', found"
CREDENTIAL_ID_RULE = ("credential_id: expected 'KE-NCK/<number>', the number 1 to 64 printable ASCII characters "
                      "without space or '/', found")

ACCEPTED_AT_THE_LIMIT: dict[str, Edit] = {
    "version 1": set_field(version=1),
    "valid_until on the day of valid_from": valid_from_until(dt.date(2026, 1, 1), dt.date(2026, 1, 1)),
    "a family name of MAX_NAME_CHARS": set_subject(family_name="W" * MAX_NAME_CHARS),
    "given names of MAX_NAME_CHARS": set_subject(given_names="G" * MAX_NAME_CHARS),
    "a practitioner number of MAX_NAME_CHARS": set_subject(practitioner_number="N" * MAX_NAME_CHARS),
    "MAX_CONDITIONS conditions": with_conditions(*("condition %d" % i for i in range(MAX_CONDITIONS))),
    "a condition of MAX_CONDITION_CHARS": with_conditions("c" * MAX_CONDITION_CHARS),
    "one condition under ACTIVE_WITH_CONDITIONS": with_conditions("supervised practice"),
    "a diploma with institution and programme of MAX_NAME_CHARS": as_diploma("I" * MAX_NAME_CHARS,
                                                                              "P" * MAX_NAME_CHARS),
    "a listed status reason": set_field(status_reason="INTERIM_ORDER"),
    "no status reason": set_field(status_reason=""),
    "a local number of 64 characters": set_field(credential_id="KE-NCK/" + "1" * 64),
    "a local number with ASCII punctuation": set_field(credential_id="KE-NCK/GS-2026.0042_a~"),
    "given names of white space only": set_subject(given_names="\u3000"),
}


@pytest.mark.parametrize("edit", ACCEPTED_AT_THE_LIMIT.values(), ids=ACCEPTED_AT_THE_LIMIT.keys())
def test_an_attestation_exactly_at_a_limit_is_accepted(edit: Edit) -> None:
    validate_attestation(edited(edit))


REFUSED_JUST_PAST_THE_LIMIT: dict[str, tuple[Edit, str]] = {
    "version 0": (set_field(version=0), "version: expected 1 or more, found 0"),
    "no issuer id": (set_field(issuer_id=""), ISSUER_ID_RULE + " ''"),
    "an issuer id with a slash": (set_field(issuer_id="KE/NCK", credential_id="KE/NCK/12345"),
                                  ISSUER_ID_RULE + " 'KE/NCK'"),
    "a credential id that is only the prefix": (
        set_field(credential_id="KE-NCK/"), CREDENTIAL_ID_RULE + " 'KE-NCK/'"),
    "a credential id of another issuer": (
        set_field(credential_id="RO-CMR/12345"), CREDENTIAL_ID_RULE + " 'RO-CMR/12345'"),
    "a local number with a slash": (
        set_field(credential_id="KE-NCK/10/001"), CREDENTIAL_ID_RULE + " 'KE-NCK/10/001'"),
    "a local number of 65 characters": (
        set_field(credential_id="KE-NCK/" + "1" * 65), CREDENTIAL_ID_RULE + " 'KE-NCK/" + "1" * 65 + "'"),
    "a family name of no-break spaces only": (set_subject(family_name="\u00a0\u2007"),
                                               "subject.family_name: missing"),
    "a practitioner number of white space only": (set_subject(practitioner_number=" \t"),
                                                  "subject.practitioner_number: missing"),
    "a C1 control character in a name": (
        set_subject(given_names="Grace\u0085Akinyi"),
        "subject.given_names: control characters are not allowed, found one at character 5"),
    "a local number with a space": (
        set_field(credential_id="KE-NCK/10 001"), CREDENTIAL_ID_RULE + " 'KE-NCK/10 001'"),
    "no issued_at": (lambda att: att.ClearField("issued_at"), "issued_at: missing"),
    "kind unspecified": (set_field(kind=common_pb2.CREDENTIAL_KIND_UNSPECIFIED),
                         "kind: expected LICENCE, DIPLOMA or GOOD_STANDING, found 0"),
    "kind undefined": (set_field(kind=99), "kind: expected LICENCE, DIPLOMA or GOOD_STANDING, found 99"),
    "status unspecified": (set_field(status=common_pb2.CREDENTIAL_STATUS_UNSPECIFIED),
                           "status: expected a CredentialStatus, found 0"),
    "status undefined": (set_field(status=99), "status: expected a CredentialStatus, found 99"),
    "no practitioner number": (set_subject(practitioner_number=""), "subject.practitioner_number: missing"),
    "a blank family name": (set_subject(family_name="  "), "subject.family_name: missing"),
    "no date of birth": (lambda att: att.subject.ClearField("date_of_birth"), "subject.date_of_birth: missing"),
    "valid_until the day before valid_from": (
        valid_from_until(dt.date(2026, 1, 2), dt.date(2026, 1, 1)),
        "valid_until: expected on or after valid_from 2026-01-02, found 2026-01-01"),
    "a family name of MAX_NAME_CHARS + 1": (
        set_subject(family_name="W" * (MAX_NAME_CHARS + 1)),
        "subject.family_name: expected at most 200 characters, found 201"),
    "given names of MAX_NAME_CHARS + 1": (
        set_subject(given_names="G" * (MAX_NAME_CHARS + 1)),
        "subject.given_names: expected at most 200 characters, found 201"),
    "a practitioner number of MAX_NAME_CHARS + 1": (
        set_subject(practitioner_number="N" * (MAX_NAME_CHARS + 1)),
        "subject.practitioner_number: expected at most 200 characters, found 201"),
    "a control character in a name": (
        set_subject(given_names="Grace\nAkinyi"),
        "subject.given_names: control characters are not allowed, found one at character 5"),
    "MAX_CONDITIONS + 1 conditions": (
        with_conditions(*("condition %d" % i for i in range(MAX_CONDITIONS + 1))),
        "conditions: expected at most 20, found 21"),
    "a condition of MAX_CONDITION_CHARS + 1": (
        with_conditions("c" * (MAX_CONDITION_CHARS + 1)),
        "conditions[0]: expected at most 500 characters, found 501"),
    "a blank condition": (with_conditions("supervised", " "), "conditions[1]: empty"),
    "a control character in a condition": (
        with_conditions("no\x7fnight shifts"),
        "conditions[0]: control characters are not allowed, found one at character 2"),
    "ACTIVE_WITH_CONDITIONS without a condition": (
        with_conditions(),
        "conditions: status ACTIVE_WITH_CONDITIONS needs at least one condition, found none"),
    "ACTIVE with a condition": (
        with_conditions("supervised practice", status=common_pb2.CREDENTIAL_STATUS_ACTIVE),
        "status: ACTIVE with 1 condition(s); expected ACTIVE_WITH_CONDITIONS"),
    "an unlisted status reason": (
        set_field(status_reason="x" * 100),
        "status_reason: expected a status reason code such as INTERIM_ORDER or NOT_RENEWED, found %r" % ("x" * 80)),
    "a diploma without institution": (as_diploma(institution=" "),
                                      "diploma.institution: missing (required for a DIPLOMA)"),
    "a diploma without programme": (as_diploma(programme=" "), "diploma.programme: missing (required for a DIPLOMA)"),
    "a diploma without award date": (as_diploma(award_date=None),
                                     "diploma.award_date: missing (required for a DIPLOMA)"),
    "a diploma institution of MAX_NAME_CHARS + 1": (
        as_diploma(institution="I" * (MAX_NAME_CHARS + 1)),
        "diploma.institution: expected at most 200 characters, found 201"),
    "a diploma programme of MAX_NAME_CHARS + 1": (
        as_diploma(programme="P" * (MAX_NAME_CHARS + 1)),
        "diploma.programme: expected at most 200 characters, found 201"),
    "diploma details on a licence": (
        lambda att: setattr(att.diploma, "institution", "University of Nairobi"),
        "diploma: only a DIPLOMA carries diploma details, found them on a LICENCE"),
}


@pytest.mark.parametrize(("edit", "message"), REFUSED_JUST_PAST_THE_LIMIT.values(),
                         ids=REFUSED_JUST_PAST_THE_LIMIT.keys())
def test_an_attestation_one_step_past_a_limit_is_refused_naming_the_field(edit: Edit, message: str) -> None:
    assert refusal(edit) == message


def test_a_registry_refuses_a_signed_attestation_that_breaks_a_rule_as_malformed_saying_which() -> None:
    att = edited(set_field(version=0))
    data = KE_KEY.sign("application/vnd.credverify.attestation.v1+protobuf",
                       att.SerializeToString(deterministic=True)).SerializeToString()
    with pytest.raises(Malformed) as err:
        verify_attestation(data, trust=trust_list())
    assert err.value.detail == "signed attestation is invalid: version: expected 1 or more, found 0"


# (10.2) validity instants of the signing key, each refusal with the instants it compared.

def trust_with_key(**validity: dt.datetime) -> TrustList:
    record = kenya_issuer_record()
    for name, moment in validity.items():
        getattr(record.keys[0], name).CopyFrom(to_timestamp(moment))
    return TrustList().applied(verify_issuer_record(record_bytes(record), roots=ROOTS))


def signed_at(moment: dt.datetime) -> bytes:
    return sign_attestation(build_attestation(nurse(), now=moment), signer=KE_KEY).SerializeToString()


def untrusted(data: bytes, trust: TrustList, record_key: str | None = None) -> Untrusted:
    with pytest.raises(Untrusted) as err:
        verify_attestation(data, trust=trust, record_key=record_key)
    return err.value


ONE_MICROSECOND = dt.timedelta(microseconds=1)


def test_a_key_signs_validly_from_its_not_before_instant_and_not_a_microsecond_earlier() -> None:
    trust = trust_with_key(not_before=T0)
    assert verify_attestation(signed_at(T0), trust=trust).keyid == KE_KEY.keyid
    refused = untrusted(signed_at(T0 - ONE_MICROSECOND), trust)
    assert refused.code == "KEY_NOT_VALID"
    assert refused.detail == "key %s is valid from %s to (open); attestation issued at %s" % (
        KE_KEY.keyid[:16], T0.isoformat(), (T0 - ONE_MICROSECOND).isoformat())


def test_a_key_signs_validly_until_a_microsecond_before_its_not_after_instant() -> None:
    trust = trust_with_key(not_after=T0)
    assert verify_attestation(signed_at(T0 - ONE_MICROSECOND), trust=trust).keyid == KE_KEY.keyid
    refused = untrusted(signed_at(T0), trust)
    assert refused.code == "KEY_NOT_VALID"
    # kenya_issuer_record lists the key from the record's own time, 30 days before T0.
    assert refused.detail == "key %s is valid from %s to %s; attestation issued at %s" % (
        KE_KEY.keyid[:16], (T0 - dt.timedelta(days=30)).isoformat(), T0.isoformat(), T0.isoformat())


def test_what_a_key_signed_before_its_compromise_instant_stays_valid_and_from_it_is_revoked() -> None:
    trust = trust_with_key(compromised_at=T0)
    assert verify_attestation(signed_at(T0 - ONE_MICROSECOND), trust=trust).keyid == KE_KEY.keyid
    refused = untrusted(signed_at(T0), trust)
    assert refused.code == "KEY_REVOKED"
    assert refused.detail == "key %s was reported compromised at %s; attestation issued at %s" % (
        KE_KEY.keyid[:16], T0.isoformat(), T0.isoformat())


def test_scope_refusals_name_the_issuer_and_what_it_may_not_attest() -> None:
    diploma = nurse(kind=common_pb2.CREDENTIAL_KIND_DIPLOMA, institution="University of Nairobi",
                    programme="BSc Nursing", award_date=dt.date(2015, 11, 20))
    cases = [
        (diploma, "issuer KE-NCK may not attest CREDENTIAL_KIND_DIPLOMA"),
        (nurse(profession_isco="2211"), "issuer KE-NCK may not attest ISCO-08 group 2211"),
        (nurse(jurisdiction="UG"), "issuer KE-NCK attests for KE, not UG"),
    ]
    for cmd, detail in cases:
        data = sign_attestation(build_attestation(cmd, now=T0), signer=KE_KEY).SerializeToString()
        refused = untrusted(data, trust_list())
        assert (refused.code, refused.detail) == ("ISSUER_NOT_AUTHORISED", detail)


def test_a_record_key_mismatch_quotes_at_most_200_characters_of_the_key() -> None:
    refused = untrusted(signed_at(T0), trust_list(), record_key="K" * 300)
    assert refused.code == "RECORD_KEY_MISMATCH"
    assert refused.detail == "record key %r differs from credential id 'KE-NCK/12345'" % ("K" * 200)


def test_a_record_key_is_checked_whenever_one_is_given_even_empty_and_skipped_only_without_one() -> None:
    assert untrusted(signed_at(T0), trust_list(), record_key="").code == "RECORD_KEY_MISMATCH"
    assert verify_attestation(signed_at(T0), trust=trust_list(), record_key=None).credential_id == "KE-NCK/12345"


def test_a_verified_attestation_keeps_the_very_bytes_that_were_verified() -> None:
    data = signed_at(T0)
    verified = verify_attestation(data, trust=trust_list())
    assert verified.envelope_bytes == data, "the registry hands these bytes out as evidence"


def test_an_unknown_signer_is_named_by_its_keyid_shortened_to_16_characters() -> None:
    stranger = fixed_signer("not on the trust list")
    envelope = sign_attestation(valid(), signer=stranger)
    envelope.signatures.add(sig=b"\x00" * 64, keyid="")
    refused = untrusted(envelope.SerializeToString(), trust_list())
    assert (refused.code, refused.detail) == (
        "ISSUER_UNKNOWN", "signed by key(s) %s, (empty keyid), which no issuer on the trust list holds"
        % stranger.keyid[:16])


def test_a_key_of_another_issuer_is_refused_naming_both_issuers() -> None:
    refused = untrusted(sign_attestation(valid(), signer=RO_KEY).SerializeToString(), trust_list())
    assert (refused.code, refused.detail) == (
        "SIGNATURE_INVALID", "signed by a key of issuer 'RO-CMR', but the attestation names issuer 'KE-NCK'")


def test_a_signed_payload_that_is_not_an_attestation_is_malformed_with_the_parser_s_complaint() -> None:
    data = KE_KEY.sign("application/vnd.credverify.attestation.v1+protobuf", b"\xff\xff\xff").SerializeToString()
    with pytest.raises(Malformed) as err:
        verify_attestation(data, trust=trust_list())
    assert err.value.detail.startswith("signed payload is not an Attestation: ")
