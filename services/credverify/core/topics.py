"""Kafka topic names (contract) and how they are created."""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

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
