"""Composition root of a registry: reads settings, opens the store, Kafka and gRPC, wires handlers."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from credverify.core.adapters.grpc_security import AccessPolicy, AllowList, ServerTls, UnauthenticatedLocalAccess
from credverify.core.adapters.grpc_server_kit import GrpcServer, ServerSettings, first_failure, setting
from credverify.core.adapters.kafka import ConfirmingProducer, ensure_topics
from credverify.core.adapters.observability import MetricsEndpoint, configure_logging, serve_metrics
from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL
from credverify.core.errors import ConfigurationError
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys
from credverify.registry.adapters.grpc_server import RegistryContext, build_server
from credverify.registry.adapters.kafka_ingest import KafkaIngestor
from credverify.registry.adapters.kafka_lag import ConsumerLag
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.metrics import RegistryMetrics
from credverify.registry.ports import IngestBatch
from credverify.registry.stall import DEFAULT_STALL_AFTER_S, StallWatch
from credverify.registry.verification_cache import VerificationCache
from credverify.registry.watch import StatusHub, StatusPublisher
from credverify.registry.worker import move_publisher
from credverify.registry.workers import MAX_WORKERS, WorkerPool

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0
LAG_INTERVAL_S = 5.0
SHUTDOWN_GRACE_S = 10.0
DEFAULT_LISTEN = "127.0.0.1:50051"


@dataclass(frozen=True)
class RegistrySettings:
    kafka: KafkaSettings
    db_path: Path
    listen: str
    root_key_files: tuple[str, ...]
    destination: str
    pseudonym_key_file: Path | None
    # None: plaintext gRPC, for local use only (the CLI asks for --plaintext-for-local-use).
    tls: ServerTls | None = None
    allow_list: Path | None = None  # with TLS: the regulators admitted, by client certificate
    metrics_listen: str | None = None  # host:port of the Prometheus /metrics endpoint; None: none
    json_logs: bool = True
    # NOT_SERVING once the topics hold records not committed and ingest made no progress this long.
    stall_after_s: float = DEFAULT_STALL_AFTER_S
    # Processes answering gRPC on the one port (credverify.registry.workers); 1: this process alone.
    workers: int = 1

    @classmethod
    def from_env(cls, args: object = None, env: Mapping[str, str] = os.environ) -> RegistrySettings:
        """Build settings from the environment, each overridden by the command-line value in ``args``
        (parsed `registry serve` arguments) when given. Raises ConfigurationError naming what is missing."""
        root_keys = tuple(getattr(args, "root_key", None) or [
            p for p in env.get("CREDVERIFY_ROOT_KEYS", "").split(",") if p])
        if not root_keys:
            raise ConfigurationError("no federation root key: pass --root-key FILE or set CREDVERIFY_ROOT_KEYS")
        destination = setting(args, "country", env, "CREDVERIFY_REGISTRY_COUNTRY")
        if not destination:
            raise ConfigurationError("no destination country: pass --country CC or set CREDVERIFY_REGISTRY_COUNTRY")
        server = ServerSettings.from_env(args, env, prefix="CREDVERIFY_REGISTRY_", default_listen=DEFAULT_LISTEN)
        return cls(
            kafka=KafkaSettings.from_env(getattr(args, "bootstrap", None)),
            db_path=Path(setting(args, "db", env, "CREDVERIFY_REGISTRY_DB", "registry.db") or "registry.db"),
            listen=server.listen,
            root_key_files=root_keys,
            destination=destination,
            pseudonym_key_file=_path(setting(args, "pseudonym_key_file", env, "CREDVERIFY_PSEUDONYM_KEY_FILE")),
            tls=server.tls,
            allow_list=_path(setting(args, "allow_list", env, "CREDVERIFY_REGISTRY_ALLOW_LIST")),
            metrics_listen=server.metrics_listen,
            json_logs=server.json_logs,
            stall_after_s=_seconds("stall-after", setting(args, "stall_after", env, "CREDVERIFY_REGISTRY_STALL_AFTER_S",
                                                          str(DEFAULT_STALL_AFTER_S))),
            workers=_count("workers", setting(args, "workers", env, "CREDVERIFY_REGISTRY_WORKERS", "1")),
        )

    def access_policy(self) -> AccessPolicy:
        """Return who may call: the allow-list under mutual TLS, everyone in plaintext.
        Raises ConfigurationError for TLS without a client CA or an allow-list."""
        if self.tls is None:
            return UnauthenticatedLocalAccess(self.destination)
        if self.tls.client_ca is None or self.allow_list is None:
            raise ConfigurationError("a registry over TLS admits regulators by client certificate: "
                                     "it needs a client CA and an allow-list")
        return AllowList.from_file(self.allow_list)

    def pseudonym_key(self) -> bytes | None:
        if self.pseudonym_key_file is None:
            return None
        try:
            key = self.pseudonym_key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigurationError("cannot read pseudonym key %s: %s" % (
                self.pseudonym_key_file, exc.strerror)) from exc
        if len(key) < 32:
            raise ConfigurationError("pseudonym key %s is shorter than 32 bytes" % self.pseudonym_key_file)
        return key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    return _now().date()


class Registry:
    """A running registry: ingest thread, gRPC server, health loop. ``stop`` is graceful.
    With ``settings.workers`` above 1, worker processes answer gRPC (credverify.registry.workers)
    and this process ingests for them; ``failure`` then says why the registry must stop, if it must.
    Raises ConfigurationError for unusable settings, HubUnavailable when Kafka does not answer."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        roots = RootKeys.from_pem_files(list(settings.root_key_files))
        pseudonym_key = settings.pseudonym_key()
        access = settings.access_policy()
        self.store = SqliteAttestationStore(settings.db_path)
        topics = settings.kafka.topics
        # Only the topics a registry reads or writes: on a closed hub its principal sees no others.
        ensure_topics(settings.kafka, only=[topics.trust_list, topics.attestations, topics.rejected,
                                            topics.verified_moves])
        self._producer = ConfirmingProducer(settings.kafka, client_id="credverify-registry")
        self.hub = StatusHub()
        self.cache = VerificationCache()
        self.lag = ConsumerLag(settings.kafka, self.store.next_offsets)
        self.ingestor = KafkaIngestor(settings.kafka, store=self.store, roots=roots, dead_letters=self._producer,
                                      on_commit=self._committed)
        self.stall = StallWatch(settings.stall_after_s)
        self.failure: str | None = None
        self.failed = threading.Event()
        self.workers: WorkerPool | None = None
        if settings.workers > 1:
            self.workers = WorkerPool(settings, on_fatal=self._fatal)
        self.metrics = RegistryMetrics(records_consumed=lambda: self.ingestor.records_seen,
                                       lag=lambda: self.lag.by_topic, watchers=lambda: self.hub.subscriptions,
                                       cached=lambda: len(self.cache), stall=self.stall,
                                       answers=self.workers.metrics if self.workers is not None else None)
        self._status = StatusPublisher(self.hub, store=self.store, trust=lambda: self.ingestor.trust, today=_today,
                                       now=_now, cache=self.cache)
        context = RegistryContext(
            store=self.store,
            trust=lambda: self.ingestor.trust,
            destination=settings.destination,
            pseudonym_key=pseudonym_key,
            publish_move=move_publisher(self._producer, settings.kafka),
            today=_today,
            access=access,
            cache=self.cache,
            hub=self.hub,
            on_verdict=self.metrics.verdict,
        )
        self.grpc: GrpcServer | WorkerPool = self.workers if self.workers is not None else build_server(
            context, listen=settings.listen, tls=settings.tls, metrics=self.metrics.grpc)
        self.port = self.grpc.port
        self.metrics_endpoint: MetricsEndpoint | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _committed(self, batch: IngestBatch) -> None:
        """On the ingest thread, after each committed batch: Verify's cache first (a watcher told of a
        change must get the same answer from Verify), then metrics, then watchers."""
        if batch.changes_complete:
            self.cache.forget({c.credential_id for c in batch.changes} | set(batch.attestations))
        else:
            self.cache.clear()
        self.metrics.committed(batch)
        self._status.committed(batch)
        if self.workers is not None:
            self.workers.committed(batch)

    def _fatal(self, reason: str) -> None:
        self.failure = reason
        self.failed.set()

    def _health_loop(self) -> None:
        checks = {"store": self.store.ping, "ingest": self.ingestor.healthy,
                  "catching up": self.ingestor.caught_up.is_set, "ingest progressing": lambda: not self.stall.stalled}
        next_lag = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_lag:
                self.lag.refresh()
                next_lag = time.monotonic() + LAG_INTERVAL_S
            self.stall.observe(lag=sum(self.lag.by_topic.values()), progress=self.ingestor.progress,
                               now=time.monotonic(), partitions=self.lag.by_partition)
            failed = first_failure(checks)
            why = self.stall.describe() if failed == "ingest progressing" else failed or ""
            self.grpc.set_serving(failed is None, why=why)
            self._stop.wait(HEALTH_INTERVAL_S)

    def _closing_store(self, work: Callable[[], None]) -> Callable[[], None]:
        """``work``, then close the store connection of the thread that ran it."""
        def run() -> None:
            try:
                work()
            finally:
                self.store.close()
        return run

    def start(self) -> None:
        for target, name in ((lambda: self.ingestor.run(self._stop), "ingest"), (self._health_loop, "health")):
            thread = threading.Thread(target=self._closing_store(target), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.settings.metrics_listen:
            self.metrics_endpoint = serve_metrics(self.settings.metrics_listen, self.metrics.registry)
            logger.info("metrics on http://%s/metrics", self.settings.metrics_listen.rsplit(":", 1)[0]
                        + ":%d" % self.metrics_endpoint.port)
        self.grpc.start()
        if self.settings.tls is None:
            logger.warning("gRPC is plaintext and unauthenticated: for local use only")
        logger.info("registry for %s listening on port %d (%s, %d process%s answering)",
                    self.settings.destination, self.port, "plaintext" if self.settings.tls is None else "mutual TLS",
                    self.settings.workers, "es" if self.settings.workers > 1 else "")

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """NOT_SERVING; end watch streams; let in-flight RPCs finish (for up to ``grace`` seconds);
        stop ingest after its current transaction; close Kafka clients and the metrics endpoint."""
        logger.info("stopping: health NOT_SERVING, in-flight RPCs get %.0f s to finish", grace)
        self.grpc.stop(grace, release=self.hub.close)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=grace + 5)
            if thread.is_alive():
                logger.error("thread %s did not stop within %.0f s", thread.name, grace + 5)
        self._producer.close()
        self.lag.close()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.stop()
        self.store.close()
        logger.info("registry stopped")


def _seconds(name: str, value: str | None) -> float:
    """Parse a positive number of seconds. Raises ConfigurationError naming the setting."""
    try:
        seconds = float(value or "")
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigurationError("%s: expected a positive number of seconds, found %r" % (name, value))
    return seconds


def _count(name: str, value: str | None) -> int:
    """Parse a number of processes, 1 to MAX_WORKERS. Raises ConfigurationError naming the setting."""
    try:
        count = int(value or "")
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigurationError("%s: expected a whole number from 1 to %d, found %r" % (name, MAX_WORKERS, value))
    return count


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def run(settings: RegistrySettings, stop: threading.Event, *,
        on_started: Callable[[int], object] = lambda port: None) -> int:
    """Serve a registry until ``stop`` is set, then shut it down gracefully; return the exit code.
    ``on_started`` gets the gRPC port once the registry listens. Raises ConfigurationError (before
    serving) for unusable settings, HubUnavailable when Kafka does not answer at start."""
    configure_logging(logging.getLevelName(logging.getLogger().level), json_lines=settings.json_logs)
    registry = Registry(settings)
    registry.start()
    try:
        on_started(registry.port)
        while not stop.wait(0.5) and not registry.failed.is_set():
            pass
    finally:
        registry.stop()
    if registry.failure is not None:
        logger.error("registry stopped: %s", registry.failure)
        return EXIT_PARTIAL
    return EXIT_OK
