"""Where the portal's statistics come from: a snapshot held in memory, replaced as new ones arrive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from credverify.portal.model import Statistics
from credverify.v1 import moves_pb2


@dataclass(frozen=True)
class Snapshot:
    """The statistics the pages are served from, and when they were read."""

    statistics: Statistics
    read_at: dt.datetime | None = None
    ready: bool = True  # the topic has been read to the end it had when the portal started
    problem: str = ""  # why it is not ready, for the health endpoint
    generation: int = 0  # changes with every new snapshot (the pages' cache key)


class StatisticsSource(Protocol):
    """The port the portal reads: the latest snapshot, at once and without I/O."""

    def current(self) -> Snapshot: ...


@dataclass
class FixedStatistics:
    """A source that never changes: for tests, benchmarks and files exported earlier."""

    statistics: Iterable[moves_pb2.FlowStatistic]
    read_at: dt.datetime | None = None
    _snapshot: Snapshot | None = field(default=None, init=False)

    def current(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = Snapshot(Statistics(self.statistics), self.read_at)
        return self._snapshot
