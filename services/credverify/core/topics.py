"""Kafka topic names (contract) and how they are created."""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

from credverify.core.errors import ConfigurationError

ATTESTATIONS = "credverify.attestations.v1"
TRUST_LIST = "credverify.trust-list.v1"
REJECTED = "credverify.rejected.v1"
VERIFIED_MOVES = "credverify.verified-moves.v1"
FLOW_STATISTICS = "credverify.flow-statistics.v1"
# One topic per admitted issuer, named by its issuer id: the only topic its principal may write.
SUBMISSIONS_PREFIX = "credverify.submissions.v1."

# Record headers every publisher sets.
HEADER_PAYLOAD_TYPE = "payload-type"
HEADER_SCHEMA_VERSION = "schema-version"
SCHEMA_VERSION = b"1"


@dataclass(frozen=True)
class Replication:
    """How the topics a deployment creates are replicated: ``factor`` copies of each partition, a write
    confirmed once ``min_insync`` of them hold it. None leaves it to the cluster's own defaults
    (``default.replication.factor``, ``min.insync.replicas``), which is what a single broker needs.
    Raises ConfigurationError for settings no cluster could meet."""

    factor: int | None = None
    min_insync: int | None = None

    def __post_init__(self) -> None:
        if self.factor is not None and self.factor < 1:
            raise ConfigurationError("replication factor: expected at least 1, found %d" % self.factor)
        if self.min_insync is not None and self.min_insync < 1:
            raise ConfigurationError("min.insync.replicas: expected at least 1, found %d" % self.min_insync)
        if self.factor is not None and self.min_insync is not None and self.min_insync > self.factor:
            raise ConfigurationError("min.insync.replicas %d is above the replication factor %d: no write could "
                                     "ever be confirmed" % (self.min_insync, self.factor))

    def check_brokers(self, brokers: int, bootstrap: str) -> None:
        """Raise ConfigurationError when the cluster's ``brokers`` cannot hold ``factor`` copies: Kafka
        would refuse every topic, and waiting for brokers that never come helps nobody."""
        if self.factor is not None and self.factor > brokers:
            raise ConfigurationError("replication factor %d needs %d brokers, the cluster at %s has %d: lower "
                                     "the replication factor or add brokers" % (self.factor, self.factor,
                                                                                bootstrap, brokers))

    @property
    def topic_factor(self) -> int:
        """The replication factor to ask for when creating a topic (-1: the cluster's default)."""
        return -1 if self.factor is None else self.factor

    def topic_config(self) -> dict[str, str]:
        """Topic settings that override the cluster's (empty when the cluster decides)."""
        return {} if self.min_insync is None else {"min.insync.replicas": str(self.min_insync)}


class _PrefixedTopic:
    """A topic of the contract, read on a Topics as its name under that deployment's prefix."""

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, topics: None, owner: type[Topics]) -> _PrefixedTopic: ...
    @overload
    def __get__(self, topics: Topics, owner: type[Topics]) -> str: ...
    def __get__(self, topics: Topics | None, owner: type[Topics]) -> str | _PrefixedTopic:
        return self if topics is None else topics.prefix + self.name


@dataclass(frozen=True)
class Topics:
    """The topic names one deployment uses; ``prefix`` lets tests and tenants share a cluster."""

    prefix: str = ""

    attestations = _PrefixedTopic(ATTESTATIONS)
    trust_list = _PrefixedTopic(TRUST_LIST)
    rejected = _PrefixedTopic(REJECTED)
    verified_moves = _PrefixedTopic(VERIFIED_MOVES)
    flow_statistics = _PrefixedTopic(FLOW_STATISTICS)

    @property
    def submissions_prefix(self) -> str:
        return self.prefix + SUBMISSIONS_PREFIX

    def submissions(self, issuer_id: str) -> str:
        """The topic ``issuer_id`` submits its signed attestations to, for the hub's admission."""
        return self.submissions_prefix + issuer_id

    def issuer_of_submissions(self, topic: str) -> str | None:
        """Inverse of ``submissions``: the issuer id, or None for a topic of another kind."""
        return topic[len(self.submissions_prefix):] or None if topic.startswith(self.submissions_prefix) else None

    @staticmethod
    def submissions_spec() -> dict[str, object]:
        """Partitions and config of an issuer's submission topic: time-stamped by the hub on arrival
        (the witnessed time a stolen key cannot backdate), kept long enough to outlast an admission outage."""
        return {"partitions": 3, "config": {"message.timestamp.type": "LogAppendTime",
                                            "retention.ms": str(30 * 24 * 3600 * 1000)}}

    def layout(self) -> dict[str, dict[str, object]]:
        """Return each topic with its partitions and config: compacted where the latest per key matters.
        The attestations topic is time-stamped by the hub (LogAppendTime): registries bound what a key
        reported compromised could sign by that clock, whatever ``issued_at`` says."""
        compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return {
            self.attestations: {"partitions": 6, "config": {**compacted, "message.timestamp.type": "LogAppendTime"}},
            self.trust_list: {"partitions": 1, "config": compacted},
            self.rejected: {"partitions": 3, "config": {"retention.ms": str(30 * 24 * 3600 * 1000)}},
            self.verified_moves: {"partitions": 3, "config": {"retention.ms": "-1"}},
            self.flow_statistics: {"partitions": 3, "config": compacted},
        }
