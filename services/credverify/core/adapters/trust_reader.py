"""Read the whole trust list from Kafka: for the federation operator's edits and an issuer's key choice.

A registry follows the trust list continuously in its ingest loop; these callers
only need the current records once, so they read the compacted topic from the
beginning to its end offsets and stop.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from credverify.core.adapters.kafka import new_consumer, read_compacted_to_end
from credverify.core.errors import HubUnavailable, RecordRejected
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys, TrustList, verify_issuer_record

logger = logging.getLogger(__name__)


def read_trust_list(kafka: KafkaSettings, *, roots: RootKeys) -> TrustList:
    """Return the trust list made of every root-signed record on the trust-list topic (the newest
    version per issuer). Records that fail verification are logged and left out.
    Raises HubUnavailable when the broker cannot be read."""
    topic = kafka.topics.trust_list
    trust = TrustList()

    def apply(record: ConsumerRecord) -> None:
        nonlocal trust
        try:
            trust = trust.applied(verify_issuer_record(record.value or b"", roots=roots))
        except RecordRejected as exc:
            logger.warning("ignoring %s[%d]@%d: %s", topic, record.partition, record.offset, exc.detail)

    read_compacted_to_end(kafka, topic, apply, client_id="credverify-trust-reader")
    return trust


class TrustFollower:
    """Follows the trust list in a background thread, keeping ``trust`` current (a service that
    needs the records continuously, e.g. an issuer choosing its signing key). ``trust`` is replaced,
    never changed in place: a reader holds one list or the next."""

    def __init__(self, kafka: KafkaSettings, *, roots: RootKeys) -> None:
        self._kafka = kafka
        self._topic = kafka.topics.trust_list
        self._roots = roots
        self.trust = TrustList()
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trust-follower", daemon=True)
        self.failure: str | None = None

    def start(self) -> TrustFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except (KafkaError, HubUnavailable) as exc:
                self.failure = "%s: %s" % (type(exc).__name__, exc)
                logger.warning("trust list follower: %s; retrying", self.failure)
                self._stop.wait(2.0)

    def _apply(self, record: ConsumerRecord) -> None:
        try:
            self.trust = self.trust.applied(verify_issuer_record(record.value or b"", roots=self._roots))
        except RecordRejected as exc:
            logger.warning("ignoring %s[%d]@%d: %s", self._topic, record.partition, record.offset, exc.detail)

    def _follow(self) -> None:
        consumer = new_consumer(self._kafka, "credverify-trust-follower")
        try:
            partitions = self._await_partitions(consumer)
            if not partitions:
                return
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            while not self._stop.is_set():
                self._poll_once(consumer, ends)
        finally:
            consumer.close(autocommit=False)

    def _await_partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        """Return the topic's partitions once it exists; an empty list when stopped before."""
        while not self._stop.is_set():
            found = consumer.partitions_for_topic(self._topic)
            if found:
                return [TopicPartition(self._topic, p) for p in sorted(found)]
            self.caught_up.set()  # no topic yet: nothing to catch up with
            self._stop.wait(1.0)
        return []

    def _poll_once(self, consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        """Apply what one poll returns; note catching up once every partition reached ``ends``."""
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                self._apply(record)
        if not self.caught_up.is_set() and all(consumer.position(tp) >= end for tp, end in ends.items()):
            self.caught_up.set()
        self.failure = None
