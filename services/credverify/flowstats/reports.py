"""Annual report tables built from the published final statistics: the layouts OECD and WHO ask for. Pure.

Two tables, each a list of ``ReportRow`` (docs/flowstats.md, "Report tables", cites the layouts):

- ``oecd``: shaped like the OECD Health Workforce Migration data: annual inflows
  of foreign-trained doctors and of foreign-trained nurses, by country of
  training, per destination and year;
- ``who``: shaped like the questions on international flows of the national
  reporting instrument of the WHO Global Code of Practice on the International
  Recruitment of Health Personnel: per reporting (destination) country, year
  and occupation, the annual inflow of foreign-trained health personnel, by
  country of training, the part trained in countries on the WHO Health
  Workforce Support and Safeguards List, and the nationally trained returning.

Only what was published goes in: the final statistics of the flows by country
of training. A year's value is the sum of its windows' (months, quarters or the
year) final values, so the annual table reconciles with them; a value that
needs a suppressed one is itself confidential, never a partial sum. Nothing
here needs disclosure control of its own: it is arithmetic on published figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from credverify.flowstats.safeguards import SafeguardsList
from credverify.flowstats.tables import MOVES, SAFEGUARDS, TOTAL
from credverify.v1 import moves_pb2

FOREIGN_TRAINED_INFLOW = "FT_INFLOW"
RETURN_INFLOW = "RETURN_INFLOW"
MEASURE_LABELS = {
    FOREIGN_TRAINED_INFLOW: "Annual inflow of foreign-trained health personnel",
    RETURN_INFLOW: "Annual inflow of nationally trained health personnel returning from abroad",
}
# OECD's Health Workforce Migration data cover doctors and nurses; the WHO instrument asks for the
# five occupations of National Health Workforce Accounts.
OECD_OCCUPATIONS = ("doctors", "nurses")
WHO_OCCUPATIONS = ("doctors", "nurses", "midwives", "dentists", "pharmacists")
TABLES = ("oecd", "who")


@dataclass(frozen=True, order=True)
class ReportRow:
    """One observation of a report table; ``value`` is None when confidential."""

    measure: str
    destination: str
    training: str  # country of training, "_T" all foreign countries, "_U" not known, "_SSL" on the list
    occupation: str
    year: str
    value: int | None
    estimated: bool = False  # carries differential-privacy noise
    provisional: bool = False  # the year's last window is not final yet


@dataclass
class _Annual:
    """A statistic summed over the final windows of one year."""

    value: int = 0
    confidential: bool = False
    estimated: bool = False

    def add(self, stat: moves_pb2.FlowStatistic) -> None:
        self.value += stat.value
        self.confidential |= stat.suppressed
        self.estimated |= stat.noisy


@dataclass
class _Year:
    """The annual sums of one (destination, occupation, year) by country of training."""

    by_training: dict[str, _Annual] = field(default_factory=dict)

    def get(self, training: str) -> _Annual:
        # Final releases list every non-zero statistic: one that is not listed was zero.
        return self.by_training.get(training, _Annual())


def year_of(period: str) -> str:
    return period[:4]


def _is_last_window_of_year(period: str) -> bool:
    """Return True for December, the fourth quarter or the year itself."""
    return period[4:] in ("", "-12", "-Q4")


def window_of(period: str) -> str:
    """Return the kind of window of a period: "year", "quarter" or "month"."""
    return "year" if len(period) == 4 else "quarter" if "-Q" in period else "month"


# Widest first: a yearly worker's figures are the least suppressed.
WINDOW_PREFERENCE = ("year", "quarter", "month")


def annual_sums(statistics: Iterable[moves_pb2.FlowStatistic], year: str
                ) -> tuple[dict[tuple[str, str], _Year], bool]:
    """Return the final flows by country of training of ``year`` summed per (destination, occupation),
    and whether the year's last window is final (else the sums are provisional). When workers of
    several windows published the year (a monthly and a yearly one on the same moves), the widest
    window's figures are used, never a sum of both."""
    finals = _finals_of_widest_window(statistics, year)
    years: dict[tuple[str, str], _Year] = {}
    complete = False
    for stat in finals:
        complete |= _is_last_window_of_year(stat.period)
        if _by_training_of_a_destination(stat):
            key = (stat.destination_country, stat.profession_group)
            years.setdefault(key, _Year()).by_training.setdefault(stat.country_of_training, _Annual()).add(stat)
    return years, complete


def _finals_of_widest_window(statistics: Iterable[moves_pb2.FlowStatistic], year: str
                             ) -> list[moves_pb2.FlowStatistic]:
    """Return the final statistics of ``year`` of the widest window with flows by country of training."""
    finals = [s for s in statistics if s.final and year_of(s.period) == year]
    kinds = {window_of(s.period) for s in finals if _by_training_of_a_destination(s)}
    chosen = next((kind for kind in WINDOW_PREFERENCE if kind in kinds), "month")
    return [s for s in finals if window_of(s.period) == chosen]


def _by_training_of_a_destination(stat: moves_pb2.FlowStatistic) -> bool:
    """Return True for a flow of moves into one destination by country of training, or their total, from
    a release that published flows by country of training (else the total would count returns too)."""
    return ((stat.measure or MOVES) == MOVES and stat.origin_country == TOTAL and stat.destination_country != TOTAL
            and "country-of-training" in stat.parameters.get("origins", ""))


def _difference(total: _Annual, part: _Annual) -> _Annual:
    return _Annual(total.value - part.value, total.confidential or part.confidential, total.estimated or part.estimated)


def _row(measure: str, destination: str, training: str, occupation: str, year: str, annual: _Annual,
         *, provisional: bool) -> ReportRow:
    return ReportRow(measure, destination, training, occupation, year,
                     None if annual.confidential else max(annual.value, 0), annual.estimated, provisional)


def _rows_of(destination: str, occupation: str, year: str, sums: _Year, *, listed: SafeguardsList | None,
             safeguards_rows: bool, provisional: bool) -> list[ReportRow]:
    """Return the rows of one destination and occupation: foreign-trained inflow in total and by
    country of training, from safeguards-list countries (when asked), and returns."""
    domestic = sums.get(destination)
    rows = [_row(FOREIGN_TRAINED_INFLOW, destination, TOTAL, occupation, year,
                 _difference(sums.get(TOTAL), domestic), provisional=provisional)]
    for training, annual in sorted(sums.by_training.items()):
        if training in (TOTAL, SAFEGUARDS, destination):
            continue
        rows.append(_row(FOREIGN_TRAINED_INFLOW, destination, training, occupation, year, annual,
                         provisional=provisional))
    if safeguards_rows:
        listed_here = listed is not None and destination in listed
        from_listed = _difference(sums.get(SAFEGUARDS), domestic) if listed_here else sums.get(SAFEGUARDS)
        rows.append(_row(FOREIGN_TRAINED_INFLOW, destination, SAFEGUARDS, occupation, year, from_listed,
                         provisional=provisional))
        rows.append(_row(RETURN_INFLOW, destination, destination, occupation, year, domestic,
                         provisional=provisional))
    return rows


def report_table(table: str, statistics: Iterable[moves_pb2.FlowStatistic], year: str, *,
                 safeguards: SafeguardsList | None) -> list[ReportRow]:
    """Return the rows of ``table`` ("oecd" or "who") for ``year`` from the published statistics.
    Raises ValueError for another table or a year that is not four digits."""
    if table not in TABLES:
        raise ValueError("report table: expected one of %s, found %r" % (", ".join(TABLES), table))
    if not (len(year) == 4 and year.isdigit()):
        raise ValueError("year: expected YYYY, found %r" % year)
    sums, complete = annual_sums(statistics, year)
    occupations = OECD_OCCUPATIONS if table == "oecd" else WHO_OCCUPATIONS
    rows: list[ReportRow] = []
    for (destination, occupation), by_training in sorted(sums.items()):
        if occupation in occupations:
            rows += _rows_of(destination, occupation, year, by_training, listed=safeguards,
                             safeguards_rows=table == "who", provisional=not complete)
    return rows
