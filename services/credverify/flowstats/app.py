"""The Faust app: verified moves in, anonymised flow statistics out.

Two stages in one app (see docs/flowstats.md for the reasoning):

1. ``count_moves`` reads credverify.verified-moves.v1. Moves are keyed by
   country pair (core.moves.move_record_key), so every copy of a move
   lands in one partition; the partition's counter de-duplicates, counts by
   month, and writes what it counted to the changelogged table ``counted`` in
   the partition the moves came from. Offsets are acknowledged only after
   that write, and Faust flushes the producer before it commits offsets, so a
   committed offset always has its state behind it. A timer closes windows
   (month end + grace, by the wall clock, recorded as a state entry with the
   partition's end offset) and sends each window's exact counts, provisional
   and then final, to the internal topic ``<app id>-window-parts``.
2. ``release_windows`` reads those parts keyed by month, so one worker sees a
   whole window; it applies disclosure control (or differential privacy),
   records the release in the changelogged table ``releases`` and only then
   publishes it to credverify.flow-statistics.v1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import faust
from google.protobuf.message import DecodeError

from credverify.core.adapters.kafka import faust_broker_config
from credverify.core.errors import InvalidInput
from credverify.core.moves import move_record_key
from credverify.core.timefmt import from_timestamp, to_timestamp
from credverify.flowstats.adapters.faust_internals import (
    StateTable,
    active_partitions,
    committed_offset,
    end_offset,
    ready,
    rebalance_generation,
    rewind_never_committed,
)
from credverify.flowstats.counting import PartitionCounter, without_subjects
from credverify.flowstats.releases import (
    build_release,
    is_complete,
    newer_part,
    provisional_due,
    record_key,
)
from credverify.flowstats.settings import PARTITIONS, FlowSettings, app_id, parts_topic_name
from credverify.flowstats.tables import facts_of
from credverify.v1 import common_pb2, moves_pb2, registry_pb2

logger = logging.getLogger(__name__)

# Moves per state entry at most; a larger batch costs fewer writes and a longer replay.
BATCH_MOVES = 1000
# How often the timers write what is pending, close windows and send parts.
HOUSEKEEPING_S = 0.5
# A killed worker's partitions move to a new one after this long without heartbeats.
SESSION_TIMEOUT_S = 10.0
# Offsets are committed this often; a restart replays at most about this much.
COMMIT_INTERVAL_S = 1.0


class MoveCounting:
    """Stage 1: the counters of this worker's moves partitions, and what they send."""

    def __init__(self, app: faust.App, settings: FlowSettings, table: StateTable, parts: Any,
                 rejected: Any) -> None:
        self.app = app
        self.settings = settings
        self.table = table
        self.parts = parts
        self.rejected = rejected
        self.moves_topic = settings.kafka.topics.verified_moves
        self.counters: dict[int, PartitionCounter] = {}
        # Partitions restored whose first record has not been read yet, with the offset below which
        # every record was read before (see ``_check_resumed``).
        self.resuming: dict[int, int] = {}
        self.generation = -1
        self.stream: Any = None
        self.unacked: list[Any] = []
        self.parts_sent: dict[tuple[int, str], tuple[int, dt.datetime]] = {}
        self.finals_sent: set[tuple[int, str]] = set()
        self.clock_sent: dict[int, tuple[dt.datetime, dt.datetime]] = {}
        self.late_reported: dict[tuple[int, str], int] = {}

    def counter(self, partition: int) -> PartitionCounter:
        """Return the counter of ``partition``, rebuilt from the table after every rebalance."""
        if self.generation != rebalance_generation(self.app):
            # What was counted before the rebalance is written before the counters go.
            self._write_batches()
            self.counters.clear()
            self.resuming.clear()
            self.parts_sent.clear()
            self.finals_sent.clear()
            self.clock_sent.clear()
            self.generation = rebalance_generation(self.app)
        found = self.counters.get(partition)
        if found is None:
            found = self._restore(partition)
            self.counters[partition] = found
        return found

    def _check_resumed(self, counter: PartitionCounter, offset: int) -> None:
        """Say so when the first record read after a restore is not the one the counter resumes at: the
        records in between were removed by retention, or were never handed on (which loses moves)."""
        read_before = self.resuming.pop(counter.partition, None)
        if read_before is not None and offset > read_before:
            logger.warning("partition %d: every record below offset %d was read before, but the first one read now "
                           "is at %d; offsets %d to %d were not read", counter.partition, read_before, offset,
                           read_before, offset - 1)

    def _restore(self, partition: int) -> PartitionCounter:
        privacy = self.settings.policy.privacy
        counter = PartitionCounter(partition=partition, grace=self.settings.policy.grace,
                                   max_per_subject=privacy.max_moves_per_partition if privacy else None)
        batches, counted_through = 0, 0
        for key, value in self.table.with_prefix(b"b/%d/" % partition):
            counter.restore_batch(moves_pb2.CountedBatch.FromString(value))
            batches += 1
            # The key ends with the batch's last offset; a partition is read in order, so every record
            # below the last one counted was read.
            counted_through = max(counted_through, int(key.rsplit(b"/", 1)[1]) + 1)
        for _, value in self.table.with_prefix(b"c/%d/" % partition):
            counter.restore_clock(moves_pb2.WindowClock.FromString(value))
        # Offsets below the committed one were counted by an earlier run, with their state written first.
        counter.next_offset = committed_offset(self.app, self.moves_topic, partition)
        self.resuming[partition] = max(counter.next_offset, counted_through)
        # Counts of moves stay out of the log: exact window totals are for the release stage only.
        logger.info("partition %d: %d state entries and %d window closes restored, resuming at offset %d",
                    partition, batches, len(counter.clock_times), counter.next_offset)
        return counter

    async def handle(self, event: Any) -> None:
        """Count one record of the moves topic; foreign records go to the dead-letter topic."""
        message = event.message
        counter = self.counter(message.partition)
        self._check_resumed(counter, message.offset)
        try:
            move = moves_pb2.VerifiedMove.FromString(event.value or b"")
            policy = self.settings.policy
            facts = facts_of(move, policy.window, policy.professions, subjects=policy.privacy is not None)
            expected_key = move_record_key(move)
            if event.key != expected_key:
                # De-duplication relies on every copy of a move landing in one partition.
                raise InvalidInput("record key: expected %r (origin>destination), found %r"
                                   % (expected_key.decode(), event.key))
        except (DecodeError, InvalidInput) as exc:
            counter.skip(message.offset)
            await self._reject(event, exc)
        else:
            # Late moves are reported by window, in housekeeping (``_report_late``): a line for each
            # would cost more than counting them.
            counter.count(facts, message.offset)
        self.unacked.append(event)
        if len(self.unacked) >= BATCH_MOVES:
            await self.write_pending()

    async def _reject(self, event: Any, exc: DecodeError | InvalidInput) -> None:
        message = event.message
        detail = str(exc) if isinstance(exc, InvalidInput) else "expected a VerifiedMove, found bytes that do not parse"
        logger.warning("set aside record %s[%d]@%d: %s", message.topic, message.partition, message.offset, detail)
        dead = registry_pb2.RejectedRecord(
            source_topic=message.topic, partition=message.partition, offset=message.offset,
            key=event.key or b"", value=event.value or b"", reason=common_pb2.REASON_MALFORMED,
            detail=detail, rejected_at=to_timestamp(dt.datetime.now(dt.UTC)),
        )
        await self.rejected.send(key=event.key, value=dead.SerializeToString())

    async def write_pending(self) -> None:
        """Write what the counters counted since the last call, then acknowledge those records."""
        self._write_batches()
        events, self.unacked = self.unacked, []
        if self.stream is not None:
            for event in events:
                await self.stream.ack(event)

    def _write_batches(self) -> None:
        for counter in self.counters.values():
            batch = counter.take_pending()
            if batch is not None:
                first, last = batch.moves[0].offset, batch.moves[-1].offset
                self.table.put(counter.partition, b"b/%d/%020d/%020d" % (counter.partition, first, last),
                               batch.SerializeToString())

    async def housekeeping(self) -> None:
        """Write pending state; then close windows, send final and provisional parts and clocks."""
        await self.write_pending()
        if not ready(self.app):
            return
        now = dt.datetime.now(dt.UTC)
        active = sorted(active_partitions(self.app, self.moves_topic))
        for partition in active:
            await self._close_windows(self.counter(partition), now)
        durable = False
        for partition in active:
            counter = self.counter(partition)
            durable = await self._send_finals(counter, durable=durable)
            await self._send_clock(counter, now)
            await self._send_provisional_parts(counter, now)
            self._report_late(counter)

    def _report_late(self, counter: PartitionCounter) -> None:
        """Log how many moves of each window arrived after it closed, when that changed."""
        for period, late in sorted(counter.late.items()):
            if self.late_reported.get((counter.partition, period)) != late:
                logger.info("partition %d: %d moves of %s arrived after its window closed: not counted",
                            counter.partition, late, period)
                self.late_reported[(counter.partition, period)] = late

    async def _send_finals(self, counter: PartitionCounter, *, durable: bool) -> bool:
        """Send the final part of every window the partition closed that was not sent yet; return True
        once the producer was flushed (``durable``: it already was in this round)."""
        for period in counter.closed_periods():
            if (counter.partition, period) in self.finals_sent:
                continue
            if not durable:
                # A final part must never get ahead of the state it reports.
                await self.app.producer.flush()
                durable = True
            final = counter.part(period, final=True)
            await self._send_part(final, wait=True)
            self.finals_sent.add((counter.partition, period))
            self._forget_subjects(counter, period)
            logger.info("partition %d: window %s final", counter.partition, period)
        return durable

    def _forget_subjects(self, counter: PartitionCounter, period: str) -> None:
        """Rewrite the state entries of a final window without their subject digests: no later move
        counts in it, so the per-person bound needs them no longer (idempotent after a crash)."""
        counter.forget_subjects(period)
        for key, value in self.table.with_prefix(b"b/%d/" % counter.partition):
            stripped = without_subjects(moves_pb2.CountedBatch.FromString(value), period)
            if stripped is not None:
                self.table.put(counter.partition, key, stripped.SerializeToString())

    async def _send_provisional_parts(self, counter: PartitionCounter, now: dt.datetime) -> None:
        for period in counter.periods():
            if counter.closing_offset(period) is not None:
                continue  # closed: its final part goes once complete
            part = counter.part(period, final=False)
            sent = self.parts_sent.get((counter.partition, period))
            # Sent when it changes, and as a heartbeat so a restarted release stage hears it.
            if sent is None or sent[0] != part.counted + part.late or \
                    now - sent[1] >= self.settings.policy.provisional_interval:
                await self._send_part(part, wait=False)
                self.parts_sent[(counter.partition, period)] = (part.counted + part.late, now)

    async def _close_windows(self, counter: PartitionCounter, now: dt.datetime) -> None:
        if not counter.tick_due(now):
            return
        # The end offset the consumer last heard of (every fetch reports it) is recent enough:
        # moves written after it are late by the recorded rule, whatever the exact moment.
        end = await end_offset(self.app, self.moves_topic, counter.partition)
        if end is None:
            return
        entry = counter.tick(now, end)
        if entry is not None:
            self.table.put(counter.partition, b"c/%d/%s" % (counter.partition, now.isoformat().encode()),
                           entry.SerializeToString())
            logger.info("partition %d: windows closing up to %s at offset %d", counter.partition,
                        now.isoformat(), entry.end_offset)

    async def _send_part(self, part: moves_pb2.WindowPart, *, wait: bool) -> None:
        control = moves_pb2.FlowstatsControl(part=part)
        future = await self.parts.send(key=part.period.encode(), value=control.SerializeToString())
        if wait:
            await future

    async def _send_clock(self, counter: PartitionCounter, now: dt.datetime) -> None:
        message = counter.clock_message()
        if message is None:
            return
        through = from_timestamp(message.closed_through)
        last = self.clock_sent.get(counter.partition)
        # Sent when it moves, and as a heartbeat, so that a restarted release stage hears it.
        if last is not None and last[0] == through and now - last[1] < self.settings.policy.provisional_interval:
            return
        value = moves_pb2.FlowstatsControl(clock=message).SerializeToString()
        for partition in range(PARTITIONS):
            future = await self.parts.send(key=b"clock", value=value, partition=partition)
            await future
        self.clock_sent[counter.partition] = (through, now)


class WindowReleasing:
    """Stage 2: whole windows, disclosure control, and publication."""

    def __init__(self, app: faust.App, settings: FlowSettings, table: StateTable, statistics: Any) -> None:
        self.app = app
        self.settings = settings
        self.table = table
        self.statistics = statistics
        self.parts_topic = parts_topic_name(settings)
        # The agent and the timer both release; one release at a time.
        self.lock = asyncio.Lock()

    async def handle(self, event: Any) -> None:
        here = event.message.partition
        control = moves_pb2.FlowstatsControl.FromString(event.value)
        if control.HasField("part"):
            part = control.part
            key = b"part/%d/%s/%d" % (here, part.period.encode(), part.partition)
            current = self.table.get(key)
            if newer_part(moves_pb2.WindowPart.FromString(current) if current else None, part):
                self.table.put(here, key, part.SerializeToString())
            await self.consider(here, part.period)
        elif control.HasField("clock"):
            clock = control.clock
            key = b"clock/%d/%d" % (here, clock.partition)
            current = self.table.get(key)
            if current is None or from_timestamp(moves_pb2.PartitionClock.FromString(current).closed_through) \
                    <= from_timestamp(clock.closed_through):
                self.table.put(here, key, clock.SerializeToString())
            for period in self._open_periods(here):
                await self.consider(here, period)

    def _open_periods(self, here: int) -> list[str]:
        periods = {key.split(b"/")[2].decode() for key, _ in self.table.with_prefix(b"part/%d/" % here)}
        return sorted(p for p in periods if not self._state(here, p).final)

    def _state(self, here: int, period: str) -> moves_pb2.WindowReleases:
        found = self.table.get(b"window/%d/%s" % (here, period.encode()))
        return moves_pb2.WindowReleases.FromString(found) if found else moves_pb2.WindowReleases(period=period)

    async def consider(self, here: int, period: str) -> None:
        """Release ``period`` if it is complete (final) or a provisional release is due."""
        async with self.lock:
            await self._consider(here, period)

    async def _consider(self, here: int, period: str) -> None:
        state = self._state(here, period)
        if state.final:
            return
        parts = {
            int(key.rsplit(b"/", 1)[1]): moves_pb2.WindowPart.FromString(value)
            for key, value in self.table.with_prefix(b"part/%d/%s/" % (here, period.encode()))
        }
        clocks = {
            int(key.rsplit(b"/", 1)[1]): moves_pb2.PartitionClock.FromString(value)
            for key, value in self.table.with_prefix(b"clock/%d/" % here)
        }
        now = dt.datetime.now(dt.UTC)
        final = is_complete(period, parts, clocks, self.settings.policy)
        counted = sum(part.counted for part in parts.values())
        if not final and not provisional_due(period, state, counted, now, self.settings.policy):
            return
        released = await self._build(period, parts, state, final=final, now=now)
        if released is not None:
            await self._record_and_publish(here, released)

    async def _build(self, period: str, parts: Mapping[int, moves_pb2.WindowPart], state: moves_pb2.WindowReleases,
                     *, final: bool, now: dt.datetime) -> moves_pb2.WindowReleases | None:
        """Return the window's next release, or None when none may be made now (logged)."""
        policy = self.settings.policy
        loop = asyncio.get_running_loop()
        try:
            # Secondary suppression solves linear programs: off the event loop, so heartbeats go on.
            released = await loop.run_in_executor(
                None, lambda: build_release(period, parts, state, policy, final=final, now=now))
        except RuntimeError as exc:
            # Nothing leaves unprotected: the window is tried again on its next part or timer round.
            logger.error("window %s: no release, it could not be protected: %s", period, exc)
            return None
        if released is None:
            logger.info("window %s: privacy budget spent, no further provisional release", period)
        return released

    async def _record_and_publish(self, here: int, released: moves_pb2.WindowReleases) -> None:
        period = released.period
        key = b"window/%d/%s" % (here, period.encode())
        self.table.put(here, key, released.SerializeToString())
        # What is published must be on record first, so a restart publishes the same values again.
        await self.app.producer.flush()
        try:
            await self.publish(here, released)
        except Exception as exc:  # noqa: BLE001 - recorded, so the timer publishes it again; never lost
            logger.warning("window %s: release %d not confirmed (%s); publishing it again shortly", period,
                           released.releases, exc)
            return
        logger.info("window %s: release %d (%s) published, %d statistics", period, released.releases,
                    "final" if released.final else "provisional", len(released.latest))

    async def publish(self, here: int, released: moves_pb2.WindowReleases) -> None:
        futures = [
            await self.statistics.send(key=record_key(stat), value=stat.SerializeToString())
            for stat in released.latest
        ]
        for future in futures:
            await future
        released.published = released.releases
        self.table.put(here, b"window/%d/%s" % (here, released.period.encode()), released.SerializeToString())

    async def housekeeping(self) -> None:
        """Publish again any release recorded but not confirmed (the worker stopped in between), and
        make the provisional releases that came due since the last part arrived."""
        if not ready(self.app):
            return
        for here in sorted(active_partitions(self.app, self.parts_topic)):
            async with self.lock:  # a release in progress is not yet confirmed, but not lost either
                for _, value in self.table.with_prefix(b"window/%d/" % here):
                    state = moves_pb2.WindowReleases.FromString(value)
                    if state.releases and state.published < state.releases:
                        logger.info("window %s: publishing release %d again", state.period, state.releases)
                        await self.publish(here, state)
            for period in self._open_periods(here):
                await self.consider(here, period)


@dataclass(frozen=True)
class FlowApp:
    """The worker's Faust app, and the internal topics it declares itself (the tables declare theirs)."""

    app: faust.App
    internal_topics: tuple[Any, ...]


def create_app(settings: FlowSettings) -> FlowApp:
    """Return the Faust app with its topics, tables, agents and timers declared (nothing is started)."""
    topics = settings.kafka.topics
    app = faust.App(
        app_id(settings),
        **faust_broker_config(settings.kafka),
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=PARTITIONS,
        web_enabled=False,
        producer_acks=-1,
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=SESSION_TIMEOUT_S / 4,
        broker_commit_interval=COMMIT_INTERVAL_S,
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=settings.replication_factor or 1,
    )
    moves = app.topic(topics.verified_moves, key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)
    parts = app.topic(parts_topic_name(settings), key_serializer="raw", value_serializer="raw",
                      partitions=PARTITIONS, internal=True)
    statistics = app.topic(topics.flow_statistics, key_serializer="raw", value_serializer="raw")
    rejected = app.topic(topics.rejected, key_serializer="raw", value_serializer="raw")
    # Raw bytes in and out of the changelogs: the values are protobuf messages.
    counted = StateTable(app.Table("counted", key_type=bytes, value_type=bytes, partitions=PARTITIONS))
    releases = StateTable(app.Table("releases", key_type=bytes, value_type=bytes, partitions=PARTITIONS))
    counting = MoveCounting(app, settings, counted, parts, rejected)
    releasing = WindowReleasing(app, settings, releases, statistics)

    @app.on_rebalance_complete.connect
    async def rewind(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        # Before Faust resumes the streams: see rewind_never_committed.
        rewound = await rewind_never_committed(app, {moves.get_topic_name(), parts.get_topic_name()})
        if rewound:
            logger.info("read from their start: %s", ", ".join("%s[%d]" % (tp.topic, tp.partition) for tp in rewound))

    @app.agent(moves)
    async def count_moves(stream: Any) -> None:
        # Acknowledged by hand, after the state entry covering them is written.
        counting.stream = stream
        async for event in stream.noack().events():
            await counting.handle(event)

    @app.agent(parts)
    async def release_windows(stream: Any) -> None:
        async for event in stream.events():
            await releasing.handle(event)

    @app.timer(HOUSEKEEPING_S)  # type: ignore[untyped-decorator]
    async def counting_housekeeping() -> None:
        try:
            await counting.housekeeping()
        except Exception:  # noqa: BLE001 - a failed round (a send that timed out) is retried next round
            logger.exception("counting housekeeping failed; trying again in %.1f s", HOUSEKEEPING_S)

    @app.timer(HOUSEKEEPING_S * 2)  # type: ignore[untyped-decorator]
    async def releasing_housekeeping() -> None:
        try:
            await releasing.housekeeping()
        except Exception:  # noqa: BLE001 - a failed round (a send that timed out) is retried next round
            logger.exception("release housekeeping failed; trying again in %.1f s", HOUSEKEEPING_S * 2)

    return FlowApp(app=app, internal_topics=(parts,))
