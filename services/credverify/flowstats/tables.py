"""What a move counts in, and the table of aggregates a window publishes. Pure, no I/O.

The finest cell of a window is (origin, destination, profession group,
returning, country of training). Every published statistic is a sum of finest
cells, named by a ``StatKey``: a measure (all moves, or returns only) and, for
each of origin, destination and profession, either one category or a total.
Origins also have the regional scope relative to the destination (``_INTRA``,
``_INTER``) and the WHO safeguards-list series (``_SSL``).

Flows are published by two definitions of where a practitioner comes from,
never crossed: by *issuing country* (``origin``, the council that attested
her; ``training`` is ``_T``) and by *country of training* (``training``, as
her credential says, the definition of OECD's and WHO's "foreign-trained";
``origin`` is ``_T``). Returns are counted by issuing country only: by
country of training they are the flow from the destination itself.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from credverify.core.codes import check_country, check_isco, profession_group
from credverify.core.errors import InvalidInput
from credverify.core.timefmt import from_date
from credverify.flowstats.regions import RegionClassification, Scope
from credverify.flowstats.windows import MONTH, period_of
from credverify.v1 import moves_pb2

TOTAL = "_T"  # SDMX's code for "all categories"
UNKNOWN = "_U"  # SDMX's code for "unknown": a move that did not say where its practitioner trained
INTRA = "_INTRA"  # origins in the destination's region
INTER = "_INTER"  # origins in another region
SAFEGUARDS = "_SSL"  # origins on the WHO Health Workforce Support and Safeguards List
ORIGIN_GROUPS = (INTRA, INTER, SAFEGUARDS)  # origin codes that stand for a group of countries
MOVES = "moves"
RETURNS = "returns"
MEASURES = (MOVES, RETURNS)
PROFESSION_GROUPS = ("doctors", "nurses", "midwives", "dentists", "pharmacists", "other")
# Coarser groups, a remedy for sparse tables (docs/flowstats.md): fewer, larger cells.
NURSING_MIDWIFERY = "nursing-midwifery"
OTHER_HEALTH = "other-health"  # dentists, pharmacists and the rest: not the fine scheme's "other"
COARSE_PROFESSION_GROUPS = ("doctors", NURSING_MIDWIFERY, OTHER_HEALTH)
COARSE_GROUP_OF = {"doctors": "doctors", "nurses": NURSING_MIDWIFERY, "midwives": NURSING_MIDWIFERY,
                   "dentists": OTHER_HEALTH, "pharmacists": OTHER_HEALTH, "other": OTHER_HEALTH}
PROFESSION_SCHEMES = {"fine": PROFESSION_GROUPS, "coarse": COARSE_PROFESSION_GROUPS}


@dataclass(frozen=True, order=True)
class MoveCell:
    """The finest cell a move counts in (within its window)."""

    origin: str
    destination: str
    profession: str
    returning: bool
    training: str = UNKNOWN  # country of training, ISO 3166-1 alpha-2, or UNKNOWN


@dataclass(frozen=True, order=True)
class StatKey:
    """One publishable aggregate of a window."""

    period: str
    measure: str
    origin: str
    destination: str
    profession: str
    training: str = TOTAL  # a country of training (then origin is TOTAL), or TOTAL: flows by issuing country

    @property
    def record_key(self) -> str:
        """Kafka record key on the statistics topic: "period|origin|destination|profession", then
        "|measure" for returns, or "|moves|training" for flows by country of training (the keys of
        flows by issuing country are those of the first layout)."""
        base = "|".join((self.period, self.origin, self.destination, self.profession))
        if self.training != TOTAL:
            return "|".join((base, self.measure, self.training))
        return base if self.measure == MOVES else base + "|" + self.measure

    @classmethod
    def from_record_key(cls, record_key: str) -> StatKey:
        """Inverse of ``record_key``. Raises ValueError for a key of another layout."""
        fields = record_key.split("|")
        if len(fields) == 4:
            return cls(fields[0], MOVES, fields[1], fields[2], fields[3])
        if len(fields) in (5, 6) and fields[4] in MEASURES:
            training = fields[5] if len(fields) == 6 else TOTAL
            return cls(fields[0], fields[4], fields[1], fields[2], fields[3], training)
        raise ValueError("statistic key: expected period|origin|destination|profession[|measure[|training]], "
                         "found %r" % record_key)

    @property
    def by_training(self) -> bool:
        """True for a flow by country of training (False: by issuing country)."""
        return self.training != TOTAL

    @property
    def source(self) -> str:
        """Return where the flow comes from in its definition: the country of training or the issuing country."""
        return self.training if self.by_training else self.origin

    @property
    def is_cell(self) -> bool:
        """True for the finest published level of either definition: one source country (or, by
        training, not known), one destination and one profession."""
        return (TOTAL not in (self.source, self.destination, self.profession)
                and self.source not in ORIGIN_GROUPS and (self.origin == TOTAL) == self.by_training)


@dataclass(frozen=True)
class CountedMoveFacts:
    """What the statistics use of a verified move, checked."""

    move_id: str
    period: str
    cell: MoveCell
    # A digest of the window and the subject token: the same person gives the same digest within a
    # window and another in the next; empty when the move has no token (older producers).
    subject: bytes = b""


def subject_digest(period: str, token: str) -> bytes:
    """Return the per-window digest of a subject token (empty for no token)."""
    if not token:
        return b""
    return hashlib.sha256(("%s\x00%s" % (period, token)).encode()).digest()[:16]


def facts_of(move: moves_pb2.VerifiedMove, window: str = MONTH, professions: str = "fine", *,
             subjects: bool = True) -> CountedMoveFacts:
    """Return the checked facts of a move, its period that of ``window`` (month, quarter, year), its
    profession group of the ``professions`` scheme (fine, coarse), and its subject digest unless
    ``subjects`` is False (only the bound on each person's moves needs it). Raises InvalidInput naming
    the first field that is wrong."""
    if not move.move_id:
        raise InvalidInput("move_id: expected the move's de-duplication id, found none")
    origin = check_country("origin_country", move.origin_country)
    destination = check_country("destination_country", move.destination_country)
    isco = check_isco("profession_isco", move.profession_isco)
    try:
        day = from_date(move.registered_on)
    except ValueError as exc:
        raise InvalidInput("registered_on: expected a calendar date, found %s" % exc) from exc
    if day is None:
        raise InvalidInput("registered_on: expected the registration date, found none")
    # Return migration is defined by the country of training; the registry's flag
    # is taken when a registry does not send the country (older producers).
    trained = check_country("country_of_training", move.country_of_training) if move.country_of_training else ""
    returning = trained == destination if trained else move.return_migration
    period = period_of(day, window)
    return CountedMoveFacts(
        move_id=move.move_id,
        period=period,
        cell=MoveCell(origin, destination, _group(isco, professions), returning, trained or UNKNOWN),
        subject=subject_digest(period, move.subject_token) if subjects else b"",
    )


def _group(isco: str, professions: str) -> str:
    group = profession_group(isco)
    return COARSE_GROUP_OF[group] if professions == "coarse" else group


def origin_levels(cell: MoveCell, regions: RegionClassification) -> tuple[str, ...]:
    """Return the origins ``cell`` counts in: its country, all origins, its regional scope (when both
    countries have a region) and the safeguards-list series (when its origin is on the list)."""
    scope = regions.scope(cell.origin, cell.destination)
    levels: tuple[str, ...] = (cell.origin, TOTAL)
    if scope is Scope.INTRA:
        levels += (INTRA,)
    elif scope is Scope.INTER:
        levels += (INTER,)
    if regions.on_safeguards_list(cell.origin):
        levels += (SAFEGUARDS,)
    return levels


def training_levels(cell: MoveCell, regions: RegionClassification) -> tuple[str, ...]:
    """Return the countries of training ``cell`` counts in besides all of them: its own (or unknown),
    and the safeguards-list series when that country is on the list."""
    if regions.on_safeguards_list(cell.training):
        return (cell.training, SAFEGUARDS)
    return (cell.training,)


def keys_of(period: str, cell: MoveCell, regions: RegionClassification, *, margins: bool,
            by_training: bool = True) -> list[StatKey]:
    """Return every statistic ``cell`` counts in: only the finest ones, or with all margins; by issuing
    country (both measures) and, with ``by_training``, by country of training (moves)."""
    measures = (MOVES, RETURNS) if cell.returning else (MOVES,)
    if not margins:
        finest = [StatKey(period, m, cell.origin, cell.destination, cell.profession) for m in measures]
        return finest + [StatKey(period, MOVES, TOTAL, cell.destination, cell.profession, cell.training)
                         ] if by_training else finest
    destinations, professions = (cell.destination, TOTAL), (cell.profession, TOTAL)
    by_origin = [
        StatKey(period, m, o, d, p)
        for m in measures
        for o, d, p in itertools.product(origin_levels(cell, regions), destinations, professions)
    ]
    if not by_training:
        return by_origin
    return by_origin + [
        StatKey(period, MOVES, TOTAL, d, p, t)
        for t, d, p in itertools.product(training_levels(cell, regions), destinations, professions)
    ]


def keys_per_move(*, margins: bool, by_training: bool = True) -> int:
    """Return the most statistics one move can count in (the sensitivity of a release)."""
    if not margins:
        return len(MEASURES) + by_training  # its cell of each measure, and its cell by country of training
    # origin: country, total, regional scope, safeguards list; destination and profession: category, total
    by_origin = 4 * 2 * 2 * len(MEASURES)
    # country of training: country, safeguards list (the total is the one above)
    return by_origin + 2 * 2 * 2 * by_training


def tabulate(
    period: str, cells: Mapping[MoveCell, int], regions: RegionClassification, *, margins: bool,
    by_training: bool = False,
) -> dict[StatKey, int]:
    """Return the value of every non-zero statistic of the window, by issuing country and, with
    ``by_training``, by country of training."""
    table: dict[StatKey, int] = {}
    for cell, count in cells.items():
        if count <= 0:
            continue
        for key in keys_of(period, cell, regions, margins=margins, by_training=by_training):
            table[key] = table.get(key, 0) + count
    return table


def members(
    period: str, cells: Iterable[MoveCell], regions: RegionClassification, *, margins: bool
) -> dict[StatKey, frozenset[MoveCell]]:
    """Return, for every statistic, the finest cells it sums."""
    found: dict[StatKey, set[MoveCell]] = {}
    for cell in cells:
        for key in keys_of(period, cell, regions, margins=margins):
            found.setdefault(key, set()).add(cell)
    return {key: frozenset(value) for key, value in found.items()}
