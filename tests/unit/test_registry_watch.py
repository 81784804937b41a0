"""WatchStatus plumbing: ingest never waits for a watcher, and a slow watcher still ends up with the
latest state of every credential it follows."""

from __future__ import annotations

import threading

import pytest

from credverify.core.errors import TooManyWatchers
from credverify.registry.watch import StatusHub
from credverify.v1 import common_pb2, registry_pb2


def update(credential_id: str, version: int, status: common_pb2.CredentialStatus = common_pb2.CREDENTIAL_STATUS_ACTIVE
           ) -> registry_pb2.StatusUpdate:
    return registry_pb2.StatusUpdate(credential_id=credential_id, version=version, status=status)


def test_a_slow_watcher_gets_the_latest_version_of_each_credential_and_nothing_older() -> None:
    hub = StatusHub()
    slow = hub.subscribe(["KE-NCK/1", "KE-NCK/2"])
    for version in range(1, 10_001):  # ingest runs far ahead of the reader; nothing blocks
        hub.publish(update("KE-NCK/1", version))
    hub.publish(update("KE-NCK/2", 7, common_pb2.CREDENTIAL_STATUS_SUSPENDED))
    hub.publish(update("KE-NCK/3", 1))  # followed by no one
    taken = slow.take(timeout=0)
    assert taken is not None
    assert [(u.credential_id, u.version) for u in taken] == [("KE-NCK/1", 10_000), ("KE-NCK/2", 7)]
    assert slow.take(timeout=0) == []


def test_updates_reach_only_the_watchers_that_follow_the_credential() -> None:
    hub = StatusHub()
    london, ottawa = hub.subscribe(["KE-NCK/1"]), hub.subscribe(["KE-NCK/2", "KE-NCK/1"])
    assert hub.publish(update("KE-NCK/2", 3)) == 1
    assert london.take(timeout=0) == []
    assert [u.credential_id for u in ottawa.take(timeout=0) or []] == ["KE-NCK/2"]
    assert hub.followed(["KE-NCK/1", "KE-NCK/2", "KE-NCK/9"]) == ["KE-NCK/1", "KE-NCK/2"]


def test_closing_the_hub_wakes_every_waiting_watcher_and_refuses_new_ones() -> None:
    hub = StatusHub()
    watcher = hub.subscribe(["KE-NCK/1"])
    result: list[object] = []
    waiting = threading.Thread(target=lambda: result.append(watcher.take()))
    waiting.start()
    hub.close()
    waiting.join(timeout=30)
    assert result == [None]
    assert hub.subscribe(["KE-NCK/1"]).closed


def test_unsubscribing_forgets_the_watcher() -> None:
    hub = StatusHub()
    watcher = hub.subscribe(["KE-NCK/1"])
    hub.unsubscribe(watcher)
    assert hub.publish(update("KE-NCK/1", 2)) == 0
    assert hub.subscriptions == 0 and hub.all_followed() == []
    assert watcher.take(timeout=0) is None


def test_watchers_beyond_the_limit_are_refused() -> None:
    hub = StatusHub(max_subscriptions=2)
    hub.subscribe(["KE-NCK/1"])
    hub.subscribe(["KE-NCK/1"])
    with pytest.raises(TooManyWatchers):
        hub.subscribe(["KE-NCK/1"])


def test_one_caller_exhausts_only_its_own_share_of_watch_streams() -> None:
    hub = StatusHub(max_subscriptions=6, max_per_caller=2)
    greedy = [hub.subscribe(["KE-NCK/1"], caller="GB-GREEDY") for _ in range(2)]
    with pytest.raises(TooManyWatchers, match="caller GB-GREEDY holds 2 watch streams already"):
        hub.subscribe(["KE-NCK/1"], caller="GB-GREEDY")
    others = [hub.subscribe(["KE-NCK/1"], caller="IE-NMBI"), hub.subscribe(["KE-NCK/2"], caller="CA-ON-CNO")]
    assert not any(s.closed for s in others)
    hub.unsubscribe(greedy[0])  # a stream ended: that caller may open one again
    hub.subscribe(["KE-NCK/1"], caller="GB-GREEDY")


def test_the_server_limit_holds_whatever_the_callers() -> None:
    hub = StatusHub(max_subscriptions=3, max_per_caller=2)
    for caller in ("A", "B", "C"):
        hub.subscribe(["KE-NCK/1"], caller=caller)
    with pytest.raises(TooManyWatchers, match="3 watch streams are open already"):
        hub.subscribe(["KE-NCK/1"], caller="D")
