"""Kafka topic names (contract) and how they are created."""

from __future__ import annotations

from dataclasses import dataclass

ATTESTATIONS = "credverify.attestations.v1"
TRUST_LIST = "credverify.trust-list.v1"
REJECTED = "credverify.rejected.v1"
VERIFIED_MOVES = "credverify.verified-moves.v1"
FLOW_STATISTICS = "credverify.flow-statistics.v1"

# Record headers every publisher sets.
HEADER_PAYLOAD_TYPE = "payload-type"
HEADER_SCHEMA_VERSION = "schema-version"
SCHEMA_VERSION = b"1"


@dataclass(frozen=True)
class Topics:
    """The topic names one deployment uses; ``prefix`` lets tests and tenants share a cluster."""

    prefix: str = ""

    @property
    def attestations(self) -> str:
        return self.prefix + ATTESTATIONS

    @property
    def trust_list(self) -> str:
        return self.prefix + TRUST_LIST

    @property
    def rejected(self) -> str:
        return self.prefix + REJECTED

    @property
    def verified_moves(self) -> str:
        return self.prefix + VERIFIED_MOVES

    @property
    def flow_statistics(self) -> str:
        return self.prefix + FLOW_STATISTICS

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
