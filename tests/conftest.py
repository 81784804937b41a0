"""Shared fixtures. The broker is real: $KAFKA_BOOTSTRAP_SERVERS, else testcontainers' Kafka when a
Docker daemon answers, else Apache Kafka started from Maven jars (deploy/kafka). No broker at all
fails the run with what to install; nothing is skipped.

The local broker is closed as the hub is (SASL/SCRAM, ACLs). The session exports the operator's
credentials into the environment in Kafka's names ($KAFKA_SECURITY_PROTOCOL, $KAFKA_SASL_*), so every
client a test builds (``KafkaSettings`` reads them by default) and every child process authenticates
as the operator; a test that plays another principal says so with ``KafkaSettings.with_security``.
With $KAFKA_BOOTSTRAP_SERVERS the caller's environment says how to authenticate."""

from __future__ import annotations

import contextlib
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
# SCRAM sends a proof, never the password; kafka-python warns about any SASL without TLS all the same.
logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)


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
    saved = _export_operator(broker)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        _restore(saved)


@pytest.fixture(scope="session")
def local_broker(kafka_bootstrap: str) -> localkafka.LocalKafka | None:
    """The session's broker when this run started it (None for an outside or Docker broker)."""
    return _SESSION_BROKER.get("broker")


_SESSION_BROKER: dict[str, localkafka.LocalKafka] = {}
SECURITY_ENV = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                "KAFKA_SASL_PASSWORD_FILE")


RAW_CLIENT_SECURITY = ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")


def _raw_clients_default_to(client: dict[str, str]) -> dict[str, object]:
    """Make a kafka-python client that a test builds by hand (not through core's ``client_config``)
    authenticate with ``client`` unless the test passes its own security settings; return the defaults
    it replaced. Test-only: a test that plays a stranger passes ``security_protocol="PLAINTEXT"``."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    before = {name: KafkaConsumer.DEFAULT_CONFIG.get(name) for name in RAW_CLIENT_SECURITY}
    for cls in (KafkaAdminClient, KafkaConsumer, KafkaProducer):
        cls.DEFAULT_CONFIG.update(client)
    return before


def _export_operator(broker: localkafka.LocalKafka) -> dict[str, str | None]:
    """Put the operator's client settings into os.environ (and the defaults of hand-built clients);
    return what the environment held before."""
    _SESSION_BROKER["broker"] = broker
    _raw_clients_default_to(broker.operator_client_settings())
    env = {k: v for k, v in broker.operator_env().items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    saved = {name: os.environ.get(name) for name in SECURITY_ENV}
    for name in SECURITY_ENV:
        os.environ.pop(name, None)
    os.environ.update(env)
    return saved


@contextlib.contextmanager
def operating(kafka: localkafka.LocalKafka | localkafka.LocalKafkaCluster) -> Iterator[None]:
    """While inside, the environment (and every raw client a test builds) authenticates as ``kafka``'s
    operator; afterwards the session's settings are back."""
    saved = {name: os.environ.get(name) for name in SECURITY_ENV}
    os.environ.update({k: v for k, v in kafka.operator_env().items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
    raw_defaults = _raw_clients_default_to(kafka.operator_client_settings())
    try:
        yield
    finally:
        _restore(saved)
        _raw_clients_default_to(raw_defaults)  # type: ignore[arg-type]


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[localkafka.LocalKafka]:
    """A broker of this test alone, started from the Maven jars, that the test may stop and start again
    (``private_kafka.stop()`` / ``.start()``: same port, same data). For fault tests only: it costs a
    broker start (about 5 s). Secured like the session's; while the test runs the environment carries
    this broker's operator credentials (``private_kafka.operator_security()`` gives them too)."""
    broker = localkafka.LocalKafka(state_dir=tmp_path / "kafka")
    try:
        broker.start()
    except localkafka.KafkaUnavailable as exc:
        pytest.fail("fault test needs Java 17 and Maven to start its own broker (%s)" % exc, pytrace=False)
    try:
        with operating(broker):
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
