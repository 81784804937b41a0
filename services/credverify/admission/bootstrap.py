"""Composition root of the hub's admission: reads settings, opens the index, Kafka and the trust list,
runs the loop, and reports health in a file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from credverify.admission.adapters.kafka_loop import AdmissionLoop, KafkaTrustSource
from credverify.admission.adapters.sqlite_index import SqliteAdmissionIndex
from credverify.admission.handlers import AdmissionCounts
from credverify.core.adapters.kafka import ConfirmingProducer, ensure_topics
from credverify.core.adapters.trust_reader import TrustFollower
from credverify.core.cli_support import EXIT_OK
from credverify.core.errors import ConfigurationError
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys

logger = logging.getLogger(__name__)

DB_ENV = "CREDVERIFY_ADMISSION_DB"
HEALTH_FILE_ENV = "CREDVERIFY_ADMISSION_HEALTH_FILE"
ROOT_KEYS_ENV = "CREDVERIFY_ROOT_KEYS"
HEALTH_INTERVAL_S = 1.0
# NOT_SERVING when no poll has completed for this long: the loop is stuck or keeps failing.
STALE_AFTER_S = 30.0
# How long start-up waits for the trust list before judging anything: refusing a council's records
# only because the list had not been read yet would send genuine credentials to the dead letters.
TRUST_READY_TIMEOUT_S = 60.0
LOOP_JOIN_TIMEOUT_S = 150.0  # a batch being published may wait for the producer's delivery timeout


@dataclass(frozen=True)
class AdmissionSettings:
    kafka: KafkaSettings
    db_path: Path
    root_key_files: tuple[str, ...]
    health_file: Path | None = None

    @classmethod
    def from_env(cls, args: object = None, env: Mapping[str, str] = os.environ) -> AdmissionSettings:
        """Build settings from the environment, each overridden by the command-line value in ``args``
        (parsed `hub admit` arguments). Raises ConfigurationError naming what is missing."""
        root_keys = tuple(getattr(args, "root_key", None) or [p for p in env.get(ROOT_KEYS_ENV, "").split(",") if p])
        if not root_keys:
            raise ConfigurationError("no federation root key: pass --root-key FILE or set %s" % ROOT_KEYS_ENV)
        health = getattr(args, "health_file", None) or env.get(HEALTH_FILE_ENV)
        return cls(
            kafka=KafkaSettings.from_env(getattr(args, "bootstrap", None)),
            db_path=Path(getattr(args, "db", None) or env.get(DB_ENV) or "admission.db"),
            root_key_files=root_keys,
            health_file=Path(health) if health else None,
        )


class Admission:
    """A running admission: the loop on its own thread, health written by ``check_health``."""

    def __init__(self, settings: AdmissionSettings) -> None:
        self.settings = settings
        roots = RootKeys.from_pem_files(list(settings.root_key_files))
        kafka = settings.kafka
        self.index = SqliteAdmissionIndex(settings.db_path)
        ensure_topics(kafka, only=[kafka.topics.attestations, kafka.topics.rejected])
        self.follower = TrustFollower(kafka, roots=roots)
        self.producer = ConfirmingProducer(kafka, client_id="credverify-admission")
        self.counts = AdmissionCounts()
        self.loop = AdmissionLoop(kafka, index=self.index, publisher=self.producer, counts=self.counts,
                                  trust=KafkaTrustSource(kafka, roots=roots, follower=self.follower))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.loop.run, args=(self._stop,), name="admission", daemon=True)

    def start(self) -> None:
        self.follower.start()
        if not self.follower.caught_up.wait(TRUST_READY_TIMEOUT_S):
            logger.warning("trust list not read to its end within %.0f s; admitting with what was read",
                           TRUST_READY_TIMEOUT_S)
        self._thread.start()
        logger.info("admission reading %s* into %s", self.settings.kafka.topics.submissions_prefix,
                    self.settings.kafka.topics.attestations)

    def failed_check(self) -> str | None:
        """Return why admission is not serving, or None when it is."""
        if not self._thread.is_alive():
            return "admission loop not running"
        if not self.follower.caught_up.is_set():
            return "trust list not read yet"
        if self.loop.failure is not None:
            return self.loop.failure
        if time.monotonic() - self.loop.last_progress > STALE_AFTER_S:
            return "no poll completed for %.0f s" % STALE_AFTER_S
        return None

    def write_health(self, *, stopping: bool = False) -> None:
        """Write the health file (when configured): status, why not serving, and the counts."""
        if self.settings.health_file is None:
            return
        failure = "stopping" if stopping else self.failed_check()
        report = {"status": "NOT_SERVING" if failure else "SERVING", "reason": failure,
                  "updated_at": dt.datetime.now(dt.UTC).isoformat(), "counts": dataclasses.asdict(self.counts)}
        temporary = self.settings.health_file.with_name(self.settings.health_file.name + ".tmp")
        temporary.write_text(json.dumps(report, sort_keys=True) + "\n")
        os.replace(temporary, self.settings.health_file)

    def stop(self) -> None:
        """Stop after the batch in hand is committed; close everything."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=LOOP_JOIN_TIMEOUT_S)
        self.write_health(stopping=True)
        self.follower.stop()
        self.producer.close()
        self.index.close()
        logger.info("admission stopped: %s", dataclasses.asdict(self.counts))


def run(settings: AdmissionSettings, stop: threading.Event) -> int:
    """Run admission until ``stop`` is set; return the exit code. Raises ConfigurationError for
    unusable settings, HubUnavailable when Kafka does not answer at start."""
    admission = Admission(settings)
    admission.start()
    try:
        while not stop.wait(HEALTH_INTERVAL_S):
            admission.write_health()
    finally:
        admission.stop()
    return EXIT_OK
