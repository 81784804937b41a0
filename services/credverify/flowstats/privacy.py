"""Optional differential privacy for releases, through OpenDP, with a privacy-budget ledger per window.

No I/O. The mechanism (documented in docs/flowstats.md):

- the privacy unit is one person: the counter keeps at most
  ``max_moves_per_partition`` moves of each subject per window and moves
  partition (by a per-window digest of the registry's subject token, dropped
  once the window is final; the token itself is never kept), so one person adds at most
  ``contribution_bound`` moves to a window, and two windows' data are
  neighbours when they differ by one person's moves;
- a release is a set of *levels* (e.g. cells by origin, destination and
  profession; totals by destination; cells by country of training,
  destination and profession), each a vector of counts over a domain
  fixed in advance (every ISO 3166-1 country as origin, the configured
  destination countries, the profession groups), so that which keys exist
  reveals nothing; a move adds 1 to at most one entry of each level;
- each level has L1 sensitivity ``contribution_bound`` (a person adds at most
  that many moves, each 1 to one entry of the level) and gets epsilon /
  levels through OpenDP's geometric mechanism (``make_geometric``, discrete
  Laplace) with scale levels x bound / epsilon, its privacy map asked at that
  sensitivity: the release is (epsilon, 0)-differentially private per person
  by sequential composition;
- only noisy counts of at least ``k`` are published (post-processing of the
  noisy values, which costs no privacy and keeps noise on the many empty
  cells of the domain out of the tables);
- every release of a window spends epsilon from the window's budget; a
  provisional release is made only while the budget still holds it and the
  final release, so the final one can always be made.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pycountry

from credverify.core.errors import ConfigurationError
from credverify.flowstats.regions import RegionClassification
from credverify.flowstats.tables import (
    INTER,
    INTRA,
    MEASURES,
    MOVES,
    PROFESSION_GROUPS,
    SAFEGUARDS,
    TOTAL,
    UNKNOWN,
    MoveCell,
    StatKey,
    keys_of,
)

METHOD_DP = "dp-geometric"
MECHANISM = "opendp.measurements.make_geometric"
# (origin level, destination level, profession level) of each published level.
FINAL_LEVELS: tuple[tuple[str, str, str], ...] = (
    ("country", "country", "group"),
    (TOTAL, "country", "group"),
    (TOTAL, "country", TOTAL),
    ("scope", "country", TOTAL),
    ("safeguards", "country", TOTAL),
)
PROVISIONAL_LEVELS: tuple[tuple[str, str, str], ...] = (("country", "country", "group"),)
# (training level, destination level, profession level) of each published level of the flows by
# country of training (measure moves only; their total is the one above).
FINAL_TRAINING_LEVELS: tuple[tuple[str, str, str], ...] = (
    ("country", "country", "group"),
    ("safeguards", "country", TOTAL),
)
PROVISIONAL_TRAINING_LEVELS: tuple[tuple[str, str, str], ...] = (("country", "country", "group"),)
_TOLERANCE = 1e-9
# The origins of each origin level but "country" (every ISO 3166-1 code).
_LEVEL_ORIGINS: dict[str, tuple[str, ...]] = {"scope": (INTRA, INTER), "safeguards": (SAFEGUARDS,), TOTAL: (TOTAL,)}


@dataclass(frozen=True)
class PrivacyPolicy:
    """Differential-privacy settings of a deployment."""

    epsilon: float  # spent by each release
    window_budget: float  # total epsilon a window may spend
    destinations: tuple[str, ...]  # the public domain of destination countries
    # The privacy unit is a person: each counts with at most this many moves per window in each moves
    # partition (moves are partitioned by country pair, so a person's moves may fall in several) ...
    max_moves_per_partition: int = 1
    # ... of this many partitions: a person adds at most their product to a window.
    partitions: int = 3
    groups: tuple[str, ...] = PROFESSION_GROUPS  # the public domain of profession groups

    @property
    def contribution_bound(self) -> int:
        """Return the most moves one person adds to a window: the L1 sensitivity of each level."""
        return self.max_moves_per_partition * self.partitions

    def __post_init__(self) -> None:
        if self.max_moves_per_partition < 1 or self.partitions < 1:
            raise ConfigurationError("dp moves per person: expected at least 1, found %d"
                                     % self.max_moves_per_partition)
        if not self.epsilon > 0:
            raise ConfigurationError("dp epsilon: expected a positive number, found %r" % self.epsilon)
        if self.window_budget + _TOLERANCE < self.epsilon:
            raise ConfigurationError(
                "dp window budget: expected at least one release's epsilon (%g), found %g"
                % (self.epsilon, self.window_budget)
            )
        if not self.destinations:
            raise ConfigurationError(
                "dp destinations: expected the public list of destination countries, found none"
            )


@dataclass(frozen=True)
class LedgerEntry:
    release: int
    epsilon: float
    final: bool


@dataclass(frozen=True)
class Ledger:
    """What one window has spent."""

    entries: tuple[LedgerEntry, ...] = field(default_factory=tuple)

    @property
    def spent(self) -> float:
        return sum(entry.epsilon for entry in self.entries)

    def allows(self, policy: PrivacyPolicy, *, final: bool) -> bool:
        """Return True when a release of ``policy.epsilon`` fits, keeping the final release's share."""
        reserve = 0.0 if final else policy.epsilon
        return self.spent + policy.epsilon + reserve <= policy.window_budget + _TOLERANCE

    def charge(self, release: int, epsilon: float, *, final: bool) -> Ledger:
        return Ledger(self.entries + (LedgerEntry(release, epsilon, final),))


@dataclass(frozen=True)
class NoisyRelease:
    values: dict[StatKey, int]  # only positive noisy values
    epsilon: float
    scale: float
    levels: int


def domain_origins() -> tuple[str, ...]:
    """Return every ISO 3166-1 alpha-2 code: the public domain of origins."""
    return tuple(sorted(country.alpha_2 for country in pycountry.countries))


def _level_keys(
    period: str, measure: str, level: tuple[str, str, str], destinations: Sequence[str], groups: Sequence[str]
) -> list[StatKey]:
    origin_level, _destination_level, profession_level = level
    origins: Sequence[str] = _LEVEL_ORIGINS.get(origin_level) or domain_origins()
    professions: Sequence[str] = groups if profession_level == "group" else (TOTAL,)
    return [
        StatKey(period, measure, o, d, p)
        for o, d, p in itertools.product(origins, destinations, professions)
    ]


def _training_level_keys(period: str, level: tuple[str, str, str], destinations: Sequence[str],
                         groups: Sequence[str]) -> list[StatKey]:
    training_level, _destination_level, profession_level = level
    trainings: Sequence[str] = (SAFEGUARDS,) if training_level == "safeguards" else domain_origins() + (UNKNOWN,)
    professions: Sequence[str] = groups if profession_level == "group" else (TOTAL,)
    return [
        StatKey(period, MOVES, TOTAL, d, p, t)
        for t, d, p in itertools.product(trainings, destinations, professions)
    ]


def release_levels(period: str, destinations: Sequence[str], *, final: bool, by_training: bool,
                   groups: Sequence[str] = PROFESSION_GROUPS) -> list[list[StatKey]]:
    """Return the statistics of each level a release publishes: a move adds 1 to at most one of each."""
    levels = FINAL_LEVELS if final else PROVISIONAL_LEVELS
    training_levels = (FINAL_TRAINING_LEVELS if final else PROVISIONAL_TRAINING_LEVELS) if by_training else ()
    return [_level_keys(period, measure, level, destinations, groups)
            for measure, level in itertools.product(MEASURES, levels)
            ] + [_training_level_keys(period, level, destinations, groups) for level in training_levels]


def noisy_release(
    period: str,
    cells: Mapping[MoveCell, int],
    *,
    regions: RegionClassification,
    policy: PrivacyPolicy,
    final: bool,
    publish_at_least: int = 1,
    by_training: bool = False,
) -> NoisyRelease:
    """Return one differentially private release of the window's ``cells`` (see the module's docstring).

    Moves to a destination outside ``policy.destinations`` are left out: the domain is fixed in
    advance. Raises RuntimeError when OpenDP refuses the measurement."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    levels = release_levels(period, policy.destinations, final=final, by_training=by_training, groups=policy.groups)
    level_count = len(levels)
    bound = policy.contribution_bound
    scale = level_count * bound / policy.epsilon
    exact: dict[StatKey, int] = {}
    allowed = set(policy.destinations)
    for cell, count in cells.items():
        if cell.destination not in allowed:
            continue
        for key in keys_of(period, cell, regions, margins=True):
            exact[key] = exact.get(key, 0) + count
    values: dict[StatKey, int] = {}
    spent_per_level: list[float] = []
    for keys in levels:
        domain = dp.vector_domain(dp.atom_domain(T=int), size=len(keys))
        mechanism = dp.m.make_geometric(domain, dp.l1_distance(T=int), scale=scale)
        spent_per_level.append(float(mechanism.map(bound)))
        noisy = mechanism([exact.get(key, 0) for key in keys])
        for key, value in zip(keys, noisy, strict=True):
            # Post-processing of noisy values only: costs no privacy, keeps noise on empty cells out.
            if value >= max(1, publish_at_least):
                values[key] = int(value)
    # Summed exactly (fsum): ten levels of 0.1 spend 1, not 0.9999999999999999.
    spent = math.fsum(spent_per_level)
    if spent > policy.epsilon * (1 + _TOLERANCE):
        raise RuntimeError("dp release: expected to spend at most %g, opendp says %g" % (policy.epsilon, spent))
    return NoisyRelease(values=values, epsilon=spent, scale=scale, levels=level_count)
