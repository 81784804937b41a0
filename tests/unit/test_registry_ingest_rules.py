"""Ingest's rules on a real SQLite file, without a broker: trust changes re-judge what is stored, an
attestation that arrives before its issuer record is admitted when the record comes, hostile bytes
never stop the loop, and everything a batch changes is committed with its offsets or not at all."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from credverify.core.attestation import VerifiedAttestation
from credverify.core.errors import reason_code
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import TrustList
from credverify.registry import handlers
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.ingest import (
    IncomingRecord,
    Outcome,
    commit_batch,
    judge_records,
    judge_unjudged,
    load_trust,
    verify_each,
)
from credverify.registry.ports import IngestBatch
from credverify.v1 import common_pb2, trust_pb2
from tests.factories import (
    KE_KEY,
    ROOTS,
    T0,
    TODAY,
    attestation_bytes,
    fixed_signer,
    kenya_issuer_record,
    nurse,
    record_bytes,
)

TOPICS = Topics()
DAY = dt.timedelta(days=1)


class Feed:
    """Hands records to the registry the way its ingest loop does: judge, then commit with offsets."""

    def __init__(self, path: Path) -> None:
        self.store = SqliteAttestationStore(path)
        self.trust = load_trust(self.store, ROOTS)
        self._next = {TOPICS.trust_list: 0, TOPICS.attestations: 0}

    def record(self, topic: str, key: bytes | None, value: bytes | None) -> IncomingRecord:
        offset = self._next[topic]
        self._next[topic] += 1
        return IncomingRecord(topic, 0, offset, key, value)

    def issuer(self, record: trust_pb2.IssuerRecord) -> IncomingRecord:
        return self.record(TOPICS.trust_list, record.issuer_id.encode(), record_bytes(record))

    def attestation(self, value: bytes | None, key: bytes | None = b"KE-NCK/12345") -> IncomingRecord:
        return self.record(TOPICS.attestations, key, value)

    def ingest(self, *records: IncomingRecord, verify=verify_each) -> IngestBatch:  # type: ignore[no-untyped-def]
        batch = judge_records(records, topics=TOPICS, trust=self.trust, roots=ROOTS, store=self.store,
                              verify=verify)
        commit_batch(batch, store=self.store, verify=verify)
        self.trust = batch.trust
        return batch

    def verdict(self, credential_id: str) -> tuple[str, str]:
        stored = self.store.get(credential_id)
        assert stored is not None, "%s is not stored" % credential_id
        return reason_code(stored.trust_reason), stored.trust_detail

    def answer(self, credential_id: str) -> handlers.VerifyOutcome:
        return handlers.verify(credential_id, None, store=self.store, trust=self.trust, today=TODAY)


def next_version(record: trust_pb2.IssuerRecord, *, days_later: int = 1) -> trust_pb2.IssuerRecord:
    newer = trust_pb2.IssuerRecord()
    newer.CopyFrom(record)
    newer.version = record.version + days_later * 86_400_000_000
    return newer


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    return Feed(tmp_path / "registry.db")


def test_a_key_reported_compromised_withdraws_only_what_it_signed_after_the_compromise(feed: Feed) -> None:
    admitted = kenya_issuer_record()
    feed.ingest(
        feed.issuer(admitted),
        feed.attestation(attestation_bytes(nurse("1"), now=T0), b"KE-NCK/1"),
        feed.attestation(attestation_bytes(nurse("2"), now=T0 + 10 * DAY), b"KE-NCK/2"),
    )
    assert feed.verdict("KE-NCK/1")[0] == feed.verdict("KE-NCK/2")[0] == "VERIFIED"

    compromised = next_version(admitted)
    compromised.keys[0].compromised_at.CopyFrom(to_timestamp(T0 + 5 * DAY))
    batch = feed.ingest(feed.issuer(compromised))

    assert feed.verdict("KE-NCK/1") == ("VERIFIED", "")
    reason, detail = feed.verdict("KE-NCK/2")
    assert reason == "KEY_REVOKED" and "compromised" in detail
    assert [(c.credential_id, reason_code(c.trust_reason), c.cause) for c in batch.changes] == [
        ("KE-NCK/2", "KEY_REVOKED", "rejudged")]
    assert batch.changes_complete
    answer = feed.answer("KE-NCK/2")
    assert not answer.judgement.verified
    assert [reason_code(r) for r in answer.judgement.reasons] == ["KEY_REVOKED"]
    assert answer.evidence is not None and answer.evidence.SerializeToString() == attestation_bytes(
        nurse("2"), now=T0 + 10 * DAY), "the envelope once accepted is still handed out as evidence"
    assert feed.store.counts()["untrusted"] == 1


def test_a_narrowed_scope_withdraws_and_a_widened_one_restores(feed: Feed) -> None:
    admitted = kenya_issuer_record()
    midwife = attestation_bytes(nurse("7", profession_isco="2222"))
    feed.ingest(feed.issuer(admitted), feed.attestation(midwife, b"KE-NCK/7"))
    assert feed.verdict("KE-NCK/7")[0] == "VERIFIED"

    narrowed = next_version(admitted)
    narrowed.professions_isco.remove("2222")
    feed.ingest(feed.issuer(narrowed))
    assert feed.verdict("KE-NCK/7")[0] == "ISSUER_NOT_AUTHORISED"
    assert [reason_code(r) for r in feed.answer("KE-NCK/7").judgement.reasons] == ["ISSUER_NOT_AUTHORISED"]

    widened = next_version(narrowed)
    widened.professions_isco.append("2222")
    batch = feed.ingest(feed.issuer(widened))
    assert feed.verdict("KE-NCK/7") == ("VERIFIED", "")
    assert feed.answer("KE-NCK/7").judgement.verified
    assert [c.cause for c in batch.changes] == ["rejudged"]


def test_a_key_whose_validity_ends_earlier_withdraws_what_it_signed_afterwards(feed: Feed) -> None:
    admitted = kenya_issuer_record()
    feed.ingest(feed.issuer(admitted),
                feed.attestation(attestation_bytes(nurse("1"), now=T0), b"KE-NCK/1"),
                feed.attestation(attestation_bytes(nurse("2"), now=T0 + 3 * DAY), b"KE-NCK/2"))
    retired = next_version(admitted)
    retired.keys[0].not_after.CopyFrom(to_timestamp(T0 + DAY))
    feed.ingest(feed.issuer(retired))
    assert feed.verdict("KE-NCK/1")[0] == "VERIFIED"
    assert feed.verdict("KE-NCK/2")[0] == "KEY_NOT_VALID"


def test_an_older_issuer_record_changes_nothing(feed: Feed) -> None:
    admitted = kenya_issuer_record()
    narrowed = next_version(admitted)
    narrowed.professions_isco.remove("2222")
    feed.ingest(feed.issuer(narrowed), feed.attestation(attestation_bytes(nurse("1")), b"KE-NCK/1"))
    batch = feed.ingest(feed.issuer(admitted))  # replayed older version
    assert not batch.issuers and not batch.trust_changes and not batch.changes
    assert feed.trust.issuers["KE-NCK"].record.version == narrowed.version


def test_an_attestation_that_arrives_before_its_issuer_record_is_admitted_when_the_record_comes(
    feed: Feed,
) -> None:
    early = attestation_bytes(nurse("1"))
    first = feed.ingest(feed.attestation(early, b"KE-NCK/1"))
    assert [reason_code(r.reason) for r in first.rejections] == ["ISSUER_UNKNOWN"]
    assert feed.store.get("KE-NCK/1") is None and feed.store.counts()["parked"] == 1
    assert [reason_code(r) for r in feed.answer("KE-NCK/1").judgement.reasons] == ["ISSUER_UNKNOWN"]

    second = feed.ingest(feed.issuer(kenya_issuer_record()))
    assert [(c.credential_id, c.cause) for c in second.changes] == [("KE-NCK/1", "admitted")]
    assert feed.verdict("KE-NCK/1") == ("VERIFIED", "")
    assert feed.answer("KE-NCK/1").judgement.verified
    assert feed.store.counts()["parked"] == 0


def test_a_parked_record_superseded_while_it_waited_is_dropped_not_admitted(feed: Feed) -> None:
    new_key = fixed_signer("kenya's next key")
    admitted = kenya_issuer_record()
    feed.ingest(feed.issuer(admitted))
    # signed with a key the trust list does not list yet, then a newer version with the listed key
    feed.ingest(feed.attestation(attestation_bytes(nurse("1"), signer=new_key, now=T0), b"KE-NCK/1"))
    newer = attestation_bytes(nurse("1"), now=T0 + DAY)
    feed.ingest(feed.attestation(newer, b"KE-NCK/1"))
    assert feed.store.counts()["parked"] == 0, "an accepted newer version supersedes the parked record"

    feed.ingest(feed.attestation(attestation_bytes(nurse("2"), signer=new_key, now=T0), b"KE-NCK/2"))
    feed.ingest(feed.attestation(attestation_bytes(nurse("2"), now=T0 + DAY), b"KE-NCK/2"))
    feed.ingest(feed.attestation(attestation_bytes(nurse("3"), signer=new_key, now=T0 + 2 * DAY), b"KE-NCK/3"))
    rotated = next_version(admitted)
    rotated.keys.append(kenya_issuer_record(keys=(new_key,)).keys[0])
    batch = feed.ingest(feed.issuer(rotated))
    assert [(c.credential_id, c.cause) for c in batch.changes] == [("KE-NCK/3", "admitted")]
    stored = feed.store.get("KE-NCK/1")
    assert stored is not None and stored.envelope_bytes == newer
    assert feed.store.counts()["parked"] == 0


def test_the_registry_answers_the_same_whichever_topic_it_read_first(tmp_path: Path) -> None:
    """A live registry that saw attestations before their issuer's records, and one rebuilt with the
    trust list read first, must give every credential the same verdict."""
    admitted = kenya_issuer_record()
    narrowed = next_version(admitted)
    narrowed.professions_isco.remove("2222")
    attestations = [
        (b"KE-NCK/1", attestation_bytes(nurse("1"))),
        (b"KE-NCK/2", attestation_bytes(nurse("2", profession_isco="2222"))),
        (b"KE-NCK/3", attestation_bytes(nurse("3"), signer=fixed_signer("a forger"))),
    ]

    live = Feed(tmp_path / "live.db")
    live.ingest(*(live.attestation(value, key) for key, value in attestations))
    live.ingest(live.issuer(admitted))
    live.ingest(live.issuer(narrowed))

    rebuilt = Feed(tmp_path / "rebuilt.db")
    rebuilt.ingest(rebuilt.issuer(admitted), rebuilt.issuer(narrowed),
                   *(rebuilt.attestation(value, key) for key, value in attestations))

    def answers(feed: Feed) -> list[tuple[str, bool, list[str]]]:
        return [(key.decode(), (a := feed.answer(key.decode())).judgement.verified,
                 [reason_code(r) for r in a.judgement.reasons]) for key, _ in attestations]

    assert answers(live) == [("KE-NCK/1", True, ["VERIFIED"]), ("KE-NCK/2", False, ["ISSUER_NOT_AUTHORISED"]),
                             ("KE-NCK/3", False, ["ISSUER_UNKNOWN"])]
    assert answers(live) == answers(rebuilt)
    trusted = [(s.credential_id, s.envelope_bytes) for s in (live.store.get("KE-NCK/1"), rebuilt.store.get("KE-NCK/1"))
               if s is not None and s.trust_reason == common_pb2.REASON_VERIFIED]
    assert trusted == [("KE-NCK/1", attestations[0][1])] * 2


def test_an_exact_copy_of_the_stored_envelope_is_not_checked_again(feed: Feed) -> None:
    genuine = attestation_bytes()
    feed.ingest(feed.issuer(kenya_issuer_record()), feed.attestation(genuine))
    judged: list[int] = []

    def counting(items: Sequence[tuple[bytes, str]], trust: TrustList) -> list[Outcome]:
        judged.append(len(items))
        return verify_each(items, trust)

    batch = feed.ingest(feed.attestation(genuine), feed.attestation(genuine), verify=counting)
    assert judged == [1], "the first copy is a duplicate of the store; the second follows a copy in the batch"
    assert not batch.rejections and not batch.attestations


def test_an_older_version_is_refused_as_a_replay_even_within_one_batch(feed: Feed) -> None:
    older, newer = attestation_bytes(now=T0), attestation_bytes(now=T0 + DAY)
    batch = feed.ingest(feed.issuer(kenya_issuer_record()), feed.attestation(newer), feed.attestation(older))
    assert [reason_code(r.reason) for r in batch.rejections] == ["REPLAYED"]
    stored = feed.store.get("KE-NCK/12345")
    assert stored is not None and stored.envelope_bytes == newer


def test_mutated_envelopes_are_each_accepted_or_refused_and_never_stop_ingest(feed: Feed) -> None:
    genuine = attestation_bytes()
    feed.ingest(feed.issuer(kenya_issuer_record()))
    rng = random.Random(20260115)
    mutants: list[bytes] = []
    for _ in range(1500):
        data = bytearray(genuine)
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            position = rng.randrange(len(data))
            if choice < 0.5:
                data[position] = rng.randrange(256)
            elif choice < 0.75:
                del data[position:position + rng.randint(1, 40)]
            else:
                data[position:position] = rng.randbytes(rng.randint(1, 40))
        mutants.append(bytes(data))
    records = [feed.attestation(m, b"KE-NCK/%d" % i) for i, m in enumerate(mutants)]
    batch = feed.ingest(*records)
    assert len(batch.rejections) + len(batch.attestations) == len(records)
    assert all(r.detail for r in batch.rejections)
    assert feed.store.next_offsets()[(TOPICS.attestations, 0)] == records[-1].offset + 1


def test_a_failure_while_re_judging_leaves_state_and_offsets_as_they_were(feed: Feed) -> None:
    admitted = kenya_issuer_record()
    feed.ingest(feed.issuer(admitted), *(
        feed.attestation(attestation_bytes(nurse(str(n)), now=T0 + 10 * DAY), b"KE-NCK/%d" % n)
        for n in range(5)))
    before = (feed.store.next_offsets(), feed.store.counts(), [feed.verdict("KE-NCK/%d" % n) for n in range(5)])

    def failing(items: Sequence[tuple[bytes, str]], trust: TrustList) -> list[Outcome]:
        if any(not isinstance(o, VerifiedAttestation) for o in verify_each(items, trust)):
            raise OSError("disk went away half-way through re-judging")
        return verify_each(items, trust)

    compromised = next_version(admitted)
    compromised.keys[0].compromised_at.CopyFrom(to_timestamp(T0 + DAY))
    batch = judge_records([feed.issuer(compromised), feed.attestation(b"junk", b"KE-NCK/junk")], topics=TOPICS,
                          trust=feed.trust, roots=ROOTS, store=feed.store)
    with pytest.raises(OSError):
        commit_batch(batch, store=feed.store, verify=failing)
    after = (feed.store.next_offsets(), feed.store.counts(), [feed.verdict("KE-NCK/%d" % n) for n in range(5)])
    assert after == before
    assert [row[0] for row in sqlite3.connect(feed.store.path).execute("SELECT version FROM issuers")] == [
        admitted.version]


def test_a_store_from_before_verdicts_gains_them_and_its_rows_are_judged(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE attestations (credential_id TEXT PRIMARY KEY, version INTEGER NOT NULL,
          issuer_id TEXT NOT NULL, keyid TEXT NOT NULL, envelope BLOB NOT NULL, stored_at REAL NOT NULL);
        CREATE TABLE issuers (issuer_id TEXT PRIMARY KEY, version INTEGER NOT NULL, envelope BLOB NOT NULL);
    """)
    narrowed = kenya_issuer_record(professions=("2221",))
    old.execute("INSERT INTO issuers VALUES ('KE-NCK', ?, ?)", (narrowed.version, record_bytes(narrowed)))
    for number, isco in (("1", "2221"), ("2", "2222")):
        old.execute("INSERT INTO attestations VALUES (?, 1, 'KE-NCK', ?, ?, 0)",
                    ("KE-NCK/" + number, KE_KEY.keyid, attestation_bytes(nurse(number, profession_isco=isco))))
    old.commit()
    old.close()

    store = SqliteAttestationStore(path)
    assert store.get("KE-NCK/1") is not None
    assert store.get("KE-NCK/1").trust_reason == common_pb2.REASON_UNSPECIFIED  # type: ignore[union-attr]
    assert judge_unjudged(store, trust=load_trust(store, ROOTS)) == 2
    assert judge_unjudged(store, trust=load_trust(store, ROOTS)) == 0
    verdicts = {c: reason_code(s.trust_reason) for c in ("KE-NCK/1", "KE-NCK/2") if (s := store.get(c))}
    assert verdicts == {"KE-NCK/1": "VERIFIED", "KE-NCK/2": "ISSUER_NOT_AUTHORISED"}
