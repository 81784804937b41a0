"""Counting one moves partition: de-duplication, windows closed by offset, replay after a crash."""

from __future__ import annotations

import datetime as dt

from credverify.core.timefmt import to_date
from credverify.flowstats.counting import Outcome, PartitionCounter
from credverify.flowstats.tables import MoveCell, facts_of
from credverify.v1 import moves_pb2

GRACE = dt.timedelta(days=7)
UTC = dt.UTC


def facts(n: int, day: dt.date, isco: str = "2221"):  # type: ignore[no-untyped-def]
    return facts_of(moves_pb2.VerifiedMove(move_id="m%d" % n, origin_country="KE", destination_country="GB",
                                           profession_isco=isco, registered_on=to_date(day)))


def test_the_same_move_counts_once_however_often_it_arrives() -> None:
    counter = PartitionCounter(0, GRACE)
    assert counter.count(facts(1, dt.date(2026, 10, 3)), 0) is Outcome.COUNTED
    assert counter.count(facts(1, dt.date(2026, 10, 3)), 1) is Outcome.DUPLICATE
    assert counter.count(facts(1, dt.date(2026, 11, 3)), 2) is Outcome.DUPLICATE  # registered again later
    assert counter.part("2026-10", final=False).counted == 1
    assert "2026-11" not in counter.periods()


def test_a_window_closes_at_the_offset_its_clock_entry_recorded() -> None:
    counter = PartitionCounter(0, GRACE)
    counter.count(facts(1, dt.date(2026, 10, 3)), 0)
    entry = counter.tick(dt.datetime(2026, 11, 8, 0, 1, tzinfo=UTC), end_offset=5)
    assert entry is not None and entry.end_offset == 5
    # Written before the close (offset 3 < 5) but read after it: counts.
    assert counter.count(facts(2, dt.date(2026, 10, 9)), 3) is Outcome.COUNTED
    # Written after the close: late, not counted, but remembered as seen.
    assert counter.count(facts(3, dt.date(2026, 10, 9)), 5) is Outcome.LATE
    assert counter.count(facts(3, dt.date(2026, 10, 9)), 6) is Outcome.DUPLICATE
    assert counter.count(facts(4, dt.date(2026, 11, 9)), 7) is Outcome.COUNTED  # November is still open
    assert counter.part("2026-10", final=True).counted == 2
    assert counter.part("2026-10", final=True).late == 1
    assert counter.closed_periods() == ["2026-10"]
    assert counter.tick(dt.datetime(2026, 11, 20, tzinfo=UTC), end_offset=9) is None  # closes nothing new


def test_a_month_is_complete_only_once_every_record_before_its_close_was_read() -> None:
    counter = PartitionCounter(0, GRACE)
    counter.tick(dt.datetime(2026, 11, 8, 1, tzinfo=UTC), end_offset=4)
    counter.count(facts(1, dt.date(2026, 10, 3)), 2)
    assert counter.closed_periods() == [] and counter.clock_message() is None
    counter.skip(3)  # a foreign record at offset 3
    assert counter.closed_periods() == ["2026-10"]
    clock = counter.clock_message()
    assert clock is not None and list(clock.periods) == ["2026-10"]


def test_state_entries_rebuild_the_same_counts_and_decisions_after_a_crash() -> None:
    live = PartitionCounter(0, GRACE)
    entries: list[moves_pb2.CountedBatch | moves_pb2.WindowClock] = []
    for n in range(10):
        live.count(facts(n, dt.date(2026, 10, 1 + n)), n)
    batch = live.take_pending()
    assert batch is not None
    entries.append(batch)
    clock = live.tick(dt.datetime(2026, 11, 8, 1, tzinfo=UTC), end_offset=12)
    assert clock is not None
    entries.append(clock)
    for n in range(10, 14):
        live.count(facts(n, dt.date(2026, 10, 20), isco="2222"), n)
    late_batch = live.take_pending()
    assert late_batch is not None
    entries.append(late_batch)

    restored = PartitionCounter(0, GRACE)
    for entry in entries:
        if isinstance(entry, moves_pb2.CountedBatch):
            restored.restore_batch(entry)
        else:
            restored.restore_clock(entry)
    # The same entry written twice (by a worker that lost the partition) changes nothing.
    restored.restore_batch(batch)
    assert restored.cells == live.cells
    assert restored.late == live.late == {"2026-10": 2}
    assert restored.cells["2026-10"][MoveCell("KE", "GB", "midwives", False)] == 2
    # Replaying records after the restart: all duplicates, nothing moves.
    restored.next_offset = 10
    for n in range(10, 14):
        assert restored.count(facts(n, dt.date(2026, 10, 20), isco="2222"), n) is Outcome.DUPLICATE
    assert restored.take_pending() is None
