"""The admission loop on Kafka: discover the councils' submission topics, poll, admit, commit.

Every submission topic is read whole by the one admission process, so partitions are assigned by hand
(no consumer group) and positions live in the admission index, committed with what they admitted.
Topics are discovered by listing the cluster's topics every DISCOVERY_INTERVAL_S: a council
provisioned a moment ago is read within seconds, without waiting for the client's metadata refresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping

from kafka import KafkaConsumer, TopicPartition

from credverify.admission.adapters.sqlite_index import SqliteAdmissionIndex
from credverify.admission.domain import Submission
from credverify.admission.handlers import AdmissionCounts, admit
from credverify.admission.ports import Publisher
from credverify.core.adapters.kafka import new_consumer
from credverify.core.adapters.trust_reader import TrustFollower, read_trust_list
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys, TrustList

logger = logging.getLogger(__name__)

DISCOVERY_INTERVAL_S = 5.0
POLL_TIMEOUT_MS = 500
MAX_RECORDS_PER_BATCH = 1000
RETRY_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
# Reading the whole trust list again is cheap (one record per issuer) but not free: a council that
# floods its topic with records signed by unlisted keys gets at most one re-read per this interval.
MIN_CATCH_UP_INTERVAL_S = 1.0
# Kafka's record attribute for a time stamped by the broker on append.
LOG_APPEND_TIME = 1


def merged(held: TrustList, newer: TrustList) -> TrustList:
    """Return ``held`` with every issuer record of ``newer`` that has a higher version applied."""
    for verified in newer.issuers.values():
        held = held.applied(verified)
    return held


class KafkaTrustSource:
    """TrustSource following the trust-list topic, read to its end on demand."""

    def __init__(self, kafka: KafkaSettings, *, roots: RootKeys, follower: TrustFollower,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._kafka = kafka
        self._roots = roots
        self._follower = follower
        self._clock = clock
        self._read = TrustList()
        self._last_read = -MIN_CATCH_UP_INTERVAL_S

    def current(self) -> TrustList:
        self._read = merged(self._read, self._follower.trust)
        return self._read

    def caught_up(self) -> TrustList:
        if self._clock() - self._last_read >= MIN_CATCH_UP_INTERVAL_S:
            self._read = merged(self.current(), read_trust_list(self._kafka, roots=self._roots))
            self._last_read = self._clock()
        return self.current()


class SubmissionLog:
    """A consumer assigned every partition of every submission topic, each at the index's position."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._prefix = kafka.topics.submissions_prefix
        self._consumer: KafkaConsumer = new_consumer(kafka, "credverify-admission")
        self._assigned: set[TopicPartition] = set()
        self._discovered_at = -DISCOVERY_INTERVAL_S

    def discover(self, next_offsets: Callable[[], Mapping[tuple[str, int], int]], *, force: bool = False) -> None:
        """Every DISCOVERY_INTERVAL_S (or now, with ``force``), list the submission topics and assign
        their partitions, each at its position in ``next_offsets()`` or at its beginning."""
        if not force and time.monotonic() - self._discovered_at < DISCOVERY_INTERVAL_S:
            return
        self._discovered_at = time.monotonic()
        found = self._submission_partitions()
        if found == self._assigned:
            return
        new = sorted({tp.topic for tp in found - self._assigned})
        if new:
            logger.info("reading submission topic(s) %s", ", ".join(new))
        # Called between batches only: every assigned partition is at the index's position.
        positions = next_offsets()
        self._consumer.assign(sorted(found))
        for tp in found:
            if (tp.topic, tp.partition) in positions:
                self._consumer.seek(tp, positions[(tp.topic, tp.partition)])
            else:
                self._consumer.seek_to_beginning(tp)
        self._assigned = found

    def _submission_partitions(self) -> set[TopicPartition]:
        """Every partition of every submission topic, from fresh cluster metadata."""
        topics = [topic for topic in self._consumer.topics() if topic.startswith(self._prefix)]
        return {TopicPartition(topic, p) for topic in topics for p in self._consumer.partitions_for_topic(topic) or ()}

    def poll(self) -> list[Submission]:
        if not self._assigned:
            time.sleep(POLL_TIMEOUT_MS / 1000)
            return []
        polled = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_RECORDS_PER_BATCH)
        return [Submission(topic=r.topic, partition=r.partition, offset=r.offset, key=r.key, value=r.value,
                           timestamp_ms=r.timestamp, hub_timestamped=r.timestamp_type == LOG_APPEND_TIME)
                for records in polled.values() for r in sorted(records, key=lambda r: r.offset)]

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class AdmissionLoop:
    """Poll -> admit -> commit until stopped; transient failures are retried with backoff from the
    last committed position. ``last_progress`` (monotonic) is when a poll last completed."""

    def __init__(self, kafka: KafkaSettings, *, index: SqliteAdmissionIndex, trust: KafkaTrustSource,
                 publisher: Publisher, counts: AdmissionCounts) -> None:
        self._kafka = kafka
        self._index = index
        self._trust = trust
        self._publisher = publisher
        self.counts = counts
        self.last_progress = 0.0
        self.failure: str | None = None

    def run(self, stop: threading.Event) -> None:
        """Return once ``stop`` is set, after the batch in hand is committed."""
        failures = 0
        while not stop.is_set():
            log: SubmissionLog | None = None
            try:
                log = SubmissionLog(self._kafka)
                log.discover(self._index.next_offsets, force=True)
                self._consume(log, stop)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the loop's boundary: log, back off, reopen, never commit past
                delay = RETRY_BACKOFF_S[min(failures, len(RETRY_BACKOFF_S) - 1)]
                failures += 1
                self.failure = "%s: %s" % (type(exc).__name__, exc)
                logger.exception("admission failed; reading again from the last commit in %.1f s", delay)
                stop.wait(delay)
            finally:
                if log is not None:
                    log.close()

    def _consume(self, log: SubmissionLog, stop: threading.Event) -> None:
        while not stop.is_set():
            log.discover(self._index.next_offsets)
            submissions = log.poll()
            if submissions:
                admit(submissions, topics=self._kafka.topics, trust=self._trust, index=self._index,
                      publisher=self._publisher, now=lambda: dt.datetime.now(dt.UTC), counts=self.counts,
                      pause=stop.wait)
            self.last_progress = time.monotonic()
            self.failure = None
