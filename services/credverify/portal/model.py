"""What the portal shows, worked out from published flow statistics alone. Pure: no I/O, no clock.

The portal reads nothing but ``credverify.flow-statistics.v1``, so everything here is a function of
what the flows worker already made public. Three rules hold for every figure a person can see:

- a suppressed statistic is shown as "suppressed", never as a number, zero or a blank; a sum of
  figures one of which is suppressed is suppressed too (its total would give the part away);
- a statistic missing from a *final* release under threshold suppression is zero (the final release
  lists every non-zero statistic, docs/flowstats.md); under differential privacy, or in an open month,
  a missing one is "not published";
- an open month's totals are not published (provisional releases list cells that reached k only), so
  the portal shows the sum of the cells published so far as "at least N", marked provisional.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from urllib.parse import urlencode

from credverify.flowstats.export import PROFESSIONS, country_label, training_label
from credverify.flowstats.tables import (
    INTER,
    INTRA,
    MOVES,
    ORIGIN_GROUPS,
    PROFESSION_GROUPS,
    RETURNS,
    SAFEGUARDS,
    TOTAL,
)
from credverify.v1 import moves_pb2

SUPPRESSED = "suppressed"
NOT_PUBLISHED = "not published"
THRESHOLD = "threshold"
# The windows a worker counts by (docs/flowstats.md, --window), and how each names its periods.
WINDOWS = {
    "month": re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
    "quarter": re.compile(r"^[0-9]{4}-Q[1-4]$"),
    "year": re.compile(r"^[0-9]{4}$"),
}


class InvalidFilter(ValueError):
    """A filter value the portal does not offer (an unknown month, country or profession)."""


@dataclass(frozen=True)
class Figure:
    """One value as the portal may show it: a number, or why there is none."""

    value: int | None = None  # None when suppressed or not published
    suppressed: bool = False
    noisy: bool = False  # carries differential-privacy noise
    final: bool = True  # False for an open (provisional) month
    partial: bool = False  # the cells published so far of an open month: a floor, not the total

    @property
    def number(self) -> int | None:
        """The value a chart may draw, or None: never a number for a suppressed figure."""
        return None if self.suppressed else self.value

    @property
    def status(self) -> str:
        if self.suppressed:
            return SUPPRESSED
        if self.value is None:
            return NOT_PUBLISHED
        return "final" if self.final else "provisional"

    def text(self, *, grouped: bool = True) -> str:
        """Return the figure as a person reads it: "1,234", "at least 12", "suppressed", "not published"."""
        if self.suppressed:
            return SUPPRESSED
        if self.value is None:
            return NOT_PUBLISHED
        shown = f"{self.value:,}" if grouped else str(self.value)
        return "at least " + shown if self.partial else shown


ZERO = Figure(0)


def total_of(figures: Iterable[Figure]) -> Figure:
    """Return the sum of ``figures``: suppressed when any is, not published when none is known."""
    items = list(figures)
    final = all(f.final for f in items)
    noisy = any(f.noisy for f in items)
    if any(f.suppressed for f in items):
        return Figure(suppressed=True, noisy=noisy, final=final)
    known = [f.value for f in items if f.value is not None]
    if not known:
        return Figure(final=final)
    partial = any(f.partial for f in items) or len(known) < len(items)
    return Figure(sum(known), noisy=noisy, final=final, partial=partial)


def figure_of(stat: moves_pb2.FlowStatistic) -> Figure:
    if stat.suppressed:
        return Figure(suppressed=True, noisy=stat.noisy, final=stat.final)
    return Figure(int(stat.value), noisy=stat.noisy, final=stat.final)


def is_country(code: str) -> bool:
    return not code.startswith("_")


@dataclass(frozen=True)
class Release:
    """One release of one month: how many statistics it published and how many of them were suppressed."""

    period: str
    number: int
    final: bool
    method: str
    statistics: int
    suppressed: int

    @property
    def share(self) -> float:
        return self.suppressed / self.statistics if self.statistics else 0.0


ISSUING = "issuing"  # where practitioners come from: the country of the council that attested them
TRAINING = "training"  # or the country where they trained (OECD's and WHO's "foreign-trained")
BASES = (ISSUING, TRAINING)


def _origin_of(stat: moves_pb2.FlowStatistic, basis: str) -> str | None:
    """The statistic's origin under ``basis``, or None when it belongs to the other one. Flows by country
    of training carry it (their origin_country is then _T); the two share their totals (origin _T)."""
    training = stat.country_of_training not in ("", TOTAL)
    if basis == ISSUING:
        return None if training else stat.origin_country
    if training:
        return stat.country_of_training
    return TOTAL if stat.origin_country == TOTAL else None


class Statistics:
    """The latest published statistic per key, indexed for the portal's look-ups, by issuing country
    (``basis`` ISSUING) or by country of training (TRAINING, from ``training()``)."""

    def __init__(self, statistics: Iterable[moves_pb2.FlowStatistic], *, basis: str = ISSUING,
                 window: str = "month") -> None:
        self.basis, self.window = basis, window
        self._raw = statistics if isinstance(statistics, list) else list(statistics)
        self._all = [s for s in self._raw if WINDOWS[window].match(s.period)]
        self._siblings: dict[tuple[str, str], Statistics] = {(basis, window): self}
        self._by_key: dict[tuple[str, str, str, str, str], moves_pb2.FlowStatistic] = {}
        self._open_cells: dict[str, list[tuple[str, moves_pb2.FlowStatistic]]] = defaultdict(list)
        self._releases: dict[tuple[str, int], list[moves_pb2.FlowStatistic]] = defaultdict(list)
        self.method_of: dict[str, moves_pb2.FlowStatistic] = {}
        self.listed: set[str] = set()  # origins published as on the WHO safeguards list
        self.has_training = False  # flows by country of training were published
        for stat in self._all:
            self._hold(stat)
        self.final_periods = {key[0] for key, s in self._by_key.items() if s.final}
        self._index_open_cells()
        self._list_options()
        self.releases = sorted((_release(period, number, stats) for (period, number), stats in self._releases.items()),
                               key=lambda r: (r.period, r.number))

    def training(self) -> Statistics:
        """The same statistics by country of training (built once, when first asked for)."""
        return self.sibling(TRAINING, self.window)

    def sibling(self, basis: str, window: str) -> Statistics:
        """The same published statistics by another basis or window (each built once, when first asked for)."""
        found = self._siblings.get((basis, window))
        if found is None:
            found = Statistics(self._raw, basis=basis, window=window)
            found._siblings = self._siblings
            self._siblings[(basis, window)] = found
        return found

    @cached_property
    def windows(self) -> list[str]:
        """The windows the statistics were published by, months first."""
        periods = {s.period for s in self._raw}
        return [w for w, pattern in WINDOWS.items() if any(pattern.match(period) for period in periods)]

    def _list_options(self) -> None:
        keys = self._by_key.keys()
        self.periods = sorted({key[0] for key in keys})
        self.destinations = sorted({k[3] for k in keys if is_country(k[3])})
        self.origins = sorted({k[2] for k in keys if is_country(k[2])})
        self.professions = _in_order({k[4] for k in keys} - {TOTAL})

    def _index_open_cells(self) -> None:
        for key, stat in self._by_key.items():
            if key[0] not in self.final_periods and is_country(key[2]) and is_country(key[3]):
                self._open_cells[key[0]].append((key[2], stat))

    def _hold(self, stat: moves_pb2.FlowStatistic) -> None:
        self._releases[(stat.period, stat.release)].append(stat)
        self.has_training = self.has_training or stat.country_of_training not in ("", TOTAL)
        origin = _origin_of(stat, self.basis)
        if origin is None:
            return
        key = (stat.period, stat.measure or MOVES, origin, stat.destination_country, stat.profession_group)
        self._by_key[key] = stat
        self.method_of.setdefault(stat.period, stat)
        if stat.safeguards_list and is_country(origin):
            self.listed.add(origin)

    def __len__(self) -> int:
        return len(self._by_key)

    def lookup(self, period: str, measure: str, origin: str, destination: str, profession: str) -> Figure:
        """Return the figure the releases give for this key (see the module's rules)."""
        stat = self._by_key.get((period, measure, origin, destination, profession))
        if stat is not None:
            return figure_of(stat)
        if period in self.final_periods:
            return self._missing_from_final(period, origin)
        a_cell = is_country(origin) and is_country(destination) and profession != TOTAL
        if period not in self.periods or a_cell or origin in (INTRA, INTER):
            return Figure(final=False)  # an open month's cell not listed (below k, or none yet), or its regions
        return self._open_sum(period, measure, origin, destination, profession)

    def _missing_from_final(self, period: str, origin: str) -> Figure:
        """A statistic a final release did not list: zero under threshold suppression (the release lists
        every non-zero one), not published under differential privacy or by a definition it lacks."""
        if self.basis == TRAINING and origin in (INTRA, INTER):
            return Figure()  # regional scopes are published by issuing country only
        method = self.method_of.get(period)
        return ZERO if method is not None and method.method == THRESHOLD else Figure()

    def _open_sum(self, period: str, measure: str, origin: str, destination: str, profession: str) -> Figure:
        """An open month's total: the sum of its published cells, a floor."""
        cells = [s for held, s in self._open_cells.get(period, ()) if (s.measure or MOVES) == measure
                 and _origin_matches(origin, held, s) and destination in (TOTAL, s.destination_country)
                 and profession in (TOTAL, s.profession_group)]
        if not cells:
            return Figure(final=False)
        return Figure(sum(int(s.value) for s in cells), noisy=any(s.noisy for s in cells), final=False, partial=True)


def _in_order(professions: set[str]) -> list[str]:
    """Known groups in their usual order, then any other scheme's (e.g. coarser groups) as published."""
    return [p for p in PROFESSION_GROUPS if p in professions] + sorted(professions - set(PROFESSION_GROUPS))


def _origin_matches(origin: str, held: str, stat: moves_pb2.FlowStatistic) -> bool:
    return origin in (TOTAL, held) or (origin == SAFEGUARDS and stat.safeguards_list)


def _period(chosen: str | None, window: str, default: str) -> str:
    """The period chosen, or ``default`` when none was or it names another window's period (the person
    just changed the window; the form still held the old one). Raises InvalidFilter for anything else."""
    if not chosen or WINDOWS[window].match(chosen):
        return chosen or default
    if any(pattern.match(chosen) for pattern in WINDOWS.values()):
        return default
    raise InvalidFilter("expected a %s, found %r" % (window, chosen[:20]))


def _window(chosen: str | None, statistics: Statistics) -> str:
    held = statistics.windows or ["month"]
    if chosen is None or chosen == "":
        return held[0]
    if chosen not in held:
        raise InvalidFilter("window: expected %s, found %r" % (" or ".join(held), chosen[:20]))
    return chosen


def _basis(chosen: str, statistics: Statistics) -> str:
    offered = BASES if statistics.has_training else (ISSUING,)
    if chosen not in offered:
        raise InvalidFilter("by: expected %s, found %r" % (" or ".join(offered), chosen[:20]))
    return chosen


def _release(period: str, number: int, stats: list[moves_pb2.FlowStatistic]) -> Release:
    return Release(period, number, any(s.final for s in stats), stats[0].method, len(stats),
                   sum(1 for s in stats if s.suppressed))


@dataclass(frozen=True)
class Filters:
    """What the person chose: a window (month, quarter or year) and a range of periods, a destination, an
    origin, a profession (_T: all), and whether origins are issuing countries or countries of training."""

    period_from: str
    period_to: str
    destination: str = TOTAL
    origin: str = TOTAL
    profession: str = TOTAL
    basis: str = ISSUING
    window: str = "month"

    @classmethod
    def parse(cls, query: Mapping[str, str], statistics: Statistics) -> Filters:
        """Return the filters of a query string, defaulting to everything. Raises InvalidFilter."""
        window = _window(query.get("window"), statistics)
        basis = _basis(query.get("by") or ISSUING, statistics.sibling(ISSUING, window))
        held = statistics.sibling(basis, window)
        first, last = (held.periods[0], held.periods[-1]) if held.periods else ("", "")
        chosen = cls(_period(query.get("from"), window, first), _period(query.get("to"), window, last),
                     query.get("destination") or TOTAL, query.get("origin") or TOTAL, query.get("profession") or TOTAL,
                     basis, window)
        chosen.check(held)
        if chosen.period_from > chosen.period_to:
            chosen = replace(chosen, period_from=chosen.period_to, period_to=chosen.period_from)
        return chosen

    def check(self, statistics: Statistics) -> None:
        """Raise InvalidFilter unless every value is one the statistics hold."""
        for name, value in (("from", self.period_from), ("to", self.period_to)):
            if value and not WINDOWS[self.window].match(value):
                raise InvalidFilter("%s: expected a %s, found %r" % (name, self.window, value[:20]))
        offered = (("destination", self.destination, statistics.destinations),
                   ("origin", self.origin, statistics.origins), ("profession", self.profession, statistics.professions))
        for name, value, known in offered:
            if value != TOTAL and value not in known:
                raise InvalidFilter("%s: no statistics for %r" % (name, value[:20]))

    def periods(self, statistics: Statistics) -> list[str]:
        return [p for p in statistics.periods if self.period_from <= p <= self.period_to]

    def query(self) -> str:
        return urlencode({"window": self.window, "from": self.period_from, "to": self.period_to,
                          "destination": self.destination, "origin": self.origin, "profession": self.profession,
                          "by": self.basis})


Cell = str | Figure


@dataclass(frozen=True)
class Table:
    """A chart's data as a table: what the chart draws, cell for cell, and its CSV download."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def texts(self) -> list[list[str]]:
        return [[c.text() if isinstance(c, Figure) else c for c in row] for row in self.rows]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([c.text(grouped=False) if isinstance(c, Figure) else c for c in row])
        return out.getvalue()


def profession_label(code: str) -> str:
    return PROFESSIONS.get(code, code)


def origin_label(code: str, basis: str = ISSUING) -> str:
    return training_label(code) if basis == TRAINING else country_label(code, origin=True)


def destination_label(code: str) -> str:
    return country_label(code, origin=False)


@dataclass(frozen=True)
class Series:
    """A monthly series: its label and one figure per month."""

    label: str
    figures: tuple[tuple[str, Figure], ...]


def monthly(statistics: Statistics, periods: Sequence[str], label: str, measure: str, origin: str,
            destination: str, profession: str) -> Series:
    return Series(label, tuple((p, statistics.lookup(p, measure, origin, destination, profession))
                               for p in periods))


def monthly_table(series: Sequence[Series], window: str = "month") -> Table:
    periods = [p for p, _ in series[0].figures] if series else []
    status = {p: ("final" if all(dict(s.figures)[p].final for s in series) else "provisional") for p in periods}
    return Table((window.capitalize(), "Status", *(s.label for s in series)),
                 tuple((p, status[p], *(dict(s.figures)[p] for s in series)) for p in periods))


@dataclass(frozen=True)
class Flow:
    origin: str
    destination: str
    figure: Figure


def flows(statistics: Statistics, filters: Filters, periods: Sequence[str]) -> list[Flow]:
    """Return every origin-to-destination flow the filters select, summed over ``periods``."""
    origins = [filters.origin] if filters.origin != TOTAL else statistics.origins
    destinations = [filters.destination] if filters.destination != TOTAL else statistics.destinations
    found = []
    for origin in origins:
        for destination in destinations:
            figure = total_of(statistics.lookup(p, MOVES, origin, destination, filters.profession) for p in periods)
            if figure.suppressed or figure.value != 0:
                found.append(Flow(origin, destination, figure))
    return sorted(found, key=lambda f: (-(f.figure.number or 0), f.origin, f.destination))


def origins_of(statistics: Statistics, filters: Filters, periods: Sequence[str]) -> list[tuple[str, Figure]]:
    """Return moves by origin country to the chosen destination (or all), summed over ``periods``."""
    found = []
    for origin in statistics.origins:
        figure = total_of(statistics.lookup(p, MOVES, origin, filters.destination, filters.profession)
                          for p in periods)
        if figure.suppressed or figure.value != 0:
            found.append((origin, figure))
    return found


def professions_of(statistics: Statistics, filters: Filters, periods: Sequence[str]) -> list[tuple[str, Figure]]:
    return [(group, total_of(statistics.lookup(p, MOVES, filters.origin, filters.destination, group)
                             for p in periods))
            for group in (*statistics.professions, TOTAL)]


@dataclass(frozen=True)
class Legend:
    """What the person must know to read the figures: how they were protected."""

    thresholds: tuple[int, ...] = ()
    epsilons: tuple[str, ...] = ()
    safeguards_edition: str = ""


def legend_of(statistics: Statistics, periods: Sequence[str]) -> Legend:
    thresholds: set[int] = set()
    epsilons: set[str] = set()
    edition = ""
    for period in periods:
        stat = statistics.method_of.get(period)
        if stat is None:
            continue
        if stat.method == THRESHOLD and stat.parameters.get("k", "").isdigit():
            thresholds.add(int(stat.parameters["k"]))
        if "epsilon" in stat.parameters:
            epsilons.add(stat.parameters["epsilon"])
        edition = stat.parameters.get("safeguards_list", edition)
    return Legend(tuple(sorted(thresholds)), tuple(sorted(epsilons)), edition)


@dataclass(frozen=True)
class Options:
    """What the filters offer, as (code, label) pairs."""

    periods: tuple[str, ...]
    destinations: tuple[tuple[str, str], ...]
    origins: tuple[tuple[str, str], ...]
    professions: tuple[tuple[str, str], ...]


def options_of(statistics: Statistics) -> Options:
    return Options(
        tuple(statistics.periods),
        ((TOTAL, "All destinations"), *((c, destination_label(c)) for c in statistics.destinations)),
        ((TOTAL, origin_label(TOTAL, statistics.basis)),
         *((c, origin_label(c, statistics.basis)) for c in statistics.origins)),
        ((TOTAL, profession_label(TOTAL)), *((p, profession_label(p)) for p in statistics.professions)),
    )


@dataclass(frozen=True)
class Overview:
    """Everything the portal's page needs, for one choice of filters."""

    filters: Filters
    options: Options
    periods: tuple[str, ...]
    flows: tuple[Flow, ...]
    origins: tuple[tuple[str, Figure], ...]
    months: tuple[Series, ...]
    professions: tuple[tuple[str, Figure], ...]
    returns: tuple[Series, ...]
    regions: tuple[Series, ...]
    releases: tuple[Release, ...]
    legend: Legend
    listed: frozenset[str] = field(default_factory=frozenset)
    has_training: bool = False  # flows by country of training were published: the page offers them
    windows: tuple[str, ...] = ("month",)  # the windows statistics were published by: the page offers them

    @property
    def origin_heading(self) -> str:
        return "Country of training" if self.filters.basis == TRAINING else "Issuing country"


def overview(statistics: Statistics, filters: Filters) -> Overview:
    """Return what the page shows for ``filters``."""
    has_training = statistics.sibling(ISSUING, filters.window).has_training
    windows = tuple(statistics.windows)
    statistics = statistics.sibling(filters.basis, filters.window)
    periods = filters.periods(statistics)
    dest, prof = filters.destination, filters.profession
    months = [monthly(statistics, periods, "Moves from %s" % _from(filters.origin, filters.basis), MOVES,
                      filters.origin, dest, prof)]
    if filters.origin == TOTAL:
        months.append(monthly(statistics, periods, "Moves from WHO safeguards-list countries", MOVES, SAFEGUARDS,
                              dest, prof))
    returns = (monthly(statistics, periods, "All moves", MOVES, filters.origin, dest, prof),
               monthly(statistics, periods, "Returns to the country of training", RETURNS, filters.origin, dest,
                       prof))
    regions = (monthly(statistics, periods, "From the destination's region", MOVES, INTRA, dest, prof),
               monthly(statistics, periods, "From other regions", MOVES, INTER, dest, prof))
    chosen = set(periods)
    return Overview(
        filters, options_of(statistics), tuple(periods), tuple(flows(statistics, filters, periods)),
        tuple(origins_of(statistics, filters, periods)), tuple(months),
        tuple(professions_of(statistics, filters, periods)), returns, regions,
        tuple(r for r in statistics.releases if r.period in chosen), legend_of(statistics, periods),
        frozenset(statistics.listed), has_training, windows)


def _from(origin: str, basis: str) -> str:
    if origin != TOTAL:
        return origin_label(origin, basis)
    return "all countries of training" if basis == TRAINING else "all issuing countries"


# ---- the tables beside the charts (and their CSV downloads) ----

def flows_table(view: Overview) -> Table:
    return Table((view.origin_heading, "Destination", "Moves"),
                 tuple((origin_label(f.origin, view.filters.basis), destination_label(f.destination), f.figure)
                       for f in view.flows))


def origins_table(view: Overview) -> Table:
    return Table((view.origin_heading, "ISO code", "WHO safeguards list", "Moves"),
                 tuple((origin_label(code, view.filters.basis), code, "yes" if code in view.listed else "no", figure)
                       for code, figure in view.origins))


def professions_table(view: Overview) -> Table:
    return Table(("Profession", "Moves"), tuple((profession_label(code), figure) for code, figure in view.professions))


def releases_table(view: Overview) -> Table:
    return Table((view.filters.window.capitalize(), "Release", "Status", "Method", "Statistics", "Suppressed",
                  "Share suppressed"),
                 tuple((r.period, str(r.number), "final" if r.final else "provisional", r.method, str(r.statistics),
                        str(r.suppressed), "%.0f%%" % (100 * r.share)) for r in view.releases))


TABLES = {
    "flows": flows_table,
    "origins": origins_table,
    "months": lambda view: monthly_table(view.months, view.filters.window),
    "professions": professions_table,
    "returns": lambda view: monthly_table(view.returns, view.filters.window),
    "regions": lambda view: monthly_table(view.regions, view.filters.window),
    "suppression": releases_table,
}

__all__ = ["ORIGIN_GROUPS", "SUPPRESSED", "TABLES", "Figure", "Filters", "InvalidFilter", "Overview", "Statistics",
           "Table", "overview", "total_of"]
