"""ConfirmingProducer against a real broker that goes away: a deadline shorter than the producer's own
delivery timeout reports each record unconfirmed instead of raising out of the publisher."""

from __future__ import annotations

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics

RECORDS = 5


def test_records_unanswered_within_a_short_deadline_are_reported_unconfirmed_not_raised(
    private_kafka, topics: Topics  # type: ignore[no-untyped-def]
) -> None:
    kafka = KafkaSettings(private_kafka.bootstrap, topics)
    ensure_topics(kafka, only=[topics.verified_moves])
    producer = ConfirmingProducer(kafka, client_id="producer-deadline-test")
    try:
        # The producer knows the topic's leader before the broker goes, so sending does not block on it.
        assert producer.publish_one(OutgoingRecord(topics.verified_moves, b"m/0", b"before")).confirmed
        private_kafka.stop()
        records = [OutgoingRecord(topics.verified_moves, b"m/%d" % n, b"while down") for n in range(1, RECORDS + 1)]
        deliveries = producer.publish(records, timeout_s=2)
        assert [d.record for d in deliveries] == records
        assert not any(d.confirmed for d in deliveries), "a record was reported confirmed by a stopped broker"
        assert all("no answer from the broker within 2.0 s" in (d.error or "") for d in deliveries), deliveries
    finally:
        producer.close(timeout_s=1)
