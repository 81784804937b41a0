"""Reading the trust list to its end in the middle of a batch leaves every attestation partition
readable (issue 14: on the three-broker cluster a registry stopped reading one partition for good).

The first poll of a registry on a cluster can return attestations of one partition before the trust
list's broker has answered; their issuer is then unknown and ingest reads the trust list to its end
before judging them. kafka-python 3.0 keeps the rest of a fetch it had begun returning aside while its
partition is paused, and gives it back only once no other fetch is being returned: one that came
back empty stays in that place for good, so pausing the attestation partitions there left one of them
unread while the others went on. Here the same sequence is played on one broker, with the
attestation partition first in the assignment so that its records come back before the trust list's.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from credverify.core.adapters.kafka import ensure_topics, new_consumer
from credverify.core.settings import KafkaSettings
from credverify.registry.adapters.kafka_ingest import catch_up_trust

pytestmark = pytest.mark.kafka

# More than one poll returns, fewer than one fetch of a partition holds (1 MiB at 100 bytes each).
ATTESTATION_RECORDS = 3000
FIRST_POLL = 100


def _publish(settings: KafkaSettings) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=20)
    try:
        for index in range(ATTESTATION_RECORDS):
            producer.send(settings.topics.attestations, key=b"cred-%05d" % index, value=b"x" * 100, partition=0)
        producer.send(settings.topics.trust_list, key=b"issuer", value=b"y" * 100, partition=0)
        producer.flush(timeout=30)
    finally:
        producer.close()


def _first_records(consumer: KafkaConsumer, partition: TopicPartition) -> int:
    """Poll until ``partition`` returns records; return how many (at most FIRST_POLL)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=500, max_records=FIRST_POLL)
        assert set(polled) <= {partition}, "the trust list came back before the attestations: no catch-up to test"
        if polled:
            return len(polled[partition])
    raise AssertionError("no attestation came back within 30 s")


def test_catching_up_with_the_trust_list_leaves_every_attestation_partition_read_to_its_end(
        kafka_settings: KafkaSettings) -> None:
    ensure_topics(kafka_settings, only=[kafka_settings.topics.attestations, kafka_settings.topics.trust_list])
    _publish(kafka_settings)
    attestations = TopicPartition(kafka_settings.topics.attestations, 0)
    trust = TopicPartition(kafka_settings.topics.trust_list, 0)
    consumer = new_consumer(kafka_settings, "test-catch-up")
    try:
        consumer.assign([attestations, trust])
        consumer.seek_to_beginning(attestations, trust)
        read = _first_records(consumer, attestations)

        caught_up = catch_up_trust(consumer, [trust])

        assert consumer.position(trust) == 1, "the trust list was not read to its end"
        read += sum(1 for r in caught_up if r.topic == attestations.topic)
        deadline = time.monotonic() + 30
        while consumer.position(attestations) < ATTESTATION_RECORDS and time.monotonic() < deadline:
            read += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        assert consumer.position(attestations) == ATTESTATION_RECORDS, (
            "ingest stopped reading the attestation partition at offset %d of %d after catching up with the "
            "trust list: a registry would answer NOT_FOUND for its credentials" % (
                consumer.position(attestations), ATTESTATION_RECORDS))
        assert read == ATTESTATION_RECORDS, "records returned twice or lost"
    finally:
        consumer.close(autocommit=False)
