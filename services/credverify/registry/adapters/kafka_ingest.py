"""Consumes the trust list and the attestations into the store; refused records go to the DLQ.

Every registry replica materialises the whole of both compacted topics, so
partitions are assigned by hand (no consumer group) and positions live in the
registry's own database, committed with the state they produced.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from credverify.core.errors import reason_code
from credverify.core.kafka_io import ConfirmingProducer, OutgoingRecord
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_timestamp
from credverify.core.trust import RootKeys, TrustList
from credverify.registry.handlers import IncomingRecord, ingest, load_trust
from credverify.registry.ports import AttestationStore, IngestBatch
from credverify.v1 import registry_pb2

logger = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200
MAX_RECORDS_PER_BATCH = 2000
RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
# Health turns NOT_SERVING when the broker has not answered a poll for this long.
STALE_AFTER_S = 30.0


class KafkaIngestor:
    """The consume -> verify -> store loop, run on its own thread."""

    def __init__(self, settings: KafkaSettings, *, store: AttestationStore, roots: RootKeys,
                 dead_letters: ConfirmingProducer) -> None:
        self._settings = settings
        self._topics = settings.topics
        self._store = store
        self._roots = roots
        self._dead_letters = dead_letters
        self.trust: TrustList = load_trust(store, roots)
        self.last_poll_ok = 0.0
        self.caught_up = threading.Event()
        self.records_seen = 0
        self._trust_partitions: list[TopicPartition] = []
        self._attestation_partitions: list[TopicPartition] = []

    def healthy(self) -> bool:
        return time.monotonic() - self.last_poll_ok < STALE_AFTER_S

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; transient failures are retried with backoff."""
        failures = 0
        while not stop.is_set():
            consumer = None
            try:
                consumer = self._open_consumer(stop)
                if consumer is None:
                    continue
                failures = 0
                self._consume(consumer, stop)
            except Exception:  # noqa: BLE001 - a boundary: log, back off, reopen, never commit past
                delay = RETRY_BACKOFF_S[min(failures, len(RETRY_BACKOFF_S) - 1)]
                failures += 1
                logger.exception("ingest failed; reloading state and retrying in %.1f s", delay)
                self.trust = load_trust(self._store, self._roots)
                stop.wait(delay)
            finally:
                if consumer is not None:
                    consumer.close(autocommit=False)

    def _open_consumer(self, stop: threading.Event) -> KafkaConsumer | None:
        consumer = KafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id="credverify-registry",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        partitions: list[TopicPartition] = []
        for topic in (self._topics.trust_list, self._topics.attestations):
            ids = consumer.partitions_for_topic(topic)
            if not ids:
                logger.warning("topic %s does not exist yet; waiting", topic)
                consumer.close(autocommit=False)
                stop.wait(2.0)
                return None
            partitions += [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(partitions)
        stored = self._store.next_offsets()
        for tp in partitions:
            if (tp.topic, tp.partition) in stored:
                consumer.seek(tp, stored[(tp.topic, tp.partition)])
            else:
                consumer.seek_to_beginning(tp)
        self._trust_partitions = [tp for tp in partitions if tp.topic == self._topics.trust_list]
        self._attestation_partitions = [tp for tp in partitions if tp.topic != self._topics.trust_list]
        return consumer

    def _consume(self, consumer: KafkaConsumer, stop: threading.Event) -> None:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS_PER_BATCH)
            self.last_poll_ok = time.monotonic()
            records = [_incoming(r) for batch in polled.values() for r in batch]
            if any(r.topic != self._topics.trust_list for r in records):
                # An attestation may name an issuer whose record was published just before it:
                # read the trust list up to its current end before judging.
                records += self._catch_up_trust(consumer)
            if not records:
                if not self.caught_up.is_set() and self._at_end(consumer):
                    logger.info("caught up with %s and %s", self._topics.trust_list, self._topics.attestations)
                    self.caught_up.set()
                continue
            self.records_seen += len(records)
            batch = ingest(records, topics=self._topics, trust=self.trust, roots=self._roots, store=self._store)
            self._send_dead_letters(batch, records)
            self._store.commit(batch)

    def _catch_up_trust(self, consumer: KafkaConsumer) -> list[IncomingRecord]:
        ends = consumer.end_offsets(self._trust_partitions)
        behind = [tp for tp in self._trust_partitions if consumer.position(tp) < ends[tp]]
        if not behind:
            return []
        extra: list[IncomingRecord] = []
        consumer.pause(*self._attestation_partitions)
        try:
            while any(consumer.position(tp) < ends[tp] for tp in behind):
                polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                extra += [_incoming(r) for batch in polled.values() for r in batch]
        finally:
            consumer.resume(*self._attestation_partitions)
        return extra

    def _at_end(self, consumer: KafkaConsumer) -> bool:
        partitions = self._trust_partitions + self._attestation_partitions
        ends = consumer.end_offsets(partitions)
        return all(consumer.position(tp) >= ends[tp] for tp in partitions)

    def _send_dead_letters(self, batch: IngestBatch, records: list[IncomingRecord]) -> None:
        if not batch.rejections:
            return
        originals = {(r.topic, r.partition, r.offset): r for r in records}
        now = to_timestamp(dt.datetime.now(dt.UTC))
        outgoing = []
        for rejection in batch.rejections:
            original = originals[(rejection.topic, rejection.partition, rejection.offset)]
            logger.warning("rejected %s[%d]@%d: %s (%s)", rejection.topic, rejection.partition,
                           rejection.offset, reason_code(rejection.reason), rejection.detail)
            dead = registry_pb2.RejectedRecord(
                source_topic=rejection.topic, partition=rejection.partition, offset=rejection.offset,
                key=original.key or b"", value=original.value or b"", reason=rejection.reason,
                detail=rejection.detail, rejected_at=now,
            )
            outgoing.append(OutgoingRecord(self._topics.rejected, original.key, dead.SerializeToString()))
        failed = [d for d in self._dead_letters.publish(outgoing) if not d.confirmed]
        if failed:
            # Not committing: the batch is consumed again and its dead letters re-sent.
            raise KafkaError("%d dead letter(s) not confirmed: %s" % (len(failed), failed[0].error))


def _incoming(record: object) -> IncomingRecord:
    return IncomingRecord(
        topic=record.topic,  # type: ignore[attr-defined]
        partition=record.partition,  # type: ignore[attr-defined]
        offset=record.offset,  # type: ignore[attr-defined]
        key=record.key,  # type: ignore[attr-defined]
        value=record.value,  # type: ignore[attr-defined]
    )
