"""The portal's only reader of Kafka: ``credverify.flow-statistics.v1``, followed in a background thread.

The topic is compacted and keyed by statistic, so the latest record per key is the current value.
One consumer (no group: the portal keeps nothing) reads it from the beginning and then follows it;
the pages are served from an immutable snapshot that is rebuilt at most every ``refresh`` seconds
when something new arrived, so a request never waits for Kafka.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from kafka import KafkaConsumer, TopicPartition

from credverify.core.adapters.kafka import new_consumer
from credverify.core.settings import KafkaSettings
from credverify.portal.model import Statistics
from credverify.portal.source import Snapshot
from credverify.v1 import moves_pb2

logger = logging.getLogger(__name__)

CLIENT_ID = "credverify-flows-portal"
POLL_MS = 500
RETRY_AFTER_S = 5.0  # after the broker failed us, before trying again


class KafkaStatisticsFeed:
    """Follows the statistics topic; ``current()`` returns the latest snapshot without I/O."""

    def __init__(self, kafka: KafkaSettings, topic: str, *, refresh: float) -> None:
        self.kafka, self.topic, self.refresh = kafka, topic, refresh
        self._latest: dict[str, moves_pb2.FlowStatistic] = {}
        self._snapshot = Snapshot(Statistics(()), None, ready=False, problem="not read yet")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="portal-feed", daemon=True)

    def current(self) -> Snapshot:
        return self._snapshot

    def start(self) -> KafkaStatisticsFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception as exc:  # noqa: BLE001 - the pages keep serving the last snapshot; we retry
                logger.warning("reading %s failed, retrying in %.0f s: %s", self.topic, RETRY_AFTER_S, exc)
                self._publish(ready=self._snapshot.ready, problem="the statistics topic cannot be read: %s"
                              % type(exc).__name__)
                self._stop.wait(RETRY_AFTER_S)

    def _follow(self) -> None:
        consumer = new_consumer(self.kafka, CLIENT_ID, self.topic)
        try:
            ends: dict[TopicPartition, int] | None = None
            changed, built_at = True, 0.0
            while not self._stop.is_set():
                changed = self._read(consumer) or changed
                if ends is None and consumer.assignment():
                    ends = consumer.end_offsets(list(consumer.assignment()))
                if ends is None:
                    self._waiting()
                elif self._due(consumer, ends, changed, built_at):
                    self._publish(ready=True, problem="")
                    changed, built_at = False, time.monotonic()
        finally:
            consumer.close()

    def _read(self, consumer: KafkaConsumer) -> bool:
        """Poll once; return whether anything arrived."""
        arrived = False
        for batch in consumer.poll(timeout_ms=POLL_MS).values():
            for record in batch:
                self._latest[record.key.decode()] = moves_pb2.FlowStatistic.FromString(record.value)
                arrived = True
        return arrived

    def _due(self, consumer: KafkaConsumer, ends: dict[TopicPartition, int], changed: bool, built_at: float) -> bool:
        """A new snapshot is due: the first once the topic is read to its end at start, later ones when
        something changed and ``refresh`` seconds passed."""
        if not _caught_up(consumer, ends):
            return False
        return not self._snapshot.ready or (changed and time.monotonic() - built_at >= self.refresh)

    def _waiting(self) -> None:
        waiting = "the statistics topic %s has no partitions yet" % self.topic
        if not self._snapshot.ready and self._snapshot.problem != waiting:
            self._publish(ready=False, problem=waiting)

    def _publish(self, *, ready: bool, problem: str) -> None:
        statistics = Statistics(list(self._latest.values())) if ready else self._snapshot.statistics
        self._snapshot = Snapshot(statistics, dt.datetime.now(dt.UTC), ready=ready, problem=problem,
                                  generation=self._snapshot.generation + 1)
        if ready:
            logger.info("portal serves %d statistics of %d months", len(statistics), len(statistics.periods))


def _caught_up(consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    return all(consumer.position(tp) >= end for tp, end in ends.items())
