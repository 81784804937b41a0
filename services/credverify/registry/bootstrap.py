"""Composition root of a registry: reads settings, opens the store, Kafka and gRPC, wires handlers."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grpc_health.v1 import health_pb2

from credverify.core.adapters.grpc_security import AccessPolicy, AllowList, ServerTls, UnauthenticatedLocalAccess
from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.adapters.observability import MetricsEndpoint, serve_metrics
from credverify.core.errors import ConfigurationError, DeliveryFailed
from credverify.core.moves import move_record_key
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys
from credverify.registry.adapters.grpc_server import SERVICE_NAME, RegistryContext, ShutdownGate, build_server
from credverify.registry.adapters.kafka_ingest import KafkaIngestor
from credverify.registry.adapters.kafka_lag import ConsumerLag
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.metrics import RegistryMetrics
from credverify.registry.ports import IngestBatch
from credverify.registry.verification_cache import VerificationCache
from credverify.registry.watch import StatusHub, StatusPublisher
from credverify.v1 import moves_pb2

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0
LAG_INTERVAL_S = 5.0
SHUTDOWN_GRACE_S = 10.0


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
    """A running registry: ingest thread, gRPC server, health loop. ``stop`` is graceful."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        roots = RootKeys.from_pem_files(list(settings.root_key_files))
        pseudonym_key = settings.pseudonym_key()
        access = settings.access_policy()
        self.store = SqliteAttestationStore(settings.db_path)
        ensure_topics(settings.kafka)
        self._producer = ConfirmingProducer(settings.kafka, client_id="credverify-registry")
        self.hub = StatusHub()
        self.cache = VerificationCache()
        self.lag = ConsumerLag(settings.kafka, self.store.next_offsets)
        self.ingestor = KafkaIngestor(settings.kafka, store=self.store, roots=roots, dead_letters=self._producer,
                                      on_commit=self._committed)
        self.metrics = RegistryMetrics(records_consumed=lambda: self.ingestor.records_seen,
                                       lag=lambda: self.lag.by_topic, watchers=lambda: self.hub.subscriptions,
                                       cached=lambda: len(self.cache))
        self._status = StatusPublisher(self.hub, store=self.store, trust=lambda: self.ingestor.trust, today=_today,
                                       now=_now, cache=self.cache)
        context = RegistryContext(
            store=self.store,
            trust=lambda: self.ingestor.trust,
            destination=settings.destination,
            pseudonym_key=pseudonym_key,
            publish_move=self._publish_move,
            today=_today,
            access=access,
            cache=self.cache,
            hub=self.hub,
            on_verdict=self.metrics.verdict,
        )
        self._gate = ShutdownGate(SERVICE_NAME)
        self.server, self._health, self.port = build_server(context, listen=settings.listen, tls=settings.tls,
                                                            interceptors=[self._gate, self.metrics.grpc])
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

    def _publish_move(self, move: moves_pb2.VerifiedMove, timeout_s: float) -> None:
        [delivery] = self._producer.publish(
            [OutgoingRecord(self.settings.kafka.topics.verified_moves, move_record_key(move),
                            move.SerializeToString())],
            timeout_s=timeout_s,
        )
        if not delivery.confirmed:
            raise DeliveryFailed("verified move %s not confirmed: %s" % (move.move_id, delivery.error))

    def _serving(self) -> bool:
        try:
            self.store.ping()
        except Exception:  # noqa: BLE001 - any store failure means not serving
            logger.exception("store does not answer")
            return False
        return self.ingestor.healthy() and self.ingestor.caught_up.is_set()

    def _health_loop(self) -> None:
        last = None
        next_lag = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_lag:
                self.lag.refresh()
                next_lag = time.monotonic() + LAG_INTERVAL_S
            status = (health_pb2.HealthCheckResponse.SERVING if self._serving()
                      else health_pb2.HealthCheckResponse.NOT_SERVING)
            if status != last:
                logger.info("health: %s", health_pb2.HealthCheckResponse.ServingStatus.Name(status))
                for name in ("", SERVICE_NAME):
                    self._health.set(name, status)
                last = status
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
        self.server.start()
        if self.settings.tls is None:
            logger.warning("gRPC is plaintext and unauthenticated: for local use only")
        logger.info("registry for %s listening on port %d (%s)", self.settings.destination, self.port,
                    "plaintext" if self.settings.tls is None else "mutual TLS")

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """NOT_SERVING; end watch streams; let in-flight RPCs finish (for up to ``grace`` seconds);
        stop ingest after its current transaction; close Kafka clients and the metrics endpoint."""
        logger.info("stopping: health NOT_SERVING, in-flight RPCs get %.0f s to finish", grace)
        deadline = time.monotonic() + grace
        self._health.enter_graceful_shutdown()
        self.hub.close()
        if not self._gate.drain(grace):
            logger.warning("calls still running after %.0f s are cancelled", grace)
        self.server.stop(max(deadline - time.monotonic(), 0.0)).wait()
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


def settings_from(args: object) -> RegistrySettings:
    """Build settings from parsed CLI arguments, falling back to the environment."""
    root_keys = tuple(getattr(args, "root_key", None) or [
        p for p in os.environ.get("CREDVERIFY_ROOT_KEYS", "").split(",") if p])
    if not root_keys:
        raise ConfigurationError("no federation root key: pass --root-key FILE or set CREDVERIFY_ROOT_KEYS")
    destination = getattr(args, "country", None) or os.environ.get("CREDVERIFY_REGISTRY_COUNTRY", "")
    if not destination:
        raise ConfigurationError("no destination country: pass --country CC or set CREDVERIFY_REGISTRY_COUNTRY")
    pseudonym = getattr(args, "pseudonym_key_file", None) or os.environ.get("CREDVERIFY_PSEUDONYM_KEY_FILE")
    return RegistrySettings(
        kafka=KafkaSettings.from_env(getattr(args, "bootstrap", None)),
        db_path=Path(getattr(args, "db", None) or os.environ.get("CREDVERIFY_REGISTRY_DB", "registry.db")),
        listen=getattr(args, "listen", None) or os.environ.get("CREDVERIFY_REGISTRY_LISTEN", "127.0.0.1:50051"),
        root_key_files=root_keys,
        destination=destination,
        pseudonym_key_file=Path(pseudonym) if pseudonym else None,
        tls=_server_tls(args),
        allow_list=_path(args, "allow_list", "CREDVERIFY_REGISTRY_ALLOW_LIST"),
        metrics_listen=getattr(args, "metrics_listen", None) or os.environ.get("CREDVERIFY_REGISTRY_METRICS_LISTEN"),
    )


def _path(args: object, name: str, env: str) -> Path | None:
    value = getattr(args, name, None) or os.environ.get(env)
    return Path(value) if value else None


def _server_tls(args: object) -> ServerTls | None:
    """Mutual TLS from --tls-cert, --tls-key, --tls-client-ca (and --allow-list), or plaintext when
    explicitly asked for with --plaintext-for-local-use; neither is a configuration error."""
    cert = _path(args, "tls_cert", "CREDVERIFY_REGISTRY_TLS_CERT")
    key = _path(args, "tls_key", "CREDVERIFY_REGISTRY_TLS_KEY")
    client_ca = _path(args, "tls_client_ca", "CREDVERIFY_REGISTRY_TLS_CLIENT_CA")
    plaintext = bool(getattr(args, "plaintext_for_local_use", False)) or (
        os.environ.get("CREDVERIFY_REGISTRY_PLAINTEXT_FOR_LOCAL_USE", "") == "1")
    if cert is None and key is None and client_ca is None:
        if not plaintext:
            raise ConfigurationError(
                "no transport security configured: pass --tls-cert, --tls-key, --tls-client-ca and --allow-list "
                "(mutual TLS), or --plaintext-for-local-use on a developer's machine")
        return None
    if plaintext:
        raise ConfigurationError("--plaintext-for-local-use contradicts the TLS options given; pick one")
    if cert is None or key is None:
        raise ConfigurationError("TLS needs both --tls-cert and --tls-key")
    return ServerTls(cert_chain=cert, private_key=key, client_ca=client_ca)
