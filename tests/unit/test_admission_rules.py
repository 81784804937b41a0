"""The hub's admission rules, with fixed keys and clocks: what a council may put on the compacted
attestations topic through its own submission topic, and what it may not."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.admission.domain import (
    ISSUED_AHEAD_REASON,
    MAX_ISSUED_AT_AHEAD,
    Admitted,
    AdmittedEntry,
    AlreadyAdmitted,
    Decision,
    Refused,
    Submission,
    envelope_digest,
    judge,
    still_blocks,
)
from credverify.core.envelope import MAX_ENVELOPE_BYTES
from credverify.core.errors import reason_code
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import TrustList, verify_issuer_record
from tests.factories import (
    KE_KEY,
    RO_KEY,
    ROOTS,
    T0,
    attestation_bytes,
    fixed_signer,
    kenya_issuer_record,
    nurse,
    record_bytes,
    romania_record,
    trust_list,
)

TOPICS = Topics(prefix="unit.")
KENYA_TOPIC = TOPICS.submissions("KE-NCK")
RECEIVED = T0 + dt.timedelta(minutes=1)
KE_NEW_KEY = fixed_signer("nursing council of kenya, key after the theft")


def submission(value: bytes | None, *, key: bytes | None = b"KE-NCK/12345", topic: str = KENYA_TOPIC,
               at: dt.datetime = RECEIVED, hub_timestamped: bool = True, offset: int = 0) -> Submission:
    return Submission(topic=topic, partition=0, offset=offset, key=key, value=value,
                      timestamp_ms=round(at.timestamp() * 1000), hub_timestamped=hub_timestamped)


def decide(sub: Submission, *, trust: TrustList | None = None, held: AdmittedEntry | None = None) -> Decision:
    return judge(sub, topics=TOPICS, trust=trust or trust_list(), held=held)


def refusal(decision: Decision) -> str:
    assert isinstance(decision, Refused), "expected a refusal, the record was %s" % type(decision).__name__
    return reason_code(decision.reason)


def kenya_compromised_at(moment: dt.datetime) -> TrustList:
    """Kenya's record after it reported KE_KEY stolen at ``moment`` and took KE_NEW_KEY."""
    record = kenya_issuer_record(keys=(KE_KEY, KE_NEW_KEY))
    record.version += 1
    record.keys[0].compromised_at.CopyFrom(to_timestamp(moment))
    trust = trust_list(romania_record())
    return trust.applied(verify_issuer_record(record_bytes(record), roots=ROOTS))


def test_admits_a_councils_valid_attestation_from_its_own_topic_byte_for_byte() -> None:
    value = attestation_bytes()
    decision = decide(submission(value))
    assert isinstance(decision, Admitted)
    assert decision.verified.envelope_bytes == value
    assert decision.entry.credential_id == "KE-NCK/12345" and decision.entry.keyid == KE_KEY.keyid
    assert decision.entry.witnessed_at == RECEIVED and decision.entry.digest == envelope_digest(value)


def test_refuses_a_record_larger_than_an_envelope_without_parsing_it() -> None:
    assert refusal(decide(submission(b"\x0a" * (MAX_ENVELOPE_BYTES + 1)))) == "OVERSIZED"


@pytest.mark.parametrize("value", [None, b""], ids=["tombstone", "empty"])
def test_refuses_a_tombstone_or_empty_value_that_would_erase_a_credential_once_compacted(value: bytes | None) -> None:
    assert refusal(decide(submission(value))) == "MALFORMED"


def test_refuses_garbage_under_a_genuine_credentials_key() -> None:
    assert refusal(decide(submission(b"\x0a\x03bad"))) == "MALFORMED"


def test_refuses_a_record_in_kenyas_topic_under_a_romanian_credential_id() -> None:
    romanian = attestation_bytes(nurse("777", issuer_id="RO-CMR", jurisdiction="RO", profession_isco="2211"),
                                 signer=RO_KEY)
    decision = decide(submission(romanian, key=b"RO-CMR/777"))
    assert refusal(decision) == "ISSUER_NOT_AUTHORISED"
    assert "not one of its credential ids" in decision.detail  # type: ignore[union-attr]


def test_refuses_a_romanian_envelope_slipped_under_a_kenyan_key() -> None:
    romanian = attestation_bytes(nurse("777", issuer_id="RO-CMR", jurisdiction="RO", profession_isco="2211"),
                                 signer=RO_KEY)
    assert refusal(decide(submission(romanian, key=b"KE-NCK/777"))) == "RECORD_KEY_MISMATCH"


def test_refuses_a_kenyan_attestation_submitted_through_romanias_topic() -> None:
    decision = decide(submission(attestation_bytes(), topic=TOPICS.submissions("RO-CMR")))
    assert refusal(decision) == "ISSUER_NOT_AUTHORISED"


@pytest.mark.parametrize("key", [None, b"\xff\xfe", b"KE-NCK/" + b"1" * 600], ids=["missing", "not-utf8", "too-long"])
def test_refuses_a_record_without_a_usable_key(key: bytes | None) -> None:
    assert refusal(decide(submission(attestation_bytes(), key=key))) == "RECORD_KEY_MISMATCH"


def test_refuses_a_record_from_a_topic_that_is_not_a_submission_topic() -> None:
    assert refusal(decide(submission(attestation_bytes(), topic=TOPICS.attestations))) == "ISSUER_NOT_AUTHORISED"


def test_refuses_a_record_whose_time_is_the_senders_not_the_hubs() -> None:
    decision = decide(submission(attestation_bytes(), hub_timestamped=False))
    assert refusal(decision) == "MALFORMED" and "LogAppendTime" in decision.detail  # type: ignore[union-attr]


def test_refuses_a_backdated_theft_received_after_the_compromise_was_reported() -> None:
    # Signed with the stolen key, issued_at set a day before the compromise; the hub saw it after.
    stolen = attestation_bytes(signer=KE_KEY, now=T0 - dt.timedelta(days=1))
    trust = kenya_compromised_at(T0)
    decision = decide(submission(stolen, at=T0 + dt.timedelta(hours=2)), trust=trust)
    assert refusal(decision) == "KEY_REVOKED" and "the hub received" in decision.detail  # type: ignore[union-attr]


def test_refuses_a_record_received_at_the_instant_of_compromise() -> None:
    stolen = attestation_bytes(signer=KE_KEY, now=T0 - dt.timedelta(days=1))
    assert refusal(decide(submission(stolen, at=T0), trust=kenya_compromised_at(T0))) == "KEY_REVOKED"


def test_admits_a_record_the_hub_received_before_the_compromise() -> None:
    genuine = attestation_bytes(signer=KE_KEY, now=T0 - dt.timedelta(days=1))
    decision = decide(submission(genuine, at=T0 - dt.timedelta(hours=1)), trust=kenya_compromised_at(T0))
    assert isinstance(decision, Admitted)


def test_refuses_an_issued_at_later_than_the_hubs_clock_beyond_the_allowed_skew() -> None:
    ahead = attestation_bytes(now=RECEIVED + MAX_ISSUED_AT_AHEAD + dt.timedelta(seconds=1))
    decision = decide(submission(ahead))
    assert isinstance(decision, Refused) and decision.reason == ISSUED_AHEAD_REASON
    assert "later than the hub's receipt" in decision.detail


def test_admits_an_issued_at_within_the_allowed_clock_skew() -> None:
    assert isinstance(decide(submission(attestation_bytes(now=RECEIVED + MAX_ISSUED_AT_AHEAD))), Admitted)


def held_entry(value: bytes, *, version: int, keyid: str = KE_KEY.keyid,
               witnessed_at: dt.datetime = RECEIVED) -> AdmittedEntry:
    return AdmittedEntry("KE-NCK/12345", version, envelope_digest(value), witnessed_at, keyid)


def test_admits_a_newer_version_and_calls_an_identical_copy_already_admitted() -> None:
    old = attestation_bytes(nurse(version=5))
    new = attestation_bytes(nurse(version=6))
    assert isinstance(decide(submission(new), held=held_entry(old, version=5)), Admitted)
    assert isinstance(decide(submission(old), held=held_entry(old, version=5)), AlreadyAdmitted)


@pytest.mark.parametrize("version", [4, 5], ids=["older", "equal-but-different"])
def test_refuses_an_older_or_equal_but_different_version_as_replayed(version: int) -> None:
    held = held_entry(attestation_bytes(nurse(version=5)), version=5)
    other = attestation_bytes(nurse(version=version, family_name="Someone-Else"))
    assert refusal(decide(submission(other), held=held)) == "REPLAYED"


def test_a_thiefs_far_future_version_stops_blocking_once_its_key_is_reported_compromised() -> None:
    # The thief's version 10^18 was admitted at T0+30min, before anyone knew; the council then
    # reports the key stolen from T0+20min and signs its genuine update with its new key.
    thiefs = held_entry(b"the thief's envelope", version=10**18, witnessed_at=T0 + dt.timedelta(minutes=30))
    update = attestation_bytes(nurse(version=7), signer=KE_NEW_KEY, now=T0 + dt.timedelta(hours=3))
    before_report = trust_list()
    after_report = kenya_compromised_at(T0 + dt.timedelta(minutes=20))
    assert still_blocks(thiefs, before_report) and not still_blocks(thiefs, after_report)
    at = T0 + dt.timedelta(hours=3)
    assert isinstance(decide(submission(update, at=at), trust=after_report, held=thiefs), Admitted)


def test_a_version_admitted_before_the_compromise_still_blocks_replays() -> None:
    genuine = held_entry(attestation_bytes(nurse(version=9)), version=9, witnessed_at=T0 - dt.timedelta(hours=1))
    trust = kenya_compromised_at(T0)
    assert still_blocks(genuine, trust)
    older = attestation_bytes(nurse(version=8), signer=KE_NEW_KEY, now=T0 + dt.timedelta(hours=1))
    assert refusal(decide(submission(older, at=T0 + dt.timedelta(hours=1)), trust=trust, held=genuine)) == "REPLAYED"
