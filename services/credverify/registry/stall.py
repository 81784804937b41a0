"""Whether ingest is stalled: the topics hold records the store has not committed, and ingest has
made no progress for a set time. Pure: the caller passes the lag, a progress counter and the clock.

A registry that keeps answering from a store that stopped moving is worse than one that says it is
not serving: a suspension abroad would never reach Verify, and nobody would know. The health loop
therefore turns NOT_SERVING when this says stalled, and a metric says why.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def observe(self, *, lag: int, progress: int, now: float) -> bool:
        """Note the records not yet committed (``lag``) and ingest's progress counter at ``now``
        (monotonic seconds); return True when ingest is stalled."""
        if lag <= 0 or progress != self._progress or self._since is None:
            self._since = now
        self._progress = progress
        self.lag = max(lag, 0)
        self.stalled_for_s = now - self._since if self.lag else 0.0
        return self.stalled

    @property
    def stalled(self) -> bool:
        return self.lag > 0 and self.stalled_for_s >= self.stall_after_s

    def describe(self) -> str:
        return "ingest stalled: %d record(s) not committed and no progress for %.0f s" % (
            self.lag, self.stalled_for_s)
