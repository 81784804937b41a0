"""Exact under faults: the worker is killed with SIGKILL in the middle of 20,000 moves (and their
redeliveries), started again, and its final counts equal the true counts: nothing counted twice,
nothing lost."""

from __future__ import annotations

import datetime as dt
import random
import signal
from collections import Counter
from pathlib import Path

import pytest
from kafka import TopicPartition

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics, new_admin, new_consumer
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.adapters.kafka_statistics import read_all_statistics
from credverify.flowstats.regions import load_m49
from credverify.flowstats.tables import MoveCell, StatKey, facts_of, tabulate
from credverify.localrun import Service, cli_env, wait_for
from credverify.v1 import moves_pb2

pytestmark = pytest.mark.kafka

UNIQUE_MOVES = 20_000
REDELIVERED = 2_000
ORIGINS = ["KE", "RO", "LK", "IN", "PH", "NG", "GH", "ZA", "TT", "JM", "PL", "PT"]
DESTINATIONS = ["GB", "IE", "DE"]
ISCO = ["2211", "2212", "2221", "2222", "2261", "2262", "3221"]


def months_back(today: dt.date, months: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


class StateWatcher:
    """Follows the worker's state changelog and says how many moves it has written so far."""

    def __init__(self, kafka: KafkaSettings, changelog: str, group: str) -> None:
        self.consumer = new_consumer(kafka, "test-state-watcher")
        self.admin = new_admin(kafka, "test-state-watcher")
        self.changelog = changelog
        self.group = group
        self.counted = 0
        self.assigned = False

    def committed(self, topic: str) -> int:
        """Return the offsets the worker's consumer group has committed on ``topic``, summed."""
        offsets = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)

    def poll(self) -> int:
        if not self.assigned:
            partitions = self.consumer.partitions_for_topic(self.changelog)
            if not partitions:
                return 0
            self.consumer.assign([TopicPartition(self.changelog, p) for p in partitions])
            self.assigned = True
        for batch in self.consumer.poll(timeout_ms=50).values():
            self.counted += sum(len(moves_pb2.CountedBatch.FromString(r.value).moves) for r in batch
                                if r.key.startswith(b"b/"))
        return self.counted

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def test_final_counts_are_exact_after_the_worker_is_killed_mid_stream(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topics = kafka_settings.topics
    ensure_topics(KafkaSettings(kafka_settings.bootstrap_servers, topics))
    today = dt.datetime.now(dt.UTC).date()
    months = [months_back(today, 3), months_back(today, 2)]  # both closed: finals once all is counted
    rng = random.Random(9)
    moves = []
    for n in range(UNIQUE_MOVES):
        origin, destination = rng.choice(ORIGINS), rng.choice(DESTINATIONS)
        first = rng.choice(months)
        moves.append(moves_pb2.VerifiedMove(
            move_id="move-%06d" % n, origin_country=origin, destination_country=destination,
            profession_isco=rng.choice(ISCO), registered_on=to_date(first + dt.timedelta(days=rng.randint(0, 27))),
            subject_token="token-%06d" % n, country_of_training=destination if n % 23 == 0 else origin))
    sent = moves + rng.sample(moves, REDELIVERED)
    rng.shuffle(sent)
    producer = ConfirmingProducer(kafka_settings, client_id="test", linger_ms=20)
    assert all(d.confirmed for d in producer.publish(
        [OutgoingRecord(topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in sent]))
    producer.close()

    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    args = ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval", "1s", "--data-dir", "state"]
    changelog = topics.prefix.replace(".", "-") + "credverify-flowstats-counted-changelog"
    group = topics.prefix.replace(".", "-") + "credverify-flowstats"
    watcher = StateWatcher(kafka_settings, changelog, group)

    def mid_stream() -> int | None:
        # Killed once it has committed offsets (so a restart resumes past them) and before it is done.
        counted = watcher.poll()
        return counted if counted >= 1_000 and watcher.committed(topics.verified_moves) > 0 else None

    first = Service("flowstats-1", args, env=env, cwd=tmp_path)
    try:
        progress = wait_for("the worker to have counted and committed part of the moves", mid_stream,
                            timeout=120, services=(first,))
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    finally:
        first.stop()
        watcher.close()
    finals_before = [s for _, s in read_all_statistics(kafka_settings, topics.flow_statistics,
                                                       idle_timeout=1.0) if s.final]
    assert progress < UNIQUE_MOVES and not finals_before, (
        "the kill should come before the worker finished (counted %d, finals %d)" % (progress, len(finals_before)))

    second = Service("flowstats-2", args, env=env, cwd=tmp_path)
    periods = {m.strftime("%Y-%m") for m in months}
    try:
        def finals() -> dict[StatKey, moves_pb2.FlowStatistic] | None:
            found = {
                StatKey(s.period, s.measure, s.origin_country, s.destination_country, s.profession_group,
                        s.country_of_training): s
                for _, s in read_all_statistics(kafka_settings, topics.flow_statistics,
                                                idle_timeout=1.0) if s.final
            }
            done = {key.period for key in found
                    if key.origin == key.destination == key.profession == key.training == "_T"}
            return found if done >= periods else None

        published = wait_for("final releases of %s after the restart" % sorted(periods), finals, timeout=180,
                             services=(second,))
        second.assert_running()
    finally:
        second.stop()
    assert "restored" in second.log()

    cells: dict[str, Counter[MoveCell]] = {period: Counter() for period in periods}
    for move in moves:
        facts = facts_of(move)
        cells[facts.period][facts.cell] += 1
    for period in sorted(periods):
        truth = tabulate(period, cells[period], load_m49(), margins=True)
        final = {key: stat for key, stat in published.items() if key.period == period}
        assert set(final) == set(truth), "statistics missing or extra after the restart in %s" % period
        wrong = {key.record_key: (stat.value, truth[key]) for key, stat in final.items()
                 if not stat.suppressed and stat.value != truth[key]}
        assert wrong == {}, "counts drifted after kill -9 (published, true): %s" % dict(list(wrong.items())[:5])
        total = final[StatKey(period, "moves", "_T", "_T", "_T")]
        assert total.value == sum(cells[period].values())
    assert sum(published[StatKey(p, "moves", "_T", "_T", "_T")].value for p in periods) == UNIQUE_MOVES
