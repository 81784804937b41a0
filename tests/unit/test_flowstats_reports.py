"""Annual report tables (OECD and WHO layouts) from a year of monthly final releases: they reconcile with
the months, keep every confidential value confidential, and read back through an SDMX library."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import random
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
import sdmx

from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy, build_release
from credverify.flowstats.report_export import (
    DATAFLOWS,
    OECD_COLUMNS,
    STRUCTURE_FILE,
    oecd_csv,
    sdmx_csv,
    structure_message,
    who_csv,
)
from credverify.flowstats.reports import FOREIGN_TRAINED_INFLOW, RETURN_INFLOW, ReportRow, report_table
from credverify.flowstats.safeguards import load_safeguards_list
from credverify.flowstats.tables import MoveCell
from credverify.v1 import moves_pb2

YEAR = "2026"
COUNCILS = ["RO", "IN", "PH", "NG"]
DESTINATIONS = ["GB", "IE"]
PROFESSIONS = ["doctors", "nurses", "midwives"]


def month_cells(rng: random.Random, month: int) -> Counter[MoveCell]:
    """A month of moves, every flow at least k: most trained where their council is, some in Romania, some
    in the destination (returns); in July a lone midwife, whose flows are suppressed."""
    cells: Counter[MoveCell] = Counter()
    for origin, destination, profession in itertools.product(COUNCILS, DESTINATIONS, PROFESSIONS[:2]):
        cells[MoveCell(origin, destination, profession, False, origin)] += rng.randint(5, 40)
        if origin != "RO" and rng.random() < 0.5:
            cells[MoveCell(origin, destination, profession, False, "RO")] += rng.randint(5, 15)
        if rng.random() < 0.3:
            cells[MoveCell(origin, destination, profession, True, destination)] += rng.randint(5, 10)
    if month == 7:
        cells[MoveCell("PH", "IE", "midwives", False, "PH")] += 2
    return cells


def monthly_finals(seed: int, *, months: int = 12) -> list[moves_pb2.FlowStatistic]:
    rng = random.Random(seed)
    policy = ReleasePolicy(k=5, regions=load_m49(), grace=dt.timedelta(days=7),
                           provisional_interval=dt.timedelta(hours=1), partitions=1, by_training=True)
    statistics: list[moves_pb2.FlowStatistic] = []
    for month in range(1, months + 1):
        period = "%s-%02d" % (YEAR, month)
        cells = month_cells(rng, month)
        part = moves_pb2.WindowPart(period=period, partition=0, final=True, counted=sum(cells.values()), cells=[
            moves_pb2.FlowCellCount(origin_country=c.origin, destination_country=c.destination,
                                    profession_group=c.profession, returning=c.returning, count=n,
                                    country_of_training=c.training) for c, n in cells.items()])
        released = build_release(period, {0: part}, moves_pb2.WindowReleases(period=period), policy, final=True,
                                 now=dt.datetime(2027, 1, 9, tzinfo=dt.UTC))
        assert released is not None
        statistics += released.latest
    return statistics


@pytest.fixture(scope="module")
def finals() -> list[moves_pb2.FlowStatistic]:
    return monthly_finals(3)


def monthly(finals: list[moves_pb2.FlowStatistic], destination: str, training: str, occupation: str
            ) -> list[int | None]:
    """The monthly final values of one flow by country of training (None: suppressed)."""
    return [None if s.suppressed else s.value for s in finals
            if (s.origin_country, s.destination_country, s.profession_group, s.country_of_training, s.measure)
            == ("_T", destination, occupation, training, "moves")]


def annual(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def test_the_annual_table_reconciles_with_the_monthly_finals(finals: list[moves_pb2.FlowStatistic]) -> None:
    rows = report_table("who", finals, YEAR, safeguards=load_safeguards_list())
    checked = 0
    for row in rows:
        if row.measure == FOREIGN_TRAINED_INFLOW and row.training not in ("_T", "_SSL"):
            assert row.value == annual(monthly(finals, row.destination, row.training, row.occupation)), row
        elif row.measure == FOREIGN_TRAINED_INFLOW and row.training == "_T":
            total = annual(monthly(finals, row.destination, "_T", row.occupation))
            domestic = annual(monthly(finals, row.destination, row.destination, row.occupation))
            assert row.value == (None if total is None or domestic is None else total - domestic), row
        elif row.measure == RETURN_INFLOW:
            assert row.value == annual(monthly(finals, row.destination, row.destination, row.occupation)), row
        checked += row.value is not None
    assert checked > 10, "the year should publish values, not only confidential ones"
    assert any(row.value is None for row in rows), "a month's suppressed value should make its year confidential"
    assert not any(row.provisional for row in rows), "December is final: the year is complete"


def test_a_year_without_its_last_month_is_provisional() -> None:
    rows = report_table("oecd", monthly_finals(4, months=5), YEAR, safeguards=None)
    assert rows and all(row.provisional for row in rows)


def test_the_oecd_table_counts_foreign_trained_doctors_and_nurses_by_country_of_training(
    finals: list[moves_pb2.FlowStatistic]
) -> None:
    rows = report_table("oecd", finals, YEAR, safeguards=load_safeguards_list())
    assert {row.occupation for row in rows} == {"doctors", "nurses"}
    assert {row.measure for row in rows} == {FOREIGN_TRAINED_INFLOW}
    assert not any(row.training == row.destination for row in rows), "trained in the destination is not foreign"
    text = oecd_csv(rows)
    records = list(csv.DictReader(io.StringIO(text)))
    assert tuple(records[0]) == OECD_COLUMNS
    romania = next(r for r in records if r["CO2"] == "ROU" and r["COU"] == "GBR" and r["VAR"] == "DOCTORS_FT_INFLOW")
    assert romania["Country"] == "United Kingdom" and romania["Country of training"] == "Romania"
    assert romania["Variable"] == "Foreign-trained doctors, annual inflow" and romania["YEA"] == YEAR
    confidential = [r for r in records if r["Flag Codes"] == "c"]
    assert confidential and all(r["Value"] == "" for r in confidential)


def test_the_who_table_adds_safeguards_list_countries_and_returns(finals: list[moves_pb2.FlowStatistic]) -> None:
    rows = report_table("who", finals, YEAR, safeguards=load_safeguards_list())
    assert {row.occupation for row in rows} == {"doctors", "nurses", "midwives"}
    assert next(r for r in rows if (r.destination, r.training, r.occupation) == ("IE", "PH", "midwives")).value is None
    listed = [r for r in rows if r.training == "_SSL" and r.value is not None]
    assert listed, "Nigeria is on the list"
    for row in listed:
        by_country = [r.value for r in rows if (r.destination, r.occupation, r.measure) == (
            row.destination, row.occupation, FOREIGN_TRAINED_INFLOW) and r.training == "NG"]
        if None not in by_country:
            assert row.value == sum(v for v in by_country if v is not None)
    records = list(csv.DictReader(io.StringIO(who_csv(rows))))
    assert {r["INDICATOR"] for r in records} == {"FT_INFLOW", "RETURN_INFLOW"}
    assert {r["OCCUPATION"] for r in records} == {"DOCTORS", "NURSES", "MIDWIVES"}


def test_the_shipped_data_structure_definition_is_the_one_the_code_writes() -> None:
    shipped = resources.files("credverify.flowstats").joinpath(STRUCTURE_FILE).read_text(encoding="utf-8")
    assert shipped == structure_message(), "regenerate data/credverify-flows-dsd.xml from structure_message()"


@pytest.mark.parametrize("table", ["oecd", "who"])
def test_sdmx_csv_reads_back_through_sdmx1_with_the_shipped_structure(
    table: str, finals: list[moves_pb2.FlowStatistic], tmp_path: Path
) -> None:
    structure_path = Path(str(resources.files("credverify.flowstats").joinpath(STRUCTURE_FILE)))
    structures = sdmx.read_sdmx(structure_path)
    dataflow = structures.dataflow[DATAFLOWS[table][0]]
    dsd = dataflow.structure
    rows = report_table(table, finals, YEAR, safeguards=load_safeguards_list())
    data_path = tmp_path / ("%s.csv" % table)
    data_path.write_text(sdmx_csv(table, rows), encoding="utf-8")
    message = sdmx.read_sdmx(data_path, structure=dataflow)
    observations = [obs for data_set in message.data for obs in data_set.obs]
    assert len(observations) == len(rows)
    codes = {dim.id: {code.id for code in dim.local_representation.enumerated}
             for dim in dsd.dimensions.components if dim.id != "TIME_PERIOD"}
    read: dict[tuple[str, ...], tuple[str, str, str]] = {}
    for obs in observations:
        key = {kv.id: str(kv.value) for kv in obs.dimension.values.values()}
        for dimension, allowed in codes.items():
            assert key[dimension] in allowed, "%s=%s is not in the structure's codelist" % (dimension, key[dimension])
        attributes = {name: str(value.value) for name, value in obs.attached_attribute.items()}
        read[(key["MEASURE"], key["REF_AREA"], key["COUNTRY_TRAINING"], key["OCCUPATION"], key["TIME_PERIOD"])] = (
            "" if obs.value is None or str(obs.value) in ("", "nan") else str(int(float(obs.value))),
            attributes["OBS_STATUS"], attributes["CONF_STATUS"])
    expected = {
        (row.measure, row.destination, row.training, row.occupation.upper(), row.year): (
            "" if row.value is None else str(row.value), "A", "C" if row.value is None else "F")
        for row in rows
    }
    assert read == expected


def test_a_report_refuses_what_it_cannot_make() -> None:
    with pytest.raises(ValueError, match="report table: expected one of oecd, who"):
        report_table("eurostat", [], YEAR, safeguards=None)
    with pytest.raises(ValueError, match="year: expected YYYY"):
        report_table("oecd", [], "26", safeguards=None)
    assert report_table("oecd", [], YEAR, safeguards=None) == []
    assert ReportRow("FT_INFLOW", "GB", "RO", "doctors", YEAR, None).value is None


def test_a_year_published_by_a_monthly_and_a_yearly_worker_is_counted_once(
    finals: list[moves_pb2.FlowStatistic]
) -> None:
    # The yearly worker's release of the same moves: every monthly value summed, nothing suppressed.
    sums: dict[tuple[str, str, str], int] = {}
    template: dict[tuple[str, str, str], moves_pb2.FlowStatistic] = {}
    for stat in finals:
        if stat.origin_country == "_T" and stat.measure == "moves" and stat.destination_country != "_T":
            key = (stat.destination_country, stat.profession_group, stat.country_of_training)
            sums[key] = sums.get(key, 0) + stat.value
            template[key] = stat
    yearly = []
    for key, value in sums.items():
        stat = moves_pb2.FlowStatistic()
        stat.CopyFrom(template[key])
        stat.period, stat.value, stat.suppressed = YEAR, value, False
        yearly.append(stat)
    rows = report_table("oecd", finals + yearly, YEAR, safeguards=None)
    alone = report_table("oecd", yearly, YEAR, safeguards=None)
    assert rows == alone, "the yearly figures are used, not added to the monthly ones"
    assert all(row.value is not None for row in rows)


def test_the_report_command_writes_the_asked_layout_and_names_a_bad_year(finals: list[moves_pb2.FlowStatistic]) -> None:
    from credverify.core.errors import InvalidInput
    from credverify.flowstats.cli import report_text

    text, count = report_text("who", "sdmx-csv", finals, YEAR)
    assert count > 0 and text.splitlines()[0].startswith("STRUCTURE,STRUCTURE_ID,ACTION,MEASURE")
    assert all(line.startswith("dataflow,CREDVERIFY:DF_WHO_CODE_FLOWS(1.0),I,") for line in text.splitlines()[1:])
    text, _ = report_text("oecd", "csv", finals, YEAR)
    assert text.startswith(",".join(OECD_COLUMNS))
    with pytest.raises(InvalidInput, match="year: expected YYYY, found '2026-10'"):
        report_text("oecd", "csv", finals, "2026-10")
