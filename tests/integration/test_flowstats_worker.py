"""The flow-statistics worker as a real process against a real broker: duplicates count once, foreign
records are set aside without stopping it, an open month gets provisional cells, a closed month gets
a final release whose suppressed statistics no intruder can recover, and the CSV export reads it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import sdmx

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics, new_consumer
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.flowstats.adapters.kafka_statistics import read_all_statistics
from credverify.flowstats.regions import load_m49
from credverify.flowstats.tables import MoveCell, StatKey, facts_of, tabulate
from credverify.localrun import Service, cli_env, run_cli, wait_for
from credverify.v1 import moves_pb2, registry_pb2
from tests.unit.test_flowstats_attack import attack

pytestmark = pytest.mark.kafka

# (origin, destination, ISCO-08, moves): a month of registrations, a few flows small enough to protect.
FLOWS = [
    ("KE", "GB", "2221", 40), ("KE", "GB", "2222", 2), ("RO", "GB", "2212", 25), ("LK", "GB", "2211", 12),
    ("TT", "GB", "2221", 3), ("IN", "GB", "2221", 18), ("PH", "IE", "2221", 22), ("RO", "IE", "2211", 6),
    ("NG", "IE", "2221", 1), ("KE", "IE", "2221", 9),
]


def months_back(today: dt.date, months: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def make_moves(first_day: dt.date, prefix: str, rng: random.Random) -> list[moves_pb2.VerifiedMove]:
    moves = []
    for origin, destination, isco, count in FLOWS:
        for n in range(count):
            # Some come back to their country of training; half of Sri Lanka's doctors trained in Romania.
            trained = destination if n % 7 == 3 else "RO" if origin == "LK" and n % 2 else origin
            moves.append(moves_pb2.VerifiedMove(
                move_id="%s-%s%s%s-%d" % (prefix, origin, destination, isco, n), origin_country=origin,
                destination_country=destination, profession_isco=isco,
                registered_on=to_date(first_day + dt.timedelta(days=rng.randint(0, 20))),
                subject_token="token-%s-%d" % (origin, n), country_of_training=trained))
    rng.shuffle(moves)
    return moves


def records(topic: str, moves: list[moves_pb2.VerifiedMove]) -> list[OutgoingRecord]:
    return [OutgoingRecord(topic, move_record_key(m), m.SerializeToString()) for m in moves]


def expected_table(moves: list[moves_pb2.VerifiedMove]) -> dict[StatKey, int]:
    cells: Counter[MoveCell] = Counter()
    seen: set[str] = set()
    period = ""
    for move in moves:
        facts = facts_of(move)
        if facts.move_id not in seen:
            seen.add(facts.move_id)
            cells[facts.cell] += 1
            period = facts.period
    return tabulate(period, cells, load_m49(), margins=True, by_training=True)


def by_training_key(period: str) -> StatKey:
    return StatKey(period, "moves", "_T", "GB", "doctors", "RO")


def test_worker_publishes_exact_final_flows_that_no_intruder_can_undo(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topics = kafka_settings.topics
    ensure_topics(KafkaSettings(kafka_settings.bootstrap_servers, topics))
    today = dt.datetime.now(dt.UTC).date()
    closed_month, open_month = months_back(today, 2), months_back(today, 0)
    rng = random.Random(4)
    closed = make_moves(closed_month, "c", rng)
    current = make_moves(open_month, "o", rng)
    foreign = OutgoingRecord(topics.verified_moves, b"KE>GB", b"\xff\x00 not a move")
    wrong_key = OutgoingRecord(topics.verified_moves, b"GB>KE", closed[0].SerializeToString())
    redelivered = records(topics.verified_moves, closed[:30])  # as after a registry retry
    producer = ConfirmingProducer(kafka_settings, client_id="test")
    assert all(d.confirmed for d in producer.publish(
        records(topics.verified_moves, closed) + [foreign, wrong_key] + redelivered
        + records(topics.verified_moves, current)))
    producer.close()

    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    worker = Service("flowstats", ["flows", "worker", "--k", "5", "--grace", "1d", "--provisional-interval", "1s",
                                   "--data-dir", "state", "--country-of-training"], env=env, cwd=tmp_path)
    closed_period = closed_month.strftime("%Y-%m")
    open_period = open_month.strftime("%Y-%m")
    try:
        def published() -> list[moves_pb2.FlowStatistic] | None:
            found = [s for _, s in read_all_statistics(kafka_settings, topics.flow_statistics,
                                                       idle_timeout=1.0)]
            has_final = any(s.period == closed_period and s.final for s in found)
            has_open = any(s.period == open_period for s in found)
            return found if has_final and has_open else None

        everything = wait_for("a final release of %s and a provisional one of %s" % (closed_period, open_period),
                              published, timeout=120, services=(worker,))
        worker.assert_running()
    finally:
        worker.stop()
    # Exact window totals stay inside the processor: its log names windows, never how many moves they hold.
    assert "window %s" % closed_period in worker.log()
    assert not re.search(r"\b\d+ moves\b", worker.log()), "the worker logged a count of moves"

    # The closed month: every statistic listed, every published value exact, duplicates counted once.
    truth = expected_table(closed)
    final = {StatKey(s.period, s.measure, s.origin_country, s.destination_country, s.profession_group,
                     s.country_of_training): s
             for s in everything if s.period == closed_period and s.final}
    assert set(final) == set(truth), "the final release should list every non-zero statistic"
    wrong = {key.record_key: (s.value, truth[key]) for key, s in final.items()
             if not s.suppressed and s.value != truth[key]}
    assert wrong == {}, "published values differ from the true counts (value, truth): %s" % wrong
    assert final[StatKey(closed_period, "moves", "_T", "_T", "_T")].value == len(closed)
    assert final[StatKey(closed_period, "moves", "NG", "IE", "nurses")].suppressed
    # Flows by country of training beside those by issuing country: Romania trained more doctors for the
    # United Kingdom than its council registered there (half of Sri Lanka's too).
    assert by_training_key(closed_period) in final
    assert truth[by_training_key(closed_period)] > truth[StatKey(closed_period, "moves", "RO", "GB", "doctors")]
    assert all(s.method == "threshold" and s.parameters["k"] == "5" and s.parameters["grace"] == "1d"
               for s in final.values())

    # Nothing published for the month lets an intruder recover a suppressed statistic.
    window = [s for s in everything if s.period == closed_period]
    assert attack(window, load_m49(), 5) == []

    # The open month: provisional cells that reached k, no totals.
    provisional = [s for s in everything if s.period == open_period]
    assert provisional and not any(s.final for s in provisional)
    assert all(s.value >= 5 and StatKey(s.period, s.measure, s.origin_country, s.destination_country,
                                        s.profession_group, s.country_of_training).is_cell for s in provisional)

    # The foreign record and the mis-keyed copy went to the dead-letter topic, with their reasons.
    consumer = new_consumer(kafka_settings, "test", topics.rejected, consumer_timeout_ms=3000)
    dead = [registry_pb2.RejectedRecord.FromString(r.value) for r in consumer]
    consumer.close()
    assert sorted(d.value[:2] for d in dead) == sorted([b"\xff\x00", closed[0].SerializeToString()[:2]])
    assert any("record key: expected 'KE>GB'" in d.detail or "record key" in d.detail for d in dead)
    assert all(d.source_topic == topics.verified_moves for d in dead)

    # A statistician's CSV of the final month.
    result = run_cli(["flows", "export", "--format", "csv", "--final-only", "--idle-timeout", "2"],
                     env=env, cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and all(row["PERIOD"] == closed_period and row["Status"] == "final" for row in rows)
    nigeria = next(r for r in rows if r["ORIGIN"] == "NG" and r["PROFESSION"] == "nurses" and r["MEASURE"] == "moves"
                   and r["DESTINATION"] == "IE")
    assert nigeria["Value"] == "" and nigeria["Flag Codes"] == "c" and nigeria["Safeguards List"] == "yes"
    romania = next(r for r in rows
                   if r["TRAINING"] == "RO" and r["DESTINATION"] == "GB" and r["PROFESSION"] == "doctors")
    assert romania["ORIGIN"] == "_T" and romania["Country of training"] == "Romania"

    # The annual tables a statistics office files, from what the worker published: the OECD layout as
    # SDMX-CSV, read back by an SDMX library with the structure the command writes beside it.
    year = closed_period[:4]
    run_cli(["flows", "report", "--table", "oecd", "--year", year, "--format", "sdmx-csv", "--output", "oecd.csv",
             "--structure-output", "dsd.xml", "--idle-timeout", "2"], env=env, cwd=tmp_path)
    dataflow = sdmx.read_sdmx(tmp_path / "dsd.xml").dataflow["DF_OECD_HWM_INFLOWS"]
    message = sdmx.read_sdmx(tmp_path / "oecd.csv", structure=dataflow)
    keys = {tuple(str(kv.value) for kv in obs.dimension.values.values()) for ds in message.data for obs in ds.obs}
    assert ("FT_INFLOW", "GB", "RO", "DOCTORS", year) in keys, sorted(keys)[:5]
    who = run_cli(["flows", "report", "--table", "who", "--year", year, "--idle-timeout", "2"], env=env, cwd=tmp_path)
    indicators = {row["INDICATOR"] for row in csv.DictReader(io.StringIO(who.stdout))}
    assert indicators == {"FT_INFLOW", "RETURN_INFLOW"}
