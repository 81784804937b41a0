"""Admission's handlers against fakes of the publisher, the index and the trust list: what is written,
what is committed and when, and that no single record can stall admission."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import pytest

from credverify.admission import handlers
from credverify.admission.adapters.sqlite_index import SqliteAdmissionIndex
from credverify.admission.domain import AdmittedEntry, Submission
from credverify.admission.handlers import AdmissionCounts, admit
from credverify.core.envelope import ATTESTATION_TYPE
from credverify.core.errors import DeliveryFailed, reason_code
from credverify.core.topics import Topics
from credverify.core.trust import TrustList
from credverify.v1 import registry_pb2
from tests.factories import T0, attestation_bytes, kenya_record, nurse, romania_record, trust_list
from tests.fakes import FakePublisher, keyed

TOPICS = Topics(prefix="unit.")
KENYA_TOPIC = TOPICS.submissions("KE-NCK")
# The size of issue 10's record that stalled every registry: just under the broker's 1 MiB default.
NEAR_BROKER_LIMIT = 1_048_388


class InMemoryIndex:
    """AdmissionIndex in dicts, with SqliteAdmissionIndex's rule: entries and offsets change together."""

    def __init__(self) -> None:
        self.entries: dict[str, AdmittedEntry] = {}
        self.offsets: dict[tuple[str, int], int] = {}
        self.commits = 0

    def admitted(self, credential_ids: Collection[str]) -> dict[str, AdmittedEntry]:
        return {cid: self.entries[cid] for cid in credential_ids if cid in self.entries}

    def next_offsets(self) -> dict[tuple[str, int], int]:
        return dict(self.offsets)

    def commit(self, entries: Iterable[AdmittedEntry], next_offsets: Mapping[tuple[str, int], int]) -> None:
        self.entries.update({e.credential_id: e for e in entries})
        self.offsets.update(next_offsets)
        self.commits += 1


class FixedTrust:
    """A trust list as followed so far (``followed``) and as read to the topic's end (``at_end``)."""

    def __init__(self, followed: TrustList, at_end: TrustList | None = None) -> None:
        self.followed = followed
        self.at_end = at_end or followed
        self.catch_ups = 0

    def current(self) -> TrustList:
        return self.followed

    def caught_up(self) -> TrustList:
        self.catch_ups += 1
        self.followed = self.at_end
        return self.at_end


def sub(value: bytes | None, *, offset: int, key: bytes | None = b"KE-NCK/12345") -> Submission:
    return Submission(topic=KENYA_TOPIC, partition=1, offset=offset, key=key, value=value,
                      timestamp_ms=round((T0 + dt.timedelta(minutes=1)).timestamp() * 1000), hub_timestamped=True)


def run(submissions: list[Submission], *, publisher: FakePublisher, index: InMemoryIndex,
        trust: FixedTrust | None = None, counts: AdmissionCounts | None = None) -> handlers.JudgedBatch:
    return admit(submissions, topics=TOPICS, trust=trust or FixedTrust(trust_list()), index=index,
                 publisher=publisher, now=lambda: T0, counts=counts or AdmissionCounts(), pause=lambda s: None)


def dead_letters(publisher: FakePublisher) -> list[registry_pb2.RejectedRecord]:
    return [registry_pb2.RejectedRecord.FromString(r.value) for r in publisher.delivered(TOPICS.rejected)]


def test_an_admitted_record_is_written_byte_for_byte_and_committed_with_its_offset() -> None:
    publisher, index = FakePublisher(), InMemoryIndex()
    value = attestation_bytes()
    run([sub(value, offset=41)], publisher=publisher, index=index)
    [written] = publisher.delivered(TOPICS.attestations)
    assert (written.key, written.value, written.payload_type) == (b"KE-NCK/12345", value, ATTESTATION_TYPE)
    assert index.offsets == {(KENYA_TOPIC, 1): 42} and "KE-NCK/12345" in index.entries


def test_nothing_is_committed_when_the_hub_does_not_confirm_an_admitted_record() -> None:
    publisher, index = FakePublisher(), InMemoryIndex()
    publisher.stay_unconfirmed(keyed("KE-NCK/12345"))
    with pytest.raises(DeliveryFailed, match="not confirmed"):
        run([sub(attestation_bytes(), offset=0)], publisher=publisher, index=index)
    assert index.commits == 0 and index.entries == {}, "a crash now would lose the record for good"


def test_a_record_at_the_brokers_limit_is_dead_lettered_capped_with_its_digest_and_place() -> None:
    publisher, index = FakePublisher(), InMemoryIndex()
    run([sub(b"\x0a" * NEAR_BROKER_LIMIT, offset=7)], publisher=publisher, index=index)
    [letter] = dead_letters(publisher)
    [record] = publisher.delivered(TOPICS.rejected)
    assert len(record.value) < 70_000, "the dead letter must stay far below the producer's 1 MiB limit"
    assert (letter.source_topic, letter.partition, letter.offset) == (KENYA_TOPIC, 1, 7)
    assert reason_code(letter.reason) == "OVERSIZED"
    assert "1048388 bytes, sha256 " in letter.detail and "copy cut" in letter.detail
    assert index.offsets == {(KENYA_TOPIC, 1): 8}


def test_a_dead_letter_the_hub_never_confirms_is_counted_and_admission_goes_on() -> None:
    publisher, index, counts = FakePublisher(), InMemoryIndex(), AdmissionCounts()
    publisher.stay_unconfirmed(lambda record: record.topic == TOPICS.rejected)
    good = attestation_bytes(nurse("2"))
    run([sub(b"garbage", offset=0), sub(good, offset=1, key=b"KE-NCK/2")], publisher=publisher, index=index,
        counts=counts)
    attempts = [r for r in publisher.asked if r.topic == TOPICS.rejected]
    assert len(attempts) == len(handlers.DEAD_LETTER_PAUSES_S) + 1, "bounded retries, then give up"
    assert counts.dead_letters_lost == 1 and counts.refused_by_reason == {"MALFORMED": 1}
    assert index.offsets == {(KENYA_TOPIC, 1): 2} and "KE-NCK/2" in index.entries


def test_a_council_listed_just_before_its_first_submission_is_admitted_after_reading_the_trust_list() -> None:
    publisher, index = FakePublisher(), InMemoryIndex()
    trust = FixedTrust(trust_list(romania_record()), at_end=trust_list(kenya_record(), romania_record()))
    run([sub(attestation_bytes(), offset=0)], publisher=publisher, index=index, trust=trust)
    assert trust.catch_ups == 1
    assert [r.key for r in publisher.delivered(TOPICS.attestations)] == [b"KE-NCK/12345"]
    assert dead_letters(publisher) == []


def test_two_versions_in_one_batch_are_both_admitted_and_a_replay_between_them_refused() -> None:
    publisher, index = FakePublisher(), InMemoryIndex()
    v5, v6 = attestation_bytes(nurse(version=5)), attestation_bytes(nurse(version=6))
    batch = run([sub(v5, offset=0), sub(v6, offset=1), sub(v5, offset=2)], publisher=publisher, index=index)
    assert [r.value for r in publisher.delivered(TOPICS.attestations)] == [v5, v6]
    assert [reason_code(r.reason) for r in batch.refused] == ["REPLAYED"]
    assert index.entries["KE-NCK/12345"].version == 6


def test_an_identical_resubmission_sends_nothing(tmp_path: Path) -> None:
    publisher, index = FakePublisher(), SqliteAdmissionIndex(tmp_path / "admission.db")
    value = attestation_bytes()
    for offset in (0, 1):
        admit([sub(value, offset=offset)], topics=TOPICS, trust=FixedTrust(trust_list()), index=index,
              publisher=publisher, now=lambda: T0, counts=AdmissionCounts(), pause=lambda s: None)
    assert len(publisher.delivered(TOPICS.attestations)) == 1 and dead_letters(publisher) == []
    assert index.next_offsets() == {(KENYA_TOPIC, 1): 2}
    assert (tmp_path / "admission.db").stat().st_mode & 0o777 == 0o600
