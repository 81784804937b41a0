"""Live status of the credentials case officers follow: one WatchStatus stream per registry, shared by
every open page, fanned out to each page's server-sent events.

The registry serves a bounded number of streams to one caller, and the pages are one caller: one
stream per registry, following the union of every officer's watch list, restarted when that union
changes, is what keeps the pages within it however many officers have the page open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from credverify.core.errors import reason_code
from credverify.v1 import common_pb2, registry_pb2
from credverify.web.adapters.grpc_clients import RegistryClient

logger = logging.getLogger(__name__)

MAX_FOLLOWED = 1000  # the registry's own cap on one WatchStatus stream
MAX_PER_OFFICER = 200
# After the stream broke (the registry restarting, a network cut): wait, then follow again.
RETRY_AFTER_S = (0.5, 1.0, 2.0, 5.0, 10.0)
MAX_QUEUED_PER_PAGE = 1000  # a page that stopped reading is dropped rather than held in memory


@dataclass(frozen=True)
class Status:
    """One credential's state as a page shows it."""

    credential_id: str
    version: int
    status: str  # ACTIVE, SUSPENDED, ... ("" while the registry holds no version)
    verified: bool
    reasons: tuple[str, ...]
    observed_at: str


def status_of(update: registry_pb2.StatusUpdate) -> Status:
    observed = update.observed_at.ToDatetime(tzinfo=dt.UTC).isoformat(timespec="seconds") \
        if update.HasField("observed_at") else ""
    status = common_pb2.CredentialStatus.Name(update.status).removeprefix("CREDENTIAL_STATUS_") \
        if update.status else ""
    return Status(update.credential_id, update.version, status, update.verified,
                  tuple(reason_code(r) for r in update.reasons), observed)


@dataclass
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Status]
    wanted: frozenset[str]


class WatchHub:
    """Follows ``followed()`` on one registry in a thread of its own; keeps the latest Status of each
    and hands every change to the pages subscribed to it."""

    def __init__(self, registry: RegistryClient, followed: Callable[[], set[str]]) -> None:
        self._registry = registry
        self._followed = followed
        self._latest: dict[str, Status] = {}
        self._subscribers: list[_Subscriber] = []
        self._lock = threading.Lock()
        self._call: grpc.Future | None = None
        self._stopped = threading.Event()
        self._changed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch-hub", daemon=True)
        self._thread.start()

    def latest(self, credential_ids: Iterable[str]) -> dict[str, Status]:
        with self._lock:
            return {cid: self._latest[cid] for cid in credential_ids if cid in self._latest}

    def followed_changed(self) -> None:
        """The union of watch lists changed: follow the new one."""
        self._changed.set()
        self._cancel()

    def subscribe(self, wanted: frozenset[str]) -> _Subscriber:
        subscriber = _Subscriber(asyncio.get_running_loop(), asyncio.Queue(MAX_QUEUED_PER_PAGE), wanted)
        with self._lock:
            self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def stop(self) -> None:
        self._stopped.set()
        self._cancel()
        self._thread.join(timeout=5)

    def _cancel(self) -> None:
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            self._changed.clear()
            followed = sorted(self._followed())[:MAX_FOLLOWED]
            if not followed:
                self._changed.wait(1.0)
                continue
            try:
                self._follow(followed)
                failures = 0
                self._stopped.wait(RETRY_AFTER_S[0])  # the registry ended the stream (shutting down): not at once
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.CANCELLED and (self._changed.is_set() or self._stopped.is_set()):
                    continue
                failures += 1
                logger.warning("watch stream of the registry broke (%s); following again", exc.code().name)
                self._stopped.wait(RETRY_AFTER_S[min(failures, len(RETRY_AFTER_S)) - 1])

    def _follow(self, followed: list[str]) -> None:
        stream = self._registry.watch(followed)
        with self._lock:
            self._call = stream
        for update in stream:
            self._publish(status_of(update))

    def _publish(self, status: Status) -> None:
        with self._lock:
            self._latest[status.credential_id] = status
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            if status.credential_id in subscriber.wanted:
                subscriber.loop.call_soon_threadsafe(_offer, subscriber.queue, status)


def _offer(queue: asyncio.Queue[Status], status: Status) -> None:
    try:
        queue.put_nowait(status)
    except asyncio.QueueFull:
        logger.warning("a watch page stopped reading; an update for it was dropped")
