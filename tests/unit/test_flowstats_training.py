"""Flows by country of training beside flows by issuing country: counted, kept through restarts, labelled."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter

import pytest

from credverify.core.errors import InvalidInput
from credverify.core.timefmt import to_date
from credverify.flowstats.counting import PartitionCounter, cells_of_part
from credverify.flowstats.export import to_csv
from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy, build_release
from credverify.flowstats.tables import UNKNOWN, MoveCell, StatKey, facts_of
from credverify.v1 import moves_pb2


def move(n: int, **fields: object) -> moves_pb2.VerifiedMove:
    base: dict[str, object] = dict(move_id="m%d" % n, origin_country="LK", destination_country="GB",
                                   profession_isco="2211", registered_on=to_date(dt.date(2026, 10, 5)),
                                   country_of_training="RO")
    base.update(fields)
    return moves_pb2.VerifiedMove(**base)  # type: ignore[arg-type]


def test_a_sri_lankan_doctor_trained_in_romania_counts_from_both_countries() -> None:
    cell = facts_of(move(1)).cell
    assert cell == MoveCell("LK", "GB", "doctors", False, "RO")
    assert facts_of(move(2, country_of_training="")).cell.training == UNKNOWN
    with pytest.raises(InvalidInput, match="country_of_training"):
        facts_of(move(3, country_of_training="Romania"))


def test_the_country_of_training_survives_the_counters_state_and_window_parts() -> None:
    counter = PartitionCounter(partition=0, grace=dt.timedelta(days=7))
    for n, training in enumerate(("RO", "RO", "", "LK")):
        counter.count(facts_of(move(n, country_of_training=training)), offset=n)
    batch = counter.take_pending()
    assert batch is not None
    restored = PartitionCounter(partition=0, grace=dt.timedelta(days=7))
    restored.restore_batch(moves_pb2.CountedBatch.FromString(batch.SerializeToString()))
    cells = cells_of_part([restored.part("2026-10", final=True)])
    assert cells == Counter({MoveCell("LK", "GB", "doctors", False, "RO"): 2,
                             MoveCell("LK", "GB", "doctors", False, UNKNOWN): 1,
                             MoveCell("LK", "GB", "doctors", False, "LK"): 1})


def test_record_keys_of_flows_by_country_of_training_round_trip_and_keep_the_old_layout() -> None:
    key = StatKey("2026-10", "moves", "_T", "GB", "doctors", "RO")
    assert key.record_key == "2026-10|_T|GB|doctors|moves|RO"
    assert StatKey.from_record_key(key.record_key) == key
    assert StatKey("2026-10", "moves", "LK", "GB", "doctors").record_key == "2026-10|LK|GB|doctors"
    assert StatKey("2026-10", "returns", "LK", "GB", "doctors").record_key == "2026-10|LK|GB|doctors|returns"


def test_a_final_release_publishes_flows_by_both_definitions_labelled() -> None:
    cells = Counter({MoveCell("LK", "GB", "doctors", False, "RO"): 9, MoveCell("LK", "GB", "doctors", False, "LK"): 8,
                     MoveCell("RO", "GB", "doctors", False, "RO"): 12, MoveCell("RO", "GB", "doctors", True, "GB"): 6})
    policy = ReleasePolicy(k=5, regions=load_m49(), grace=dt.timedelta(days=7),
                           provisional_interval=dt.timedelta(hours=1), partitions=1, by_training=True)
    part = moves_pb2.WindowPart(period="2026-10", partition=0, final=True, counted=sum(cells.values()), cells=[
        moves_pb2.FlowCellCount(origin_country=c.origin, destination_country=c.destination,
                                profession_group=c.profession, returning=c.returning, count=n,
                                country_of_training=c.training) for c, n in cells.items()])
    released = build_release("2026-10", {0: part}, moves_pb2.WindowReleases(period="2026-10"), policy, final=True,
                             now=dt.datetime(2026, 11, 9, tzinfo=dt.UTC))
    assert released is not None
    values = {(s.measure, s.origin_country, s.country_of_training, s.destination_country, s.profession_group): s.value
              for s in released.latest if not s.suppressed}
    assert values[("moves", "LK", "_T", "GB", "doctors")] == 17  # by issuing country
    assert values[("moves", "RO", "_T", "GB", "doctors")] == 18
    assert values[("moves", "_T", "RO", "GB", "doctors")] == 21  # by country of training
    assert values[("moves", "_T", "LK", "GB", "doctors")] == 8
    assert values[("moves", "_T", "GB", "GB", "doctors")] == 6  # trained at home: the returns
    assert values[("returns", "RO", "_T", "GB", "doctors")] == 6
    assert values[("moves", "_T", "_T", "GB", "doctors")] == 35  # one total for both definitions
    assert not any(m == "returns" and t != "_T" for m, _, t, _, _ in values), "returns only by issuing country"
    rows = list(csv.DictReader(io.StringIO(to_csv(released.latest))))
    romania = next(r for r in rows
                   if r["TRAINING"] == "RO" and r["PROFESSION"] == "doctors" and r["DESTINATION"] == "GB")
    assert (romania["ORIGIN"], romania["Origin"], romania["Country of training"]) == (
        "_T", "All issuing countries", "Romania")
    lanka = next(r for r in rows if r["ORIGIN"] == "LK" and r["PROFESSION"] == "doctors" and r["MEASURE"] == "moves"
                 and r["DESTINATION"] == "GB")
    assert (lanka["Origin"], lanka["TRAINING"], lanka["Country of training"]) == (
        "Sri Lanka", "_T", "All countries of training")


def test_differential_privacy_gives_flows_by_country_of_training_their_own_levels() -> None:
    from credverify.flowstats.privacy import PrivacyPolicy, noisy_release

    # An epsilon so large that the noise is nil: what remains is which statistics a release has.
    policy = PrivacyPolicy(epsilon=1e9, window_budget=1e9, destinations=("GB",))
    cells = {MoveCell("LK", "GB", "doctors", False, "RO"): 9}
    without = noisy_release("2026-10", cells, regions=load_m49(), policy=policy, final=True)
    with_training = noisy_release("2026-10", cells, regions=load_m49(), policy=policy, final=True, by_training=True)
    assert (without.levels, with_training.levels) == (10, 12)
    assert set(with_training.values) - set(without.values) == {StatKey("2026-10", "moves", "_T", "GB", "doctors", "RO")}
