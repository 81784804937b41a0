"""On a deployment with none of the worker's topics yet, the first worker publishes statistics without
waiting for a metadata refresh: its internal topics exist, laid out like the moves topic, before its
consumer joins the group. (A first worker once published nothing for five minutes: its window-parts
topic was missing when it joined and was picked up only at the next refresh. On this test's broker
Faust's own late creation happens to be quick enough too, so this guards the fix rather than
reproducing the fault.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, new_admin, partitions_of
from credverify.core.errors import ConfigurationError
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.adapters.faust_internals import InternalTopic
from credverify.flowstats.adapters.kafka_statistics import read_all_statistics
from credverify.flowstats.adapters.kafka_topics import ensure_internal_topics
from credverify.flowstats.settings import PARTITIONS
from credverify.localrun import Service, cli_env, wait_for
from credverify.v1 import moves_pb2

pytestmark = pytest.mark.kafka

# Generous: a worker starts, joins, counts and releases in seconds; this only catches minutes.
FIRST_STATISTIC_WITHIN_S = 90.0


def internal_topic_names(kafka: KafkaSettings) -> list[str]:
    app_id = kafka.topics.prefix.replace(".", "-") + "credverify-flowstats"
    return [app_id + "-window-parts", app_id + "-counted-changelog", app_id + "-releases-changelog"]


def moves_this_month(count: int) -> list[OutgoingRecord]:
    first_day = dt.datetime.now(dt.UTC).date().replace(day=1)
    records = []
    for n in range(count):
        move = moves_pb2.VerifiedMove(
            move_id="fresh-%d" % n, origin_country="KE", destination_country="GB", profession_isco="2221",
            registered_on=to_date(first_day), subject_token="token-%d" % n, country_of_training="KE")
        records.append(OutgoingRecord("", move_record_key(move), move.SerializeToString()))
    return records


def test_first_worker_on_fresh_topics_publishes_without_waiting_for_a_metadata_refresh(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topics = kafka_settings.topics
    assert not any(partitions_of(kafka_settings, name) for name in internal_topic_names(kafka_settings))
    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    worker = Service("flowstats", ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval", "1s",
                                   "--data-dir", "state"], env=env, cwd=tmp_path)
    try:
        # The worker creates the moves topic with the partitions its state is laid out for.
        wait_for("the worker to create %s" % topics.verified_moves,
                 lambda: True if partitions_of(kafka_settings, topics.verified_moves) else None,
                 timeout=FIRST_STATISTIC_WITHIN_S, services=(worker,))
        producer = ConfirmingProducer(kafka_settings, client_id="test")
        sent = producer.publish([OutgoingRecord(topics.verified_moves, r.key, r.value) for r in moves_this_month(12)])
        producer.close()
        assert all(d.confirmed for d in sent)

        def first_statistic() -> moves_pb2.FlowStatistic | None:
            found = read_all_statistics(kafka_settings, topics.flow_statistics, idle_timeout=1.0)
            # The cell by issuing country (its twin by country of training may come first).
            return next((s for _, s in found if s.country_of_training in ("", "_T")), None)

        stat = wait_for("a first statistic from a worker started on fresh topics", first_statistic,
                        timeout=FIRST_STATISTIC_WITHIN_S, services=(worker,))
        worker.assert_running()
    finally:
        worker.stop()
    assert (stat.origin_country, stat.destination_country, stat.value) == ("KE", "GB", 12)
    for name in internal_topic_names(kafka_settings):
        assert len(partitions_of(kafka_settings, name)) == PARTITIONS, \
            "%s should have the partitions of the moves topic" % name


def test_internal_topics_are_created_with_their_layout_and_cleanup(kafka_settings: KafkaSettings) -> None:
    name = kafka_settings.topics.prefix + "state-changelog"
    wanted = [InternalTopic(name, PARTITIONS, {"cleanup.policy": "compact"})]
    ensure_internal_topics(kafka_settings, wanted, replication_factor=1)
    ensure_internal_topics(kafka_settings, wanted, replication_factor=1)  # a second worker: left as it is
    assert len(partitions_of(kafka_settings, name)) == PARTITIONS
    admin = new_admin(kafka_settings)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    finally:
        admin.close()
    configs = next(iter(described.values()))[name]
    assert configs["cleanup.policy"]["value"] == "compact", \
        "a changelog that is not compacted loses the worker's state to retention: %s" % configs


def test_an_internal_topic_with_other_partitions_stops_the_worker_saying_so(kafka_settings: KafkaSettings) -> None:
    name = kafka_settings.topics.prefix + "parts"
    ensure_internal_topics(kafka_settings, [InternalTopic(name, 1, {})], replication_factor=1)
    with pytest.raises(ConfigurationError, match="%s: expected 3 partitions .*found 1" % name):
        ensure_internal_topics(kafka_settings, [InternalTopic(name, PARTITIONS, {})], replication_factor=1)
