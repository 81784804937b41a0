"""Statistics as statisticians read them: the layout of OECD.Stat's CSV exports. Pure, no I/O.

OECD.Stat (and so the OECD Health Workforce Migration database) exports one
row per observation, each dimension as a code column and a label column,
then ``Value``, ``Flag Codes`` and ``Flags``. Origin is the issuing country;
a row with a country of training (``TRAINING``) is a flow by country of
training, and its ``ORIGIN`` is then ``_T``. Flags follow Eurostat's codes:
``c`` confidential (suppressed, no value), ``e`` estimated (carries
differential-privacy noise), ``p`` provisional (the window is still open).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable

import pycountry

from credverify.flowstats.tables import INTER, INTRA, MOVES, RETURNS, SAFEGUARDS, TOTAL, UNKNOWN
from credverify.v1 import moves_pb2

COLUMNS = (
    "DESTINATION", "Destination", "ORIGIN", "Origin", "TRAINING", "Country of training", "PROFESSION", "Profession",
    "MEASURE", "Measure",
    "PERIOD", "Period", "Value", "Flag Codes", "Flags", "Safeguards List", "Status", "Method", "Parameters",
)
FLAGS = {
    "c": "Confidential: suppressed to protect individuals",
    "e": "Estimated: differential-privacy noise added",
    "p": "Provisional: the month is still open",
}
PROFESSIONS = {
    "doctors": "Medical doctors (ISCO-08 2211, 2212)",
    "nurses": "Nurses (ISCO-08 2221, 3221)",
    "midwives": "Midwives (ISCO-08 2222, 3222)",
    "nursing-midwifery": "Nurses and midwives (ISCO-08 2221, 2222, 3221, 3222)",
    "other-health": "Health professionals other than doctors, nurses and midwives (ISCO-08 22, 32)",
    "dentists": "Dentists (ISCO-08 2261)",
    "pharmacists": "Pharmacists (ISCO-08 2262)",
    "other": "Other health professionals (ISCO-08 22, 32 n.e.c.)",
    TOTAL: "All health professions",
}
MEASURE_LABELS = {
    MOVES: "Verified moves (registrations of practitioners from abroad)",
    RETURNS: "Returns (registered in their country of training)",
}


def training_label(code: str) -> str:
    """Return the label of a country-of-training code (TOTAL: the row is a flow by issuing country)."""
    if code == TOTAL:
        return "All countries of training"
    if code == UNKNOWN:
        return "Country of training not known"
    if code == SAFEGUARDS:
        return "Countries of training on the WHO Health Workforce Support and Safeguards List"
    return country_label(code, origin=True)


def country_label(code: str, *, origin: bool) -> str:
    if code == TOTAL:
        return "All issuing countries" if origin else "All destinations"
    if code == INTRA:
        return "Issuing countries in the destination's region"
    if code == INTER:
        return "Issuing countries in other regions"
    if code == SAFEGUARDS:
        return "Issuing countries on the WHO Health Workforce Support and Safeguards List"
    country = pycountry.countries.get(alpha_2=code)
    return str(country.name) if country is not None else code


def flag_codes(stat: moves_pb2.FlowStatistic) -> str:
    """Return the flag codes of a statistic, e.g. "cp" (confidential, provisional)."""
    return ("c" if stat.suppressed else "") + ("e" if stat.noisy else "") + ("" if stat.final else "p")


def rows(statistics: Iterable[moves_pb2.FlowStatistic]) -> list[dict[str, str]]:
    """Return one row per statistic, sorted by destination, origin, profession, measure and period."""
    result = []
    for stat in statistics:
        codes = flag_codes(stat)
        training, measure = stat.country_of_training or TOTAL, stat.measure or MOVES
        result.append({
            "DESTINATION": stat.destination_country,
            "Destination": country_label(stat.destination_country, origin=False),
            "ORIGIN": stat.origin_country,
            "Origin": country_label(stat.origin_country, origin=True),
            "TRAINING": training,
            "Country of training": training_label(training),
            "PROFESSION": stat.profession_group,
            "Profession": PROFESSIONS.get(stat.profession_group, stat.profession_group),
            "MEASURE": measure,
            "Measure": MEASURE_LABELS.get(measure, measure),
            "PERIOD": stat.period,
            "Period": stat.period,
            "Value": "" if stat.suppressed else str(stat.value),
            "Flag Codes": codes,
            "Flags": "; ".join(FLAGS[code] for code in codes),
            "Safeguards List": "yes" if stat.safeguards_list else "no",
            "Status": "final" if stat.final else "provisional",
            "Method": stat.method,
            "Parameters": ";".join("%s=%s" % item for item in sorted(stat.parameters.items())),
        })
    result.sort(key=lambda r: (r["DESTINATION"], r["ORIGIN"], r["TRAINING"], r["PROFESSION"], r["MEASURE"],
                               r["PERIOD"]))
    return result


# OWASP "CSV Injection": a cell starting with one of these is run as a formula by Excel, LibreOffice
# and Google Sheets (=HYPERLINK(...) sends data away, =cmd|... ran programs); tab and carriage return
# are on OWASP's list too. Such a cell gets a leading single quote, which a spreadsheet shows as text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(cell: str) -> str:
    """Return ``cell`` with a leading single quote when a spreadsheet would read it as a formula; a
    plain number (a noisy count may be negative) is left as it is."""
    if cell.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def to_csv(statistics: Iterable[moves_pb2.FlowStatistic]) -> str:
    """Return the statistics as OECD.Stat-shaped CSV, every cell safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: spreadsheet_safe(value) for name, value in row.items()} for row in rows(statistics))
    return out.getvalue()


def to_json(statistics: Iterable[moves_pb2.FlowStatistic]) -> str:
    """Return a JSON array of the same rows, with the value a number (null when suppressed)."""
    statistics = list(statistics)
    items = []
    for row, stat in zip(rows(statistics), _sorted(statistics), strict=True):
        item: dict[str, object] = dict(row)
        item["Value"] = None if stat.suppressed else stat.value
        item["Parameters"] = dict(sorted(stat.parameters.items()))
        item["Release"] = stat.release
        items.append(item)
    return json.dumps(items, indent=1, ensure_ascii=False) + "\n"


def _sorted(statistics: Iterable[moves_pb2.FlowStatistic]) -> list[moves_pb2.FlowStatistic]:
    return sorted(statistics, key=lambda s: (s.destination_country, s.origin_country, s.country_of_training or TOTAL,
                                             s.profession_group, s.measure or MOVES, s.period))
