"""Reading what the worker published: the statistics topic, from the beginning until it goes quiet."""

from __future__ import annotations

import time

from credverify.core.adapters.kafka import new_consumer
from credverify.core.settings import KafkaSettings
from credverify.v1 import moves_pb2

__all__ = ["read_all_statistics", "read_statistics"]

READER_CLIENT_ID = "credverify-flows-reader"


def read_statistics(kafka: KafkaSettings, topic: str, *, idle_timeout: float) -> dict[str, moves_pb2.FlowStatistic]:
    """Return the latest statistic per record key, reading the topic from the beginning until idle.
    Raises HubUnavailable when no broker answers."""
    latest: dict[str, moves_pb2.FlowStatistic] = {}
    for key, stat in read_all_statistics(kafka, topic, idle_timeout=idle_timeout):
        latest[key] = stat
    return latest


def read_all_statistics(kafka: KafkaSettings, topic: str, *, idle_timeout: float
                        ) -> list[tuple[str, moves_pb2.FlowStatistic]]:
    """Return every record on the statistics topic (key, statistic) in the order of release, reading
    until nothing arrived for ``idle_timeout`` seconds. Raises HubUnavailable when no broker answers."""
    consumer = new_consumer(kafka, READER_CLIENT_ID, topic)
    found: list[tuple[str, moves_pb2.FlowStatistic]] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_timeout:
            polled = consumer.poll(timeout_ms=200)
            for batch in polled.values():
                for record in batch:
                    found.append((record.key.decode(), moves_pb2.FlowStatistic.FromString(record.value)))
                    quiet_since = time.monotonic()
    finally:
        consumer.close()
    found.sort(key=lambda item: (item[1].released_at.seconds, item[1].released_at.nanos, item[1].release))
    return found
