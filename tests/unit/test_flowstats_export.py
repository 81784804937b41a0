"""The CSV and JSON exports in the layout of OECD.Stat: code and label per dimension, value, flags."""

from __future__ import annotations

import csv
import io
import json

from credverify.flowstats.export import COLUMNS, to_csv, to_json
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
    assert by_origin["_T"]["Origin"] == "All origins" and by_origin["_T"]["Flag Codes"] == "p"
    assert by_origin["KE"]["Parameters"] == "k=5"


def test_json_gives_numbers_and_null_for_suppressed_values() -> None:
    items = json.loads(to_json([stat(), stat(origin_country="TT", value=0, suppressed=True), stat(noisy=True,
                                                                                                   origin_country="RO")]))
    values = {item["ORIGIN"]: (item["Value"], item["Flag Codes"]) for item in items}
    assert values == {"KE": (12, ""), "TT": (None, "c"), "RO": (12, "e")}
