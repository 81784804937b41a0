"""The Faust internals the worker relies on are checked before it starts: with the installed
faust-streaming the check passes; with one that lacks or changed an internal, the worker stops at once
with an error naming the faust-streaming version, instead of, say, resuming every partition at offset 0."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from faust.types import TP

from credverify.core.errors import ConfigurationError
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.flowstats.adapters import faust_internals
from credverify.flowstats.adapters.faust_internals import FaustIncompatible
from credverify.flowstats.app import FlowApp, create_app
from credverify.flowstats.bootstrap import WorkerOptions, settings_from
from credverify.flowstats.settings import PARTITIONS

INSTALLED = importlib.metadata.version("faust-streaming")
T = TypeVar("T")


@pytest.fixture
def flow(tmp_path: Path) -> FlowApp:
    # Nothing connects: a Faust app only talks to the broker once its worker starts.
    settings = settings_from(WorkerOptions(bootstrap="127.0.0.1:1", data_dir=tmp_path), {})
    return create_app(settings)


class ConsumerWithoutCommittedOffsets:
    def highwater(self, tp: TP) -> int:
        return 0

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {}


class ConsumerWithOffsetsAsAList(ConsumerWithoutCommittedOffsets):
    _committed_offset: list[int] = []


class TableWithoutChangelogSend:
    name = "counted"
    data: dict[bytes, bytes] = {}


def test_check_passes_with_the_installed_faust(flow: FlowApp) -> None:
    faust_internals.check_app(flow.app)


def test_a_consumer_without_committed_offsets_stops_the_worker_naming_the_faust_version() -> None:
    with pytest.raises(FaustIncompatible, match="faust-streaming %s: " % INSTALLED) as raised:
        faust_internals.check_consumer(ConsumerWithoutCommittedOffsets())
    assert "_committed_offset" in str(raised.value)
    # A configuration error: the CLI stops with its usage exit code and the message, no traceback.
    assert isinstance(raised.value, ConfigurationError)


def test_committed_offsets_of_another_shape_stop_the_worker() -> None:
    with pytest.raises(FaustIncompatible, match="expected a mapping of TP to offset, found a list"):
        faust_internals.check_consumer(ConsumerWithOffsetsAsAList())


def test_a_table_without_changelog_send_stops_the_worker() -> None:
    with pytest.raises(FaustIncompatible, match="faust-streaming %s: .*'send_changelog'" % INSTALLED):
        faust_internals.check_table(TableWithoutChangelogSend())


def test_an_app_whose_consumer_lost_its_committed_offsets_fails_the_check(
    flow: FlowApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flow.app, "consumer", ConsumerWithoutCommittedOffsets())
    with pytest.raises(FaustIncompatible, match=INSTALLED):
        faust_internals.check_app(flow.app)


def test_a_rebalance_count_that_is_a_flag_fails_the_check(flow: FlowApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flow.app, "rebalancing_count", True)
    with pytest.raises(FaustIncompatible, match="'rebalancing_count' of type int, found a bool"):
        faust_internals.check_app(flow.app)


def test_committed_offset_is_read_from_the_consumer_and_zero_for_a_new_group(flow: FlowApp) -> None:
    flow.app.consumer._committed_offset[TP("moves", 1)] = 41
    assert faust_internals.committed_offset(flow.app, "moves", 1) == 41
    assert faust_internals.committed_offset(flow.app, "moves", 2) == 0


def test_internal_topics_are_the_parts_and_the_changelogs_laid_out_like_the_moves(flow: FlowApp) -> None:
    found = {topic.name: topic for topic in faust_internals.internal_topics(flow.app, flow.internal_topics)}
    assert set(found) == {"credverify-flowstats-window-parts", "credverify-flowstats-counted-changelog",
                          "credverify-flowstats-releases-changelog"}
    assert {topic.partitions for topic in found.values()} == {PARTITIONS}
    assert found["credverify-flowstats-counted-changelog"].config == {"cleanup.policy": "compact"}


def test_faust_connects_where_the_settings_say(tmp_path: Path) -> None:
    kafka = KafkaSettings("a:9092, b:9093", Topics(prefix="x."))
    flow = create_app(settings_from(WorkerOptions(bootstrap=kafka.bootstrap_servers, data_dir=tmp_path), {}))
    assert [str(url) for url in flow.app.conf.broker] == ["kafka://a:9092", "kafka://b:9093"]


def run_alone(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end on an event loop of its own thread (other tests in this process may have
    left this thread's loop marked as running)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result(timeout=30)


class RebalancedConsumer:
    """What a worker's consumer knows when a rebalance completes: committed offsets of the partitions it
    was given, where each partition's log begins, and where it was moved to."""

    def __init__(self, committed: dict[TP, int | None], earliest: dict[TP, int]) -> None:
        self.committed, self.earliest = committed, earliest
        self.sought: dict[TP, int] = {}

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.committed)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.earliest[tp] for tp in tps}

    async def seek(self, tp: TP, offset: int) -> None:
        self.sought[tp] = offset


def test_partitions_never_committed_are_read_from_their_start_after_a_rebalance(
        flow: FlowApp, monkeypatch: pytest.MonkeyPatch) -> None:
    committed, never, trimmed, changelog = TP("moves", 0), TP("moves", 1), TP("parts", 2), TP("counted-changelog", 1)
    consumer = RebalancedConsumer({committed: 120, never: None, trimmed: -1, changelog: None},
                                  {never: 0, trimmed: 35, changelog: 0})
    monkeypatch.setattr(flow.app, "consumer", consumer)
    rewound = run_alone(faust_internals.rewind_never_committed(flow.app, {"moves", "parts"}))
    # Faust's own seek takes the committed one back; a changelog is the tables' business.
    assert sorted(rewound) == [never, trimmed] and consumer.sought == {never: 0, trimmed: 35}


def test_the_worker_rewinds_when_a_rebalance_completes(flow: FlowApp, monkeypatch: pytest.MonkeyPatch) -> None:
    moves = TP("credverify.verified-moves.v1", 2)
    consumer = RebalancedConsumer({moves: None}, {moves: 0})
    monkeypatch.setattr(flow.app, "consumer", consumer)
    run_alone(flow.app.on_rebalance_complete.send())
    assert consumer.sought == {moves: 0}


def test_a_consumer_that_cannot_seek_fails_the_check() -> None:
    class ConsumerWithoutSeek(ConsumerWithOffsetsAsAList):
        _committed_offset: dict[TP, int] = {}  # type: ignore[assignment]

    with pytest.raises(FaustIncompatible, match="rewinding a partition never committed"):
        faust_internals.check_consumer(ConsumerWithoutSeek())
