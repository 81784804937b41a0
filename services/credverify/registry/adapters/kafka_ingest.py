"""Consumes the trust list and the attestations into the store; refused records go to the DLQ.

Every registry replica materialises the whole of both compacted topics, so
partitions are assigned by hand (no consumer group) and positions live in the
registry's own database, committed with the state they produced.

The judging itself is credverify.registry.ingest; this adapter polls, spreads
the signature checks of a batch over threads (Ed25519 in pyca/cryptography
releases the GIL), publishes dead letters, and commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, new_consumer
from credverify.core.errors import reason_code
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import RootKeys, TrustList
from credverify.registry.dead_letters import dead_letter
from credverify.registry.ingest import (
    LIFTABLE_REASONS,
    IncomingRecord,
    Outcome,
    ToJudge,
    commit_batch,
    judge_records,
    judge_unjudged,
    load_trust,
    verify_each,
)
from credverify.registry.ports import AttestationStore, IngestBatch

logger = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200
MAX_RECORDS_PER_BATCH = 2000
RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
# Health turns NOT_SERVING when the loop has made no progress (a poll answered, a page of a
# trust change re-judged) for this long.
STALE_AFTER_S = 30.0
# A dead letter not confirmed is sent again this many times in all, waiting these many seconds in
# between, each attempt bounded: then its refusal is accounted for without it and ingest goes on.
DEAD_LETTER_ATTEMPTS = 3
DEAD_LETTER_BACKOFF_S = (1.0, 3.0)
DEAD_LETTER_TIMEOUT_S = 30.0
# Reading the trust list to its end in the middle of a batch polls the attestations too (they join
# the batch): at most this many, for at most this long, so a batch stays bounded when the trust list's
# broker is slow to answer.
CATCH_UP_MAX_RECORDS = 4 * MAX_RECORDS_PER_BATCH
CATCH_UP_TIMEOUT_S = 10.0
# Threads judging a batch's signatures, the ingest thread included: one per core.
VERIFY_THREADS = max(1, min(4, os.cpu_count() or 1))
# Fewer records than this are judged on the ingest thread alone: handing them over costs more.
PARALLEL_FROM = 64


@dataclass(frozen=True)
class Share:
    """What one ingestor reads: the trust list or not, and which partitions of the attestations topic
    (None: all). A rebuild over several processes gives each a disjoint share of the attestations."""

    trust_list: bool = True
    attestations: frozenset[int] | None = None

    def covers(self, tp: TopicPartition, topics: Topics) -> bool:
        if tp.topic == topics.trust_list:
            return self.trust_list
        return self.attestations is None or tp.partition in self.attestations


class KafkaIngestor:
    """The consume -> verify -> store loop, run on its own thread."""

    def __init__(self, settings: KafkaSettings, *, store: AttestationStore, roots: RootKeys,
                 dead_letters: ConfirmingProducer | None,
                 on_commit: Callable[[IngestBatch], None] | None = None,
                 verify_threads: int = VERIFY_THREADS, share: Share = Share()) -> None:
        """``dead_letters`` None records rejections in the store only (a rebuild: the registry that
        first refused them published them). ``share`` says which partitions to read (all by default)."""
        self._settings = settings
        self._share = share
        # Told of every committed batch, on this thread (WatchStatus updates, metrics): must not block.
        self._on_commit = on_commit
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
        self._verify_threads = max(1, verify_threads)
        self._pool: ThreadPoolExecutor | None = None
        self._until_end = False
        self._end_offsets: dict[TopicPartition, int] | None = None
        self.reached_end = False  # with until_end: every partition was consumed to its end offset
        self._unjudged_done = False
        self._stopping = threading.Event()
        # Grows with every committed batch and every page of re-judging: what the stall check
        # (credverify.registry.stall) watches while the topics hold records not yet committed.
        self.progress = 0

    def healthy(self) -> bool:
        return time.monotonic() - self.last_poll_ok < STALE_AFTER_S

    def run(self, stop: threading.Event, *, until_end: bool = False) -> None:
        """Consume until ``stop`` is set; transient failures are retried with backoff.

        With ``until_end``, return as soon as every partition has been consumed up to the end offset
        it had when consumption started (``credverify registry rebuild``)."""
        self._until_end = until_end
        self._stopping = stop
        with ThreadPoolExecutor(max(1, self._verify_threads - 1), thread_name_prefix="verify") as pool:
            self._pool = pool if self._verify_threads > 1 else None
            try:
                self._run(stop)
            finally:
                self._pool = None

    def _run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            consumer = None
            try:
                if not self._unjudged_done:
                    judged = judge_unjudged(self._store, trust=self.trust, verify=self._verify)
                    if judged:
                        logger.info("judged %d attestation(s) stored before verdicts were kept", judged)
                    self._unjudged_done = True
                consumer = self._open_consumer(stop)
                if consumer is None:
                    continue
                failures = 0
                if self._consume(consumer, stop):
                    return
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
        """Return a consumer assigned the partitions of both topics in this ingestor's share, each at
        the position the store holds (or its beginning); None, after a pause, while a topic does not
        exist yet."""
        consumer = new_consumer(self._settings, "credverify-registry")
        partitions = _partitions_of(consumer, (self._topics.trust_list, self._topics.attestations))
        if partitions is None:
            consumer.close(autocommit=False)
            stop.wait(2.0)
            return None
        partitions = [tp for tp in partitions if self._share.covers(tp, self._topics)]
        consumer.assign(partitions)
        _seek_stored(consumer, partitions, self._store.next_offsets())
        self._trust_partitions = [tp for tp in partitions if tp.topic == self._topics.trust_list]
        self._attestation_partitions = [tp for tp in partitions if tp.topic != self._topics.trust_list]
        if self._until_end and self._end_offsets is None:
            self._end_offsets = consumer.end_offsets(partitions)
        return consumer

    def _consume(self, consumer: KafkaConsumer, stop: threading.Event) -> bool:
        """Poll, judge, publish dead letters, commit, tell the listener; return True once ``until_end``
        is satisfied, False when ``stop`` was set."""
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS_PER_BATCH)
            self.last_poll_ok = time.monotonic()
            records = _incoming_all(polled)
            if not records:
                if self._idle(consumer):
                    return True
                continue
            batch, records = self._judge_batch(consumer, records)
            self._commit(batch, records)
            if self._end_reached(consumer):
                return True
        return False

    def _idle(self, consumer: KafkaConsumer) -> bool:
        """After an empty poll: return True once ``until_end`` is satisfied; note when both topics
        have been read to their end for the first time."""
        if self._end_reached(consumer):
            return True
        if not self.caught_up.is_set() and self._at_end(consumer):
            logger.info("caught up with %s and %s", self._topics.trust_list, self._topics.attestations)
            self.caught_up.set()
        return False

    def _judge_batch(self, consumer: KafkaConsumer, records: list[IncomingRecord]
                     ) -> tuple[IngestBatch, list[IncomingRecord]]:
        """Return the judged batch and the records it covers (``records``, and any issuer records
        read to catch up with the trust list)."""
        batch = self._judge(records)
        if any(r.reason in LIFTABLE_REASONS for r in batch.rejections):
            # An attestation may name an issuer whose record was published just before it: read
            # the trust list to its current end and judge the batch again, rather than send a dead
            # letter for a record the next issuer record would admit. (Parking would admit it
            # later anyway; this keeps the common race from reaching the dead-letter topic.)
            extra = catch_up_trust(consumer, self._trust_partitions)
            if extra:
                records = [*records, *extra]
                batch = self._judge(records)
        return batch, records

    def _judge(self, records: list[IncomingRecord]) -> IngestBatch:
        return judge_records(records, topics=self._topics, trust=self.trust, roots=self._roots,
                             store=self._store, verify=self._verify)

    def _commit(self, batch: IngestBatch, records: list[IncomingRecord]) -> None:
        """Publish the batch's dead letters, commit it, adopt its trust list, tell the listener."""
        self.records_seen += len(records)
        self._send_dead_letters(batch, records, self._stopping)
        commit_batch(batch, store=self._store, verify=self._verify)
        self.progress += 1
        if batch.trust is not None:
            self.trust = batch.trust  # readers see the new list only once what it decided is committed
        if self._on_commit is not None:
            self._on_commit(batch)

    def _verify(self, items: Sequence[ToJudge], trust: TrustList) -> list[Outcome]:
        """Judge ``items``, this thread taking one share and the pool the others."""
        self.last_poll_ok = time.monotonic()  # a long re-judging of a trust change is progress too
        self.progress += 1
        pool = self._pool
        if pool is None or len(items) < PARALLEL_FROM:
            return verify_each(items, trust)
        share = -(-len(items) // self._verify_threads)
        shares = [items[start:start + share] for start in range(0, len(items), share)]
        others = [pool.submit(verify_each, part, trust) for part in shares[1:]]
        outcomes = verify_each(shares[0], trust)
        for future in others:
            outcomes += future.result()
        return outcomes

    def _end_reached(self, consumer: KafkaConsumer) -> bool:
        ends = self._end_offsets
        self.reached_end = ends is not None and all(consumer.position(tp) >= end for tp, end in ends.items())
        return self.reached_end

    def _at_end(self, consumer: KafkaConsumer) -> bool:
        partitions = self._trust_partitions + self._attestation_partitions
        ends = consumer.end_offsets(partitions)
        return all(consumer.position(tp) >= ends[tp] for tp in partitions)

    def _send_dead_letters(self, batch: IngestBatch, records: list[IncomingRecord], stop: threading.Event) -> None:
        """Log every rejection and publish its dead letter, retrying those not confirmed a bounded
        number of times. A dead letter still unconfirmed after that is not waited for: its rejection
        keeps the error (stored and counted with the batch's offsets) and ingest goes on, because
        holding the batch back would stop every later record on every partition."""
        if not batch.rejections:
            return
        originals = {(r.topic, r.partition, r.offset): r for r in records}
        now = to_timestamp(dt.datetime.now(dt.UTC))
        pending: dict[int, OutgoingRecord] = {}
        for index, rejection in enumerate(batch.rejections):
            original = originals[(rejection.topic, rejection.partition, rejection.offset)]
            # The detail names fields and keys, never their values (it may quote the record key).
            logger.warning("rejected %s[%d]@%d: %s (%s)", rejection.topic, rejection.partition,
                           rejection.offset, reason_code(rejection.reason), rejection.detail[:300])
            dead = dead_letter(rejection, key=original.key, value=original.value, rejected_at=now)
            pending[index] = OutgoingRecord(self._topics.rejected, dead.key or None, dead.SerializeToString())
        if self._dead_letters is None:
            return
        errors = self._publish_bounded(pending, stop)
        for index, error in errors.items():
            rejection = batch.rejections[index]
            logger.error("dead letter of %s[%d]@%d (%s) not published after %d attempts: %s; the refusal is "
                         "kept in the store and ingest goes on", rejection.topic, rejection.partition,
                         rejection.offset, reason_code(rejection.reason), DEAD_LETTER_ATTEMPTS, error)
            batch.rejections[index] = dataclasses.replace(rejection, dead_letter_error=error[:500])

    def _publish_bounded(self, pending: dict[int, OutgoingRecord], stop: threading.Event) -> dict[int, str]:
        """Publish ``pending`` (by rejection index) with up to DEAD_LETTER_ATTEMPTS attempts; return the
        last error of each still unconfirmed."""
        assert self._dead_letters is not None
        errors: dict[int, str] = {}
        for attempt in range(DEAD_LETTER_ATTEMPTS):
            if attempt:
                stop.wait(DEAD_LETTER_BACKOFF_S[min(attempt - 1, len(DEAD_LETTER_BACKOFF_S) - 1)])
            indexes = list(pending)
            deliveries = self._dead_letters.publish([pending[i] for i in indexes], timeout_s=DEAD_LETTER_TIMEOUT_S)
            errors = {i: d.error or "not confirmed" for i, d in zip(indexes, deliveries, strict=True)
                      if not d.confirmed}
            pending = {i: pending[i] for i in errors}
            if not pending:
                break
        return errors


def catch_up_trust(consumer: KafkaConsumer, trust_partitions: Sequence[TopicPartition], *,
                   max_records: int = CATCH_UP_MAX_RECORDS, timeout_s: float = CATCH_UP_TIMEOUT_S
                   ) -> list[IncomingRecord]:
    """Poll until each of ``trust_partitions`` is read to the end offset it has now; return every record
    polled meanwhile, attestations included (the caller judges them with the rest of its batch). Stops
    early, not caught up, after ``max_records`` records or ``timeout_s``: what a later issuer record
    lifts is parked and admitted when it arrives.

    No partition is paused: kafka-python 3.0 sets aside the rest of a fetch it had begun returning when
    its partition is paused, and gives it back only once no other fetch is being returned, which an
    empty one can prevent for good; that partition was then never fetched again (issue 14)."""
    if not trust_partitions:
        return []
    ends = consumer.end_offsets(list(trust_partitions))
    behind = [tp for tp in trust_partitions if consumer.position(tp) < ends[tp]]
    extra: list[IncomingRecord] = []
    deadline = time.monotonic() + timeout_s
    while (behind and len(extra) < max_records and time.monotonic() < deadline
           and any(consumer.position(tp) < ends[tp] for tp in behind)):
        extra += _incoming_all(consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS_PER_BATCH))
    return extra


def _partitions_of(consumer: KafkaConsumer, topics: Sequence[str]) -> list[TopicPartition] | None:
    """Return every partition of ``topics``, in order; None when one of them does not exist yet."""
    partitions: list[TopicPartition] = []
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            logger.warning("topic %s does not exist yet; waiting", topic)
            return None
        partitions += [TopicPartition(topic, p) for p in sorted(ids)]
    return partitions


def _seek_stored(consumer: KafkaConsumer, partitions: list[TopicPartition],
                 stored: Mapping[tuple[str, int], int]) -> None:
    """Position each partition at the next offset the store holds for it, or at its beginning."""
    for tp in partitions:
        if (tp.topic, tp.partition) in stored:
            consumer.seek(tp, stored[(tp.topic, tp.partition)])
        else:
            consumer.seek_to_beginning(tp)


def _incoming_all(polled: Mapping[TopicPartition, Sequence[ConsumerRecord]]) -> list[IncomingRecord]:
    return [_incoming(r) for batch in polled.values() for r in batch]


# ConsumerRecord.timestamp_type of a record time-stamped by the broker (LogAppendTime); 0 is
# CreateTime, set by the producer.
LOG_APPEND_TIME = 1


def _incoming(record: ConsumerRecord) -> IncomingRecord:
    return IncomingRecord(
        topic=record.topic, partition=record.partition, offset=record.offset, key=record.key, value=record.value,
        appended_at=appended_at(record),
    )


def appended_at(record: ConsumerRecord) -> dt.datetime | None:
    """The hub's append time of ``record``, or None when the producer set its timestamp."""
    if record.timestamp_type != LOG_APPEND_TIME or record.timestamp is None or record.timestamp < 0:
        return None
    return dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
