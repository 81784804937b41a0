"""How far the registry's committed state is behind the ends of the topics it materialises."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from credverify.core.adapters.kafka import new_consumer
from credverify.core.settings import KafkaSettings

logger = logging.getLogger(__name__)


class ConsumerLag:
    """Records per topic between the offsets the store committed and the end of each partition.

    ``refresh`` asks the broker (a separate consumer that never fetches); call it from one thread.
    """

    def __init__(self, settings: KafkaSettings, committed: Callable[[], dict[tuple[str, int], int]]) -> None:
        self._settings = settings
        self._committed = committed
        self._consumer: KafkaConsumer | None = None
        self.by_topic: dict[str, int] = {}
        # (topic, partition) -> (committed offset, end offset), for the stall check of each partition.
        self.by_partition: dict[tuple[str, int], tuple[int, int]] = {}

    def refresh(self) -> None:
        """Update ``by_topic`` and ``by_partition``; leaves them as they were when the broker does not
        answer (logged at debug)."""
        try:
            if self._consumer is None:
                self._consumer = new_consumer(self._settings, "credverify-registry-lag", request_timeout_ms=15_000)
            topics = (self._settings.topics.trust_list, self._settings.topics.attestations)
            partitions = [TopicPartition(topic, p) for topic in topics
                          for p in sorted(self._consumer.partitions_for_topic(topic) or ())]
            if not partitions:
                return
            ends = self._consumer.end_offsets(partitions)
            starts = self._consumer.beginning_offsets(partitions)
            committed = self._committed()
            lag: dict[str, int] = dict.fromkeys(topics, 0)
            offsets: dict[tuple[str, int], tuple[int, int]] = {}
            for tp in partitions:
                position = max(committed.get((tp.topic, tp.partition), 0), starts[tp])
                lag[tp.topic] += max(ends[tp] - position, 0)
                offsets[(tp.topic, tp.partition)] = (position, ends[tp])
            self.by_topic, self.by_partition = lag, offsets
        except Exception:  # noqa: BLE001 - a metric: a broker that does not answer leaves the last value
            logger.debug("consumer lag not refreshed", exc_info=True)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
