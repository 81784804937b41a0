"""Read a whole topic back, for tests that check exactly what reached the hub."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition


def end_offsets_total(bootstrap: str, topic: str) -> int:
    """Return how many records ``topic`` holds (the sum of its partitions' end offsets); 0 if it is missing."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            return 0
        partitions = [TopicPartition(topic, p) for p in found]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, *, timeout_s: float = 60.0) -> list[tuple[bytes, bytes]]:
    """Return every (key, value) on ``topic`` from the beginning to its current end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        found = consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise AssertionError("could not read %s to its end within %.0f s" % (topic, timeout_s))
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend((r.key or b"", r.value or b"") for r in batch)
        return records
    finally:
        consumer.close()
