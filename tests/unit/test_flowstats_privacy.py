"""Differential privacy through OpenDP: noisy values, the mechanism on record, the budget ledger."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from credverify.core.errors import ConfigurationError
from credverify.flowstats.privacy import Ledger, PrivacyPolicy, noisy_release
from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy, build_release
from credverify.flowstats.tables import MoveCell
from credverify.v1 import moves_pb2

CELLS = Counter({MoveCell("KE", "GB", "nurses", False): 400, MoveCell("RO", "GB", "doctors", False): 250,
                 MoveCell("KE", "US", "nurses", False): 3})


def policy(epsilon: float = 1.0, budget: float = 2.0) -> ReleasePolicy:
    return ReleasePolicy(k=5, regions=load_m49(), grace=dt.timedelta(days=7), provisional_interval=dt.timedelta(0),
                         partitions=1, privacy=PrivacyPolicy(epsilon=epsilon, window_budget=budget,
                                                             destinations=("GB", "IE")))


def part() -> dict[int, moves_pb2.WindowPart]:
    return {0: moves_pb2.WindowPart(period="2026-10", partition=0, final=True, counted=653, cells=[
        moves_pb2.FlowCellCount(origin_country=c.origin, destination_country=c.destination,
                                profession_group=c.profession, returning=c.returning, count=n)
        for c, n in CELLS.items()])}


def test_a_release_spends_what_opendp_says_and_stays_close_to_large_counts() -> None:
    assert policy().privacy is not None
    release = noisy_release("2026-10", CELLS, regions=load_m49(), policy=policy().privacy, final=True)  # type: ignore[arg-type]
    assert release.epsilon == pytest.approx(1.0)
    nurses = release.values[next(k for k in release.values if k.origin == "KE" and k.profession == "nurses"
                                 and k.measure == "moves" and k.destination == "GB")]
    # Scale 8: a value 25 scales away happens with probability about e^-3.
    assert abs(nurses - 400) < 200
    assert all(key.destination in ("GB", "IE") for key in release.values), "US is outside the public domain"


def test_every_noisy_statistic_names_its_mechanism_and_budget() -> None:
    state = build_release("2026-10", part(), moves_pb2.WindowReleases(period="2026-10"), policy(),
                          final=True, now=dt.datetime(2026, 11, 9, tzinfo=dt.UTC))
    assert state is not None and state.latest
    stat = state.latest[0]
    assert stat.noisy and stat.method == "dp-geometric" and stat.final and not stat.suppressed
    assert stat.parameters["epsilon"] == "1" and stat.parameters["window_budget"] == "2"
    assert stat.parameters["mechanism"] == "opendp.measurements.make_geometric"
    assert [(e.release, e.epsilon, e.final) for e in state.ledger] == [(1, 1.0, True)]


def test_the_ledger_keeps_the_final_release_in_the_budget() -> None:
    rules = policy(epsilon=1.0, budget=2.0)
    now = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    first = build_release("2026-10", part(), moves_pb2.WindowReleases(period="2026-10"), rules, final=False, now=now)
    assert first is not None and first.ledger[0].epsilon == pytest.approx(1.0)
    # Another provisional release would leave nothing for the final one.
    assert build_release("2026-10", part(), first, rules, final=False, now=now) is None
    final = build_release("2026-10", part(), first, rules, final=True, now=now)
    assert final is not None and sum(e.epsilon for e in final.ledger) == pytest.approx(2.0)
    assert not Ledger().charge(1, 2.0, final=True).allows(rules.privacy, final=True)  # type: ignore[arg-type]


def test_privacy_settings_are_checked_when_read() -> None:
    with pytest.raises(ConfigurationError, match="dp epsilon"):
        PrivacyPolicy(epsilon=0, window_budget=1, destinations=("GB",))
    with pytest.raises(ConfigurationError, match="dp destinations"):
        PrivacyPolicy(epsilon=1, window_budget=1, destinations=())
