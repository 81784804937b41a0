"""A yearly worker beside a monthly one on a real broker, to compare them: the same moves, one final
release for the whole year, where the monthly windows had to suppress what the year can publish. (Both
published to one audience could be differenced; docs/flowstats.md, "Windows".)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.adapters.kafka_statistics import read_all_statistics
from credverify.localrun import Service, cli_env, wait_for
from credverify.v1 import moves_pb2

pytestmark = pytest.mark.kafka


def last_years_moves(year: int) -> list[moves_pb2.VerifiedMove]:
    """Two doctors from Romania every month of ``year`` (too few for any month), and 20 Kenyan nurses."""
    moves = []
    for month in range(1, 13):
        for n, (origin, isco, count) in enumerate((("RO", "2211", 2), ("KE", "2221", 20))):
            for i in range(count):
                moves.append(moves_pb2.VerifiedMove(
                    move_id="y-%d-%d-%d" % (month, n, i), origin_country=origin, destination_country="GB",
                    profession_isco=isco, registered_on=to_date(dt.date(year, month, 10)),
                    subject_token="token-%d-%d-%d" % (month, n, i), country_of_training=origin))
    return moves


def test_yearly_and_monthly_workers_publish_the_same_moves_side_by_side(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topics = kafka_settings.topics
    ensure_topics(KafkaSettings(kafka_settings.bootstrap_servers, topics))
    year = dt.datetime.now(dt.UTC).year - 1
    moves = last_years_moves(year)
    producer = ConfirmingProducer(kafka_settings, client_id="test")
    assert all(d.confirmed for d in producer.publish(
        [OutgoingRecord(topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in moves]))
    producer.close()
    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    common = ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval", "1s"]
    yearly = Service("flowstats-year", common + ["--window", "year", "--data-dir", "year"], env=env, cwd=tmp_path)
    monthly = Service("flowstats-month", common + ["--data-dir", "month"], env=env, cwd=tmp_path)
    try:
        def both_final() -> list[moves_pb2.FlowStatistic] | None:
            found = [s for _, s in read_all_statistics(kafka_settings, topics.flow_statistics, idle_timeout=1.0)]
            totals = {s.period for s in found if s.final and s.origin_country == s.destination_country == "_T"
                      and s.profession_group == "_T" and s.measure == "moves"}
            return found if {str(year), "%d-12" % year} <= totals else None

        found = wait_for("final releases of %d and of its months" % year, both_final, timeout=150,
                         services=(yearly, monthly))
    finally:
        yearly.stop()
        monthly.stop()
    latest = {(s.period, s.measure, s.origin_country, s.destination_country, s.profession_group): s for s in found}
    assert latest[(str(year), "moves", "RO", "GB", "doctors")].value == 24  # the year publishes Romania's doctors
    assert latest[("%d-06" % year, "moves", "RO", "GB", "doctors")].suppressed  # a month cannot
    year_share = float(latest[(str(year), "moves", "_T", "_T", "_T")].parameters["suppressed_share"])
    june_share = float(latest[("%d-06" % year, "moves", "_T", "_T", "_T")].parameters["suppressed_share"])
    assert year_share < june_share and year_share == 0.0


def test_a_coarse_worker_counts_nurses_and_midwives_together(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    topics = kafka_settings.topics
    ensure_topics(KafkaSettings(kafka_settings.bootstrap_servers, topics))
    month = (dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)).replace(day=5)
    # Three nurses and two midwives from Ghana: too few for either group, enough for both together.
    moves = [moves_pb2.VerifiedMove(
        move_id="coarse-%d" % n, origin_country="GH", destination_country="GB", profession_isco=isco,
        registered_on=to_date(month), subject_token="token-c-%d" % n, country_of_training="GH")
        for n, isco in enumerate(["2221", "2221", "3221", "2222", "3222"])]
    producer = ConfirmingProducer(kafka_settings, client_id="test")
    assert all(d.confirmed for d in producer.publish(
        [OutgoingRecord(topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in moves]))
    producer.close()
    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    worker = Service("flowstats-coarse", ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval",
                                          "1s", "--profession-groups", "coarse", "--data-dir", "coarse"],
                     env=env, cwd=tmp_path)
    period = month.strftime("%Y-%m")
    try:
        def final_cell() -> moves_pb2.FlowStatistic | None:
            found = [s for _, s in read_all_statistics(kafka_settings, topics.flow_statistics, idle_timeout=1.0)]
            return next((s for s in found if s.final and s.period == period and s.origin_country == "GH"
                         and s.destination_country == "GB" and s.measure == "moves"
                         and s.profession_group == "nursing-midwifery"), None)

        cell = wait_for("the coarse final release of %s" % period, final_cell, timeout=120, services=(worker,))
        worker.assert_running()
    finally:
        worker.stop()
    assert (cell.value, cell.suppressed, cell.parameters["professions"]) == (5, False, "coarse")
