"""Counting moves in one partition of the moves topic: de-duplication, windows, late moves. Pure, no I/O.

Everything the counter knows is rebuilt from two kinds of state entries, both
written to the same changelogged table partition in the order they happen:

- ``CountedBatch``: the moves of a run of records that were new (not seen
  before), each with its window and whether it came late;
- ``WindowClock``: a close decision: at ``tick_time``, every month whose close
  time had passed closed at ``end_offset`` (the partition's end then).

Counts, the de-duplication set and late moves are all derived from those
entries, so they cannot drift apart; a move counts in its month exactly when
its offset is below the ``end_offset`` of the first clock entry at or after
the month's close time. A replay after a crash therefore reaches the same
decisions whatever the timing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from credverify.core.timefmt import from_timestamp, to_timestamp
from credverify.flowstats.tables import UNKNOWN, CountedMoveFacts, MoveCell
from credverify.flowstats.windows import close_time, last_closed_period
from credverify.v1 import moves_pb2


class Outcome(enum.Enum):
    COUNTED = "counted"
    DUPLICATE = "duplicate"  # the same move_id was seen before: redelivered or registered again
    LATE = "late"  # its window had closed before it arrived
    CAPPED = "capped"  # its person reached the bound of moves per window (differential privacy only)


@dataclass
class PartitionCounter:
    """What one moves partition has counted. Mutable; rebuilt from state entries after a restart."""

    partition: int
    grace: dt.timedelta
    # With differential privacy: each person counts with at most this many moves per window here.
    max_per_subject: int | None = None
    seen: set[str] = field(default_factory=set)
    per_subject: dict[str, Counter[bytes]] = field(default_factory=dict)
    cells: dict[str, Counter[MoveCell]] = field(default_factory=dict)
    late: Counter[str] = field(default_factory=Counter)
    clock_times: list[dt.datetime] = field(default_factory=list)
    clock_offsets: list[int] = field(default_factory=list)
    pending: list[moves_pb2.CountedMove] = field(default_factory=list)
    next_offset: int = 0  # every record below this offset has been counted (this run or before)
    # closing_offset of each period asked for since the clock last moved (every move asks)
    closings: dict[str, int | None] = field(default_factory=dict)

    # ---- rebuilding from state ----

    def restore_batch(self, batch: moves_pb2.CountedBatch) -> None:
        for move in batch.moves:
            # A worker that lost its partitions may have written the same moves as its
            # successor; the first entry for a move is the one that counts.
            if move.move_id not in self.seen:
                self._apply(move)

    def restore_clock(self, entry: moves_pb2.WindowClock) -> None:
        self._insert_clock(from_timestamp(entry.tick_time), entry.end_offset)

    # ---- counting ----

    def count(self, facts: CountedMoveFacts, offset: int) -> Outcome:
        """Count one move read at ``offset``; queue its state entry unless it is a duplicate."""
        self.next_offset = max(self.next_offset, offset + 1)
        if facts.move_id in self.seen:
            return Outcome.DUPLICATE
        closing = self.closing_offset(facts.period)
        late = closing is not None and offset >= closing
        cell = facts.cell
        move = moves_pb2.CountedMove(
            move_id=facts.move_id, period=facts.period, origin_country=cell.origin,
            destination_country=cell.destination, profession_group=cell.profession,
            returning=cell.returning, offset=offset, late=late, country_of_training=_stored(cell.training),
        )
        if self.max_per_subject is not None and facts.subject:
            # The digest is kept only to bound contributions, and only when the bound applies.
            move.subject = facts.subject
            move.capped = not late and self.per_subject.get(facts.period, Counter())[facts.subject] >= \
                self.max_per_subject
        self._apply(move)
        self.pending.append(move)
        return Outcome.LATE if late else Outcome.CAPPED if move.capped else Outcome.COUNTED

    def skip(self, offset: int) -> None:
        """Note a record that counts nothing (a foreign record) as read."""
        self.next_offset = max(self.next_offset, offset + 1)

    def take_pending(self) -> moves_pb2.CountedBatch | None:
        """Return the state entry for the moves counted since the last call, None when there are none."""
        if not self.pending:
            return None
        batch = moves_pb2.CountedBatch(partition=self.partition, moves=self.pending)
        self.pending = []
        return batch

    def _apply(self, move: moves_pb2.CountedMove) -> None:
        self.seen.add(move.move_id)
        if move.late:
            self.late[move.period] += 1
            return
        if move.capped:
            return
        if move.subject:
            self.per_subject.setdefault(move.period, Counter())[move.subject] += 1
        cell = MoveCell(move.origin_country, move.destination_country, move.profession_group, move.returning,
                        move.country_of_training or UNKNOWN)
        self.cells.setdefault(move.period, Counter())[cell] += 1

    # ---- windows ----

    def _insert_clock(self, moment: dt.datetime, end_offset: int) -> None:
        index = bisect.bisect_left(self.clock_times, moment)
        if index < len(self.clock_times) and self.clock_times[index] == moment:
            return
        self.clock_times.insert(index, moment)
        self.clock_offsets.insert(index, end_offset)
        self.closings.clear()

    def closing_offset(self, period: str) -> int | None:
        """Return the offset from which moves of ``period`` are late, None while its window is open."""
        if period in self.closings:
            return self.closings[period]
        index = bisect.bisect_left(self.clock_times, close_time(period, self.grace))
        found = self.clock_offsets[index] if index < len(self.clock_times) else None
        self.closings[period] = found
        return found

    def tick_due(self, now: dt.datetime) -> bool:
        """Return True when ``now`` closes a month that no clock entry has closed yet."""
        if not self.clock_times:
            return True
        if now <= self.clock_times[-1]:
            return False  # a clock that went backwards closes nothing new
        return last_closed_period(now, self.grace) > last_closed_period(self.clock_times[-1], self.grace)

    def tick(self, now: dt.datetime, end_offset: int) -> moves_pb2.WindowClock | None:
        """Return the clock entry to record at ``now`` when it closes a month not closed before, else None.

        ``end_offset`` is the partition's end offset observed now: moves below it count."""
        if not self.tick_due(now):
            return None
        end_offset = max(end_offset, self.clock_offsets[-1] if self.clock_offsets else 0)
        self._insert_clock(now, end_offset)
        return moves_pb2.WindowClock(partition=self.partition, tick_time=to_timestamp(now), end_offset=end_offset)

    def forget_subjects(self, period: str) -> None:
        """Drop the subject digests of a final window (see ``without_subjects``)."""
        self.per_subject.pop(period, None)

    def closed_through(self) -> dt.datetime | None:
        """Return the latest clock time whose decisions are complete here (all moves below its offset read)."""
        complete = [t for t, o in zip(self.clock_times, self.clock_offsets, strict=True) if o <= self.next_offset]
        return complete[-1] if complete else None

    def periods(self) -> list[str]:
        return sorted(set(self.cells) | set(self.late))

    def closed_periods(self) -> list[str]:
        """Return the periods with moves here whose window is closed and whose count is complete."""
        closed = []
        for period in self.periods():
            closing = self.closing_offset(period)
            if closing is not None and closing <= self.next_offset:
                closed.append(period)
        return closed

    def part(self, period: str, *, final: bool) -> moves_pb2.WindowPart:
        """Return the exact counts of ``period`` in this partition."""
        cells = self.cells.get(period, Counter())
        return moves_pb2.WindowPart(
            period=period,
            partition=self.partition,
            final=final,
            counted=sum(cells.values()),
            late=self.late.get(period, 0),
            cells=[
                moves_pb2.FlowCellCount(
                    origin_country=cell.origin, destination_country=cell.destination,
                    profession_group=cell.profession, returning=cell.returning, count=count,
                    country_of_training=_stored(cell.training),
                )
                for cell, count in sorted(cells.items())
            ],
        )

    def clock_message(self) -> moves_pb2.PartitionClock | None:
        """Return how far this partition has closed windows, None before its first complete clock entry."""
        through = self.closed_through()
        if through is None:
            return None
        return moves_pb2.PartitionClock(
            partition=self.partition,
            closed_through=to_timestamp(through),
            periods=[p for p in self.closed_periods() if close_time(p, self.grace) <= through],
        )


def without_subjects(batch: moves_pb2.CountedBatch, period: str) -> moves_pb2.CountedBatch | None:
    """Return ``batch`` with the subject digests of ``period``'s moves cleared, None when it holds none.

    Once a window is final no move counts in it any more (later ones are late), so the bound on each
    person's moves needs its digests no longer; the move ids that de-duplicate stay."""
    if not any(move.subject and move.period == period for move in batch.moves):
        return None
    stripped = moves_pb2.CountedBatch()
    stripped.CopyFrom(batch)
    for move in stripped.moves:
        if move.period == period:
            move.ClearField("subject")
    return stripped


def _stored(training: str) -> str:
    """Return the country of training as state keeps it: empty when not known (as before it was kept)."""
    return "" if training == UNKNOWN else training


def cells_of_part(parts: Iterable[moves_pb2.WindowPart]) -> Counter[MoveCell]:
    """Return the cell counts of a window summed over its parts."""
    total: Counter[MoveCell] = Counter()
    for part in parts:
        for cell in part.cells:
            key = MoveCell(cell.origin_country, cell.destination_country, cell.profession_group, cell.returning,
                           cell.country_of_training or UNKNOWN)
            total[key] += cell.count
    return total
