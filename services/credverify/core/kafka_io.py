"""The one place that configures Kafka clients for publishing and topic set-up.

Every publisher in credverify (issuer, federation, registry dead letters and
moves) goes through ``ConfirmingProducer``: acks from all in-sync replicas,
idempotence (a retried batch is never written twice), bounded delivery time,
and success reported only for records the broker confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from credverify.core.topics import HEADER_PAYLOAD_TYPE, HEADER_SCHEMA_VERSION, SCHEMA_VERSION, Topics

logger = logging.getLogger(__name__)

# Long enough to ride out a broker restart or a leader election, short enough
# that an operator learns within minutes that nothing is getting through.
DELIVERY_TIMEOUT_MS = 120_000
TOPIC_READY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    payload_type: str = ""


@dataclass(frozen=True)
class Delivery:
    record: OutgoingRecord
    partition: int | None
    offset: int | None
    error: str | None

    @property
    def confirmed(self) -> bool:
        return self.error is None


class ConfirmingProducer:
    """A KafkaProducer configured for no loss and no duplicates, reporting per-record delivery."""

    def __init__(self, bootstrap_servers: str, *, client_id: str, linger_ms: int = 5) -> None:
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
            linger_ms=linger_ms,
            compression_type=None,
        )

    def publish(self, records: Iterable[OutgoingRecord], *, timeout_s: float = DELIVERY_TIMEOUT_MS / 1000
                ) -> list[Delivery]:
        """Send ``records`` and wait for each to be confirmed or to fail; return one Delivery each."""
        pending: list[tuple[OutgoingRecord, Any, str | None]] = []
        for record in records:
            headers = [(HEADER_SCHEMA_VERSION, SCHEMA_VERSION)]
            if record.payload_type:
                headers.append((HEADER_PAYLOAD_TYPE, record.payload_type.encode()))
            try:
                future = self._producer.send(record.topic, key=record.key, value=record.value, headers=headers)
            except KafkaError as exc:
                pending.append((record, None, "%s: %s" % (type(exc).__name__, exc)))
                continue
            pending.append((record, future, None))
        self._producer.flush(timeout=timeout_s)
        deliveries = []
        for record, future, error in pending:
            if future is None:
                deliveries.append(Delivery(record, None, None, error))
                continue
            try:
                meta = future.get(timeout=timeout_s)
            except KafkaError as exc:
                deliveries.append(Delivery(record, None, None, "%s: %s" % (type(exc).__name__, exc)))
            else:
                deliveries.append(Delivery(record, meta.partition, meta.offset, None))
        return deliveries

    def publish_one(self, record: OutgoingRecord) -> Delivery:
        return self.publish([record])[0]

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)


def ensure_topics(bootstrap_servers: str, topics: Topics, only: Sequence[str] | None = None) -> None:
    """Create the deployment's topics that do not exist yet (with their partitions and
    compaction settings) and wait until each has a leader. Existing topics are left as they are."""
    wanted = {name: spec for name, spec in topics.layout().items() if only is None or name in only}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="credverify-admin")
    try:
        existing = set(admin.list_topics())
        missing = {
            name: {
                "num_partitions": spec["partitions"],
                "replication_factor": -1,  # the cluster's default.replication.factor
                "configs": spec["config"],
            }
            for name, spec in wanted.items()
            if name not in existing
        }
        if missing:
            logger.info("creating topics %s", ", ".join(sorted(missing)))
            admin.create_topics(missing, raise_errors=False)
        admin.wait_for_topics(list(wanted), timeout_ms=TOPIC_READY_TIMEOUT_MS)
    finally:
        admin.close()
