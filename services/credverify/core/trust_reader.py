"""Read the whole trust list from Kafka: for the federation operator's edits and an issuer's key choice.

A registry follows the trust list continuously in its ingest loop; these callers
only need the current records once, so they read the compacted topic from the
beginning to its end offsets and stop.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from credverify.core.errors import ConfigurationError, RecordRejected
from credverify.core.trust import RootKeys, TrustList, verify_issuer_record

logger = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0


def read_trust_list(bootstrap_servers: str, topic: str, *, roots: RootKeys,
                    timeout_s: float = READ_TIMEOUT_S) -> TrustList:
    """Return the trust list made of every root-signed record on ``topic`` (the newest version per issuer).

    Records that fail verification are logged and left out. Raises ConfigurationError when the
    broker cannot be read within ``timeout_s``.
    """
    trust = TrustList()
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, client_id="credverify-trust-reader",
                                 group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    except KafkaError as exc:
        raise ConfigurationError("cannot reach Kafka at %s: %s" % (bootstrap_servers, exc)) from exc
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            return trust  # no issuer registered yet
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise ConfigurationError("could not read %s to its end within %.0f s" % (topic, timeout_s))
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        trust.apply(verify_issuer_record(record.value or b"", roots=roots))
                    except RecordRejected as exc:
                        logger.warning("ignoring %s[%d]@%d: %s", topic, record.partition, record.offset, exc.detail)
    finally:
        consumer.close()
    return trust


class TrustFollower:
    """Follows the trust list in a background thread, keeping ``trust`` current (a service that
    needs the records continuously, e.g. an issuer choosing its signing key)."""

    def __init__(self, bootstrap_servers: str, topic: str, *, roots: RootKeys) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
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
            except KafkaError as exc:
                self.failure = "%s: %s" % (type(exc).__name__, exc)
                logger.warning("trust list follower: %s; retrying", self.failure)
                self._stop.wait(2.0)

    def _follow(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap, client_id="credverify-trust-follower",
                                 group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
        try:
            partitions: list[TopicPartition] = []
            while not partitions and not self._stop.is_set():
                found = consumer.partitions_for_topic(self._topic)
                if found:
                    partitions = [TopicPartition(self._topic, p) for p in sorted(found)]
                else:
                    self.caught_up.set()  # no topic yet: nothing to catch up with
                    self._stop.wait(1.0)
            if not partitions:
                return
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        try:
                            self.trust.apply(verify_issuer_record(record.value or b"", roots=self._roots))
                        except RecordRejected as exc:
                            logger.warning("ignoring %s[%d]@%d: %s", self._topic, record.partition,
                                           record.offset, exc.detail)
                if not self.caught_up.is_set() and all(consumer.position(tp) >= ends[tp] for tp in partitions):
                    self.caught_up.set()
                self.failure = None
        finally:
            consumer.close()
