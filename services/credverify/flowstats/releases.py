"""Assembling a window from its partitions and deciding what to release. Pure, no I/O.

A window is released provisionally (at most once per interval, cells only,
small cells left out) while it is open, and finally (every statistic, with
primary and secondary suppression, or with differential-privacy noise) once
every partition of the moves topic has closed it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from credverify.core.timefmt import from_timestamp, to_timestamp
from credverify.flowstats import disclosure, privacy
from credverify.flowstats.counting import cells_of_part
from credverify.flowstats.regions import RegionClassification
from credverify.flowstats.tables import MOVES, SAFEGUARDS, TOTAL, MoveCell, StatKey, tabulate
from credverify.flowstats.windows import MONTH, close_time, format_duration
from credverify.v1 import moves_pb2


@dataclass(frozen=True)
class ReleasePolicy:
    k: int
    regions: RegionClassification
    grace: dt.timedelta
    provisional_interval: dt.timedelta
    partitions: int  # of the moves topic: a window is complete when all of them closed it
    privacy: privacy.PrivacyPolicy | None = None
    # Also publish flows by country of training (docs/flowstats.md: what it costs in suppression and time).
    by_training: bool = False
    window: str = MONTH  # month, quarter or year
    professions: str = "fine"  # profession groups: fine (six) or coarse (three)

    @property
    def method(self) -> str:
        return privacy.METHOD_DP if self.privacy else disclosure.METHOD_THRESHOLD


def is_complete(
    period: str,
    parts: Mapping[int, moves_pb2.WindowPart],
    clocks: Mapping[int, moves_pb2.PartitionClock],
    policy: ReleasePolicy,
) -> bool:
    """Return True when every partition has closed ``period`` and sent its final part if it has moves."""
    closes = close_time(period, policy.grace)
    for partition in range(policy.partitions):
        clock = clocks.get(partition)
        if clock is None or not clock.HasField("closed_through") or from_timestamp(clock.closed_through) < closes:
            return False
        part = parts.get(partition)
        if period in clock.periods and (part is None or not part.final):
            return False
    return True


def newer_part(current: moves_pb2.WindowPart | None, candidate: moves_pb2.WindowPart) -> bool:
    """Return True when ``candidate`` should replace ``current`` (a final part is never replaced)."""
    if current is None:
        return True
    if current.final:
        return False
    return candidate.final or candidate.counted >= current.counted


def provisional_due(
    period: str, state: moves_pb2.WindowReleases, counted: int, now: dt.datetime, policy: ReleasePolicy
) -> bool:
    """Return True when a provisional release should be made now: the month is still open, its
    counts changed, and the last release is at least an interval old."""
    if state.final or (state.releases and counted == state.counted):
        return False
    if now >= close_time(period, policy.grace):
        # Closed: the final release follows once every partition reports. A provisional one now
        # would only publish values that the final one must then protect around.
        return False
    if not state.releases:
        return True
    return now - from_timestamp(state.last_release_at) >= policy.provisional_interval


def build_release(
    period: str,
    parts: Mapping[int, moves_pb2.WindowPart],
    state: moves_pb2.WindowReleases,
    policy: ReleasePolicy,
    *,
    final: bool,
    now: dt.datetime,
) -> moves_pb2.WindowReleases | None:
    """Return the window's state with the next release as ``latest``, or None when none may be made
    (the privacy budget does not allow another provisional release). Raises RuntimeError when no
    suppression pattern protects the final table."""
    cells = cells_of_part(parts.values())
    number = state.releases + 1
    release = _Release(period, number, final, now, policy, {
        "release": str(number),
        "regions": policy.regions.label,
        "grace": format_duration(policy.grace),
        "closes_at": close_time(period, policy.grace).isoformat(),
        "origins": "issuing-country,country-of-training" if policy.by_training else "issuing-country",
        "window": policy.window,
        "professions": policy.professions,
    })
    if policy.regions.safeguards is not None:
        release.parameters["safeguards_list"] = policy.regions.safeguards.label
    next_state = moves_pb2.WindowReleases()
    next_state.CopyFrom(state)
    del next_state.latest[:]
    if policy.privacy is not None:
        statistics = _noisy_statistics(release, cells, state, policy.privacy, next_state)
        if statistics is None:
            return None
    else:
        statistics = _suppressed_statistics(release, cells, state, next_state)
    next_state.period = period
    next_state.releases = number
    next_state.final = final
    next_state.last_release_at.CopyFrom(to_timestamp(now))
    next_state.latest.extend(statistics)
    next_state.counted = sum(cells.values())
    return next_state


@dataclass(frozen=True)
class _Release:
    """What every statistic of one release shares."""

    period: str
    number: int
    final: bool
    now: dt.datetime
    policy: ReleasePolicy
    parameters: dict[str, str]

    def statistic(self, key: StatKey, value: int, *, suppressed: bool, noisy: bool) -> moves_pb2.FlowStatistic:
        return _statistic(key, value, suppressed=suppressed, noisy=noisy, policy=self.policy,
                          parameters=self.parameters, final=self.final, number=self.number, now=self.now)


def _noisy_statistics(
    release: _Release,
    cells: Mapping[MoveCell, int],
    state: moves_pb2.WindowReleases,
    policy: privacy.PrivacyPolicy,
    next_state: moves_pb2.WindowReleases,
) -> list[moves_pb2.FlowStatistic] | None:
    """Return the release's statistics with differential-privacy noise and record the budget it spends
    in ``next_state``'s ledger; None when the budget allows no further release of its kind."""
    ledger = privacy.Ledger(tuple(privacy.LedgerEntry(e.release, e.epsilon, e.final) for e in state.ledger))
    if not ledger.allows(policy, final=release.final):
        return None
    k = release.policy.k
    noisy = privacy.noisy_release(release.period, cells, regions=release.policy.regions, policy=policy,
                                  final=release.final, publish_at_least=k, by_training=release.policy.by_training)
    release.parameters.update({
        "epsilon": "%g" % noisy.epsilon,
        "delta": "0",
        "mechanism": privacy.MECHANISM,
        "scale": "%g" % noisy.scale,
        "levels": str(noisy.levels),
        "window_budget": "%g" % policy.window_budget,
        "window_spent": "%g" % (ledger.spent + noisy.epsilon),
        "privacy_unit": "person",
        "moves_per_person": str(policy.contribution_bound),
        "published_at_least": str(k),
    })
    statistics = [release.statistic(key, value, suppressed=False, noisy=True)
                  for key, value in sorted(noisy.values.items())]
    next_state.ledger.append(moves_pb2.PrivacyLedgerEntry(
        release=release.number, epsilon=noisy.epsilon, delta=0.0, final=release.final,
        released_at=to_timestamp(release.now)))
    return statistics


def _suppressed_statistics(
    release: _Release,
    cells: Mapping[MoveCell, int],
    state: moves_pb2.WindowReleases,
    next_state: moves_pb2.WindowReleases,
) -> list[moves_pb2.FlowStatistic]:
    """Return the release's statistics under threshold rules and record in ``next_state`` the values it
    publishes (floors an intruder knows for later releases of the window)."""
    policy = release.policy
    release.parameters["k"] = str(policy.k)
    if release.final:
        table = tabulate(release.period, cells, policy.regions, margins=True, by_training=policy.by_training)
        floors = {StatKey.from_record_key(key): value for key, value in state.published_floor.items()}
        protection = disclosure.protect(table, k=policy.k, regions=policy.regions, floors=floors)
        release.parameters["secondary"] = disclosure.SECONDARY_METHOD
        release.parameters.update(suppression_cost(protection.suppressed, table))
        statistics = [release.statistic(key, value, suppressed=key in protection.suppressed, noisy=False)
                      for key, value in sorted(table.items())]
    else:
        # Provisional releases list cells that reached k and nothing else: no
        # totals (which would call for secondary suppression and let successive
        # releases be differenced) and no small cells (whose mere presence tells).
        table = tabulate(release.period, cells, policy.regions, margins=False, by_training=policy.by_training)
        release.parameters["provisional"] = "cells at or above k only"
        release.parameters.update(suppression_cost({key for key, v in table.items() if v < policy.k}, table))
        statistics = [release.statistic(key, value, suppressed=False, noisy=False)
                      for key, value in sorted(table.items()) if value >= policy.k]
    for stat in statistics:
        if not stat.suppressed:
            key = _key_of(stat).record_key
            next_state.published_floor[key] = max(next_state.published_floor.get(key, 0), stat.value)
    return statistics


def suppression_cost(suppressed: Collection[StatKey], table: Mapping[StatKey, int]) -> dict[str, str]:
    """Return what a release's disclosure control cost, as parameters every statistic of it carries:
    "suppressed" as "hidden/all" statistics (a provisional release leaves its small cells out: they
    count as hidden), "suppressed_share" (0 to 1, three decimals), and "suppressed_cells" the same
    "hidden/all" for the finest cells alone."""
    share = len(suppressed) / len(table) if table else 0.0
    cells = [key for key in table if key.is_cell]
    return {"suppressed": "%d/%d" % (len(suppressed), len(table)), "suppressed_share": "%.3f" % share,
            "suppressed_cells": "%d/%d" % (sum(1 for key in cells if key in suppressed), len(cells))}


def _key_of(stat: moves_pb2.FlowStatistic) -> StatKey:
    return StatKey(stat.period, stat.measure or MOVES, stat.origin_country, stat.destination_country,
                   stat.profession_group, stat.country_of_training or TOTAL)


def record_key(stat: moves_pb2.FlowStatistic) -> bytes:
    """Return the Kafka record key of a published statistic."""
    return _key_of(stat).record_key.encode()


def _statistic(
    key: StatKey,
    value: int,
    *,
    suppressed: bool,
    noisy: bool,
    policy: ReleasePolicy,
    parameters: Mapping[str, str],
    final: bool,
    number: int,
    now: dt.datetime,
) -> moves_pb2.FlowStatistic:
    return moves_pb2.FlowStatistic(
        period=key.period,
        origin_country=key.origin,
        destination_country=key.destination,
        profession_group=key.profession,
        measure=key.measure or MOVES,
        value=0 if suppressed else value,
        suppressed=suppressed,
        noisy=noisy,
        method=policy.method,
        parameters=dict(parameters),
        final=final,
        release=number,
        released_at=to_timestamp(now),
        country_of_training=key.training,
        safeguards_list=on_safeguards_list(key, policy.regions),
    )


def on_safeguards_list(key: StatKey, regions: RegionClassification) -> bool:
    """Return True when the statistic's origin (issuing country, or country of training for a flow by
    country of training) is on the WHO safeguards list, or is the list's series."""
    return key.source == SAFEGUARDS or regions.on_safeguards_list(key.source)
