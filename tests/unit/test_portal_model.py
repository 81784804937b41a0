"""The portal's view model: what a statistician sees for each choice of filters, and that a suppressed
statistic never reaches a page, a chart or a CSV as a number."""

from __future__ import annotations

import csv
import io
import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from credverify.portal import charts, model
from credverify.portal.model import SUPPRESSED, Figure, Filters, Statistics, overview, total_of
from credverify.v1 import moves_pb2

RELEASED = Timestamp(seconds=1_790_000_000)


def stat(period: str, origin: str, destination: str, profession: str, value: int, *, suppressed: bool = False,
         final: bool = True, measure: str = "moves", listed: bool = False, release: int = 3, method: str = "threshold",
         parameters: dict[str, str] | None = None, training: str = "") -> moves_pb2.FlowStatistic:
    return moves_pb2.FlowStatistic(
        period=period, origin_country=origin, destination_country=destination, profession_group=profession,
        value=0 if suppressed else value, suppressed=suppressed, final=final, measure=measure, release=release,
        method=method, parameters=parameters or {"k": "5", "safeguards_list": "who-hwssl:2023"},
        safeguards_list=listed, released_at=RELEASED, country_of_training=training,
        noisy=method == "dp-geometric")


def final_month(period: str) -> list[moves_pb2.FlowStatistic]:
    """A final month as the worker publishes it: Kenya's midwife (1) suppressed, and with her Kenya's
    nurses and Kenya's total to GB (secondary suppression); Romania's doctors published."""
    return [
        stat(period, "KE", "GB", "nurses", 0, suppressed=True, listed=False),
        stat(period, "KE", "GB", "midwives", 0, suppressed=True),
        stat(period, "KE", "GB", "_T", 0, suppressed=True),
        stat(period, "RO", "GB", "doctors", 8), stat(period, "RO", "GB", "_T", 8),
        stat(period, "NG", "GB", "nurses", 6, listed=True), stat(period, "NG", "GB", "_T", 6, listed=True),
        stat(period, "_T", "GB", "_T", 26), stat(period, "_T", "GB", "nurses", 16),
        stat(period, "_T", "GB", "midwives", 0, suppressed=True), stat(period, "_T", "GB", "doctors", 8),
        stat(period, "KE", "_T", "_T", 0, suppressed=True), stat(period, "RO", "_T", "_T", 8),
        stat(period, "NG", "_T", "_T", 6, listed=True), stat(period, "_T", "_T", "_T", 26),
        stat(period, "_T", "_T", "nurses", 16), stat(period, "_T", "_T", "doctors", 8),
        stat(period, "_T", "_T", "midwives", 0, suppressed=True),
        stat(period, "_INTRA", "GB", "_T", 8), stat(period, "_INTER", "GB", "_T", 18),
        stat(period, "_INTRA", "_T", "_T", 8), stat(period, "_INTER", "_T", "_T", 18),
        stat(period, "_SSL", "GB", "_T", 6, listed=True), stat(period, "_SSL", "_T", "_T", 6, listed=True),
        stat(period, "_T", "GB", "_T", 5, measure="returns"), stat(period, "_T", "_T", "_T", 5, measure="returns"),
        # by country of training: not a chart of the portal, and never mixed into flows by issuing country
        stat(period, "_T", "GB", "doctors", 11, training="RO"),
    ]


def open_month(period: str) -> list[moves_pb2.FlowStatistic]:
    """A provisional release: cells that reached k only, no totals."""
    return [stat(period, "RO", "GB", "doctors", 7, final=False, release=1),
            stat(period, "NG", "GB", "nurses", 5, final=False, release=1, listed=True)]


@pytest.fixture
def statistics() -> Statistics:
    return Statistics(final_month("2026-09") + final_month("2026-10") + open_month("2026-11"))


def test_a_suppressed_statistic_is_never_a_number() -> None:
    figure = model.figure_of(stat("2026-09", "KE", "GB", "nurses", 0, suppressed=True))
    assert figure.number is None and figure.text() == SUPPRESSED and figure.text(grouped=False) == SUPPRESSED
    # Even were a publisher to leave a value in a suppressed record, the portal would not show it.
    leaked = moves_pb2.FlowStatistic(period="2026-09", value=3, suppressed=True, final=True)
    assert model.figure_of(leaked).number is None and model.figure_of(leaked).text() == SUPPRESSED


def test_a_total_including_a_suppressed_part_is_suppressed() -> None:
    assert total_of([Figure(8), Figure(suppressed=True)]).text() == SUPPRESSED
    assert total_of([Figure(8), Figure(6)]).text() == "14"
    assert total_of([Figure(8, final=False, partial=True), Figure(final=False)]).text() == "at least 8"
    assert total_of([Figure(final=False)]).text() == "not published"


def test_a_final_month_lists_every_non_zero_statistic_so_a_missing_one_is_zero(statistics: Statistics) -> None:
    assert statistics.lookup("2026-09", "moves", "RO", "GB", "nurses") == Figure(0)
    assert statistics.lookup("2026-09", "moves", "KE", "GB", "nurses").text() == SUPPRESSED
    assert statistics.lookup("2026-09", "moves", "RO", "GB", "doctors").text() == "8"


def test_an_open_month_shows_published_cells_and_totals_as_a_floor(statistics: Statistics) -> None:
    assert statistics.lookup("2026-11", "moves", "RO", "GB", "doctors") == Figure(7, final=False)
    assert statistics.lookup("2026-11", "moves", "KE", "GB", "nurses").text() == "not published"
    total = statistics.lookup("2026-11", "moves", "_T", "_T", "_T")
    assert total.text() == "at least 12" and total.status == "provisional"
    assert statistics.lookup("2026-11", "moves", "_SSL", "GB", "_T").text() == "at least 5"
    assert statistics.lookup("2026-11", "moves", "_INTRA", "GB", "_T").text() == "not published"


def test_under_differential_privacy_a_missing_statistic_is_not_published_not_zero() -> None:
    dp = Statistics([stat("2026-09", "RO", "GB", "doctors", 12, method="dp-geometric",
                          parameters={"epsilon": "1", "k": "5"})])
    assert dp.lookup("2026-09", "moves", "KE", "GB", "nurses").text() == "not published"
    view = overview(dp, Filters.parse({}, dp))
    assert view.legend.epsilons == ("1",)


def test_flows_by_country_of_training_stay_out_of_flows_by_issuing_country(statistics: Statistics) -> None:
    # The by-training record (origin _T, doctors to GB, 11) must not replace the issuing-country total (8).
    assert statistics.lookup("2026-09", "moves", "_T", "GB", "doctors").text() == "8"


def test_filters_choose_months_destination_origin_and_profession(statistics: Statistics) -> None:
    filters = Filters.parse({"from": "2026-10", "to": "2026-11", "destination": "GB", "origin": "RO",
                             "profession": "doctors"}, statistics)
    view = overview(statistics, filters)
    assert view.periods == ("2026-10", "2026-11")
    assert [(f.origin, f.destination, f.figure.text()) for f in view.flows] == [("RO", "GB", "15")]
    [series] = view.months  # no safeguards-list series beside a single origin
    assert [(p, f.text()) for p, f in series.figures] == [("2026-10", "8"), ("2026-11", "7")]


def test_filters_refuse_what_the_statistics_do_not_hold(statistics: Statistics) -> None:
    for query in ({"destination": "FR"}, {"origin": "<script>"}, {"profession": "plumbers"}, {"from": "2026-13"}):
        with pytest.raises(model.InvalidFilter):
            Filters.parse(query, statistics)
    reversed_range = Filters.parse({"from": "2026-11", "to": "2026-09"}, statistics)
    assert (reversed_range.period_from, reversed_range.period_to) == ("2026-09", "2026-11")


def test_the_map_and_the_flows_show_kenya_as_suppressed_across_months(statistics: Statistics) -> None:
    view = overview(statistics, Filters.parse({}, statistics))
    origins = dict(view.origins)
    assert origins["KE"].text() == SUPPRESSED and origins["RO"].text() == "at least 23"
    assert origins["NG"].text() == "at least 17" and "NG" in view.listed
    flows = {(f.origin, f.destination): f.figure.text() for f in view.flows}
    assert flows[("KE", "GB")] == SUPPRESSED


def test_tables_and_csv_write_suppressed_where_a_number_would_be(statistics: Statistics) -> None:
    view = overview(statistics, Filters.parse({"from": "2026-09", "to": "2026-10"}, statistics))
    table = model.TABLES["professions"](view)
    rows = {r[0]: r[1] for r in table.texts()}
    assert rows["Midwives (ISCO-08 2222, 3222)"] == SUPPRESSED
    assert rows["Medical doctors (ISCO-08 2211, 2212)"] == "16"
    downloaded = list(csv.reader(io.StringIO(table.csv())))
    assert downloaded[0] == ["Profession", "Moves"]
    assert ["Midwives (ISCO-08 2222, 3222)", SUPPRESSED] in downloaded
    months = list(csv.DictReader(io.StringIO(model.TABLES["months"](view).csv())))
    assert [(m["Month"], m["Status"], m["Moves from all issuing countries"],
             m["Moves from WHO safeguards-list countries"]) for m in months] == [
        ("2026-09", "final", "26", "6"), ("2026-10", "final", "26", "6")]


def test_the_share_of_suppressed_statistics_is_given_per_release(statistics: Statistics) -> None:
    view = overview(statistics, Filters.parse({}, statistics))
    rows = model.TABLES["suppression"](view).texts()
    assert rows[0] == ["2026-09", "3", "final", "threshold", "27", "6", "22%"]
    assert rows[-1] == ["2026-11", "1", "provisional", "threshold", "2", "0", "0%"]


def test_no_chart_draws_a_suppressed_value(statistics: Statistics) -> None:
    view = overview(statistics, Filters.parse({}, statistics))
    specs = charts.specs(view, "/static/vendor/countries-110m.json")
    for chart_id, spec in specs.items():
        text = json.dumps(spec)
        assert spec["$schema"].endswith("v6.4.1.json"), chart_id
        for data in _inline_data(spec):
            for row in data:
                if row.get("status") == SUPPRESSED or row.get("shown") == SUPPRESSED:
                    assert row.get("moves") is None, "%s draws a suppressed value: %s" % (chart_id, row)
        assert "description" in spec and text
    assert all(_inline_data(spec) for spec in specs.values()), "a chart without data"
    ribbons, nodes, not_drawn = charts.sankey_rows(view.flows)
    assert {r["origin"] for r in ribbons} == {"Romania", "Nigeria"} and not_drawn == 1  # Kenya: suppressed


def _inline_data(spec: object) -> list[list[dict[str, object]]]:
    found: list[list[dict[str, object]]] = []
    if isinstance(spec, dict) and isinstance(spec.get("datasets"), dict):
        found.extend(rows for rows in spec["datasets"].values() if rows and isinstance(rows[0], dict))
    if isinstance(spec, dict):
        values = spec.get("values")
        if isinstance(values, list) and values and isinstance(values[0], dict):
            found.append(values)
        for value in spec.values():
            found.extend(_inline_data(value))
    elif isinstance(spec, list):
        for value in spec:
            found.extend(_inline_data(value))
    return found


def test_quarters_and_years_are_their_own_windows_never_mixed_with_months() -> None:
    held = Statistics(final_month("2026-09") + final_month("2026-Q3") + [stat("2026", "_T", "_T", "_T", 90)])
    assert held.periods == ["2026-09"] and held.windows == ["month", "quarter", "year"]
    quarters = Filters.parse({"window": "quarter", "from": "2026-09"}, held)  # the month of the old choice
    assert (quarters.window, quarters.period_from, quarters.period_to) == ("quarter", "2026-Q3", "2026-Q3")
    view = overview(held, quarters)
    assert [(p, f.text()) for p, f in view.months[0].figures] == [("2026-Q3", "26")]
    assert model.TABLES["months"](view).columns[0] == "Quarter"
    year = overview(held, Filters.parse({"window": "year"}, held))
    assert [(p, f.text()) for p, f in year.months[0].figures] == [("2026", "90")]
    assert charts.specs(year, "/map.json")["months"]["datasets"]["rows"][0]["month"] == "2026-01-01"
    with pytest.raises(model.InvalidFilter):
        Filters.parse({"window": "week"}, held)


def test_flows_by_country_of_training_are_offered_beside_those_by_issuing_country(statistics: Statistics) -> None:
    assert statistics.has_training
    filters = Filters.parse({"by": "training", "from": "2026-09", "to": "2026-09", "profession": "doctors"},
                            statistics)
    view = overview(statistics, filters)
    assert view.origin_heading == "Country of training"
    # Romania trained 11 doctors registered in GB (3 of them licensed elsewhere), shown as Romania's.
    assert [(f.origin, f.destination, f.figure.text()) for f in view.flows] == [("RO", "GB", "11")]
    # totals are shared by both definitions
    assert [(p, f.text()) for p, f in view.months[0].figures] == [("2026-09", "8")]
    assert [(p, f.text()) for p, f in view.regions[0].figures] == [("2026-09", "not published")]
    assert model.TABLES["flows"](view).columns[0] == "Country of training"
    assert "by=training" in filters.query()


def test_country_of_training_is_refused_where_none_was_published() -> None:
    issuing_only = Statistics(final_month("2026-09")[:-1])
    assert not issuing_only.has_training
    with pytest.raises(model.InvalidFilter):
        Filters.parse({"by": "training"}, issuing_only)
    with pytest.raises(model.InvalidFilter):
        Filters.parse({"by": "nationality"}, issuing_only)


def test_profession_groups_are_those_published_whatever_their_scheme() -> None:
    coarse = Statistics([stat("2026-09", "KE", "GB", "nursing-midwifery", 9), stat("2026-09", "RO", "GB", "doctors", 8),
                         stat("2026-09", "_T", "_T", "_T", 17)])
    assert coarse.professions == ["doctors", "nursing-midwifery"]
    filters = Filters.parse({"profession": "nursing-midwifery"}, coarse)
    assert [(f.origin, f.figure.text()) for f in overview(coarse, filters).flows] == [("KE", "9")]
    assert [code for code, _ in overview(coarse, filters).professions] == ["doctors", "nursing-midwifery", "_T"]
