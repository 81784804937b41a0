"""When a window is released: provisional while open and changed, final once every partition closed it."""

from __future__ import annotations

import datetime as dt

from credverify.core.timefmt import to_timestamp
from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy, is_complete, newer_part, provisional_due
from credverify.v1 import moves_pb2

UTC = dt.UTC
POLICY = ReleasePolicy(k=5, regions=load_m49(), grace=dt.timedelta(days=7),
                       provisional_interval=dt.timedelta(minutes=1), partitions=3)
CLOSES = dt.datetime(2026, 11, 8, tzinfo=UTC)  # October's window


def clock(partition: int, through: dt.datetime, *periods: str) -> moves_pb2.PartitionClock:
    return moves_pb2.PartitionClock(partition=partition, closed_through=to_timestamp(through), periods=list(periods))


def part(partition: int, *, final: bool, counted: int = 3) -> moves_pb2.WindowPart:
    return moves_pb2.WindowPart(period="2026-10", partition=partition, final=final, counted=counted)


def test_a_window_is_final_only_when_every_partition_closed_it_and_sent_its_counts() -> None:
    after = CLOSES + dt.timedelta(seconds=1)
    clocks = {0: clock(0, after, "2026-10"), 1: clock(1, after), 2: clock(2, CLOSES - dt.timedelta(seconds=1))}
    parts = {0: part(0, final=True)}
    assert not is_complete("2026-10", parts, clocks, POLICY), "partition 2 has not closed October yet"
    clocks[2] = clock(2, after, "2026-10")
    assert not is_complete("2026-10", parts, clocks, POLICY), "partition 2 has moves but sent no final part"
    parts[2] = part(2, final=True)
    assert is_complete("2026-10", parts, clocks, POLICY)


def test_a_final_part_is_never_replaced_and_counts_only_grow() -> None:
    assert newer_part(part(0, final=False, counted=3), part(0, final=False, counted=4))
    assert not newer_part(part(0, final=False, counted=4), part(0, final=False, counted=3))
    assert not newer_part(part(0, final=True, counted=4), part(0, final=False, counted=9))


def test_provisional_releases_come_while_open_changed_and_an_interval_apart() -> None:
    open_at = dt.datetime(2026, 10, 20, 12, tzinfo=UTC)
    fresh = moves_pb2.WindowReleases(period="2026-10")
    assert provisional_due("2026-10", fresh, 3, open_at, POLICY)
    released = moves_pb2.WindowReleases(period="2026-10", releases=1, counted=3,
                                        last_release_at=to_timestamp(open_at))
    assert not provisional_due("2026-10", released, 3, open_at + dt.timedelta(hours=1), POLICY), "nothing changed"
    assert not provisional_due("2026-10", released, 4, open_at + dt.timedelta(seconds=30), POLICY), "too soon"
    assert provisional_due("2026-10", released, 4, open_at + dt.timedelta(minutes=1), POLICY)
    assert not provisional_due("2026-10", released, 4, CLOSES, POLICY), "closed: only the final release"
