"""An intruder tries to recover every suppressed statistic from everything published for its window.

The intruder here is written independently of credverify.flowstats.disclosure:
it reads only published FlowStatistic records (all releases of a window), knows
the public regional classification, and solves integer programs (scipy's
``milp``) for the smallest and largest value each suppressed statistic can
take. The integration test runs the same attack on what the worker put on the
topic.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from credverify.flowstats.regions import RegionClassification, Scope, load_m49
from credverify.flowstats.releases import ReleasePolicy, build_release
from credverify.flowstats.tables import PROFESSION_GROUPS, MoveCell
from credverify.v1 import moves_pb2

TOTAL, INTRA, INTER, SSL, UNKNOWN = "_T", "_INTRA", "_INTER", "_SSL", "_U"
BIG = 1e7


@dataclass(frozen=True)
class Recovered:
    key: tuple[str, str, str, str, str]
    lower: float
    upper: float


Key = tuple[str, str, str, str, str]  # measure, origin, destination, profession, country of training
Cell = tuple[str, str, str, str, bool]  # origin, training, destination, profession, returning


def key_of(stat: moves_pb2.FlowStatistic) -> Key:
    return (stat.measure, stat.origin_country, stat.destination_country, stat.profession_group,
            stat.country_of_training or TOTAL)


def unknowns(listed: Iterable[Key]) -> list[Cell]:
    """Every pairing, within a destination and profession, of a listed issuing country with a listed
    country of training: flows are published by each, never crossed. A move returns exactly when it
    trained in the destination (when it says where it trained)."""
    groups = (TOTAL, INTRA, INTER, SSL)
    origins: dict[tuple[str, str], set[str]] = {}
    trainings: dict[tuple[str, str], set[str]] = {}
    returns: set[tuple[str, str, str]] = set()
    for measure, o, d, p, training in listed:
        if TOTAL in (d, p):
            continue
        if training != TOTAL and o == TOTAL and training not in groups:
            trainings.setdefault((d, p), set()).add(training)
        elif training == TOTAL and o not in groups:
            if measure == "returns":
                returns.add((o, d, p))
            else:
                origins.setdefault((d, p), set()).add(o)
    cells: set[Cell] = set()
    for (d, p), found in origins.items():
        for o in found:
            for training in trainings.get((d, p), {UNKNOWN}):
                if training == UNKNOWN:
                    cells.add((o, training, d, p, False))
                    if (o, d, p) in returns:
                        cells.add((o, training, d, p, True))
                elif training != d or (o, d, p) in returns:
                    cells.add((o, training, d, p, training == d))
    return sorted(cells)


def attack(statistics: Iterable[moves_pb2.FlowStatistic], regions: RegionClassification, k: int) -> list[Recovered]:
    """Return the suppressed statistics of the window's final release that the intruder pins down:
    exactly (upper - lower < 1), or (for a statistic that could be below k) provably below k."""
    statistics = list(statistics)
    final = [s for s in statistics if s.final]
    assert final, "no final release to attack"
    floors: dict[Key, int] = {}
    for stat in statistics:
        if not stat.final and not stat.suppressed:
            floors[key_of(stat)] = max(floors.get(key_of(stat), 0), stat.value)
    listed = {key_of(s): s for s in final}
    cells = unknowns(listed)
    if not cells:
        return []
    # The WHO safeguards list is public: its series sums the listed origins.
    listed_origins = regions.safeguards.countries if regions.safeguards is not None else frozenset()

    def row(key: Key) -> np.ndarray:
        measure, origin, destination, profession, training = key
        out = np.zeros(len(cells))
        for i, (o, t, d, p, returning) in enumerate(cells):
            if measure == "returns" and not returning:
                continue
            scope = regions.scope(o, d)
            origin_ok = origin in (o, TOTAL) or (origin == INTRA and scope is Scope.INTRA) or (
                origin == INTER and scope is Scope.INTER) or (origin == SSL and o in listed_origins)
            training_ok = training in (t, TOTAL) or (training == SSL and t in listed_origins)
            if origin_ok and training_ok and destination in (d, TOTAL) and profession in (p, TOTAL):
                out[i] = 1.0
        return out

    rows, lower, upper = [], [], []
    for key, stat in listed.items():
        rows.append(row(key))
        if stat.suppressed:
            lower.append(max(1.0, floors.get(key, 0)))
            upper.append(np.inf)
        else:
            lower.append(float(stat.value))
            upper.append(float(stat.value))
    constraint = LinearConstraint(np.array(rows), np.array(lower), np.array(upper))
    found = []
    for key, stat in sorted(listed.items()):
        if not stat.suppressed:
            continue
        objective = row(key)
        low = milp(objective, constraints=constraint, integrality=np.ones(len(cells)), bounds=Bounds(0, BIG))
        high = milp(-objective, constraints=constraint, integrality=np.ones(len(cells)), bounds=Bounds(0, BIG))
        assert low.status == 0 and high.status == 0, "the published figures contradict each other"
        lo, hi = low.fun, -high.fun
        if hi - lo < 1 - 1e-6 or hi < k - 1e-6:
            found.append(Recovered(key, lo, hi))
    return found


def random_cells(rng: random.Random, pairs: int, small_share: float) -> Counter[MoveCell]:
    """Moves between random countries; most trained where their council is, some elsewhere, some in the
    destination (returns), some without saying."""
    countries = ["KE", "GB", "RO", "LK", "TT", "IN", "PH", "NG", "IE", "FR", "DE", "ZA", "GH", "CA"]
    cells: Counter[MoveCell] = Counter()
    for _ in range(pairs):
        origin, destination = rng.sample(countries, 2)
        for profession in rng.sample(PROFESSION_GROUPS, rng.randint(1, 3)):
            n = rng.randint(1, 4) if rng.random() < small_share else rng.randint(5, 40)
            for _ in range(n):
                draw = rng.random()
                training = (origin if draw < 0.6 else destination if draw < 0.75 else UNKNOWN if draw < 0.85
                            else rng.choice(countries))
                returning = training == destination if training != UNKNOWN else rng.random() < 0.2
                cells[MoveCell(origin, destination, profession, returning, training)] += 1
    return +cells


def release(cells: Counter[MoveCell], state: moves_pb2.WindowReleases, policy: ReleasePolicy, *, final: bool
            ) -> moves_pb2.WindowReleases:
    import datetime as dt

    part = moves_pb2.WindowPart(period="2026-10", partition=0, final=final, counted=sum(cells.values()), cells=[
        moves_pb2.FlowCellCount(origin_country=c.origin, destination_country=c.destination,
                                profession_group=c.profession, returning=c.returning, count=n,
                                country_of_training="" if c.training == UNKNOWN else c.training)
        for c, n in cells.items()
    ])
    released = build_release("2026-10", {0: part}, state, policy, final=final,
                             now=dt.datetime(2026, 11, 9, tzinfo=dt.UTC))
    assert released is not None
    return released


@pytest.fixture(scope="module")
def regions() -> RegionClassification:
    return load_m49()


def policy_for(regions: RegionClassification, k: int, *, by_training: bool = False) -> ReleasePolicy:
    import datetime as dt

    return ReleasePolicy(k=k, regions=regions, grace=dt.timedelta(days=7),
                         provisional_interval=dt.timedelta(hours=1), partitions=1, by_training=by_training)


@pytest.mark.parametrize("seed", range(6))
def test_no_suppressed_statistic_can_be_recovered_from_the_final_release(
    seed: int, regions: RegionClassification
) -> None:
    recover_from_a_final_release(seed, regions, by_training=False)


@pytest.mark.parametrize("seed", range(6))
def test_no_suppressed_statistic_can_be_recovered_with_flows_by_country_of_training_too(
    seed: int, regions: RegionClassification
) -> None:
    recover_from_a_final_release(seed, regions, by_training=True)


def recover_from_a_final_release(seed: int, regions: RegionClassification, *, by_training: bool) -> None:
    rng = random.Random(seed)
    k = rng.choice([3, 5, 10])
    cells = random_cells(rng, pairs=rng.randint(3, 9), small_share=0.35)
    final = release(cells, moves_pb2.WindowReleases(period="2026-10"), policy_for(regions, k, by_training=by_training),
                    final=True)
    assert any(s.country_of_training not in ("", "_T") for s in final.latest) is by_training
    suppressed = [s for s in final.latest if s.suppressed]
    assert suppressed, "the test table should have small cells to protect"
    recovered = attack(final.latest, regions, k)
    assert recovered == [], "an intruder recovers %d suppressed statistics, e.g. %s" % (len(recovered), recovered[:3])


@pytest.mark.parametrize("seed", range(3))
def test_provisional_values_do_not_help_recover_the_final_release(seed: int, regions: RegionClassification) -> None:
    rng = random.Random(100 + seed)
    policy = policy_for(regions, 5, by_training=seed > 0)
    early = random_cells(rng, pairs=6, small_share=0.3)
    later = early + random_cells(rng, pairs=3, small_share=0.5)
    provisional = release(early, moves_pb2.WindowReleases(period="2026-10"), policy, final=False)
    final = release(later, provisional, policy, final=True)
    everything = list(provisional.latest) + list(final.latest)
    recovered = attack(everything, regions, 5)
    assert recovered == [], "provisional and final releases together give away %s" % recovered[:3]


def test_provisional_release_lists_only_cells_that_reached_k(regions: RegionClassification) -> None:
    cells = Counter({MoveCell("KE", "GB", "nurses", False): 9, MoveCell("KE", "GB", "midwives", False): 2})
    provisional = release(cells, moves_pb2.WindowReleases(period="2026-10"), policy_for(regions, 5), final=False)
    assert [(s.profession_group, s.value, s.final) for s in provisional.latest] == [("nurses", 9, False)]
    with_training = release(cells, moves_pb2.WindowReleases(period="2026-10"),
                            policy_for(regions, 5, by_training=True), final=False)
    # The nurses' cell, by issuing country and (not known here) by country of training.
    assert [(s.origin_country, s.country_of_training, s.profession_group, s.value, s.final)
            for s in with_training.latest] == [("KE", "_T", "nurses", 9, False), ("_T", "_U", "nurses", 9, False)]
    assert provisional.published_floor["2026-10|KE|GB|nurses"] == 9


def test_a_total_with_a_single_small_part_is_suppressed_with_it(regions: RegionClassification) -> None:
    cells = Counter({MoveCell("KE", "GB", "nurses", False): 30, MoveCell("KE", "GB", "midwives", False): 2,
                     MoveCell("RO", "GB", "doctors", False): 12, MoveCell("LK", "GB", "doctors", False): 8})
    final = release(cells, moves_pb2.WindowReleases(period="2026-10"), policy_for(regions, 5), final=True)
    by_key = {(s.origin_country, s.destination_country, s.profession_group, s.measure): s for s in final.latest
              if s.country_of_training == TOTAL}
    # All midwives into GB came from Kenya: that total is the small cell itself.
    assert by_key[(TOTAL, "GB", "midwives", "moves")].suppressed
    assert by_key[("KE", "GB", "midwives", "moves")].suppressed
    assert not by_key[(TOTAL, TOTAL, TOTAL, "moves")].suppressed
    assert by_key[(TOTAL, TOTAL, TOTAL, "moves")].value == 52
    assert attack(final.latest, regions, 5) == []


def test_nothing_is_suppressed_when_every_statistic_reaches_k(regions: RegionClassification) -> None:
    cells = Counter({MoveCell("KE", "GB", "nurses", False): 30, MoveCell("RO", "GB", "doctors", False): 12})
    final = release(cells, moves_pb2.WindowReleases(period="2026-10"), policy_for(regions, 5), final=True)
    assert not any(s.suppressed for s in final.latest)
    assert all(s.final and s.method == "threshold" and s.parameters["k"] == "5" for s in final.latest)
