"""Kafka topic names (contract) and how they are created."""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

ATTESTATIONS = "credverify.attestations.v1"
TRUST_LIST = "credverify.trust-list.v1"
REJECTED = "credverify.rejected.v1"
VERIFIED_MOVES = "credverify.verified-moves.v1"
FLOW_STATISTICS = "credverify.flow-statistics.v1"

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

    def layout(self) -> dict[str, dict[str, object]]:
        """Return each topic with its partitions and config: compacted where the latest per key matters."""
        compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
        return {
            self.attestations: {"partitions": 6, "config": compacted},
            self.trust_list: {"partitions": 1, "config": compacted},
            self.rejected: {"partitions": 3, "config": {"retention.ms": str(30 * 24 * 3600 * 1000)}},
            self.verified_moves: {"partitions": 3, "config": {"retention.ms": "-1"}},
            self.flow_statistics: {"partitions": 3, "config": compacted},
        }
