"""Where ingest draws its lines (docs/spec.md 11.2, the version rule, and the plan in registry/ingest.py).

Against the version held (stored, or accepted earlier in the same batch): a higher version replaces
it; the same version with the very same envelope bytes is a harmless duplicate, neither stored nor
refused; the same version with any other bytes, or a lower one, is REPLAYED. Refusals an issuer
record can lift are parked, the others are not; every record read moves the offsets on.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from credverify.core.errors import RecordRejected, reason_code
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import TrustList
from credverify.registry import ingest
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.ingest import (
    LIFTABLE_REASONS,
    MAX_RECORD_KEY_CHARS,
    IncomingRecord,
    Outcome,
    commit_batch,
    judge_records,
    load_trust,
    verify_each,
)
from credverify.registry.ports import IngestBatch
from tests.factories import KE_KEY, ROOTS, T0, attestation_bytes, fixed_signer, kenya_issuer_record, nurse, record_bytes

TOPICS = Topics()
KEY = b"KE-NCK/1"
DAY = dt.timedelta(days=1)


class Registry:
    """A registry's ingest on a real SQLite file, fed records by hand with increasing offsets."""

    def __init__(self, path: Path) -> None:
        self.store = SqliteAttestationStore(path)
        self.trust = load_trust(self.store, ROOTS)
        self.offsets = {TOPICS.trust_list: 0, TOPICS.attestations: 0}

    def record(self, topic: str, key: bytes | None, value: bytes | None) -> IncomingRecord:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return IncomingRecord(topic, 0, offset, key, value)

    def attestation(self, value: bytes | None, key: bytes | None = KEY) -> IncomingRecord:
        return self.record(TOPICS.attestations, key, value)

    def ingest(self, *records: IncomingRecord) -> IngestBatch:
        batch = judge_records(records, topics=TOPICS, trust=self.trust, roots=ROOTS, store=self.store)
        commit_batch(batch, store=self.store)
        self.trust = batch.trust  # type: ignore[assignment]
        return batch

    def held(self) -> tuple[int, bytes] | None:
        stored = self.store.get(KEY.decode())
        return None if stored is None else (stored.version, stored.envelope_bytes)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    kenya = Registry(tmp_path / "registry.db")
    kenya.ingest(kenya.record(TOPICS.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record())))
    return kenya


def version(number: int, **overrides: object) -> bytes:
    return attestation_bytes(nurse("1", version=number, **overrides), now=T0)


def refusals(batch: IngestBatch) -> list[tuple[str, str]]:
    return [(reason_code(r.reason), r.detail) for r in batch.rejections]


def test_a_higher_version_replaces_the_one_held(registry: Registry) -> None:
    registry.ingest(registry.attestation(version(5)))
    batch = registry.ingest(registry.attestation(version(6)))
    assert refusals(batch) == [] and list(batch.attestations) == ["KE-NCK/1"]
    assert registry.held() == (6, version(6))


def test_the_same_version_with_the_same_bytes_is_neither_stored_again_nor_refused(registry: Registry) -> None:
    registry.ingest(registry.attestation(version(5)))
    batch = registry.ingest(registry.attestation(version(5)))
    assert refusals(batch) == [] and batch.attestations == {} and batch.changes == []
    assert registry.held() == (5, version(5))


def test_an_identical_copy_right_after_its_acceptance_in_the_same_batch_is_a_duplicate(registry: Registry) -> None:
    batch = registry.ingest(registry.attestation(version(5)), registry.attestation(version(5)))
    assert refusals(batch) == [] and list(batch.attestations) == ["KE-NCK/1"]
    assert registry.held() == (5, version(5))


def test_the_same_version_with_other_bytes_is_a_replay(registry: Registry) -> None:
    registry.ingest(registry.attestation(version(5)))
    batch = registry.ingest(registry.attestation(version(5, given_names="Grace A.")))
    assert refusals(batch) == [("REPLAYED", "version 5 of KE-NCK/1 is not newer than the accepted version 5")]
    assert registry.held() == (5, version(5))


def test_the_same_payload_signed_by_another_listed_key_is_a_replay(tmp_path: Path) -> None:
    second = fixed_signer("kenya's second key")
    kenya = Registry(tmp_path / "registry.db")
    kenya.ingest(kenya.record(TOPICS.trust_list, b"KE-NCK",
                              record_bytes(kenya_issuer_record(keys=(KE_KEY, second)))))
    kenya.ingest(kenya.attestation(version(5)))
    resigned = attestation_bytes(nurse("1", version=5), now=T0, signer=second)
    batch = kenya.ingest(kenya.attestation(resigned))
    assert [code for code, _ in refusals(batch)] == ["REPLAYED"]


def test_a_lower_version_is_a_replay_whether_held_in_the_store_or_in_the_batch(registry: Registry) -> None:
    registry.ingest(registry.attestation(version(5)))
    batch = registry.ingest(registry.attestation(version(4)))
    assert refusals(batch) == [("REPLAYED", "version 4 of KE-NCK/1 is not newer than the accepted version 5")]
    batch = registry.ingest(registry.attestation(version(7)), registry.attestation(version(6)))
    assert refusals(batch) == [("REPLAYED", "version 6 of KE-NCK/1 is not newer than the accepted version 7")]
    assert registry.held() == (7, version(7))


def test_trust_rules_come_before_the_version_rule(registry: Registry) -> None:
    registry.ingest(registry.attestation(version(5)))
    forged = attestation_bytes(nurse("1", version=4), now=T0, signer=fixed_signer("a forger"))
    batch = registry.ingest(registry.attestation(forged))
    assert [code for code, _ in refusals(batch)] == ["ISSUER_UNKNOWN"]


def test_a_record_without_a_value_is_refused_as_malformed(registry: Registry) -> None:
    batch = registry.ingest(registry.attestation(None))
    assert refusals(batch) == [("MALFORMED", "attestation record has no value")]
    assert batch.parked == {}


def test_refusals_an_issuer_record_can_lift_are_parked_and_the_others_are_not(registry: Registry) -> None:
    assert {reason_code(r) for r in LIFTABLE_REASONS} == {
        "ISSUER_UNKNOWN", "ISSUER_NOT_AUTHORISED", "KEY_NOT_VALID", "KEY_REVOKED"}
    unknown_key = fixed_signer("kenya's next key")
    batch = registry.ingest(
        registry.attestation(attestation_bytes(nurse("1"), signer=unknown_key), b"KE-NCK/1"),
        registry.attestation(attestation_bytes(nurse("2", profession_isco="2211")), b"KE-NCK/2"),
        registry.attestation(attestation_bytes(nurse("3")).replace(b"Wanjiru", b"Wanjiro"), b"KE-NCK/3"),
        registry.attestation(attestation_bytes(nurse("4")), b"KE-NCK/not-4"),
    )
    assert [code for code, _ in refusals(batch)] == [
        "ISSUER_UNKNOWN", "ISSUER_NOT_AUTHORISED", "SIGNATURE_INVALID", "RECORD_KEY_MISMATCH"]
    assert {key: parked.keyids for key, parked in batch.parked.items()} == {
        "KE-NCK/1": (unknown_key.keyid,), "KE-NCK/2": (KE_KEY.keyid,)}
    assert registry.store.counts()["parked"] == 2


def test_a_record_without_a_key_counts_as_the_empty_key(registry: Registry) -> None:
    batch = registry.ingest(registry.attestation(attestation_bytes(nurse("1")), key=None))
    [rejection] = batch.rejections
    assert (reason_code(rejection.reason), rejection.record_key) == ("RECORD_KEY_MISMATCH", "")


def test_a_refused_record_key_is_kept_to_its_first_512_characters(registry: Registry) -> None:
    long_key = b"K" * (MAX_RECORD_KEY_CHARS + 100)
    batch = registry.ingest(registry.attestation(attestation_bytes(nurse("1")), key=long_key))
    [rejection] = batch.rejections
    assert rejection.record_key == "K" * MAX_RECORD_KEY_CHARS
    assert (rejection.topic, rejection.partition, rejection.offset) == (TOPICS.attestations, 0, 0)


def test_every_record_read_moves_its_partition_s_offset_past_it_accepted_or_not(registry: Registry) -> None:
    batch = registry.ingest(registry.attestation(version(5)), registry.attestation(b"junk", b"KE-NCK/2"),
                            registry.attestation(version(5)))
    assert batch.next_offsets == {(TOPICS.attestations, 0): 3}
    assert registry.store.next_offsets()[(TOPICS.attestations, 0)] == 3
    assert registry.store.next_offsets()[(TOPICS.trust_list, 0)] == 1


def test_a_tombstone_on_the_trust_list_withdraws_nothing(registry: Registry) -> None:
    batch = registry.ingest(registry.record(TOPICS.trust_list, b"KE-NCK", None))
    assert refusals(batch) == [] and batch.issuers == {}
    assert "KE-NCK" in registry.trust.issuers


def test_an_issuer_record_not_signed_by_a_root_is_refused(registry: Registry) -> None:
    forged = record_bytes(kenya_issuer_record(now=T0), root=fixed_signer("not a root"))
    batch = registry.ingest(registry.record(TOPICS.trust_list, b"KE-NCK", forged))
    assert [code for code, _ in refusals(batch)] == ["TRUST_LIST_INVALID"]
    assert batch.issuers == {}


def test_an_issuer_record_of_the_same_version_changes_nothing(registry: Registry) -> None:
    batch = registry.ingest(registry.record(TOPICS.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record())))
    assert batch.issuers == {} and batch.trust_changes == {}


def test_a_newer_issuer_record_lists_the_keys_of_the_old_and_the_new_record_for_re_judging(
    registry: Registry,
) -> None:
    new_key = fixed_signer("kenya's next key")
    rotated = kenya_issuer_record(keys=(new_key,), now=T0)
    batch = registry.ingest(registry.record(TOPICS.trust_list, b"KE-NCK", record_bytes(rotated)))
    assert batch.trust_changes == {"KE-NCK": {KE_KEY.keyid, new_key.keyid}}


def test_a_batch_that_was_not_judged_cannot_be_committed(registry: Registry) -> None:
    batch = IngestBatch(attestations={}, issuers={}, rejections=[], next_offsets={})
    with pytest.raises(ValueError, match="^commit_batch: the batch was not judged"):
        commit_batch(batch, store=registry.store)


def test_a_record_the_gate_fails_on_unexpectedly_is_refused_as_malformed_not_retried() -> None:
    class BrokenTrust(TrustList):
        def public_keys(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("a bug in the gate")

    [outcome] = verify_each([(attestation_bytes(nurse("1")), "KE-NCK/1")], BrokenTrust())
    assert isinstance(outcome, RecordRejected)
    assert (outcome.code, outcome.detail) == (
        "MALFORMED", "the record could not be judged (RuntimeError); the registry logged the details")


def test_the_verifier_is_handed_only_what_is_not_a_duplicate_of_the_store(registry: Registry) -> None:
    registry.ingest(registry.attestation(version(5)))
    judged: list[Sequence[tuple[bytes, str]]] = []

    def spy(items: Sequence[tuple[bytes, str]], trust: TrustList) -> list[Outcome]:
        judged.append(list(items))
        return verify_each(items, trust)

    batch = judge_records([registry.attestation(version(5)), registry.attestation(version(6)),
                           registry.attestation(None)], topics=TOPICS, trust=registry.trust, roots=ROOTS,
                          store=registry.store, verify=spy)
    # (envelope bytes, record key) of each record handed over, whatever else travels with them
    assert [[(item[0], item[1]) for item in items] for items in judged] == [[(version(6), "KE-NCK/1")]]
    assert refusals(batch) == [("MALFORMED", "attestation record has no value")]


def test_a_compromise_withdraws_what_the_key_signed_on_every_page_of_the_store(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 2 rows instead of 2000: five attestations span three pages.
    monkeypatch.setattr(ingest, "REJUDGE_PAGE", 2)
    registry.ingest(*(registry.attestation(attestation_bytes(nurse(str(n)), now=T0 + DAY), b"KE-NCK/%d" % n)
                      for n in range(5)))
    compromised = kenya_issuer_record(now=T0)
    compromised.keys[0].compromised_at.CopyFrom(to_timestamp(T0))
    batch = registry.ingest(registry.record(TOPICS.trust_list, b"KE-NCK", record_bytes(compromised)))
    assert sorted((c.credential_id, reason_code(c.trust_reason)) for c in batch.changes) == [
        ("KE-NCK/%d" % n, "KEY_REVOKED") for n in range(5)]


def test_parked_records_on_every_page_are_admitted_when_their_key_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "REJUDGE_PAGE", 2)
    kenya = Registry(tmp_path / "registry.db")
    kenya.ingest(*(kenya.attestation(attestation_bytes(nurse(str(n))), b"KE-NCK/%d" % n) for n in range(5)))
    assert kenya.store.counts()["parked"] == 5
    batch = kenya.ingest(kenya.record(TOPICS.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record())))
    assert sorted(c.credential_id for c in batch.changes) == ["KE-NCK/%d" % n for n in range(5)]
    assert kenya.store.counts()["parked"] == 0


def test_a_parked_record_still_refused_stays_parked_and_does_not_hold_up_the_next(tmp_path: Path) -> None:
    kenya = Registry(tmp_path / "registry.db")
    # KE-NCK/1 was signed before the key's validity starts; KE-NCK/2 after: both wait for the record.
    kenya.ingest(kenya.attestation(attestation_bytes(nurse("1"), now=T0 - DAY), b"KE-NCK/1"),
                 kenya.attestation(attestation_bytes(nurse("2"), now=T0 + DAY), b"KE-NCK/2"))
    record = kenya_issuer_record(now=T0)
    batch = kenya.ingest(kenya.record(TOPICS.trust_list, b"KE-NCK", record_bytes(record)))
    assert [(c.credential_id, c.cause) for c in batch.changes] == [("KE-NCK/2", "admitted")]
    assert kenya.store.get("KE-NCK/1") is None and kenya.store.counts()["parked"] == 1


def test_judging_rows_stored_without_a_verdict_covers_every_page(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "REJUDGE_PAGE", 2)
    kenya = Registry(tmp_path / "registry.db")
    kenya.ingest(kenya.record(TOPICS.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record())),
                 *(kenya.attestation(attestation_bytes(nurse(str(n))), b"KE-NCK/%d" % n) for n in range(5)))
    with sqlite3.connect(kenya.store.path) as db:
        db.execute("UPDATE attestations SET trust_reason = 0")
    assert ingest.judge_unjudged(kenya.store, trust=kenya.trust) == 5
    assert ingest.judge_unjudged(kenya.store, trust=kenya.trust) == 0


def test_issuer_records_in_a_batch_are_applied_before_its_attestations_whatever_the_order(tmp_path: Path) -> None:
    kenya = Registry(tmp_path / "registry.db")
    attestation = kenya.attestation(attestation_bytes(nurse("1")), b"KE-NCK/1")
    issuer = kenya.record(TOPICS.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record()))
    batch = kenya.ingest(attestation, issuer)
    assert refusals(batch) == [] and list(batch.attestations) == ["KE-NCK/1"]


def test_a_record_key_that_is_not_utf8_is_refused_and_does_not_stop_ingest(registry: Registry) -> None:
    batch = registry.ingest(registry.attestation(attestation_bytes(nurse("1")), key=b"KE-NCK/\xff"),
                            registry.attestation(attestation_bytes(nurse("2")), key=b"KE-NCK/2"))
    [rejection] = batch.rejections
    assert (reason_code(rejection.reason), rejection.record_key) == ("RECORD_KEY_MISMATCH", "KE-NCK/\ufffd")
    assert list(batch.attestations) == ["KE-NCK/2"]
