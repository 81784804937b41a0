"""Where differential privacy draws its lines (docs/flowstats.md, "Differential privacy").

Epsilon must be positive; a window's budget must hold at least one release; a provisional release
is made only while the budget holds it and the final one; each release spends exactly epsilon,
split over its levels as noise of scale levels x (moves one person can add) / epsilon; only noisy
values of at least k are published. Noise is random, so the publication threshold is checked with an
epsilon so large that the noise is zero: what remains is the rule itself.
"""

from __future__ import annotations

import pytest

from credverify.core.errors import ConfigurationError
from credverify.flowstats.privacy import (
    FINAL_LEVELS,
    PROVISIONAL_LEVELS,
    Ledger,
    LedgerEntry,
    PrivacyPolicy,
    domain_origins,
    noisy_release,
)
from credverify.flowstats.regions import RegionClassification, load_m49
from credverify.flowstats.tables import INTER, MEASURES, MOVES, RETURNS, TOTAL, MoveCell, StatKey

PERIOD = "2026-10"
# Noise of scale 8e-9: the chance of a non-zero draw is about e^(-1/scale), nil.
NOISELESS = 1e9


@pytest.fixture(scope="module")
def regions() -> RegionClassification:
    return load_m49()


def test_any_positive_epsilon_is_accepted_and_zero_or_less_is_refused() -> None:
    assert PrivacyPolicy(epsilon=1e-9, window_budget=1e-9, destinations=("GB",)).epsilon == 1e-9
    for epsilon in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigurationError) as err:
            PrivacyPolicy(epsilon=epsilon, window_budget=1.0, destinations=("GB",))
        assert str(err.value) == "dp epsilon: expected a positive number, found %r" % epsilon


def test_a_window_budget_of_exactly_one_release_is_accepted_and_less_is_refused() -> None:
    assert PrivacyPolicy(epsilon=0.5, window_budget=0.5, destinations=("GB",)).window_budget == 0.5
    # Three tenths summed in floating point is not 0.3 exactly; the budget check tolerates that.
    assert PrivacyPolicy(epsilon=0.1 + 0.1 + 0.1, window_budget=0.3, destinations=("GB",)).epsilon > 0.3
    with pytest.raises(ConfigurationError) as err:
        PrivacyPolicy(epsilon=0.5, window_budget=0.499, destinations=("GB",))
    assert str(err.value) == "dp window budget: expected at least one release's epsilon (0.5), found 0.499"


def test_a_policy_without_destinations_is_refused() -> None:
    with pytest.raises(ConfigurationError) as err:
        PrivacyPolicy(epsilon=1.0, window_budget=1.0, destinations=())
    assert str(err.value) == "dp destinations: expected the public list of destination countries, found none"


def test_a_provisional_release_needs_room_for_itself_and_the_final_one() -> None:
    policy = PrivacyPolicy(epsilon=1.0, window_budget=3.0, destinations=("GB",))
    fresh = Ledger()
    assert fresh.spent == 0
    assert fresh.allows(policy, final=False) and fresh.allows(policy, final=True)
    once = fresh.charge(1, 1.0, final=False)
    assert once.spent == 1.0 and once.allows(policy, final=False), "1 spent + 1 now + 1 kept for the final = 3"
    twice = once.charge(2, 1.0, final=False)
    assert twice.spent == 2.0
    assert not twice.allows(policy, final=False), "a third provisional release would leave nothing for the final"
    assert twice.allows(policy, final=True), "the final release always fits the budget kept for it"
    assert not twice.charge(3, 1.0, final=True).allows(policy, final=True)


def test_the_ledger_tolerates_rounding_but_not_a_real_overdraft() -> None:
    policy = PrivacyPolicy(epsilon=0.1, window_budget=0.3, destinations=("GB",))
    spent = Ledger((LedgerEntry(1, 0.1, False), LedgerEntry(2, 0.1, False)))
    assert spent.spent + 0.1 > 0.3, "0.2 + 0.1 in floating point is a little over 0.3"
    assert spent.allows(policy, final=True), "a third release of 0.1 fits a budget of 0.3"
    over = PrivacyPolicy(epsilon=0.1, window_budget=0.3 - 1e-6, destinations=("GB",))
    assert not spent.allows(over, final=True)


def test_each_entry_of_the_ledger_records_its_release() -> None:
    ledger = Ledger().charge(1, 0.5, final=False).charge(2, 0.25, final=True)
    assert ledger.entries == (LedgerEntry(1, 0.5, False), LedgerEntry(2, 0.25, True))
    assert ledger.spent == 0.75


@pytest.mark.parametrize(("final", "levels"), [(True, len(FINAL_LEVELS) * len(MEASURES)),
                                               (False, len(PROVISIONAL_LEVELS) * len(MEASURES))])
def test_a_release_spends_exactly_epsilon_as_noise_of_scale_levels_times_bound_over_epsilon(
    final: bool, levels: int, regions: RegionClassification
) -> None:
    assert (len(FINAL_LEVELS), len(PROVISIONAL_LEVELS), len(MEASURES)) == (5, 1, 2)
    policy = PrivacyPolicy(epsilon=0.5, window_budget=1.0, destinations=("GB",))
    release = noisy_release(PERIOD, {MoveCell("KE", "GB", "nurses", False): 400}, regions=regions, policy=policy,
                            final=final)
    assert release.levels == levels
    # Per person: one adds at most one move per window in each of the 3 moves partitions.
    assert policy.contribution_bound == 3
    assert release.scale == pytest.approx(levels * 3 / 0.5)
    assert release.epsilon == pytest.approx(0.5)


def test_a_noisy_value_of_k_is_published_and_one_of_k_minus_one_is_not(regions: RegionClassification) -> None:
    policy = PrivacyPolicy(epsilon=NOISELESS, window_budget=NOISELESS, destinations=("GB",))
    cells = {MoveCell("KE", "GB", "nurses", False): 5, MoveCell("RO", "GB", "doctors", False): 4}
    values = noisy_release(PERIOD, cells, regions=regions, policy=policy, final=False, publish_at_least=5).values
    assert values == {StatKey(PERIOD, MOVES, "KE", "GB", "nurses"): 5}


def test_without_a_threshold_only_positive_noisy_values_are_published(regions: RegionClassification) -> None:
    policy = PrivacyPolicy(epsilon=NOISELESS, window_budget=NOISELESS, destinations=("GB",))
    cells = {MoveCell("KE", "GB", "nurses", False): 1}
    for at_least in (0, 1):
        values = noisy_release(PERIOD, cells, regions=regions, policy=policy, final=False,
                               publish_at_least=at_least).values
        assert values == {StatKey(PERIOD, MOVES, "KE", "GB", "nurses"): 1}, "zeros over the whole domain leaked in"


def test_a_final_release_adds_the_totals_and_regional_scopes_of_both_measures(regions: RegionClassification) -> None:
    policy = PrivacyPolicy(epsilon=NOISELESS, window_budget=NOISELESS, destinations=("GB", "IE"))
    # The cell outside the domain comes first: leaving it out must not stop the count.
    cells = {MoveCell("KE", "US", "nurses", False): 50, MoveCell("KE", "GB", "nurses", False): 7,
             MoveCell("KE", "GB", "nurses", True): 3}
    values = noisy_release(PERIOD, cells, regions=regions, policy=policy, final=True).values
    expected = {}
    for measure, count in ((MOVES, 10), (RETURNS, 3)):
        for origin, profession in (("KE", "nurses"), (TOTAL, "nurses"), (TOTAL, TOTAL), (INTER, TOTAL)):
            expected[StatKey(PERIOD, measure, origin, "GB", profession)] = count
    assert values == expected, "the US is outside the public domain; every level of GB is there"


def test_the_domain_of_origins_is_every_iso_country_in_order() -> None:
    origins = domain_origins()
    assert len(origins) == 249 and list(origins) == sorted(origins)
    assert {"KE", "GB", "AQ"} <= set(origins)
