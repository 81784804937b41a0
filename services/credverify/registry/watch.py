"""Status changes, from the ingest thread to every WatchStatus stream that follows the credential.

Ingest must never wait for a watcher. Each subscription therefore holds at most
one pending update per credential it follows: a newer update replaces an older
one not yet sent, so a slow reader skips intermediate versions but always gets
the latest state, and what a subscription holds is bounded by the number of
credentials it follows.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable

from credverify.core.errors import TooManyWatchers
from credverify.core.trust import TrustList
from credverify.registry import handlers
from credverify.registry.ports import AttestationStore, IngestBatch
from credverify.registry.verification_cache import VerificationCache
from credverify.v1 import registry_pb2

logger = logging.getLogger(__name__)

# One server thread per open stream (the gRPC server is thread-based); beyond this many a new
# watch gets RESOURCE_EXHAUSTED instead of starving unary calls of threads.
MAX_SUBSCRIPTIONS = 32
# What one caller (one regulator, by its certificate) may hold of them: a quarter, so that a caller
# who opens streams without end exhausts its own share, never every other regulator's.
MAX_SUBSCRIPTIONS_PER_CALLER = MAX_SUBSCRIPTIONS // 4
MAX_FOLLOWED_PER_WATCH = 1000


class Subscription:
    """What one WatchStatus stream follows and the updates waiting to be sent to it."""

    def __init__(self, credential_ids: frozenset[str], caller: str = "") -> None:
        self.credential_ids = credential_ids
        self.caller = caller
        self._pending: dict[str, registry_pb2.StatusUpdate] = {}
        self._ready = threading.Condition()
        self._closed = False

    def offer(self, update: registry_pb2.StatusUpdate) -> None:
        """Queue ``update``, replacing one for the same credential not yet taken. Never blocks on the reader."""
        with self._ready:
            if self._closed:
                return
            self._pending.pop(update.credential_id, None)  # re-insert: keep the order of change
            self._pending[update.credential_id] = update
            self._ready.notify()

    def take(self, timeout: float | None = None) -> list[registry_pb2.StatusUpdate] | None:
        """Return the pending updates in the order they changed, waiting up to ``timeout`` for one
        (an empty list when none came). Returns None once the subscription is closed."""
        with self._ready:
            if not self._pending and not self._closed:
                self._ready.wait(timeout)
            if self._closed:
                return None
            updates = list(self._pending.values())
            self._pending.clear()
            return updates

    def close(self) -> None:
        """End the subscription: a waiting ``take`` returns None at once. Idempotent."""
        with self._ready:
            self._closed = True
            self._pending.clear()
            self._ready.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class StatusHub:
    """Fans status updates out to the subscriptions that follow each credential."""

    def __init__(self, *, max_subscriptions: int = MAX_SUBSCRIPTIONS,
                 max_per_caller: int = MAX_SUBSCRIPTIONS_PER_CALLER) -> None:
        self._max = max_subscriptions
        self._max_per_caller = max_per_caller
        self._by_caller: dict[str, int] = {}
        self._lock = threading.Lock()
        self._followers: dict[str, set[Subscription]] = {}
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def subscribe(self, credential_ids: Iterable[str], *, caller: str = "") -> Subscription:
        """Follow ``credential_ids`` for ``caller`` (its identity). Raises TooManyWatchers at the
        server's limit or at the caller's own share of it; a closed hub returns a subscription that is
        already closed."""
        subscription = Subscription(frozenset(credential_ids), caller)
        with self._lock:
            if self._closed:
                subscription.close()
                return subscription
            self._check_limits(caller)
            self._by_caller[caller] = self._by_caller.get(caller, 0) + 1
            self._subscriptions.add(subscription)
            for credential_id in subscription.credential_ids:
                self._followers.setdefault(credential_id, set()).add(subscription)
        return subscription

    def _check_limits(self, caller: str) -> None:
        if len(self._subscriptions) >= self._max:
            raise TooManyWatchers(self._max)
        if self._by_caller.get(caller, 0) >= self._max_per_caller:
            raise TooManyWatchers(self._max_per_caller, caller)

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        with self._lock:
            if subscription in self._subscriptions:
                held = self._by_caller.get(subscription.caller, 1) - 1
                if held > 0:
                    self._by_caller[subscription.caller] = held
                else:
                    self._by_caller.pop(subscription.caller, None)
            self._subscriptions.discard(subscription)
            for credential_id in subscription.credential_ids:
                followers = self._followers.get(credential_id)
                if followers is not None:
                    followers.discard(subscription)
                    if not followers:
                        del self._followers[credential_id]

    def followed(self, credential_ids: Iterable[str]) -> list[str]:
        """Return those of ``credential_ids`` that some subscription follows."""
        with self._lock:
            return [c for c in credential_ids if c in self._followers]

    def all_followed(self) -> list[str]:
        with self._lock:
            return list(self._followers)

    def publish(self, update: registry_pb2.StatusUpdate) -> int:
        """Offer ``update`` to every follower of its credential; return how many there were."""
        with self._lock:
            followers = list(self._followers.get(update.credential_id, ()))
        for subscription in followers:
            subscription.offer(update)
        return len(followers)

    @property
    def subscriptions(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        """End every subscription (the server is shutting down) and refuse new ones."""
        with self._lock:
            self._closed = True
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()


class StatusPublisher:
    """Turns each committed ingest batch into StatusUpdates for the credentials someone follows.

    Runs on the ingest thread after the commit, so a watcher told of a change gets the same answer
    from Verify. The batch lists what its commit changed: new versions stored, parked records
    admitted, verdicts changed by a trust-list change. When that list was too long to keep, every
    followed credential is judged again and published if its state differs from the last one sent.
    """

    # Remembered states beyond this many are pruned to those still followed.
    MAX_REMEMBERED = 10_000

    def __init__(self, hub: StatusHub, *, store: AttestationStore, trust: Callable[[], TrustList],
                 today: Callable[[], dt.date], now: Callable[[], dt.datetime], cache: VerificationCache) -> None:
        self._hub = hub
        self._store = store
        self._trust = trust
        self._today = today
        self._now = now
        self._cache = cache
        self._last: dict[str, tuple[object, ...]] = {}

    def committed(self, batch: IngestBatch) -> None:
        """Publish what ``batch`` changed. Never raises: a failure here must not stop ingest."""
        try:
            self._publish(batch)
        except Exception:  # noqa: BLE001 - a boundary: ingest goes on; the watchers get the next change
            logger.exception("status updates for a committed batch were not published")

    def _publish(self, batch: IngestBatch) -> None:
        changed, only_if_different = self._to_judge(batch)
        if not changed and not only_if_different:
            return
        observed_at = self._now()
        for credential_id in sorted(changed | only_if_different):
            update = handlers.status_update(credential_id, store=self._store, trust=self._trust(),
                                            today=self._today(), observed_at=observed_at, initial=False,
                                            cache=self._cache)
            if self._remember(update) or credential_id in changed:
                self._hub.publish(update)
        if len(self._last) > self.MAX_REMEMBERED:
            followed = set(self._hub.all_followed())
            self._last = {c: v for c, v in self._last.items() if c in followed}

    def _to_judge(self, batch: IngestBatch) -> tuple[set[str], set[str]]:
        """Return the followed credentials the batch changed, and those it may have changed (the
        batch's list was too long to keep): the second are published only when their state differs."""
        if batch.changes_complete:
            return set(self._hub.followed({c.credential_id for c in batch.changes} | set(batch.attestations))), set()
        changed = set(self._hub.followed(batch.attestations))
        return changed, set(self._hub.all_followed()) - changed

    def _remember(self, update: registry_pb2.StatusUpdate) -> bool:
        """Remember the state ``update`` tells; return whether it differs from the last one sent."""
        state = (update.version, update.status, update.verified, tuple(update.reasons))
        different = self._last.get(update.credential_id) != state
        self._last[update.credential_id] = state
        return different
