"""A worker with differential privacy counts persons, not moves: on a real broker, a practitioner registered
five times in one month counts once, the release says so, and once the month is final the worker's state
keeps no trace of who was who in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics, new_consumer
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.adapters.kafka_statistics import read_all_statistics
from credverify.localrun import Service, cli_env, wait_for
from credverify.v1 import moves_pb2

pytestmark = pytest.mark.kafka

# An epsilon so large that the noise is nil: what remains is what was counted.
NOISELESS = "1e9"


def state_without_subjects(kafka: KafkaSettings, changelog: str, period: str) -> bool:
    """Return True when the latest state entry of every batch holds the window's moves without digests."""
    consumer = new_consumer(kafka, "test-state-reader", changelog, consumer_timeout_ms=2000)
    latest: dict[bytes, bytes] = {}
    try:
        for record in consumer:
            if record.key.startswith(b"b/"):
                latest[record.key] = record.value
    finally:
        consumer.close()
    moves = [m for value in latest.values() for m in moves_pb2.CountedBatch.FromString(value).moves
             if m.period == period]
    assert len(moves) == 10, "every move of the window stays in the state (its id de-duplicates)"
    return not any(m.subject for m in moves)


def test_a_person_with_several_moves_in_a_window_counts_once(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    topics = kafka_settings.topics
    ensure_topics(KafkaSettings(kafka_settings.bootstrap_servers, topics))
    today = dt.datetime.now(dt.UTC).date()
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=3)
    # Six nurses from Kenya; one of them registered five times (five credentials) in the month.
    tokens = ["person-a"] * 5 + ["person-b", "person-c", "person-d", "person-e", "person-f"]
    moves = [moves_pb2.VerifiedMove(
        move_id="dp-%d" % n, origin_country="KE", destination_country="GB", profession_isco="2221",
        registered_on=to_date(last_month), subject_token=token, country_of_training="KE")
        for n, token in enumerate(tokens)]
    producer = ConfirmingProducer(kafka_settings, client_id="test")
    assert all(d.confirmed for d in producer.publish(
        [OutgoingRecord(topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in moves]))
    producer.close()
    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    worker = Service("flowstats-dp", ["flows", "worker", "--grace", "1d", "--provisional-interval", "1s",
                                      "--dp-epsilon", NOISELESS, "--dp-window-budget", "4e9",
                                      "--dp-destinations", "GB", "--data-dir", "state"], env=env, cwd=tmp_path)
    period = last_month.strftime("%Y-%m")
    try:
        def final_cell() -> moves_pb2.FlowStatistic | None:
            found = [s for _, s in read_all_statistics(kafka_settings, topics.flow_statistics, idle_timeout=1.0)]
            return next((s for s in found if s.final and s.period == period and s.origin_country == "KE"
                         and s.destination_country == "GB" and s.profession_group == "nurses"), None)

        cell = wait_for("the final release of %s" % period, final_cell, timeout=120, services=(worker,))
        worker.assert_running()
        # The window is final: its subject digests are gone from the worker's state, the counts stay.
        changelog = topics.prefix.replace(".", "-") + "credverify-flowstats-counted-changelog"
        wait_for("the state of %s without subject digests" % period,
                 lambda: True if state_without_subjects(kafka_settings, changelog, period) else None,
                 timeout=60, services=(worker,))
    finally:
        worker.stop()
    assert cell.value == 6, "ten moves of six persons: each person counts once"
    assert cell.noisy and cell.parameters["privacy_unit"] == "person"
    assert cell.parameters["moves_per_person"] == "3"  # one per partition, three partitions
