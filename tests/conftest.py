"""Shared fixtures. The broker is real: $KAFKA_BOOTSTRAP_SERVERS, else testcontainers' Kafka when a
Docker daemon answers, else Apache Kafka started from Maven jars (deploy/kafka). No broker at all
fails the run with what to install; nothing is skipped."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
import localkafka  # noqa: E402

logger = logging.getLogger(__name__)

# Key files are encrypted at rest; every key a test makes (in this process or a `credverify` child
# process, which inherits the environment) uses this passphrase unless the test says otherwise.
TEST_PASSPHRASE = "test passphrase, never for real keys"
os.environ.setdefault("CREDVERIFY_KEY_PASSPHRASE", TEST_PASSPHRASE)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - no daemon, no socket, no permission: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker for the whole session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    state = Path(tempfile.mkdtemp(prefix="credverify-test-kafka-"))
    try:
        broker = localkafka.LocalKafka(state_dir=state).start()
    except localkafka.KafkaUnavailable as exc:
        pytest.fail(
            "no Kafka broker for the tests: set KAFKA_BOOTSTRAP_SERVERS, run a Docker daemon, or install "
            "Java 17 and Maven so deploy/kafka can start Apache Kafka (%s)" % exc,
            pytrace=False,
        )
    logger.info("local kafka at %s ready in %.1f s", broker.bootstrap, broker.ready_after_s or 0)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[localkafka.LocalKafka]:
    """A broker of this test alone, started from the Maven jars, that the test may stop and start again
    (``private_kafka.stop()`` / ``.start()``: same port, same data). For fault tests only: it costs a
    broker start (about 5 s)."""
    broker = localkafka.LocalKafka(state_dir=tmp_path / "kafka")
    try:
        broker.start()
    except localkafka.KafkaUnavailable as exc:
        pytest.fail("fault test needs Java 17 and Maven to start its own broker (%s)" % exc, pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topics() -> Topics:
    """Topic names of this test alone, so tests never read each other's records."""
    return Topics(prefix="t%s." % uuid.uuid4().hex[:10])


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, topics: Topics) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap, topics=topics)
