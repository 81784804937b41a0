"""The worker's topics on the broker: the moves topic's layout checked, its internal topics created
before its consumer joins the group.

A consumer that joins with a topic that does not exist yet gets no partitions of it until its next
metadata refresh (``metadata.max.age.ms``, five minutes by default): on a fresh broker the first
worker then published nothing for minutes. Creating the internal topics first, and waiting until
each has a leader, avoids that."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kafka.errors import KafkaError

from credverify.core.adapters.kafka import TOPIC_READY_TIMEOUT_MS, new_admin, partitions_of
from credverify.core.errors import ConfigurationError, HubUnavailable
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Replication
from credverify.flowstats.adapters.faust_internals import InternalTopic

__all__ = ["check_partitions", "ensure_internal_topics", "replication_factor_for"]

logger = logging.getLogger(__name__)

CLIENT_ID = "credverify-flows"
# Copies of the worker's state when nobody says otherwise: one broker may be lost and writes go on
# (with min.insync.replicas 2), as for every topic of a cluster built by deploy/kafka.
STATE_COPIES = 3


@contextlib.contextmanager
def _admin(kafka: KafkaSettings, doing: str) -> Iterator[Any]:
    """An admin client of the worker, closed after use; a broker that does not answer while ``doing``
    is HubUnavailable."""
    admin = new_admin(kafka, CLIENT_ID)
    try:
        yield admin
    except KafkaError as exc:
        raise HubUnavailable("%s: Kafka at %s did not answer (%s: %s)"
                             % (doing, kafka.bootstrap_servers, type(exc).__name__, exc)) from exc
    finally:
        admin.close()


def default_replication(brokers: int) -> int:
    """Return the replication of the worker's state on a cluster of ``brokers``: STATE_COPIES, or one
    copy a broker on a smaller cluster (a single broker for development gets 1, as before)."""
    return max(1, min(STATE_COPIES, brokers))


def replication_factor_for(kafka: KafkaSettings, given: int | None) -> int:
    """Return the replication factor of the worker's internal topics: ``given`` when the deployment set
    one, checked against the cluster (ConfigurationError when it has fewer brokers), else
    ``default_replication`` of the cluster's brokers. Raises HubUnavailable when no broker answers."""
    with _admin(kafka, "counting the brokers") as admin:
        brokers = len(admin.describe_cluster()["brokers"])
    if given is None:
        return default_replication(brokers)
    Replication(factor=given).check_brokers(brokers, kafka.bootstrap_servers)
    return given


def check_partitions(kafka: KafkaSettings, topic: str, expected: int) -> None:
    """Raise ConfigurationError unless ``topic`` has ``expected`` partitions (the layout of the worker's
    state). Raises HubUnavailable when no broker answers."""
    found = partitions_of(kafka, topic, client_id=CLIENT_ID)
    if len(found) != expected:
        raise ConfigurationError("%s: expected %d partitions (the layout of the worker's state), found %d"
                                 % (topic, expected, len(found)))


def _partitions_once_visible(admin: Any, names: list[str]) -> dict[str, int]:
    """Return how many partitions each topic of ``names`` has, once every one shows some with a leader.

    A topic another worker is creating at this moment can be described with no partitions at all for a
    while (seen on a three-broker cluster), and kafka-python's ``wait_for_topics`` counts a topic without
    partitions as ready; a count taken then is no count."""
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT_MS / 1000
    while True:
        admin.wait_for_topics(names, timeout_ms=TOPIC_READY_TIMEOUT_MS)
        described = {found["name"]: len(found["partitions"]) for found in admin.describe_topics(names)}
        if all(described.get(name) for name in names) or time.monotonic() > deadline:
            return described
        time.sleep(0.2)


def ensure_internal_topics(kafka: KafkaSettings, topics: Sequence[InternalTopic], *, replication_factor: int
                           ) -> None:
    """Create those of ``topics`` that do not exist, with their partitions, cleanup settings and
    ``replication_factor``, and wait until every one has a leader. Raises ConfigurationError when one
    exists with other partitions (Faust would stop with PartitionsMismatch), HubUnavailable when the
    broker does not answer."""
    with _admin(kafka, "creating the worker's internal topics") as admin:
        existing = set(admin.list_topics())
        missing = {
            topic.name: {"num_partitions": topic.partitions, "replication_factor": replication_factor,
                         "configs": dict(topic.config)}
            for topic in topics if topic.name not in existing
        }
        if missing:
            logger.info("creating internal topics %s", ", ".join(sorted(missing)))
            # Without raising: another worker starting at the same time may have created one already.
            admin.create_topics(missing, raise_errors=False)
        described = _partitions_once_visible(admin, [topic.name for topic in topics])
    for topic in topics:
        if described.get(topic.name) != topic.partitions:
            raise ConfigurationError("%s: expected %d partitions (those of the moves topic), found %s"
                                     % (topic.name, topic.partitions, described.get(topic.name)))
