"""Every use of a Faust internal by the worker, in one place, checked before the worker starts.

The worker needs a few things faust-streaming has but does not document as its API:

- ``app.consumer._committed_offset``: the offset the consumer group committed per partition,
  where a counter restored from its state table resumes;
- ``app.consumer.seek_to_committed``, ``earliest_offsets`` and ``seek``: documented on Faust's
  consumer class but not in its guide; used to rewind partitions never committed after a rebalance
  (see ``rewind_never_committed``);
- ``app.consumer.highwater`` / ``highwaters``: the end offset of a partition, recorded when a
  window closes;
- ``app.assignor.assigned_actives()``: the partitions this worker is active for;
- ``app.tables.actives_ready``, ``app.rebalancing``, ``app.rebalancing_count``: whether the
  tables are recovered, and which rebalance the counters were built in;
- ``table.data`` and ``table.send_changelog``: raw reads and writes of a changelogged table in
  an explicit partition (the timers write with no event to take the partition from).

``check_app`` looks at each of them and raises FaustIncompatible, naming the installed
faust-streaming version, when one is missing or not what it was. An upgrade that moves one of
them then stops the worker at start-up instead of, say, resuming every partition at offset 0.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from faust.types import TP
from mode.utils.times import want_seconds

from credverify.core.errors import ConfigurationError

__all__ = [
    "FaustIncompatible", "InternalTopic", "StateTable", "active_partitions", "check_app", "check_consumer",
    "check_table", "committed_offset", "end_offset", "faust_version", "internal_topics",
    "ready", "rebalance_generation", "rewind_never_committed",
]

FAUST_DISTRIBUTION = "faust-streaming"
# The version these internals were read from; other versions may well work, the check says.
CHECKED_WITH = "0.15.3"


class FaustIncompatible(ConfigurationError):
    """The installed faust-streaming lacks, or changed, an internal the worker relies on."""


def faust_version() -> str:
    """Return the installed faust-streaming version, or "unknown" when its metadata is missing."""
    try:
        return importlib.metadata.version(FAUST_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _incompatible(what: str, expected: str, found: str) -> FaustIncompatible:
    return FaustIncompatible(
        "faust-streaming %s: %s: expected %s, found %s (the flow-statistics worker was written against "
        "faust-streaming %s; install that version or adapt credverify.flowstats.adapters.faust_internals)"
        % (faust_version(), what, expected, found, CHECKED_WITH))


def _attribute(owner: Any, name: str, what: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError:
        raise _incompatible(what, "an attribute %r" % name, "none on %s" % type(owner).__name__) from None


def _callable(owner: Any, name: str, what: str) -> Callable[..., Any]:
    found = _attribute(owner, name, what)
    if not callable(found):
        raise _incompatible(what, "a method %r" % name, "a %s" % type(found).__name__)
    return found  # type: ignore[no-any-return]


def _of_type(owner: Any, name: str, kind: type | tuple[type, ...], what: str) -> Any:
    found = _attribute(owner, name, what)
    # bool is an int: a count must not be a flag.
    if not isinstance(found, kind) or (kind is int and isinstance(found, bool)):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _incompatible(what, "%r of type %s" % (name, expected), "a %s" % type(found).__name__)
    return found


def check_consumer(consumer: Any) -> None:
    """Raise FaustIncompatible unless ``consumer`` keeps its committed offsets and reports end offsets
    the way the worker reads them."""
    committed = _attribute(consumer, "_committed_offset", "the consumer's committed offsets")
    for method in ("get", "__getitem__"):
        if not callable(getattr(committed, method, None)):
            raise _incompatible("the consumer's committed offsets", "a mapping of TP to offset",
                                "a %s" % type(committed).__name__)
    for method in ("seek_to_committed", "earliest_offsets", "seek"):
        _callable(consumer, method, "rewinding a partition never committed")
    _callable(consumer, "highwater", "the end offset of a partition")
    _callable(consumer, "highwaters", "the end offsets of partitions")


def check_table(table: Any) -> None:
    """Raise FaustIncompatible unless ``table`` offers its store and a changelog send to a given partition."""
    data = _attribute(table, "data", "the store of table %r" % getattr(table, "name", table))
    for method in ("get", "items", "__setitem__"):
        if not callable(getattr(data, method, None)):
            raise _incompatible("the store of table %r" % getattr(table, "name", table),
                                "a mutable mapping", "a %s" % type(data).__name__)
    _callable(table, "send_changelog", "writing a changelog entry to a partition")


def check_app(app: Any) -> None:
    """Raise FaustIncompatible unless every Faust internal the worker uses is present and behaves as
    expected: the assignor's active partitions, the readiness flags, the consumer and every table."""
    assigned = _callable(app.assignor, "assigned_actives", "the partitions this worker is active for")()
    if not isinstance(assigned, (set, frozenset)):
        raise _incompatible("the partitions this worker is active for", "a set of TP",
                            "a %s" % type(assigned).__name__)
    _of_type(app.tables, "actives_ready", bool, "whether the tables are recovered")
    _of_type(app, "rebalancing", bool, "whether a rebalance is under way")
    _of_type(app, "rebalancing_count", int, "the number of rebalances so far")
    check_consumer(app.consumer)
    for table in app.tables.values():
        check_table(table)


def committed_offset(app: Any, topic: str, partition: int) -> int:
    """Return the offset the consumer group committed for the partition: 0 when it committed none (a
    new group, which starts from the earliest offset)."""
    found = app.consumer._committed_offset.get(TP(topic, partition))
    return int(found or 0)


async def rewind_never_committed(app: Any, topics: Collection[str]) -> list[TP]:
    """Move the consumer of each partition of ``topics`` that its group never committed back to the
    partition's first offset; return those partitions.

    While a rebalance recovers the tables, Faust lets its consumer fetch, and drops the records of
    the partitions it has not resumed yet; the consumer's position has moved past them all the same.
    Faust's seek to the committed offsets then takes a partition with a committed offset back, but
    leaves one never committed where it is: its first records were then never handed on (seen on a
    three-broker cluster as moves missing from a partition that a new worker took over while moves
    were arriving). Called when the rebalance completes, before Faust resumes its streams."""
    consumer = app.consumer
    committed = await consumer.seek_to_committed()
    never = [tp for tp, offset in committed.items() if tp.topic in topics and (offset is None or offset < 0)]
    if never:
        earliest = await consumer.earliest_offsets(*never)
        for tp in never:
            await consumer.seek(tp, int(earliest.get(tp) or 0))
    return never


async def end_offset(app: Any, topic: str, partition: int) -> int | None:
    """Return the end offset of the partition the consumer last heard of (every fetch reports it), asking
    the broker when it heard of none; None when the broker does not know either."""
    tp = TP(topic, partition)
    found = app.consumer.highwater(tp)
    if found is None:
        found = (await app.consumer.highwaters(tp)).get(tp)
    return None if found is None else int(found)


def active_partitions(app: Any, topic: str) -> set[int]:
    """Return the partitions of ``topic`` this worker is active for."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def ready(app: Any) -> bool:
    """Return True when the tables are recovered and no rebalance is under way."""
    return bool(app.tables.actives_ready) and not app.rebalancing


def rebalance_generation(app: Any) -> int:
    """Return how many rebalances this worker has seen: state built in an earlier one is stale."""
    return int(app.rebalancing_count)


class StateTable:
    """A changelogged Faust table of raw bytes, written to an explicit partition.

    Faust picks the changelog partition from the event being processed; the
    timers write with no event, so the partition is given explicitly."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        self.table.data[key] = value
        self.table.send_changelog(partition, key, value, key_serializer="raw", value_serializer="raw")

    def get(self, key: bytes) -> bytes | None:
        value = self.table.data.get(key)
        return bytes(value) if value is not None else None

    def with_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in list(self.table.data.items()):
            if bytes(key).startswith(prefix):
                yield bytes(key), bytes(value)


@dataclass(frozen=True)
class InternalTopic:
    """A topic the worker keeps its state or its own messages in, as Faust would create it."""

    name: str
    partitions: int
    config: dict[str, str]


def internal_topics(app: Any, topics: Iterable[Any]) -> list[InternalTopic]:
    """Return the internal ``topics`` given and the changelog topic of every table of ``app``, with the
    partitions and cleanup settings Faust declares them with."""
    declared = [*topics, *(table.changelog_topic for table in app.tables.values())]
    return sorted(
        (InternalTopic(name, int(topic.partitions or app.conf.topic_partitions), _topic_config(topic))
         for topic in declared for name in topic.topics),
        key=lambda found: found.name,
    )


def _topic_config(topic: Any) -> dict[str, str]:
    """Return the broker settings Faust creates ``topic`` with (as its Kafka driver does)."""
    config = {str(key): str(value) for key, value in (topic.config or {}).items()}
    policy = sorted(({"compact"} if topic.compacting else set()) | ({"delete"} if topic.deleting else set()))
    if policy:
        config["cleanup.policy"] = ",".join(policy)
    if topic.retention:
        config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    return config
