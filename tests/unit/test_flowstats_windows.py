"""Quarterly and yearly windows, and what suppression costs a release (the share each release states)."""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections import Counter

import pytest

from credverify.core.errors import ConfigurationError, InvalidInput
from credverify.core.timefmt import to_date
from credverify.flowstats.bootstrap import settings_from
from credverify.flowstats.cli import add_commands, worker_options
from credverify.flowstats.counting import PartitionCounter
from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy, build_release
from credverify.flowstats.settings import app_id
from credverify.flowstats.tables import COARSE_GROUP_OF, MoveCell, facts_of
from credverify.flowstats.windows import close_time, period_of, window_end
from credverify.v1 import moves_pb2

UTC = dt.UTC
GRACE = dt.timedelta(days=7)


@pytest.mark.parametrize(("day", "window", "period", "ends"), [
    (dt.date(2026, 2, 28), "month", "2026-02", dt.datetime(2026, 3, 1, tzinfo=UTC)),
    (dt.date(2026, 2, 28), "quarter", "2026-Q1", dt.datetime(2026, 4, 1, tzinfo=UTC)),
    (dt.date(2026, 12, 31), "quarter", "2026-Q4", dt.datetime(2027, 1, 1, tzinfo=UTC)),
    (dt.date(2026, 7, 1), "year", "2026", dt.datetime(2027, 1, 1, tzinfo=UTC)),
])
def test_a_date_falls_in_its_window_which_ends_at_the_next_ones_start(
    day: dt.date, window: str, period: str, ends: dt.datetime
) -> None:
    assert period_of(day, window) == period
    assert window_end(period) == ends
    assert close_time(period, GRACE) == ends + GRACE


def test_other_windows_and_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="window: expected one of month, quarter, year"):
        period_of(dt.date(2026, 1, 1), "week")
    for period in ("2026-13", "2026-Q5", "26", "2026-W01"):
        with pytest.raises(InvalidInput, match="period: expected YYYY-MM, YYYY-Qn or YYYY"):
            window_end(period)


def test_a_yearly_counter_closes_the_year_only_after_its_end_plus_grace() -> None:
    move = moves_pb2.VerifiedMove(move_id="m1", origin_country="KE", destination_country="GB",
                                  profession_isco="2221", registered_on=to_date(dt.date(2026, 3, 9)))
    facts = facts_of(move, "year")
    assert facts.period == "2026"
    counter = PartitionCounter(partition=0, grace=GRACE)
    counter.count(facts, offset=0)
    # Month closes through the year: each is recorded, none closes 2026.
    for moment in (dt.datetime(2026, 4, 9, tzinfo=UTC), dt.datetime(2026, 12, 9, tzinfo=UTC)):
        counter.tick(moment, end_offset=1)
        assert counter.closing_offset("2026") is None
    counter.tick(dt.datetime(2027, 1, 8, 0, 1, tzinfo=UTC), end_offset=1)
    assert counter.closing_offset("2026") == 1 and counter.closed_periods() == ["2026"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser)
    return parser.parse_args(["worker", *argv])


def test_a_quarterly_or_yearly_worker_has_its_own_consumer_group_and_state() -> None:
    monthly = settings_from(worker_options(parse()), {})
    yearly = settings_from(worker_options(parse("--window", "year")), {})
    quarterly = settings_from(worker_options(parse()), {"CREDVERIFY_FLOW_WINDOW": "quarter"})
    assert (monthly.policy.window, yearly.policy.window, quarterly.policy.window) == ("month", "year", "quarter")
    assert app_id(monthly) == "credverify-flowstats"
    assert app_id(yearly) == "credverify-flowstats-year" and app_id(quarterly) == "credverify-flowstats-quarter"
    with pytest.raises(ConfigurationError, match="--window: expected one of month, quarter, year"):
        settings_from(worker_options(parse()), {"CREDVERIFY_FLOW_WINDOW": "week"})


def final(period: str, cells: Counter[MoveCell], window: str) -> moves_pb2.WindowReleases:
    policy = ReleasePolicy(k=5, regions=load_m49(), grace=GRACE, provisional_interval=dt.timedelta(hours=1),
                           partitions=1, window=window)
    part = moves_pb2.WindowPart(period=period, partition=0, final=True, counted=sum(cells.values()), cells=[
        moves_pb2.FlowCellCount(origin_country=c.origin, destination_country=c.destination,
                                profession_group=c.profession, returning=c.returning, count=n)
        for c, n in cells.items()])
    released = build_release(period, {0: part}, moves_pb2.WindowReleases(period=period), policy, final=True,
                             now=dt.datetime(2027, 1, 9, tzinfo=UTC))
    assert released is not None
    return released


def share(released: moves_pb2.WindowReleases) -> float:
    shares = {s.parameters["suppressed_share"] for s in released.latest}
    assert len(shares) == 1, "every statistic of a release states the same cost"
    hidden, listed = released.latest[0].parameters["suppressed"].split("/")
    assert int(listed) == len(released.latest) and int(hidden) == sum(s.suppressed for s in released.latest)
    hidden_cells, cells = released.latest[0].parameters["suppressed_cells"].split("/")
    finest = [s for s in released.latest if "_T" not in (s.origin_country, s.destination_country, s.profession_group)
              and not s.origin_country.startswith("_")]
    assert (int(hidden_cells), int(cells)) == (sum(s.suppressed for s in finest), len(finest))
    return float(shares.pop())


def test_every_release_states_its_share_of_suppressed_statistics_and_a_year_loses_less_than_its_months() -> None:
    # A sparse flow: 20 nurses from Kenya and 2 doctors from Romania a month, and a midwife now and then.
    rng = random.Random(7)
    months: list[Counter[MoveCell]] = []
    for _ in range(12):
        month = Counter({MoveCell("KE", "GB", "nurses", False): rng.randint(15, 25),
                         MoveCell("RO", "GB", "doctors", False): rng.randint(1, 3)})
        if rng.random() < 0.5:
            month[MoveCell("NG", "GB", "midwives", False)] += 1
        months.append(month)
    monthly = [share(final("2026-%02d" % (n + 1), cells, "month")) for n, cells in enumerate(months)]
    yearly = final("2026", sum(months, Counter()), "year")
    assert min(monthly) > 0.3, "a sparse month loses much: %s" % monthly
    assert share(yearly) == 0.0, "the same flows over a year reach k everywhere"
    assert yearly.latest[0].parameters["window"] == "year"


def test_flows_tail_sums_up_each_windows_latest_release_and_its_cost() -> None:
    from credverify.flowstats.cli import release_summaries

    rng = random.Random(7)
    month = Counter({MoveCell("KE", "GB", "nurses", False): rng.randint(15, 25),
                     MoveCell("RO", "GB", "doctors", False): 2})
    released = final("2026-03", month, "month")
    old = moves_pb2.FlowStatistic(period="2026-03", release=0, parameters={"suppressed": "0/1"})
    [line] = release_summaries([old, *released.latest])
    hidden = sum(s.suppressed for s in released.latest)
    assert line == "window 2026-03 release 1 (final): %d/%d statistics suppressed (share %s)" % (
        hidden, len(released.latest), released.latest[0].parameters["suppressed_share"])
    assert hidden > 0


def test_flows_tail_labels_a_flow_by_country_of_training() -> None:
    from credverify.flowstats.cli import tail_line

    by_training = moves_pb2.FlowStatistic(period="2026-03", origin_country="_T", destination_country="GB",
                                          profession_group="doctors", measure="moves", value=21, final=True,
                                          country_of_training="RO", method="threshold")
    assert "_T     (trained RO) -> GB" in tail_line(by_training)
    by_council = moves_pb2.FlowStatistic(period="2026-03", origin_country="LK", destination_country="GB",
                                         profession_group="doctors", measure="moves", suppressed=True,
                                         country_of_training="_T", method="threshold")
    assert "trained" not in tail_line(by_council) and "suppressed" in tail_line(by_council)


def test_coarser_profession_groups_are_a_remedy_of_their_own() -> None:
    # Two midwives and three nurses from Ghana a month: every midwives' and nurses' cell is small.
    month = Counter({MoveCell("GH", "GB", "nurses", False): 3, MoveCell("GH", "GB", "midwives", False): 2,
                     MoveCell("KE", "GB", "nurses", False): 20, MoveCell("KE", "GB", "doctors", False): 9})
    fine = final("2026-03", month, "month")
    coarse_cells: Counter[MoveCell] = Counter()
    for cell, count in month.items():
        coarse_cells[MoveCell(cell.origin, cell.destination, COARSE_GROUP_OF[cell.profession], cell.returning)] += count
    coarse = final("2026-03", coarse_cells, "month")
    values = {(s.origin_country, s.profession_group): s for s in coarse.latest if s.destination_country == "GB"}
    assert not values[("GH", "nursing-midwifery")].suppressed and values[("GH", "nursing-midwifery")].value == 5
    assert share(coarse) < share(fine)


def test_the_coarse_scheme_is_chosen_by_flag_or_environment_with_its_own_state() -> None:
    coarse = settings_from(worker_options(parse("--profession-groups", "coarse")), {})
    assert coarse.policy.professions == "coarse" and app_id(coarse) == "credverify-flowstats-coarse"
    move = moves_pb2.VerifiedMove(move_id="m1", origin_country="GH", destination_country="GB",
                                  profession_isco="2262", registered_on=to_date(dt.date(2026, 3, 9)))
    assert facts_of(move, "month", "coarse").cell.profession == "other-health"
    assert facts_of(move).cell.profession == "pharmacists"
    dp = settings_from(worker_options(parse("--dp-epsilon", "1", "--dp-destinations", "GB")),
                       {"CREDVERIFY_FLOW_PROFESSION_GROUPS": "coarse"})
    assert dp.policy.privacy is not None
    assert dp.policy.privacy.groups == ("doctors", "nursing-midwifery", "other-health")
    with pytest.raises(ConfigurationError, match="--profession-groups: expected one of fine, coarse"):
        settings_from(worker_options(parse()), {"CREDVERIFY_FLOW_PROFESSION_GROUPS": "one"})
