"""Whether ingest is stalled: the topics hold records the store has not committed, and ingest has
made no progress for a set time, on the whole or on one partition. Pure: the caller passes the lag,
a progress counter, each partition's committed and end offsets, and the clock.

A registry that keeps answering from a store that stopped moving is worse than one that says it is
not serving: a suspension abroad would never reach Verify, and nobody would know. The health loop
therefore turns NOT_SERVING when this says stalled, and a metric says why. One partition left
behind while the others move (issue 14: a client library that stopped fetching one of them) is a
stall too, though the progress counter keeps growing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# A partition, (topic, partition id), and its (committed, end) offsets.
PartitionKey = tuple[str, int]

# Long enough for a large trust change to be re-judged (progress is counted per page of it) and for
# a broker restart to be ridden out; short enough that a load balancer moves callers to another
# replica within minutes. `registry serve --stall-after` or $CREDVERIFY_REGISTRY_STALL_AFTER_S.
DEFAULT_STALL_AFTER_S = 120.0


@dataclass
class StallWatch:
    """Call ``observe`` from one thread (the health loop)."""

    stall_after_s: float = DEFAULT_STALL_AFTER_S
    _since: float | None = None  # when ingest last moved, or last had nothing to do
    _progress: int = -1
    lag: int = 0
    stalled_for_s: float = 0.0
    # Each partition's committed offset last seen, and since when it has not moved; when one last moved.
    _offsets: dict[PartitionKey, tuple[int, float]] = field(default_factory=dict)
    _last_move: float | None = None
    # The partition behind its end that has not moved the longest while others did (its committed and
    # end offsets, and for how long), or None.
    slowest: tuple[PartitionKey, int, int, float] | None = None

    def observe(self, *, lag: int, progress: int, now: float,
                partitions: Mapping[PartitionKey, tuple[int, int]] | None = None) -> bool:
        """Note the records not yet committed (``lag``), ingest's progress counter and, when known, each
        partition's (committed, end) offsets at ``now`` (monotonic seconds); return True when ingest is
        stalled."""
        if lag <= 0 or progress != self._progress or self._since is None:
            self._since = now
        self._progress = progress
        self.lag = max(lag, 0)
        whole = now - self._since if self.lag else 0.0
        self.slowest = self._observe_partitions(partitions or {}, now)
        self.stalled_for_s = max(whole, self.slowest[3] if self.slowest else 0.0)
        return self.stalled

    def _observe_partitions(self, partitions: Mapping[PartitionKey, tuple[int, int]], now: float
                            ) -> tuple[PartitionKey, int, int, float] | None:
        """Return the partition left behind longest while ingest committed on others within the last
        ``stall_after_s`` (a long re-judging of a trust change moves none: the progress counter covers it)."""
        self._note_moves(partitions, now)
        if self._last_move is None or now - self._last_move >= self.stall_after_s:
            return None
        slowest: tuple[PartitionKey, int, int, float] | None = None
        for key, (committed, end) in sorted(partitions.items()):
            still = now - self._offsets[key][1]
            if committed < end and (slowest is None or still > slowest[3]):
                slowest = (key, committed, end, still)
        return slowest

    def _note_moves(self, partitions: Mapping[PartitionKey, tuple[int, int]], now: float) -> None:
        for key, (committed, _end) in partitions.items():
            seen = self._offsets.get(key)
            if seen is None or seen[0] != committed:
                self._offsets[key] = (committed, now)
                if seen is not None:
                    self._last_move = now

    @property
    def stalled(self) -> bool:
        return self.stalled_for_s >= self.stall_after_s and (self.lag > 0 or self.slowest is not None)

    def describe(self) -> str:
        if self.slowest is not None and self.slowest[3] >= self.stall_after_s:
            (topic, partition), committed, end, still = self.slowest
            return "ingest stalled on %s[%d]: committed up to offset %d of %d, no progress there for %.0f s" % (
                topic, partition, committed, end, still)
        return "ingest stalled: %d record(s) not committed and no progress for %.0f s" % (
            self.lag, self.stalled_for_s)
