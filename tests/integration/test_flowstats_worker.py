"""The Faust worker against a real broker: duplicates count once, foreign records do not stop it,
and cells below k publish no count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credverify.core.kafka_io import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.cli import read_statistics
from credverify.localrun import Service, cli_env, wait_for
from credverify.registry.domain import move_record_key
from credverify.v1 import moves_pb2

pytestmark = pytest.mark.kafka


def move(n: int, origin: str, isco: str, day: dt.date) -> moves_pb2.VerifiedMove:
    return moves_pb2.VerifiedMove(
        move_id="move-%s-%d" % (origin, n),
        origin_country=origin,
        destination_country="GB",
        profession_isco=isco,
        registered_on=to_date(day),
        subject_token="token-%d" % n,
    )


def test_moves_are_counted_once_per_cell_and_small_cells_are_suppressed(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topics = kafka_settings.topics
    ensure_topics(kafka_settings.bootstrap_servers, topics)
    november, december = dt.date(2026, 11, 3), dt.date(2026, 12, 1)
    moves = [move(n, "KE", "2221", november) for n in range(6)] + [move(n, "RO", "2212", december) for n in range(2)]
    records = [OutgoingRecord(topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in moves]
    redelivered = records[:3]  # the same moves again, as after a registry retry
    foreign = OutgoingRecord(topics.verified_moves, b"KE>GB", b"\xff\x00 not a move")
    # Same key, so same partition, published last: once its cell shows, everything before it was counted.
    sentinel = move(99, "KE", "2222", november)
    last = OutgoingRecord(topics.verified_moves, move_record_key(sentinel), sentinel.SerializeToString())
    producer = ConfirmingProducer(kafka_settings.bootstrap_servers, client_id="test")
    assert all(d.confirmed for d in producer.publish(records + [foreign] + redelivered + [last]))
    producer.close()

    worker = Service(
        "flowstats",
        ["flowstats", "worker", "--k", "5", "--data-dir", "state"],
        env=cli_env(kafka_settings.bootstrap_servers, topics.prefix),
        cwd=tmp_path,
    )
    try:

        def settled() -> dict[str, moves_pb2.FlowStatistic] | None:
            latest = read_statistics(kafka_settings.bootstrap_servers, topics.flow_statistics, idle_timeout=1.0)
            return latest if "2026-11|KE|GB|midwives" in latest and len(latest) == 3 else None

        latest = wait_for("the worker to count every move", settled, timeout=120, services=(worker,))
        assert latest["2026-11|KE|GB|nurses"].value == 6, "redelivered moves were counted twice"
        doctors = latest["2026-12|RO|GB|doctors"]
        assert doctors.suppressed and doctors.value == 0 and doctors.parameters["k"] == "5"
        worker.assert_running()
    finally:
        worker.stop()
