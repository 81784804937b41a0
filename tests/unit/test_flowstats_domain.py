"""Windows, the cells a move counts in, and the regional classification: pure logic, no broker."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.core.errors import ConfigurationError, InvalidInput
from credverify.core.timefmt import to_date
from credverify.flowstats.regions import Scope, load_m49
from credverify.flowstats.tables import MoveCell, StatKey, facts_of, keys_of, keys_per_move, tabulate
from credverify.flowstats.windows import (
    close_time,
    format_duration,
    last_closed_period,
    parse_duration,
    period_of,
)
from credverify.v1 import moves_pb2

UTC = dt.UTC


def move(**fields: object) -> moves_pb2.VerifiedMove:
    base: dict[str, object] = dict(move_id="m1", origin_country="KE", destination_country="GB",
                                   profession_isco="3221", registered_on=to_date(dt.date(2026, 6, 30)))
    base.update(fields)
    return moves_pb2.VerifiedMove(**base)  # type: ignore[arg-type]


def test_a_move_counts_in_its_month_countries_and_profession_group() -> None:
    facts = facts_of(move())
    assert facts.period == "2026-06"
    assert facts.cell == MoveCell("KE", "GB", "nurses", False)


def test_return_migration_is_a_destination_equal_to_the_country_of_training() -> None:
    assert facts_of(move(country_of_training="GB")).cell.returning
    assert not facts_of(move(country_of_training="KE", return_migration=True)).cell.returning
    assert facts_of(move(return_migration=True)).cell.returning  # no country sent: the registry's flag


@pytest.mark.parametrize("fields, field", [
    ({"move_id": ""}, "move_id"),
    ({"origin_country": "XX"}, "origin_country"),
    ({"profession_isco": "9999"}, "profession_isco"),
    ({"registered_on": moves_pb2.VerifiedMove().registered_on}, "registered_on"),
])
def test_a_move_missing_what_statistics_need_is_refused_naming_the_field(fields: dict[str, object], field: str
                                                                          ) -> None:
    with pytest.raises(InvalidInput, match=field):
        facts_of(move(**fields))


def test_a_window_closes_at_the_month_end_plus_grace() -> None:
    assert close_time("2026-12", dt.timedelta(days=7)) == dt.datetime(2027, 1, 8, tzinfo=UTC)
    assert last_closed_period(dt.datetime(2027, 1, 8, tzinfo=UTC), dt.timedelta(days=7)) == "2026-12"
    assert last_closed_period(dt.datetime(2027, 1, 7, 23, 59, tzinfo=UTC), dt.timedelta(days=7)) == "2026-11"
    assert period_of(dt.date(2026, 2, 28)) == "2026-02"


def test_durations_read_as_written_and_say_what_they_expected() -> None:
    assert parse_duration("7d", field="--grace") == dt.timedelta(days=7)
    assert parse_duration("90s", field="--grace") == dt.timedelta(seconds=90)
    assert parse_duration("0", field="--grace") == dt.timedelta(0)
    assert format_duration(dt.timedelta(days=7)) == "7d"
    with pytest.raises(InvalidInput, match="--grace: expected a duration"):
        parse_duration("a week", field="--grace")


def test_un_m49_regions_tell_intra_from_inter_regional_moves() -> None:
    regions = load_m49()
    assert regions.scope("RO", "GB") is Scope.INTRA  # both Europe
    assert regions.scope("KE", "GB") is Scope.INTER
    assert regions.scope("AQ", "GB") is None  # Antarctica has no M49 region
    assert load_m49("sub-region").scope("KE", "NG") is Scope.INTRA  # both Sub-Saharan Africa
    assert load_m49("intermediate-region").scope("KE", "NG") is Scope.INTER  # Eastern vs Western Africa
    assert len(regions.region_of) > 240
    with pytest.raises(ConfigurationError, match="regions level"):
        load_m49("continent")


def test_a_move_counts_once_in_each_published_level() -> None:
    regions = load_m49()
    # A nurse registered by Nigeria's council, trained in Ghana, returning to Ghana: both countries are on
    # the WHO safeguards list and in one region, so she counts in every level of both definitions.
    returning = MoveCell("NG", "GH", "nurses", True, "GH")
    keys = keys_of("2026-06", returning, regions, margins=True)
    assert len(keys) == len(set(keys)) == keys_per_move(margins=True)
    assert StatKey("2026-06", "returns", "_INTRA", "_T", "_T") in keys
    assert StatKey("2026-06", "returns", "_SSL", "GH", "_T") in keys
    assert StatKey("2026-06", "moves", "_T", "GH", "nurses", "GH") in keys
    assert StatKey("2026-06", "moves", "_T", "_T", "_T", "_SSL") in keys
    assert not any(key.measure == "returns" and key.by_training for key in keys)
    kenya = keys_of("2026-06", MoveCell("KE", "GB", "nurses", False), regions, margins=True)
    # Kenya is not on the list; by country of training, not given: 12 by issuing country, 4 by training
    assert len(kenya) == 16 and not any("_SSL" in (key.origin, key.training) for key in kenya)
    assert len(keys_of("2026-06", returning, regions, margins=True, by_training=False)) == keys_per_move(
        margins=True, by_training=False) == 32


def test_tables_add_up_and_record_keys_round_trip() -> None:
    regions = load_m49()
    table = tabulate("2026-06", {MoveCell("KE", "GB", "nurses", False): 4, MoveCell("RO", "GB", "doctors", True): 3},
                     regions, margins=True)
    assert table[StatKey("2026-06", "moves", "_T", "_T", "_T")] == 7
    assert table[StatKey("2026-06", "moves", "_INTRA", "GB", "_T")] == 3
    assert table[StatKey("2026-06", "returns", "_T", "GB", "doctors")] == 3
    for key in table:
        assert StatKey.from_record_key(key.record_key) == key
    assert StatKey("2026-06", "moves", "KE", "GB", "nurses").record_key == "2026-06|KE|GB|nurses"


def test_foreign_bytes_fail_only_with_the_errors_the_worker_sets_aside() -> None:
    import random

    from google.protobuf.message import DecodeError

    rng = random.Random(5)
    valid = move().SerializeToString()
    samples = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80))) for _ in range(2000)]
    samples += [valid[:cut] + bytes([rng.getrandbits(8)]) + valid[cut + 1:] for cut in range(len(valid))]
    for raw in samples:
        try:
            facts_of(moves_pb2.VerifiedMove.FromString(raw))
        except (DecodeError, InvalidInput):
            pass
