"""One worker process of `credverify registry serve --workers N`: answers gRPC from the store that the
parent's single ingest keeps, on the port every worker shares (SO_REUSEPORT: the kernel spreads
connections over the workers).

The worker never consumes Kafka. It learns from the parent, over a pipe:

- ``Changed``: what a committed batch changed (credential ids, or everything, and whether the trust
  list changed). The worker forgets those outcomes in its verification cache, reloads the trust list
  from the store when it changed, then tells its own WatchStatus streams, in that order, as the
  one-process registry does on its ingest thread.
- ``Health``: what the parent's checks say (NOT_SERVING until ingest caught up, as with one process).

It tells the parent ``Ready`` (or ``Failed`` with why, before exiting) once it listens, and sends a
``MetricsSnapshot`` of its own counters every METRICS_EVERY_S, which the parent shows on /metrics
with a ``worker`` label. It stops on SIGTERM or SIGINT, on ``Stop``, and when the pipe closes (the
parent is gone): a worker never outlives its registry.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord
from credverify.core.adapters.observability import configure_logging
from credverify.core.errors import ConfigurationError, DeliveryFailed
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys, TrustList
from credverify.registry.adapters.grpc_server import RegistryContext, build_server
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.ingest import load_trust
from credverify.registry.metrics import AnswerMetrics
from credverify.registry.ports import AttestationChanged, IngestBatch
from credverify.registry.verification_cache import VerificationCache
from credverify.registry.watch import StatusHub, StatusPublisher
from credverify.v1 import common_pb2, moves_pb2

if TYPE_CHECKING:
    from credverify.registry.bootstrap import RegistrySettings

logger = logging.getLogger(__name__)

METRICS_EVERY_S = 1.0
# Exit code of a worker that could not start (bad TLS files, port taken): the parent does not retry it.
EXIT_START_FAILED = 3


# --- messages over the pipe ----------------------------------------------------------------------

@dataclass(frozen=True)
class Changed:
    """Committed batches changed these credentials (None: possibly any), and the trust list if ``trust``."""

    credential_ids: frozenset[str] | None
    trust: bool


@dataclass(frozen=True)
class Health:
    serving: bool
    why: str = ""


@dataclass(frozen=True)
class Stop:
    grace: float


@dataclass(frozen=True)
class Ready:
    pid: int
    port: int


@dataclass(frozen=True)
class Failed:
    message: str


@dataclass(frozen=True)
class MetricsSnapshot:
    families: list[Metric]


# --- the worker ----------------------------------------------------------------------------------

def move_publisher(producer: ConfirmingProducer | None, kafka: KafkaSettings
                   ) -> Callable[[moves_pb2.VerifiedMove, float], None]:
    """``publish_move(move, timeout_s)`` through ``producer``, returning once the hub confirmed it.
    Raises DeliveryFailed when it does not (or when there is no producer: no pseudonym key)."""
    def publish(move: moves_pb2.VerifiedMove, timeout_s: float) -> None:
        if producer is None:
            raise DeliveryFailed("verified move %s: this registry publishes no moves" % move.move_id)
        [delivery] = producer.publish(
            [OutgoingRecord(kafka.topics.verified_moves, move_record_key(move), move.SerializeToString())],
            timeout_s=timeout_s)
        if not delivery.confirmed:
            raise DeliveryFailed("verified move %s not confirmed: %s" % (move.move_id, delivery.error))
    return publish


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    return _now().date()


class Worker:
    """The gRPC side of a registry over a store another process ingests into."""

    def __init__(self, settings: RegistrySettings, index: int, listen: str) -> None:
        self.index = index
        self._roots = RootKeys.from_pem_files(list(settings.root_key_files))
        pseudonym_key = settings.pseudonym_key()
        access = settings.access_policy()
        self.store = SqliteAttestationStore(settings.db_path)
        self._trust: TrustList = load_trust(self.store, self._roots)
        self.cache = VerificationCache()
        self.hub = StatusHub()
        self.metrics = AnswerMetrics(CollectorRegistry(), watchers=lambda: self.hub.subscriptions,
                                     cached=lambda: len(self.cache))
        self._producer: ConfirmingProducer | None = None
        if pseudonym_key is not None:  # without it no move is recorded, so none is published
            self._producer = ConfirmingProducer(settings.kafka, client_id="credverify-registry")
        self._status = StatusPublisher(self.hub, store=self.store, trust=lambda: self._trust, today=_today,
                                       now=_now, cache=self.cache)
        context = RegistryContext(
            store=self.store, trust=lambda: self._trust, destination=settings.destination,
            pseudonym_key=pseudonym_key, publish_move=move_publisher(self._producer, settings.kafka),
            today=_today, access=access, cache=self.cache, hub=self.hub, on_verdict=self.metrics.verdict)
        self.grpc = build_server(context, listen=listen, tls=settings.tls, metrics=self.metrics.grpc,
                                 reuse_port=True)

    def changed(self, change: Changed) -> None:
        """What the parent's ingest committed: the cache first, then the trust list, then watchers."""
        if change.credential_ids is None or change.trust:
            self.cache.clear()
        else:
            self.cache.forget(change.credential_ids)
        if change.trust:
            self._trust = load_trust(self.store, self._roots)  # a new list, swapped in whole
        ids = sorted(change.credential_ids or ())
        self._status.committed(IngestBatch(
            attestations={}, issuers={}, rejections=[], next_offsets={},
            changes=[AttestationChanged(c, 0, common_pb2.REASON_UNSPECIFIED, "ingested") for c in ids],
            changes_complete=change.credential_ids is not None))

    def stop(self, grace: float) -> None:
        self.grpc.stop(grace, release=self.hub.close)
        if self._producer is not None:
            self._producer.close()
        self.store.close()


class _Pipe:
    """The worker's end of its pipe: sends from any thread."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: object) -> bool:
        with self._lock:
            try:
                self._conn.send(message)
            except (OSError, EOFError):
                return False
        return True


def _listen(worker: Worker, conn: Connection, stop: threading.Event, grace: list[float]) -> None:
    """Apply the parent's messages until it says stop or goes away."""
    try:
        while not stop.is_set():
            message = conn.recv()
            if isinstance(message, Changed):
                worker.changed(message)
            elif isinstance(message, Health):
                worker.grpc.set_serving(message.serving, why=message.why)
            elif isinstance(message, Stop):
                grace[0] = message.grace
                break
    except (EOFError, OSError):
        logger.error("worker %d: the registry's main process is gone; stopping", worker.index)
    except Exception:  # noqa: BLE001 - a boundary: a worker that cannot follow the store must not answer
        logger.exception("worker %d: applying a message from the main process failed; stopping", worker.index)
    finally:
        stop.set()


def _report_metrics(worker: Worker, pipe: _Pipe, stop: threading.Event) -> None:
    while not stop.wait(METRICS_EVERY_S):
        if not pipe.send(MetricsSnapshot(list(worker.metrics.registry.collect()))):
            return


def serve(settings: RegistrySettings, index: int, listen: str, conn: Connection, log_level: int,
          json_logs: bool) -> None:
    """The worker process's entry point (spawned by credverify.registry.workers)."""
    configure_logging(logging.getLevelName(log_level), json_lines=json_logs)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    pipe = _Pipe(conn)
    try:
        worker = Worker(settings, index, listen)
        worker.grpc.start()
    except ConfigurationError as exc:
        pipe.send(Failed(str(exc)))
        sys.exit(EXIT_START_FAILED)
    except Exception as exc:  # noqa: BLE001 - told to the parent, which exits non-zero with it
        logger.exception("worker %d could not start", index)
        pipe.send(Failed("worker %d could not start: %s" % (index, exc)))
        sys.exit(EXIT_START_FAILED)
    grace = [10.0]
    threading.Thread(target=_listen, args=(worker, conn, stop, grace), name="from-main", daemon=True).start()
    threading.Thread(target=_report_metrics, args=(worker, pipe, stop), name="metrics", daemon=True).start()
    logger.info("registry worker %d (pid %d) serving on port %d", index, os.getpid(), worker.grpc.port)
    pipe.send(Ready(os.getpid(), worker.grpc.port))
    stop.wait()
    worker.stop(grace[0])
    logger.info("registry worker %d stopped", index)
