"""`credverify registry serve --workers N`: one process ingests, N worker processes answer gRPC.

A registry's Verify is CPU-bound Python, and one process holds one GIL: one process uses one core
however many threads it runs. So the main process keeps the single Kafka ingest (one writer of the
SQLite store, in WAL mode, so readers never wait for it) and its health checks, and spawns N worker
processes (credverify.registry.worker), each a gRPC server on the same port with SO_REUSEPORT: the
kernel spreads incoming connections over them. Each worker reads the store through its own
connections; RecordRegistration writes its row there too (SQLite serialises writers; its busy
timeout is 30 s).

The main process tells each worker, in order, what every committed batch changed (so that its
cache and watchers follow the store as closely as one process does) and what its health checks say
(so that every worker says NOT_SERVING until ingest caught up). It never waits for a worker: what a
worker has not been told yet is coalesced (``_Outbox``).

Port: "host:0" is resolved once, by binding a socket here (not listening, so never handed a
connection) that holds the port for the registry's lifetime; the workers bind that port. Before
sharing it the port is bound alone once, so another server already there is a clear error rather
than a silent share.

A worker that dies is restarted, as nginx's or gunicorn's master restarts theirs: the others go on
answering meanwhile, and clients retry a call cut off by the death (UNAVAILABLE). One that keeps
dying (MAX_RESTARTS within RESTART_WINDOW_S), or that cannot start at all (bad TLS files, say), is
a fault that restarting will not cure: the registry then stops every worker and exits non-zero
with the reason, for its supervisor (systemd, Kubernetes) to act on.
"""

from __future__ import annotations

import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from credverify.core.adapters.observability import split_host_port
from credverify.core.errors import ConfigurationError
from credverify.registry import worker as worker_process
from credverify.registry.ports import IngestBatch
from credverify.registry.worker import EXIT_START_FAILED, Changed, Failed, Health, MetricsSnapshot, Ready, Stop

if TYPE_CHECKING:
    from credverify.registry.bootstrap import RegistrySettings

logger = logging.getLogger(__name__)

MAX_WORKERS = 64
START_TIMEOUT_S = 60.0
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)
# Beyond this many credentials not yet told to a worker, it is told "anything may have changed".
MAX_PENDING_IDS = 10_000
# Spawned, never forked: gRPC's core and the ingest threads do not survive fork().
_SPAWN = multiprocessing.get_context("spawn")


def reserve_port(listen: str) -> tuple[socket.socket, str]:
    """Return a socket holding ``listen``'s port for workers to share (SO_REUSEPORT, bound, not
    listening) and ``host:port`` with the port resolved. Raises ConfigurationError when the port is
    taken or the host does not resolve."""
    host, port = split_host_port(listen)
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                       flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, socket.SOCK_STREAM) as alone:  # anyone already there?
            alone.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            alone.bind(address)
            port = alone.getsockname()[1]
        holder = socket.socket(family, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((address[0], port, *address[2:]))
    except OSError as exc:
        raise ConfigurationError("cannot listen on %s: %s" % (listen, exc.strerror or exc)) from exc
    shown = "[%s]" % host if ":" in host else host
    return holder, "%s:%d" % (shown, port)


class _Outbox:
    """What one worker has yet to be told, coalesced: the ingest and health threads never wait on a
    worker, and what waits for a slow worker is bounded."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._ids: set[str] | None = set()  # None: anything may have changed
        self._trust = False
        self._changed = False
        self._health: Health | None = None
        self._stop: Stop | None = None

    def changed(self, credential_ids: Iterable[str] | None, trust: bool) -> None:
        with self._ready:
            if credential_ids is None:
                self._ids = None
            elif self._ids is not None:
                self._ids.update(credential_ids)
                if len(self._ids) > MAX_PENDING_IDS:
                    self._ids = None
            self._trust = self._trust or trust
            self._changed = True
            self._ready.notify()

    def health(self, health: Health) -> None:
        with self._ready:
            self._health = health
            self._ready.notify()

    def stop(self, grace: float) -> None:
        with self._ready:
            self._stop = Stop(grace)
            self._ready.notify()

    def take(self) -> list[object]:
        """Wait for something to tell; return it in the order to send (a change before the health
        that may follow from it, Stop last)."""
        with self._ready:
            self._ready.wait_for(lambda: self._changed or self._health is not None or self._stop is not None)
            messages: list[object] = []
            if self._changed:
                messages.append(Changed(None if self._ids is None else frozenset(self._ids), self._trust))
                self._ids, self._trust, self._changed = set(), False, False
            if self._health is not None:
                messages.append(self._health)
                self._health = None
            if self._stop is not None:
                messages.append(self._stop)
            return messages


class _Slot:
    """One worker process (restarted in place) with its pipe, what it is to be told, and what it said."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.outbox = _Outbox()
        self.ready = threading.Event()
        self.failure: str | None = None
        self.pid = 0
        self.snapshot: list[Metric] = []
        self.deaths: list[float] = []

    def spawn(self, settings: RegistrySettings, listen: str, health: Health | None) -> None:
        parent_end, child_end = _SPAWN.Pipe(duplex=True)
        self.outbox = _Outbox()
        if health is not None:
            self.outbox.health(health)
        self.ready.clear()
        self.failure = None
        root = logging.getLogger()
        self.process = _SPAWN.Process(
            target=worker_process.serve, name="registry-worker-%d" % self.index,
            args=(settings, self.index, listen, child_end, root.level, settings.json_logs))
        self.process.start()
        child_end.close()
        self.conn = parent_end
        threading.Thread(target=self._send, args=(parent_end, self.outbox), name="to-worker-%d" % self.index,
                         daemon=True).start()
        threading.Thread(target=self._receive, args=(parent_end,), name="from-worker-%d" % self.index,
                         daemon=True).start()

    def _send(self, conn: Connection, outbox: _Outbox) -> None:
        while True:
            messages = outbox.take()
            try:
                for message in messages:
                    conn.send(message)
            except (OSError, EOFError, ValueError):  # the worker is gone; its successor has a new pipe
                return
            if any(isinstance(m, Stop) for m in messages):
                return

    def _receive(self, conn: Connection) -> None:
        try:
            while True:
                message = conn.recv()
                if isinstance(message, MetricsSnapshot):
                    self.snapshot = message.families
                elif isinstance(message, Ready):
                    self.pid = message.pid
                    self.ready.set()
                elif isinstance(message, Failed):
                    self.failure = message.message
                    self.ready.set()
        except (OSError, EOFError):
            return


class WorkerAnswers(Collector):
    """The workers' own metrics (calls, verdicts, cache, watchers), each sample labelled with its
    ``worker``, as last reported (at most METRICS_EVERY_S old). A restarted worker starts its counters
    from zero again, which Prometheus reads as a counter reset."""

    def __init__(self, slots: list[_Slot]) -> None:
        self._slots = slots

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for slot in self._slots:
            for family in slot.snapshot:
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                into.samples += [Sample(s.name, {**s.labels, "worker": str(slot.index)}, s.value, s.timestamp,
                                        s.exemplar) for s in family.samples]
        yield from merged.values()


class WorkerPool:
    """The worker processes of one registry, seen by the composition root as its gRPC server:
    ``port``, ``start``, ``set_serving``, ``stop``. ``on_fatal(reason)`` is called (once, on the
    supervising thread) when a worker cannot be kept running."""

    def __init__(self, settings: RegistrySettings, *, on_fatal: Callable[[str], None]) -> None:
        if not 1 <= settings.workers <= MAX_WORKERS:
            raise ConfigurationError("workers: expected 1 to %d, found %d" % (MAX_WORKERS, settings.workers))
        self._settings = settings
        self._on_fatal = on_fatal
        self._holder, self._listen = reserve_port(settings.listen)
        self.port = split_host_port(self._listen)[1]
        self._slots = [_Slot(index) for index in range(1, settings.workers + 1)]
        self.metrics = WorkerAnswers(self._slots)
        self._health: Health | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no worker is spawned once stopping has begun
        self._supervisor: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        return [slot.process.pid for slot in self._slots if slot.process is not None and slot.process.pid]

    def start(self) -> None:
        """Spawn every worker and wait until each listens. Raises ConfigurationError (after stopping
        them all) when one cannot start."""
        for slot in self._slots:
            slot.spawn(self._settings, self._listen, self._health)
        try:
            for slot in self._slots:
                self._await_ready(slot)
        except ConfigurationError:
            self.stop(1.0)
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="workers", daemon=True)
        self._supervisor.start()
        logger.info("%d registry workers serving on port %d", len(self._slots), self.port)

    def _await_ready(self, slot: _Slot) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert slot.process is not None
        while not slot.ready.wait(0.2):
            if not slot.process.is_alive() and not slot.ready.wait(0.5):
                raise ConfigurationError("registry worker %d exited with %s before serving" % (
                    slot.index, slot.process.exitcode))
            if time.monotonic() > deadline:
                raise ConfigurationError("registry worker %d did not start within %.0f s" % (
                    slot.index, START_TIMEOUT_S))
        if slot.failure is not None:
            raise ConfigurationError(slot.failure)

    def committed(self, batch: IngestBatch) -> None:
        """On the ingest thread, after each commit: tell every worker what changed (never blocks)."""
        ids: set[str] | None = None
        if batch.changes_complete:
            ids = {c.credential_id for c in batch.changes} | set(batch.attestations)
        trust = bool(batch.issuers) or batch.trust is not None or not batch.changes_complete
        if ids == set() and not trust:
            return
        for slot in self._slots:
            slot.outbox.changed(ids, trust)

    def set_serving(self, serving: bool, why: str = "") -> None:
        self._health = Health(serving, why)
        for slot in self._slots:
            slot.outbox.health(self._health)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            sentinels = {slot.process.sentinel: slot for slot in self._slots if slot.process is not None}
            for sentinel in wait(list(sentinels), timeout=0.5):
                if self._stopping.is_set():
                    return
                reason = self._restart(sentinels[sentinel])  # type: ignore[index]
                if reason is not None:
                    logger.error("%s; stopping the registry", reason)
                    self._on_fatal(reason)
                    return

    def _restart(self, slot: _Slot) -> str | None:
        """Restart the dead worker of ``slot``; return why not when it must not be."""
        assert slot.process is not None
        slot.process.join()
        code = slot.process.exitcode
        if code == EXIT_START_FAILED:
            return "registry worker %d could not start again: %s" % (slot.index, slot.failure or "see its log")
        now = time.monotonic()
        slot.deaths = [t for t in slot.deaths if now - t < RESTART_WINDOW_S] + [now]
        if len(slot.deaths) > MAX_RESTARTS:
            return "registry worker %d died %d times within %.0f s (last exit code %s)" % (
                slot.index, len(slot.deaths), RESTART_WINDOW_S, code)
        delay = RESTART_BACKOFF_S[min(len(slot.deaths) - 1, len(RESTART_BACKOFF_S) - 1)]
        logger.error("registry worker %d (pid %d) died with exit code %s; restarting it in %.1f s",
                     slot.index, slot.pid, code, delay)
        self._stopping.wait(delay)
        with self._lock:
            if not self._stopping.is_set():
                slot.spawn(self._settings, self._listen, self._health)
        return None

    def stop(self, grace: float, *, release: Callable[[], None] | None = None) -> bool:
        """Tell every worker to stop (NOT_SERVING, drain for up to ``grace`` seconds); end any that
        has not exited by then; release the port. Returns True when every worker exited by itself."""
        with self._lock:
            self._stopping.set()
        if release is not None:
            release()
        for slot in self._slots:
            slot.outbox.stop(grace)
        deadline = time.monotonic() + grace + 5.0
        clean = True
        for slot in self._slots:
            if slot.process is None:
                continue
            slot.process.join(max(deadline - time.monotonic(), 0.1))
            if slot.process.is_alive():
                clean = False
                logger.error("registry worker %d did not stop within %.0f s; killing it", slot.index, grace + 5.0)
                slot.process.kill()
                slot.process.join(5.0)
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(5.0)
        self._holder.close()
        return clean
