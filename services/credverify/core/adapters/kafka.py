"""The one place that builds Kafka clients: every producer, consumer and admin client of credverify.

``client_config`` holds what every client shares (bootstrap servers, client id, timeouts, and the
hub's security settings when they exist), so a change to how clients connect touches one function.
``ConfirmingProducer`` is the only publisher: acks from all in-sync replicas, idempotence (a retried
batch is never written twice), bounded delivery time, and success reported only for records the
broker confirmed. ``read_compacted_to_end`` reads a compacted topic once from the beginning to the
end offsets it found when it started. Kafka's own exceptions stop here: callers see HubUnavailable.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from credverify.core.errors import ConfigurationError, HubUnavailable
from credverify.core.publishing import Delivery, OutgoingRecord
from credverify.core.settings import KafkaSettings
from credverify.core.topics import HEADER_PAYLOAD_TYPE, HEADER_SCHEMA_VERSION, SCHEMA_VERSION

__all__ = [
    "ConfirmingProducer", "Delivery", "OutgoingRecord", "client_config", "ensure_submission_topic", "ensure_topics",
    "faust_broker_config", "new_admin",
    "new_consumer", "partitions_of", "read_compacted_to_end",
]

logger = logging.getLogger(__name__)

# Long enough to ride out a broker restart or a leader election, short enough
# that an operator learns within minutes that nothing is getting through.
DELIVERY_TIMEOUT_MS = 120_000
TOPIC_READY_TIMEOUT_MS = 30_000
# kafka-python's default (30 s) applies to every request; reads of a whole topic have their own deadline.
REQUEST_TIMEOUT_MS = 30_000
READ_TO_END_TIMEOUT_S = 60.0


def client_config(kafka: KafkaSettings, client_id: str) -> dict[str, Any]:
    """Return the settings every kafka-python client of credverify is built with: where the hub is,
    who this client is, and how it authenticates (KafkaSettings.security)."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": client_id,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "security_protocol": kafka.security.protocol,
    }
    security = kafka.security
    if security.uses_sasl:
        config.update(sasl_mechanism=security.sasl_mechanism, sasl_plain_username=security.username,
                      sasl_plain_password=security.password)
    if security.uses_tls:
        config.update(ssl_check_hostname=True, ssl_cafile=_path(security.ssl_cafile),
                      ssl_certfile=_path(security.ssl_certfile), ssl_keyfile=_path(security.ssl_keyfile))
    return config


def _path(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _unavailable(kafka: KafkaSettings, what: str, exc: Exception) -> HubUnavailable:
    return HubUnavailable("%s: Kafka at %s did not answer (%s: %s)" % (what, kafka.bootstrap_servers,
                                                                       type(exc).__name__, exc))


def new_consumer(kafka: KafkaSettings, client_id: str, *topics: str, **overrides: Any) -> KafkaConsumer:
    """Return a consumer outside any group (credverify assigns partitions itself and keeps offsets in
    its own stores), starting at the earliest offset unless ``overrides`` say otherwise.
    Raises HubUnavailable when no broker answers."""
    config = client_config(kafka, client_id)
    config.update(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    config.update(overrides)
    try:
        return KafkaConsumer(*topics, **config)
    except KafkaError as exc:
        raise _unavailable(kafka, "opening a consumer", exc) from exc


def new_admin(kafka: KafkaSettings, client_id: str = "credverify-admin") -> KafkaAdminClient:
    """Return an admin client. Raises HubUnavailable when no broker answers."""
    try:
        return KafkaAdminClient(**client_config(kafka, client_id))
    except KafkaError as exc:
        raise _unavailable(kafka, "opening an admin client", exc) from exc


def partitions_of(kafka: KafkaSettings, topic: str, *, client_id: str = "credverify-metadata") -> set[int]:
    """Return the partition ids of ``topic`` (empty when it does not exist). Raises HubUnavailable."""
    consumer = new_consumer(kafka, client_id)
    try:
        return set(consumer.partitions_for_topic(topic) or ())
    except KafkaError as exc:
        raise _unavailable(kafka, "reading the partitions of %s" % topic, exc) from exc
    finally:
        consumer.close(autocommit=False)


class ConfirmingProducer:
    """A KafkaProducer configured for no loss and no duplicates, reporting per-record delivery."""

    def __init__(self, kafka: KafkaSettings, *, client_id: str, linger_ms: int = 5) -> None:
        config = client_config(kafka, client_id)
        config.update(acks="all", enable_idempotence=True, delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
                      linger_ms=linger_ms, compression_type=None)
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError as exc:
            raise _unavailable(kafka, "opening a producer", exc) from exc

    def publish(self, records: Iterable[OutgoingRecord], *, timeout_s: float = DELIVERY_TIMEOUT_MS / 1000
                ) -> list[Delivery]:
        """Send ``records`` and wait up to about ``timeout_s`` for each to be confirmed or to fail; return
        one Delivery each, in order. A record still unanswered at the deadline is reported unconfirmed
        (the producer may yet deliver it, as any retry may): nothing raises for a slow or absent broker."""
        deadline = time.monotonic() + timeout_s
        pending: list[tuple[OutgoingRecord, Any, str | None]] = []
        for record in records:
            headers = [(HEADER_SCHEMA_VERSION, SCHEMA_VERSION)]
            if record.payload_type:
                headers.append((HEADER_PAYLOAD_TYPE, record.payload_type.encode()))
            try:
                future = self._producer.send(record.topic, key=record.key, value=record.value, headers=headers)
            except KafkaError as exc:
                pending.append((record, None, _error_text(exc)))
                continue
            pending.append((record, future, None))
        try:
            self._producer.flush(timeout=_left(deadline))
        except KafkaError as exc:
            # A deadline shorter than the producer's own delivery timeout ends here; each record is
            # then judged by its own future below, which may have been answered all the same.
            logger.warning("publishing %d records: not all answered within %.1f s (%s)", len(pending), timeout_s,
                           type(exc).__name__)
        return [_delivery_of(record, future, error, deadline, timeout_s)
                for record, future, error in pending]

    def publish_one(self, record: OutgoingRecord) -> Delivery:
        return self.publish([record])[0]

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the producer, giving records in flight up to ``timeout_s`` to be answered; those still
        unanswered then are dropped (``publish`` has already reported them unconfirmed). Never raises."""
        try:
            self._producer.close(timeout=timeout_s)
            return
        except KafkaError as exc:
            logger.warning("closing a producer: records still unanswered after %.1f s are dropped (%s)",
                           timeout_s, type(exc).__name__)
        # kafka-python's close flushes first and raises when that times out, before it reaches its own
        # force close: stop the sender here (failing what it still holds), then close with nothing left.
        sender = getattr(self._producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(timeout_s)
        try:
            self._producer.close(timeout=0)
        except KafkaError as exc:
            logger.warning("closing a producer: %s", _error_text(exc))


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _error_text(exc: Exception) -> str:
    return "%s: %s" % (type(exc).__name__, exc)


def _delivery_of(record: OutgoingRecord, future: Any, error: str | None, deadline: float, timeout_s: float
                 ) -> Delivery:
    """What became of ``record`` by ``deadline``: confirmed where the broker said so, else why not."""
    if future is None:
        return Delivery(record, None, None, error)
    try:
        meta = future.get(timeout=_left(deadline))
    except KafkaError as exc:
        if future.is_done:  # refused, or expired by the producer's own delivery timeout
            return Delivery(record, None, None, _error_text(exc))
        return Delivery(record, None, None, "%s: no answer from the broker within %.1f s (it may still store "
                        "the record)" % (type(exc).__name__, timeout_s))
    return Delivery(record, meta.partition, meta.offset, None)


# CreateTopics answers that say the request cannot work as asked (a replication factor above the
# brokers, a setting out of range): stop with the broker's reason instead of waiting for a leader.
_UNWORKABLE_TOPIC_ERRORS = {37: "invalid partitions", 38: "invalid replication factor",
                            39: "invalid replica assignment", 40: "invalid config"}


def _create_topics(admin: KafkaAdminClient, kafka: KafkaSettings, specs: dict[str, dict[str, object]]) -> None:
    """Create ``specs`` (name: partitions and config) with the deployment's replication. Raises
    ConfigurationError when the cluster cannot hold that replication or refuses a topic's settings; a
    topic that another client created meanwhile is fine."""
    replication = kafka.replication
    if replication.factor is not None:
        replication.check_brokers(len(admin.describe_cluster()["brokers"]), kafka.bootstrap_servers)
    logger.info("creating topics %s", ", ".join(sorted(specs)))
    result = admin.create_topics({
        name: {"num_partitions": spec["partitions"], "replication_factor": replication.topic_factor,
               "configs": {**spec["config"], **replication.topic_config()}}  # type: ignore[dict-item]
        for name, spec in specs.items()
    }, raise_errors=False)
    for topic in result.get("topics", ()):
        reason = _UNWORKABLE_TOPIC_ERRORS.get(topic.get("error_code", 0))
        if reason is not None:
            raise ConfigurationError("creating %s: the cluster at %s refused it (%s: %s)" % (
                topic.get("name"), kafka.bootstrap_servers, reason, topic.get("error_message")))


def ensure_topics(kafka: KafkaSettings, only: Sequence[str] | None = None) -> None:
    """Create the deployment's topics that do not exist yet (with their partitions, compaction settings
    and the deployment's replication, by default the cluster's) and wait until each has a leader.
    Existing topics are left as they are. Raises HubUnavailable when the broker does not answer,
    ConfigurationError when the cluster cannot hold the replication asked for."""
    wanted = {name: spec for name, spec in kafka.topics.layout().items() if only is None or name in only}
    admin = new_admin(kafka)
    try:
        existing = set(admin.list_topics())
        missing = {name: spec for name, spec in wanted.items() if name not in existing}
        if missing:
            _create_topics(admin, kafka, missing)
        admin.wait_for_topics(list(wanted), timeout_ms=TOPIC_READY_TIMEOUT_MS)
    except KafkaError as exc:
        raise _unavailable(kafka, "creating topics", exc) from exc
    finally:
        admin.close()


def ensure_submission_topic(kafka: KafkaSettings, issuer_id: str) -> str:
    """Create ``issuer_id``'s submission topic with its layout (``Topics.submissions_spec``: time-stamped by
    the hub) unless it exists, and wait for its leader; return its name. The operator's work when a
    council is admitted. Raises HubUnavailable, or ConfigurationError when the cluster cannot hold the
    replication asked for."""
    name = kafka.topics.submissions(issuer_id)
    admin = new_admin(kafka)
    try:
        if name not in set(admin.list_topics()):
            _create_topics(admin, kafka, {name: kafka.topics.submissions_spec()})
        admin.wait_for_topics([name], timeout_ms=TOPIC_READY_TIMEOUT_MS)
    except KafkaError as exc:
        raise _unavailable(kafka, "creating %s" % name, exc) from exc
    finally:
        admin.close()
    return name


def read_compacted_to_end(kafka: KafkaSettings, topic: str, on_record: Callable[[ConsumerRecord], None], *,
                          client_id: str, timeout_s: float = READ_TO_END_TIMEOUT_S) -> int:
    """Call ``on_record`` for every record of ``topic`` from the beginning to the end offsets found at
    the start, in offset order per partition; return how many were read (0 when the topic does not
    exist). Raises HubUnavailable when the broker cannot be read to that end within ``timeout_s``."""
    consumer = new_consumer(kafka, client_id)
    read = 0
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            return 0
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise HubUnavailable("could not read %s to its end within %.0f s" % (topic, timeout_s))
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.offset < ends[TopicPartition(topic, record.partition)]:
                        on_record(record)
                        read += 1
    except KafkaError as exc:
        raise _unavailable(kafka, "reading %s" % topic, exc) from exc
    finally:
        consumer.close(autocommit=False)
    return read


def faust_broker_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Return the broker settings of a Faust app (keyword arguments of ``faust.App``): the broker URL
    list and the hub's security settings (``broker_credentials``), so that Faust connects the way
    ``client_config`` makes every other client connect."""
    import faust  # only the flows worker needs Faust; every other client imports this module without it

    servers = [server.strip() for server in kafka.bootstrap_servers.split(",") if server.strip()]
    config: dict[str, Any] = {"broker": ";".join("kafka://" + server for server in servers)}
    security = kafka.security
    ssl_context = None
    if security.uses_tls:
        ssl_context = ssl.create_default_context(cafile=_path(security.ssl_cafile))
        if security.ssl_certfile is not None:
            ssl_context.load_cert_chain(str(security.ssl_certfile), _path(security.ssl_keyfile))
    if security.uses_sasl:
        config["broker_credentials"] = faust.SASLCredentials(
            username=security.username, password=security.password, ssl_context=ssl_context,
            mechanism=security.sasl_mechanism)
    elif ssl_context is not None:
        config["broker_credentials"] = faust.SSLCredentials(ssl_context)
    return config
