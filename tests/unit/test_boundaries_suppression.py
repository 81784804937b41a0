"""Where threshold suppression draws its lines (docs/flowstats.md, "Disclosure control").

Primary: a statistic with ``0 < value < k`` is suppressed, so a cell of k - 1 is hidden and a cell of
k is published. Secondary: what stays published never lets a reader work a suppressed statistic out
(total minus published parts) or prove it below k. Each claim is checked at its edge: one step
inside the line and one step outside.
"""

from __future__ import annotations

import pytest

from credverify.flowstats.defaults import MIN_K
from credverify.flowstats.disclosure import Exposure, audit, protect
from credverify.flowstats.regions import RegionClassification, load_m49
from credverify.flowstats.tables import MOVES, TOTAL, MoveCell, StatKey, tabulate

PERIOD = "2026-10"


@pytest.fixture(scope="module")
def regions() -> RegionClassification:
    return load_m49()


def cell(origin: str, profession: str, destination: str = "GB") -> StatKey:
    return StatKey(PERIOD, MOVES, origin, destination, profession)


@pytest.mark.parametrize("k", [MIN_K, 3, 5, 10])
def test_a_cell_of_k_minus_one_is_suppressed_and_a_cell_of_k_is_published(
    k: int, regions: RegionClassification
) -> None:
    # Cells only, no totals: nothing but the threshold decides.
    table = {cell("KE", "nurses"): k - 1, cell("RO", "doctors"): k, cell("LK", "midwives"): k + 1}
    protection = protect(table, k=k, regions=regions)
    assert cell("KE", "nurses") in protection.primary, "a cell of k - 1 = %d was published at k = %d" % (k - 1, k)
    assert protection.suppressed == {cell("KE", "nurses")}, (
        "at k = %d a cell of exactly k must be published, found suppressed: %s" % (k, sorted(protection.suppressed)))


def test_a_cell_of_one_is_suppressed(regions: RegionClassification) -> None:
    table = {cell("KE", "nurses"): 1, cell("RO", "doctors"): 40}
    assert protect(table, k=5, regions=regions).primary == {cell("KE", "nurses")}


def test_a_listed_statistic_of_zero_is_not_a_small_cell(regions: RegionClassification) -> None:
    # Zero reveals no one: "every non-zero statistic below k" is suppressed, a zero is not.
    table = {cell("KE", "nurses"): 0, cell("RO", "doctors"): 40}
    protection = protect(table, k=5, regions=regions)
    assert protection.suppressed == frozenset() and protection.primary == frozenset()


def test_a_table_where_everything_reaches_k_is_published_whole(regions: RegionClassification) -> None:
    table = tabulate(PERIOD, {MoveCell("KE", "GB", "nurses", False): 5, MoveCell("RO", "GB", "doctors", False): 7},
                     regions, margins=True)
    assert protect(table, k=5, regions=regions).suppressed == frozenset()


def test_k_below_two_is_refused_and_two_is_accepted(regions: RegionClassification) -> None:
    table = {cell("KE", "nurses"): 1, cell("RO", "doctors"): 40}
    with pytest.raises(ValueError, match="k: expected at least 2, found 1"):
        protect(table, k=MIN_K - 1, regions=regions)
    assert protect(table, k=MIN_K, regions=regions).primary == {cell("KE", "nurses")}


def published_and_suppressed(table: dict[StatKey, int], suppressed: frozenset[StatKey]) -> dict[StatKey, int]:
    return {key: value for key, value in table.items() if key not in suppressed}


def test_a_small_cell_cannot_be_worked_out_from_its_total_and_its_published_sibling(
    regions: RegionClassification,
) -> None:
    # KE->GB: 2 nurses and 30 midwives. Publishing the KE->GB total (32) and the 30 gives the 2 away.
    cells = {MoveCell("KE", "GB", "nurses", False): 2, MoveCell("KE", "GB", "midwives", False): 30,
             MoveCell("RO", "GB", "nurses", False): 12, MoveCell("RO", "GB", "midwives", False): 9}
    table = tabulate(PERIOD, cells, regions, margins=True)
    protection = protect(table, k=5, regions=regions)
    assert protection.primary == {key for key, value in table.items() if 0 < value < 5}
    assert cell("KE", "nurses") in protection.primary
    assert len(protection.suppressed) > 1, "the small cell was hidden alone, next to the totals that reveal it"
    published = published_and_suppressed(table, protection.suppressed)
    # Every way of taking published figures apart along the small cell's relations leaves it open:
    # for each total that contains it, at least one other part of that total is hidden too.
    ke_total = StatKey(PERIOD, MOVES, "KE", "GB", TOTAL)
    nurses_total = StatKey(PERIOD, MOVES, TOTAL, "GB", "nurses")
    for total, parts in ((ke_total, [cell("KE", "midwives")]), (nurses_total, [cell("RO", "nurses")])):
        assert total not in published or any(part not in published for part in parts), (
            "%s minus its published parts gives the suppressed cell away" % (total,))


def exposures(table: dict[StatKey, int], suppressed: frozenset[StatKey],
              regions: RegionClassification) -> dict[StatKey, Exposure]:
    return audit(published_and_suppressed(table, suppressed), suppressed, {}, regions)


@pytest.mark.parametrize("k", [3, 5, 10])
def test_every_suppressed_statistic_stays_open_by_at_least_one_and_small_ones_up_to_k(
    k: int, regions: RegionClassification
) -> None:
    cells = {MoveCell("KE", "GB", "nurses", False): k - 1, MoveCell("KE", "GB", "midwives", False): 3 * k,
             MoveCell("RO", "GB", "nurses", False): 2 * k, MoveCell("RO", "GB", "doctors", False): 1,
             MoveCell("LK", "IE", "nurses", False): 4 * k, MoveCell("LK", "IE", "doctors", False): k}
    table = tabulate(PERIOD, cells, regions, margins=True)
    protection = protect(table, k=k, regions=regions)
    assert protection.primary == {key for key, value in table.items() if 0 < value < k}
    assert {cell("KE", "nurses"), cell("RO", "doctors")} <= protection.primary
    for key, exposure in exposures(table, protection.suppressed, regions).items():
        assert exposure.width >= 1, "%s can be told exactly: %s" % (key, exposure)
        if key in protection.primary:
            assert exposure.upper >= k, "%s can be proved below k = %d: %s" % (key, k, exposure)


def test_the_audit_sees_a_suppressed_cell_that_its_total_gives_away(regions: RegionClassification) -> None:
    # The audit is the last line: given the naive pattern (the small cell alone), it must find the leak.
    cells = {MoveCell("KE", "GB", "nurses", False): 2, MoveCell("KE", "GB", "midwives", False): 30}
    table = tabulate(PERIOD, cells, regions, margins=False)
    ke_total = StatKey(PERIOD, MOVES, "KE", "GB", TOTAL)
    published = {cell("KE", "midwives"): 30, ke_total: 32}
    exposure = audit(published, [cell("KE", "nurses")], {}, regions)[cell("KE", "nurses")]
    assert (exposure.lower, exposure.upper) == (2, 2), "total 32 minus 30 published pins the cell at 2"
    assert table[cell("KE", "nurses")] == 2


def test_values_published_earlier_are_lower_bounds_in_the_audit(regions: RegionClassification) -> None:
    # Counts never shrink: a cell hidden now that was published at 3 earlier is at least 3 now.
    ke_total = StatKey(PERIOD, MOVES, "KE", "GB", TOTAL)
    hidden = [cell("KE", "nurses"), cell("KE", "midwives")]
    without = audit({ke_total: 10}, hidden, {}, regions)[cell("KE", "nurses")]
    assert (without.lower, without.upper) == (1, 9), "suppressed means at least 1, so at most 10 - 1"
    earlier = audit({ke_total: 10}, hidden, {cell("KE", "nurses"): 3}, regions)[cell("KE", "nurses")]
    assert (earlier.lower, earlier.upper) == (3, 9)
