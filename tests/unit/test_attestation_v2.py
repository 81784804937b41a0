"""The v2 attestation (docs/spec.md 15): the hub carries the non-personal facts and the digests of the
practitioner's SD-JWT Disclosures. A council's v2 envelope verifies through the same gate as v1, its
field rules refuse what a careless signer could publish, the practitioner's Disclosures open it, and
a registry stores it and answers Verify without pretending to have compared her details."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from credverify.core.attestation import (
    ATTESTATION_V2_TYPE,
    attestation_v2_of,
    issue_attestation_v2,
    open_disclosures,
    sign_attestation,
    sign_attestation_v2,
    validate_attestation_v2,
    verify_attestation,
)
from credverify.core.errors import InvalidInput, Malformed, RegistrationRefused, reason_code
from credverify.core.sdjwt import (
    DISCLOSURE_CLAIM_CLASH,
    DISCLOSURE_DUPLICATE,
    DISCLOSURE_RESERVED_NAME,
    DISCLOSURE_UNKNOWN,
    PresentationRejected,
    b64url,
    disclosure_digest,
    hub_digests,
    make_disclosure,
    split_combined,
)
from credverify.core.topics import Topics
from credverify.issuer.domain import build_attestation
from credverify.registry import handlers
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.ingest import IncomingRecord, commit_batch, judge_records, load_trust
from credverify.v1 import attestation_pb2, common_pb2, registry_pb2
from tests.factories import KE_KEY, ROOTS, T0, TODAY, kenya_issuer_record, nurse, record_bytes, trust_list
from tests.fakes import FakeMovePublisher

R = common_pb2


def counter_bytes() -> object:
    counter = itertools.count()
    return lambda n: next(counter).to_bytes(n, "big")


def issued(**overrides: object) -> tuple[bytes, str, attestation_pb2.Attestation]:
    """A v2 envelope of the standard nurse, the practitioner's credential text, and the v1-shaped source."""
    att = build_attestation(nurse(**overrides), now=T0)
    env, credential = issue_attestation_v2(att, signer=KE_KEY, now=T0, random_bytes=counter_bytes())  # type: ignore[arg-type]
    return env.SerializeToString(), credential.text, att


def v2_message(**changes: object) -> attestation_pb2.AttestationV2:
    att = attestation_v2_of(build_attestation(nurse(), now=T0), ["A" * 43, "Q" * 43])
    for name, value in changes.items():
        if name == "subject_digests":
            del att.subject_digests[:]
            att.subject_digests.extend(value)  # type: ignore[arg-type]
        else:
            setattr(att, name, value)
    return att


def test_a_v2_envelope_verifies_and_carries_the_credentials_digests() -> None:
    data, credential, _ = issued()
    verified = verify_attestation(data, trust=trust_list())
    assert verified.payload_type == ATTESTATION_V2_TYPE
    assert verified.subject_sealed
    assert verified.subject_digests == hub_digests(credential)
    assert verified.attestation.credential_id == "KE-NCK/12345"


def test_a_v2_attestation_carries_no_personal_data() -> None:
    data, _, source = issued()
    verified = verify_attestation(data, trust=trust_list())
    assert not verified.attestation.HasField("subject")
    for secret in (source.subject.family_name, source.subject.given_names, source.subject.practitioner_number):
        assert secret.encode() not in data, "the hub record carries %r in clear" % secret


def test_a_v1_envelope_still_verifies_as_before() -> None:
    data = sign_attestation(build_attestation(nurse(), now=T0), signer=KE_KEY).SerializeToString()
    verified = verify_attestation(data, trust=trust_list())
    assert not verified.subject_sealed and verified.subject_digests == ()
    assert verified.attestation.subject.family_name


def test_the_practitioners_disclosures_open_the_hubs_digests() -> None:
    data, credential, source = issued()
    verified = verify_attestation(data, trust=trust_list())
    opened = open_disclosures(split_combined(credential).disclosures, verified)
    assert opened["family_name"] == source.subject.family_name
    assert opened["practitioner_number"] == source.subject.practitioner_number


def test_an_independent_hash_of_the_disclosures_gives_the_hubs_digests() -> None:
    import base64
    import hashlib
    data, credential, _ = issued()
    disclosures = credential.split("~")[1:-1]
    ours = sorted(base64.urlsafe_b64encode(hashlib.sha256(d.encode("ascii")).digest()).decode().rstrip("=")
                  for d in disclosures)
    assert tuple(ours) == verify_attestation(data, trust=trust_list()).subject_digests


@pytest.mark.parametrize(("disclosures", "reason"), [
    ([make_disclosure("c2FsdA", "family_name", "Forged")], DISCLOSURE_UNKNOWN),
    (["DUP", "DUP"], DISCLOSURE_DUPLICATE),
    (["RESERVED"], DISCLOSURE_RESERVED_NAME),
    (["A", "B"], DISCLOSURE_CLAIM_CLASH),
])
def test_disclosures_that_do_not_open_the_attestation_are_refused_with_their_reason(
        disclosures: list[str], reason: str) -> None:
    reserved = make_disclosure("c2FsdA", "_sd", "x")
    first, second = make_disclosure("c2FsdA", "family_name", "A"), make_disclosure("c2FsdB", "family_name", "B")
    digests = [disclosure_digest(d) for d in (reserved, first, second)]
    att = v2_message(subject_digests=sorted(digests))
    verified = verify_attestation(sign_attestation_v2(att, signer=KE_KEY).SerializeToString(), trust=trust_list())
    named = {"DUP": first, "RESERVED": reserved, "A": first, "B": second}
    with pytest.raises(PresentationRejected) as caught:
        open_disclosures([named.get(d, d) for d in disclosures], verified)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("changes", "field"), [
    ({"subject_digests": ["A" * 42]}, "subject_digests[0]"),
    ({"subject_digests": ["A" * 42 + "B"]}, "subject_digests[0]"),  # unused bits set
    ({"subject_digests": ["A" * 42 + "+"]}, "subject_digests[0]"),
    ({"subject_digests": ["A" * 43, "A" * 43]}, "subject_digests[1]"),
    ({"subject_digests": ["Q" * 43, "A" * 43]}, "subject_digests[1]"),
    ({"subject_digests": []}, "subject_digests"),
    ({"subject_digests": [b64url(bytes([i]) * 32) for i in range(65)]}, "subject_digests"),
    ({"sd_alg": "sha-512"}, "sd_alg"),
    ({"sd_alg": ""}, "sd_alg"),
    ({"status": R.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS}, "has_conditions"),
    ({"has_conditions": True}, "status"),
    ({"status_reason": "BECAUSE"}, "status_reason"),
    ({"version": 0}, "version"),
    ({"jurisdiction": "ke"}, "jurisdiction"),
])
def test_validate_refuses_a_v2_field_that_breaks_its_rule(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match="^" + field.replace("[", r"\[").replace("]", r"\]")):
        validate_attestation_v2(v2_message(**changes))


def test_a_v1_payload_under_the_v2_type_is_malformed() -> None:
    v1 = build_attestation(nurse(), now=T0)
    data = KE_KEY.sign(ATTESTATION_V2_TYPE, v1.SerializeToString(deterministic=True)).SerializeToString()
    with pytest.raises(Malformed, match="field 6 is reserved"):
        verify_attestation(data, trust=trust_list())


def test_a_v2_payload_under_the_v1_type_is_malformed() -> None:
    payload = v2_message().SerializeToString(deterministic=True)
    data = KE_KEY.sign("application/vnd.credverify.attestation.v1+protobuf", payload).SerializeToString()
    with pytest.raises(Malformed):
        verify_attestation(data, trust=trust_list())


def test_another_payload_type_is_still_unsupported() -> None:
    payload = v2_message().SerializeToString(deterministic=True)
    data = KE_KEY.sign("application/vnd.credverify.attestation.v3+protobuf", payload).SerializeToString()
    with pytest.raises(Exception) as caught:
        verify_attestation(data, trust=trust_list())
    assert reason_code(caught.value.reason) == "PAYLOAD_TYPE_UNSUPPORTED"  # type: ignore[attr-defined]


# --- a registry holding a v2 record -------------------------------------------------------------

def registry_with(tmp_path: Path, data: bytes) -> tuple[SqliteAttestationStore, object]:
    store = SqliteAttestationStore(tmp_path / "registry.db")
    trust = load_trust(store, ROOTS)
    topics = Topics()
    records = [IncomingRecord(topics.trust_list, 0, 0, b"KE-NCK", record_bytes(kenya_issuer_record())),
               IncomingRecord(topics.attestations, 0, 0, b"KE-NCK/12345", data)]
    batch = judge_records(records, topics=topics, trust=trust, roots=ROOTS, store=store)
    commit_batch(batch, store=store)
    return store, batch.trust


def test_a_registry_stores_a_v2_record_and_verify_answers_its_status(tmp_path: Path) -> None:
    data, _, _ = issued()
    store, trust = registry_with(tmp_path, data)
    assert store.get("KE-NCK/12345") is not None, "the v2 record was not stored"
    outcome = handlers.verify("KE-NCK/12345", None, store=store, trust=trust, today=TODAY)  # type: ignore[arg-type]
    assert outcome.judgement.verified, outcome.judgement.detail
    assert outcome.judgement.reasons == (R.REASON_VERIFIED,)
    assert outcome.verified is not None and not outcome.verified.attestation.HasField("subject")


def test_claimed_details_against_a_v2_record_are_reported_unchecked_never_matched(tmp_path: Path) -> None:
    data, _, _ = issued()
    store, trust = registry_with(tmp_path, data)
    claimed = registry_pb2.ClaimedSubject(family_name="Anyone At All")
    outcome = handlers.verify("KE-NCK/12345", claimed, store=store, trust=trust, today=TODAY)  # type: ignore[arg-type]
    assert not outcome.judgement.verified
    assert outcome.judgement.reasons == (R.REASON_SUBJECT_NOT_CHECKED,)
    assert "Anyone" not in outcome.judgement.detail


def test_a_suspended_v2_record_answers_suspended(tmp_path: Path) -> None:
    data, _, _ = issued(status=R.CREDENTIAL_STATUS_SUSPENDED, status_reason="INTERIM_ORDER")
    store, trust = registry_with(tmp_path, data)
    outcome = handlers.verify("KE-NCK/12345", None, store=store, trust=trust, today=TODAY)  # type: ignore[arg-type]
    assert outcome.judgement.reasons == (R.REASON_SUSPENDED,)


def test_registration_on_a_v2_record_is_refused_until_she_presents(tmp_path: Path) -> None:
    data, _, _ = issued()
    store, trust = registry_with(tmp_path, data)
    publisher = FakeMovePublisher()
    with pytest.raises(RegistrationRefused) as caught:
        handlers.record_registration("KE-NCK/12345", None, destination="GB", registered_on=TODAY,
                                     pseudonym_key=b"k" * 32, store=store, trust=trust,  # type: ignore[arg-type]
                                     today=TODAY, publish_move=publisher)  # type: ignore[arg-type]
    assert caught.value.reasons == (R.REASON_SUBJECT_NOT_CHECKED,)


def test_the_witnessed_time_of_a_presented_v2_envelope_is_read(tmp_path: Path) -> None:
    data, _, _ = issued()
    store, trust = registry_with(tmp_path, data)
    outcome = handlers.verify_presented(data, None, store=store, trust=trust, today=TODAY,  # type: ignore[arg-type]
                                        now=T0 + dt.timedelta(hours=1))
    assert outcome.judgement.verified, outcome.judgement.detail
