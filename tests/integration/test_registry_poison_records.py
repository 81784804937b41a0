"""No record can stall ingest (issue 10): a record at exactly the broker's limit on the attestations
topic, on the shared broker with its default limit and on a broker whose limit is raised to 8 MiB,
is refused and dead-lettered in a form the hub accepts, and a suspension sent after it reaches
Verify. A dead letter the hub refuses outright is accounted for and ingest goes on."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaError
from kafka.record.default_records import DefaultRecordBatchBuilder

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, client_config, ensure_topics
from credverify.core.envelope import ATTESTATION_TYPE
from credverify.core.errors import reason_code
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.localrun import health_status, wait_for
from credverify.registry.bootstrap import Registry, RegistrySettings
from credverify.v1 import common_pb2, registry_pb2, registry_pb2_grpc
from tests.factories import ROOT, T0, attestation_bytes, kenya_record, nurse, signed_record_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "kafka"))
import localkafka  # noqa: E402

pytestmark = pytest.mark.kafka

# A record batch's fixed header (magic 2), base offset and length included: what the broker
# compares with message.max.bytes is this plus the records.
BATCH_HEADER_BYTES = 61
EIGHT_MIB = 8 * 1024 * 1024
POISON_KEY = b"KE-NCK/poison"


def largest_value(limit: int) -> int:
    """The size of the largest value one record under POISON_KEY can carry in a batch of ``limit`` bytes."""
    size = limit - BATCH_HEADER_BYTES
    while BATCH_HEADER_BYTES + DefaultRecordBatchBuilder.size_in_bytes(0, 0, POISON_KEY, b"x" * size, []) > limit:
        size -= 1
    return size


def topic_limit(settings: KafkaSettings, topic: str) -> int:
    """The topic's max.message.bytes, as the broker reports it."""
    admin = KafkaAdminClient(**client_config(settings, "test-limit"))
    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        for names in found.values():
            entry = names.get(topic, {}).get("max.message.bytes")
            if entry is not None:
                return int(entry["value"] if isinstance(entry, dict) else entry)
    finally:
        admin.close()
    raise AssertionError("the broker did not report max.message.bytes of %s" % topic)


def raw_send(settings: KafkaSettings, topic: str, key: bytes, value: bytes) -> None:
    """Produce one record as any client of the hub could: no size check of our own. Raises KafkaError."""
    producer = KafkaProducer(**client_config(settings, "test-raw"), max_request_size=EIGHT_MIB * 2,
                             linger_ms=0, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=60)
    finally:
        producer.close()


def registry_settings_for(kafka: KafkaSettings, tmp_path: Path) -> RegistrySettings:
    (tmp_path / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    (tmp_path / "pseudonym.key").write_bytes(os.urandom(32).hex().encode())
    return RegistrySettings(kafka=kafka, db_path=tmp_path / "registry.db", listen="127.0.0.1:0",
                            root_key_files=(str(tmp_path / "root.pub.pem"),), destination="GB",
                            pseudonym_key_file=tmp_path / "pseudonym.key")


def dead_letter_of(settings: KafkaSettings, key: bytes) -> registry_pb2.RejectedRecord:
    consumer = KafkaConsumer(settings.topics.rejected, **client_config(settings, "test-dlq"), group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        def found() -> registry_pb2.RejectedRecord | None:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    dead = registry_pb2.RejectedRecord.FromString(record.value)
                    if dead.key == key:
                        return dead
            return None
        return wait_for("the dead letter of %r" % key, found, timeout=60)
    finally:
        consumer.close()


def reasons_of(stub: registry_pb2_grpc.RegistryServiceStub, credential_id: str) -> list[str]:
    answer = stub.Verify(registry_pb2.VerifyRequest(credential_id=credential_id), timeout=5)
    return [reason_code(r) for r in answer.reasons]


def suspension_reaches_verify_after_a_record_at_the_limit(settings: KafkaSettings, tmp_path: Path) -> None:
    """The scenario of issue 10, finding 1, on the broker ``settings`` reach."""
    topics = settings.topics
    ensure_topics(settings)
    limit = topic_limit(settings, topics.attestations)
    publisher = ConfirmingProducer(settings, client_id="test")
    registry = Registry(registry_settings_for(settings, tmp_path))
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    try:
        publisher.publish([
            OutgoingRecord(topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
            OutgoingRecord(topics.attestations, b"KE-NCK/12345", attestation_bytes(nurse(), now=T0),
                           ATTESTATION_TYPE),
        ])
        channel = grpc.insecure_channel(target)
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        wait_for("the licence verified", lambda: True if reasons_of(stub, "KE-NCK/12345") == ["VERIFIED"] else None)

        poison = os.urandom(largest_value(limit))
        raw_send(settings, topics.attestations, POISON_KEY, poison)
        with pytest.raises(KafkaError):  # one byte more and the hub itself refuses it: the limit is exact
            raw_send(settings, topics.attestations, POISON_KEY, poison + b"x")
        suspension = attestation_bytes(nurse(status=common_pb2.CREDENTIAL_STATUS_SUSPENDED,
                                             status_reason="INTERIM_ORDER"), now=T0.replace(day=T0.day + 1))
        [delivery] = publisher.publish([OutgoingRecord(topics.attestations, b"KE-NCK/12345", suspension,
                                                       ATTESTATION_TYPE)])
        assert delivery.confirmed, delivery.error

        wait_for("the suspension sent after a record of %d bytes to reach Verify" % len(poison),
                 lambda: True if reasons_of(stub, "KE-NCK/12345") == ["SUSPENDED"] else None, timeout=60)
        dead = dead_letter_of(settings, POISON_KEY)
        assert reason_code(dead.reason) == "OVERSIZED" and dead.truncated
        assert dead.value_size == len(poison) and dead.value_sha256 == hashlib.sha256(poison).digest()
        assert dead.source_topic == topics.attestations and dead.offset >= 0
        wait_for("SERVING", lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING
                 else None, timeout=30)
        channel.close()
    finally:
        registry.stop(grace=2)
        publisher.close()


def test_a_record_at_the_default_broker_limit_does_not_stop_a_later_suspension(
        kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    suspension_reaches_verify_after_a_record_at_the_limit(kafka_settings, tmp_path)


@pytest.fixture
def eight_mib_broker(tmp_path: Path) -> Iterator[localkafka.LocalKafka]:
    broker = localkafka.LocalKafka(state_dir=tmp_path / "kafka", extra_config={
        "message.max.bytes": str(EIGHT_MIB), "replica.fetch.max.bytes": str(EIGHT_MIB)})
    try:
        broker.start()
    except localkafka.KafkaUnavailable as exc:
        pytest.fail("this test needs Java 17 and Maven to start its own broker (%s)" % exc, pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


def test_a_record_of_8_mib_on_a_broker_that_allows_it_does_not_stop_a_later_suspension(
        eight_mib_broker: localkafka.LocalKafka, topics, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = KafkaSettings(eight_mib_broker.bootstrap, topics, security=eight_mib_broker.operator_security())
    suspension_reaches_verify_after_a_record_at_the_limit(settings, tmp_path)


def test_a_dead_letter_the_hub_refuses_is_accounted_for_and_ingest_goes_on(
        kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    topics = kafka_settings.topics
    admin = KafkaAdminClient(**client_config(kafka_settings, "test-admin"))
    try:  # a dead-letter topic that takes no dead letter at all
        admin.create_topics([NewTopic(topics.rejected, 1, -1, topic_configs={"max.message.bytes": "64"})])
    finally:
        admin.close()
    ensure_topics(kafka_settings)
    publisher = ConfirmingProducer(kafka_settings, client_id="test")
    registry = Registry(registry_settings_for(kafka_settings, tmp_path))
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    try:
        publisher.publish([
            OutgoingRecord(topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
            OutgoingRecord(topics.attestations, b"KE-NCK/junk", b"\x00junk"),
            OutgoingRecord(topics.attestations, b"KE-NCK/12345", attestation_bytes(nurse(), now=T0),
                           ATTESTATION_TYPE),
        ])
        channel = grpc.insecure_channel(target)
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        wait_for("the licence after an undeliverable dead letter to verify",
                 lambda: True if reasons_of(stub, "KE-NCK/12345") == ["VERIFIED"] else None, timeout=120)
        assert reasons_of(stub, "KE-NCK/junk") == ["MALFORMED"], "the refusal is kept in the store"
        [row] = registry.store._conn().execute(
            "SELECT dead_letter_error FROM rejections WHERE record_key = 'KE-NCK/junk'").fetchall()
        assert row[0], "the rejection records why its dead letter was not published"
        exposition = registry.metrics.registry.get_sample_value(
            "credverify_registry_dead_letters_unpublished_total", {"reason": "MALFORMED"})
        assert exposition == 1
        wait_for("SERVING", lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING
                 else None, timeout=30)
        channel.close()
    finally:
        registry.stop(grace=2)
        publisher.close()
