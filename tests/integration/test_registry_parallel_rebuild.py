"""`credverify registry rebuild --processes 2` builds the same store as one process: two issuers,
attestations on every partition, superseded versions, and records refused for several reasons
(issue 14: a replica rebuilt faster by ingesting disjoint partitions in parallel). Real broker, real
processes, real SQLite."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.envelope import ATTESTATION_TYPE
from credverify.core.errors import ConfigurationError, reason_code
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.registry.rebuild import rebuild, shares
from tests.factories import (
    RO_KEY,
    ROOTS,
    T0,
    attestation_bytes,
    bulk_attestations,
    fixed_signer,
    kenya_record,
    nurse,
    romania_record,
    signed_record_bytes,
)

pytestmark = pytest.mark.kafka

KENYAN_NURSES = 120
SUPERSEDED = 10  # the first Kenyan nurses get a version 2
ROMANIAN_DOCTORS = 30

# Each table as a list of rows, leaving out what depends on the moment or order of writing.
TABLES = {
    "attestations": "SELECT credential_id, version, issuer_id, keyid, envelope, trust_reason, trust_detail, "
                    "appended_at FROM attestations ORDER BY credential_id",
    "issuers": "SELECT issuer_id, version, envelope FROM issuers ORDER BY issuer_id",
    "rejections": 'SELECT record_key, reason, detail, topic, partition, "offset", dead_letter_error FROM rejections '
                  'ORDER BY topic, partition, "offset"',
    "parked": 'SELECT record_key, envelope, keyids, reason, detail, topic, partition, "offset", appended_at '
              "FROM parked_records ORDER BY record_key",
    "parked_keyids": "SELECT keyid, record_key FROM parked_keyids ORDER BY keyid, record_key",
    "offsets": "SELECT topic, partition, next_offset FROM offsets ORDER BY topic, partition",
}


def romanian_doctor(number: int) -> bytes:
    return attestation_bytes(nurse(str(number), issuer_id="RO-CMR", jurisdiction="RO", practitioner_number="CMR-%d"
                                   % number, country_of_training="RO", profession_isco="2211"), signer=RO_KEY)


def corpus(settings: KafkaSettings) -> list[OutgoingRecord]:
    topics = settings.topics
    records = [OutgoingRecord(topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
               OutgoingRecord(topics.trust_list, b"RO-CMR", signed_record_bytes(romania_record())),
               OutgoingRecord(topics.trust_list, b"XX-BAD", b"\x00not an issuer record")]
    kenyan = [*bulk_attestations(KENYAN_NURSES), *bulk_attestations(SUPERSEDED, now=T0 + dt.timedelta(days=1)),
              *bulk_attestations(1)]  # version 1 of KE-NCK/0 again, after version 2: REPLAYED
    records += [OutgoingRecord(topics.attestations, key, value, ATTESTATION_TYPE) for key, value in kenyan]
    records += [OutgoingRecord(topics.attestations, b"RO-CMR/%d" % n, romanian_doctor(n), ATTESTATION_TYPE)
                for n in range(ROMANIAN_DOCTORS)]
    refused = {
        b"KE-NCK/unlisted": attestation_bytes(nurse("unlisted"), signer=fixed_signer("a key nobody listed")),
        b"KE-NCK/doctor": attestation_bytes(nurse("doctor", profession_isco="2211")),  # outside Kenya's scope
        b"KE-NCK/garbage": b"\x00junk",
        b"KE-NCK/other-id": attestation_bytes(nurse("12345")),  # key differs from its credential id
    }
    records += [OutgoingRecord(topics.attestations, key, value, ATTESTATION_TYPE) for key, value in refused.items()]
    return records


def contents(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {table: conn.execute(query).fetchall() for table, query in TABLES.items()}
    finally:
        conn.close()


def test_two_ingest_processes_rebuild_the_same_store_as_one(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    ensure_topics(kafka_settings, only=[kafka_settings.topics.trust_list, kafka_settings.topics.attestations])
    producer = ConfirmingProducer(kafka_settings, client_id="parallel-rebuild-test")
    try:
        deliveries = producer.publish(corpus(kafka_settings))
    finally:
        producer.close()
    assert all(d.confirmed for d in deliveries)
    used = {d.partition for d in deliveries if d.record.topic == kafka_settings.topics.attestations}
    assert len(used) == 6, "the corpus does not reach every partition: %s" % sorted(used)

    one = rebuild(kafka_settings, store_path=tmp_path / "one.db", roots=ROOTS, overwrite=False,
                  publish_dead_letters=False)
    two = rebuild(kafka_settings, store_path=tmp_path / "two.db", roots=ROOTS, overwrite=False,
                  publish_dead_letters=False, processes=2)

    single, parallel = contents(tmp_path / "one.db"), contents(tmp_path / "two.db")
    assert len(single["attestations"]) == KENYAN_NURSES + ROMANIAN_DOCTORS
    assert sum(1 for row in single["attestations"] if row[1] > T0.timestamp() * 1e6) == SUPERSEDED
    refusals = sorted({reason_code(row[1]) for row in single["rejections"]})  # type: ignore[arg-type]
    assert refusals == ["ISSUER_NOT_AUTHORISED", "ISSUER_UNKNOWN", "MALFORMED", "RECORD_KEY_MISMATCH", "REPLAYED"], (
        refusals)
    assert len(single["issuers"]) == 2 and single["parked"]
    for table in TABLES:
        assert parallel[table] == single[table], "%s differ between one ingest process and two" % table
    assert (two.records, two.attestations, two.rejections, two.parked, two.issuers) == (
        one.records, one.attestations, one.rejections, one.parked, one.issuers)
    assert not list(tmp_path.glob("*.partial*")), "a rebuild left its partial store behind"


def test_partitions_are_dealt_into_disjoint_shares_none_empty() -> None:
    assert shares(list(range(6)), 2) == [frozenset({0, 2, 4}), frozenset({1, 3, 5})]
    assert shares(list(range(6)), 4) == [frozenset({0, 4}), frozenset({1, 5}), frozenset({2}), frozenset({3})]
    assert shares([0, 1], 5) == [frozenset({0}), frozenset({1})]


def test_a_rebuild_with_no_process_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="processes: expected a whole number from 1 to 64, found 0"):
        rebuild(KafkaSettings("127.0.0.1:1", Topics()), store_path=tmp_path / "x.db", roots=ROOTS, overwrite=False,
                publish_dead_letters=False, processes=0)
    assert not list(tmp_path.iterdir())
