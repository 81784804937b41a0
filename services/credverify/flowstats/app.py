"""The Faust app: verified moves in, anonymised flow statistics out.

Moves are keyed by country pair (see registry.domain.move_record_key), so all
copies of a move and every cell it counts in live in one partition: the
de-duplication table and the count table are co-partitioned with the source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import faust

from credverify.core.settings import KafkaSettings
from credverify.flowstats.domain import cell_of, statistic
from credverify.v1 import moves_pb2

logger = logging.getLogger(__name__)

# Source and changelog topics must agree (Faust raises PartitionsMismatch otherwise).
PARTITIONS = 3


@dataclass(frozen=True)
class FlowSettings:
    kafka: KafkaSettings
    k: int
    data_dir: Path


def app_id(settings: FlowSettings) -> str:
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", settings.kafka.topics.prefix)
    return prefix + "credverify-flowstats"


def create_app(settings: FlowSettings) -> faust.App:
    """Return the Faust app with its tables and agent declared (nothing is started)."""
    topics = settings.kafka.topics
    app = faust.App(
        app_id(settings),
        broker="kafka://" + settings.kafka.bootstrap_servers.replace(",", ";kafka://"),
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=PARTITIONS,
        web_enabled=False,
        producer_acks=-1,
    )
    moves = app.topic(topics.verified_moves, key_serializer="raw", value_serializer="raw",
                      partitions=PARTITIONS)
    statistics = app.topic(topics.flow_statistics, key_serializer="raw", value_serializer="raw")
    seen = app.Table("moves-seen", default=bool, partitions=PARTITIONS)
    counts = app.Table("cell-counts", default=int, partitions=PARTITIONS)

    @app.agent(moves)
    async def count_moves(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for value in stream:
            try:
                move = moves_pb2.VerifiedMove.FromString(value)
            except Exception:  # noqa: BLE001 - a foreign record must not stop the worker
                logger.warning("skipping a record on %s that is not a VerifiedMove", topics.verified_moves)
                continue
            if not move.move_id or seen[move.move_id]:
                continue  # a re-registration or redelivery: counted once
            seen[move.move_id] = True
            cell = cell_of(move)
            counts[cell.key] += 1
            stat = statistic(cell, counts[cell.key], k=settings.k)
            await statistics.send(key=cell.key.encode(), value=stat.SerializeToString())
            yield None

    return app
