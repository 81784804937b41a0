"""Flow-statistics figures: moves counted per second through one worker, and how soon a closed
window's final statistics are on the topic.

    flowstats.moves_per_s        moves de-duplicated, counted and written to the worker's state, per
                                 second, by one worker process reading a backlog of this month's moves
                                 (its window open, provisional releases made as they fall due)
    flowstats.ratio              that / baseline.consume_per_s (plain kafka-python reading, same run)
    flowstats.final_latency_ms   from a window's close time (month end + grace) to the last record of
                                 its final release on credverify.flow-statistics.v1 (record timestamps)
    flowstats.moves_per_s_workers_2  the same backlog counted by two worker processes of one group,
                                 published once both hold some of the moves partitions
    flowstats.scale_2_over_1     that / flowstats.moves_per_s: with the moves topic's 3 partitions the
                                 busier worker holds two of them, so 1.5 is the most two workers can give
    flowstats.faust_per_s        records per second through a Faust worker that only counts them
                                 (scripts/faust_ceiling.py): what Faust itself allows one worker
    flowstats.of_faust           flowstats.moves_per_s / that: how much of Faust's own rate the counting keeps

Each part runs a real worker (`credverify flows worker`) as a separate process against the bench's
broker, on topics of its own that are deleted afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchkit import BenchContext, benchmark, rate
from kafka import KafkaAdminClient, TopicPartition
from kafka.errors import KafkaError

from credverify.core.adapters.kafka import (
    ConfirmingProducer,
    OutgoingRecord,
    client_config,
    ensure_topics,
    new_consumer,
)
from credverify.core.moves import move_record_key
from credverify.core.timefmt import to_date
from credverify.core.topics import Topics
from credverify.flowstats.windows import month_end
from credverify.localrun import Service, wait_for
from credverify.v1 import moves_pb2

logger = logging.getLogger("bench")

MOVES = 50_000
MOVES_FULL = 200_000
LATENCY_MOVES = 500
# The latency window closes this long after the worker starts: time to start and count first.
CLOSE_AFTER_S = 20.0
ORIGINS = ["KE", "RO", "LK", "IN", "PH", "NG", "GH", "ZA", "TT", "JM", "PL", "PT"]
DESTINATIONS = ["GB", "IE", "DE"]
ISCO = ["2211", "2212", "2221", "2222", "2261", "2262", "3221"]


def months_back(today: dt.date, months: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def make_moves(count: int, month: dt.date, seed: int, days: int = 28) -> list[moves_pb2.VerifiedMove]:
    """``count`` moves registered on the first ``days`` days of ``month``."""
    rng = random.Random(seed)
    return [
        moves_pb2.VerifiedMove(
            move_id="bench-%07d" % n, origin_country=rng.choice(ORIGINS), destination_country=rng.choice(DESTINATIONS),
            profession_isco=rng.choice(ISCO),
            registered_on=to_date(month + dt.timedelta(days=rng.randint(0, days - 1))),
            subject_token="token-%07d" % n,
        )
        for n in range(count)
    ]


class Run:
    """``workers`` worker processes of one group on topics of their own; ``close`` stops them and deletes
    the topics. The moves are published before the workers start, or with ``joined_first`` once every
    worker holds some of the moves partitions (so that no rebalance falls in the measured time)."""

    def __init__(self, ctx: BenchContext, purpose: str, moves: list[moves_pb2.VerifiedMove], grace: str,
                 workers: int = 1, *, joined_first: bool = False) -> None:
        self.kafka = ctx.kafka_settings(Topics(prefix="bench-%s-%s." % (purpose, uuid.uuid4().hex[:8])))
        self.topics = self.kafka.topics
        self.app_id = self.topics.prefix.replace(".", "-") + "credverify-flowstats"
        ensure_topics(self.kafka)
        if not joined_first:
            self.publish(moves)
        self.work = Path(tempfile.mkdtemp(prefix="credverify-bench-flowstats-"))
        self.workers = [Service("flowstats-%d" % n, ["flows", "worker", "--k", "5", "--grace", grace,
                                                      "--provisional-interval", "1s", "--data-dir", "state-%d" % n],
                                env=ctx.child_env(self.topics.prefix), cwd=self.work)
                        for n in range(workers)]
        self.worker = self.workers[0] if self.workers else None
        if joined_first:
            wait_for("%d workers to share the moves partitions" % workers, lambda: self._sharing(workers),
                     timeout=120, services=tuple(self.workers))
            self.publish(moves)

    def publish(self, moves: list[moves_pb2.VerifiedMove]) -> None:
        producer = ConfirmingProducer(self.kafka, client_id="credverify-bench", linger_ms=20)
        try:
            deliveries = producer.publish(
                [OutgoingRecord(self.topics.verified_moves, move_record_key(m), m.SerializeToString()) for m in moves])
        finally:
            producer.close()
        if not all(d.confirmed for d in deliveries):
            raise RuntimeError("moves for %s were not all confirmed" % self.topics.prefix)

    def _sharing(self, workers: int) -> bool | None:
        """True once the group has ``workers`` members, each holding a moves partition."""
        try:
            admin = KafkaAdminClient(**client_config(self.kafka, "credverify-bench"))
            try:
                members = admin.describe_groups([self.app_id])[self.app_id]["members"]
            finally:
                admin.close()
        except KafkaError:
            return None  # the group's coordinator is not there yet
        holding = [member for member in members if member["member_assignment"] and any(
            assigned["topic"] == self.topics.verified_moves and assigned["partitions"]
            for assigned in member["member_assignment"]["assigned_partitions"])]
        return True if len(holding) == workers else None

    def assert_running(self) -> None:
        for worker in self.workers:
            worker.assert_running()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        shutil.rmtree(self.work, ignore_errors=True)
        try:
            admin = KafkaAdminClient(**client_config(self.kafka, "credverify-bench"))
        except KafkaError as exc:
            logger.warning("could not delete the topics of %s: %s", self.topics.prefix, exc)
            return
        try:
            mine = [t for t in admin.list_topics() if t.startswith((self.topics.prefix, self.app_id))]
            admin.delete_topics(mine)
        except KafkaError as exc:
            logger.warning("could not delete the topics of %s: %s", self.topics.prefix, exc)
        finally:
            admin.close()


def follow_state(run: Run, total: int, timeout_s: float) -> float:
    """Follow the worker's state changelog; return moves per second from its first entry to the one
    that completes ``total``."""
    changelog = run.app_id + "-counted-changelog"
    consumer = new_consumer(run.kafka, "credverify-bench")
    try:
        partitions = wait_for("the worker to create its state",
                              lambda: consumer.partitions_for_topic(changelog) or None,
                              timeout=timeout_s, services=tuple(run.workers))
        consumer.assign([TopicPartition(changelog, p) for p in partitions])
        counted, first_at, first_counted = 0, None, 0
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while counted < total:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers counted %d of %d moves in %.0f s" % (counted, total, timeout_s))
            run.assert_running()
            for batch in consumer.poll(timeout_ms=20).values():
                for record in batch:
                    if record.key.startswith(b"b/"):
                        # A worker that lost a partition in a rebalance may have written some of the
                        # same moves as its successor; those are counted once.
                        batch = moves_pb2.CountedBatch.FromString(record.value)
                        fresh = {move.move_id for move in batch.moves} - seen
                        seen |= fresh
                        counted += len(fresh)
            if counted and first_at is None:
                first_at, first_counted = time.perf_counter(), counted
        finished_at = time.perf_counter()
    finally:
        consumer.close()
    assert first_at is not None
    return rate(total - first_counted, finished_at - first_at)


def final_latency_ms(ctx: BenchContext) -> float:
    """Moves of last month, a grace that closes the month CLOSE_AFTER_S from now; return the time from
    the close to the last record of the final release (worker's record timestamps)."""
    now = dt.datetime.now(dt.UTC)
    month = months_back(now.date(), 1)
    closes = now + dt.timedelta(seconds=CLOSE_AFTER_S)
    grace = "%.3fs" % (closes - month_end(month.strftime("%Y-%m"))).total_seconds()
    run = Run(ctx, "latency", make_moves(LATENCY_MOVES, month, seed=2), grace)
    period = month.strftime("%Y-%m")
    try:
        consumer = new_consumer(run.kafka, "credverify-bench", run.topics.flow_statistics)
        try:
            provisional_seen = False
            final_stamps: list[int] = []
            quiet_since = time.monotonic()
            deadline = time.monotonic() + CLOSE_AFTER_S + 120
            # The release is complete when the topic has been quiet for a second after its first record.
            while not final_stamps or time.monotonic() - quiet_since < 1.0:
                if time.monotonic() > deadline:
                    raise RuntimeError("no final release of %s within 120 s of its close" % period)
                run.worker.assert_running()
                for batch in consumer.poll(timeout_ms=100).values():
                    for record in batch:
                        quiet_since = time.monotonic()
                        stat = moves_pb2.FlowStatistic.FromString(record.value)
                        if stat.period != period:
                            continue
                        if stat.final:
                            final_stamps.append(record.timestamp)
                        else:
                            provisional_seen = True
            if not provisional_seen:
                raise RuntimeError("the worker was not counting before the window closed; latency meaningless")
        finally:
            consumer.close()
    finally:
        run.close()
    return max(final_stamps) - closes.timestamp() * 1000


def this_months_moves(count: int) -> list[moves_pb2.VerifiedMove]:
    """Moves registered this month up to today: its window is open, so every one counts (the usual case;
    a move arriving after its window closed is only noted as late)."""
    today = dt.datetime.now(dt.UTC).date()
    return make_moves(count, today.replace(day=1), seed=1, days=today.day)


def faust_per_s(ctx: BenchContext) -> float:
    """Records per second read by a Faust worker that only counts them, from the same backlog."""
    total = MOVES_FULL if ctx.full else MOVES
    run = Run(ctx, "faust", this_months_moves(total), "1d", workers=0)
    script = Path(__file__).with_name("faust_ceiling.py")
    command = [sys.executable, str(script), run.topics.verified_moves, str(total), str(run.work), run.app_id]
    log = run.work / "faust-ceiling.log"
    with open(log, "wb") as output:  # Faust sends what the worker prints to its log, on stderr
        process = subprocess.Popen(command, env=ctx.child_env(run.topics.prefix), cwd=run.work,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not (stamps := dict(re.findall(r"\] (first|done) ([0-9.]+)", log.read_text(errors="replace")))).get(
                "done"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the Faust counting worker did not read its %d records:\n%s"
                                   % (total, log.read_text(errors="replace")[-3000:]))
            time.sleep(0.2)
        return rate(total - 1, float(stamps["done"]) - float(stamps["first"]))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        run.close()


def counted_per_s(ctx: BenchContext, workers: int) -> float:
    """Moves per second counted from a backlog of its own by ``workers`` processes of one group."""
    total = MOVES_FULL if ctx.full else MOVES
    run = Run(ctx, "throughput-%d" % workers, this_months_moves(total), "1d", workers=workers, joined_first=True)
    try:
        return follow_state(run, total, timeout_s=300)
    finally:
        run.close()


@benchmark("flowstats.moves_per_s", "flowstats.ratio", "flowstats.final_latency_ms",
           "flowstats.moves_per_s_workers_2", "flowstats.scale_2_over_1", "flowstats.faust_per_s",
           "flowstats.of_faust")
def bench_flowstats(ctx: BenchContext) -> dict[str, float]:
    moves_per_s = counted_per_s(ctx, workers=1)
    two_workers = counted_per_s(ctx, workers=2)
    faust_alone = faust_per_s(ctx)
    latency = final_latency_ms(ctx)
    return {
        "flowstats.moves_per_s": moves_per_s,
        "flowstats.ratio": moves_per_s / ctx.figure("baseline.consume_per_s"),
        "flowstats.final_latency_ms": latency,
        "flowstats.moves_per_s_workers_2": two_workers,
        "flowstats.scale_2_over_1": two_workers / moves_per_s,
        "flowstats.faust_per_s": faust_alone,
        "flowstats.of_faust": moves_per_s / faust_alone,
    }
