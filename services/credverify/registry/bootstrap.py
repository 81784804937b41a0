"""Composition root of a registry: reads settings, opens the store, Kafka and gRPC, wires handlers."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from grpc_health.v1 import health_pb2

from credverify.core.errors import ConfigurationError, DeliveryFailed
from credverify.core.kafka_io import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys
from credverify.registry.adapters.grpc_server import SERVICE_NAME, RegistryContext, build_server
from credverify.registry.adapters.kafka_ingest import KafkaIngestor
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.domain import move_record_key
from credverify.v1 import moves_pb2

logger = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 1.0
SHUTDOWN_GRACE_S = 10.0


@dataclass(frozen=True)
class RegistrySettings:
    kafka: KafkaSettings
    db_path: Path
    listen: str
    root_key_files: tuple[str, ...]
    destination: str
    pseudonym_key_file: Path | None

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


class Registry:
    """A running registry: ingest thread, gRPC server, health loop. ``stop`` is graceful."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        roots = RootKeys.from_pem_files(list(settings.root_key_files))
        pseudonym_key = settings.pseudonym_key()
        self.store = SqliteAttestationStore(settings.db_path)
        ensure_topics(settings.kafka.bootstrap_servers, settings.kafka.topics)
        self._producer = ConfirmingProducer(settings.kafka.bootstrap_servers, client_id="credverify-registry")
        self.ingestor = KafkaIngestor(settings.kafka, store=self.store, roots=roots, dead_letters=self._producer)
        context = RegistryContext(
            store=self.store,
            trust=lambda: self.ingestor.trust,
            destination=settings.destination,
            pseudonym_key=pseudonym_key,
            publish_move=self._publish_move,
            today=lambda: dt.datetime.now(dt.UTC).date(),
        )
        self.server, self._health, self.port = build_server(context, listen=settings.listen)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _publish_move(self, move: moves_pb2.VerifiedMove) -> None:
        delivery = self._producer.publish_one(
            OutgoingRecord(self.settings.kafka.topics.verified_moves, move_record_key(move),
                           move.SerializeToString())
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
        while not self._stop.is_set():
            status = (health_pb2.HealthCheckResponse.SERVING if self._serving()
                      else health_pb2.HealthCheckResponse.NOT_SERVING)
            if status != last:
                logger.info("health: %s", health_pb2.HealthCheckResponse.ServingStatus.Name(status))
                for name in ("", SERVICE_NAME):
                    self._health.set(name, status)
                last = status
            self._stop.wait(HEALTH_INTERVAL_S)

    def start(self) -> None:
        for target, name in ((lambda: self.ingestor.run(self._stop), "ingest"), (self._health_loop, "health")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.server.start()
        logger.info("registry for %s listening on port %d", self.settings.destination, self.port)
        logger.warning("gRPC is plaintext and unauthenticated: for local use only")

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """NOT_SERVING, let in-flight RPCs finish, stop ingest after its current batch, close."""
        self._health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=grace + 5)
        self._producer.close()
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
    )
