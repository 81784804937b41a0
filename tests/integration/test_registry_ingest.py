"""The registry against a real broker, a real SQLite file and a real gRPC socket: every bad record
is accounted for on the dead-letter topic, the service keeps answering, and a restart resumes
where the store says it stopped."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from kafka import KafkaConsumer

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.attestation import sign_attestation
from credverify.core.envelope import ATTESTATION_TYPE, MAX_ENVELOPE_BYTES
from credverify.core.errors import reason_code
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.issuer.domain import build_attestation
from credverify.localrun import health_status, wait_for
from credverify.registry.bootstrap import Registry, RegistrySettings
from credverify.v1 import moves_pb2, registry_pb2, registry_pb2_grpc
from tests.factories import (
    KE_KEY,
    RO_KEY,
    ROOT,
    T0,
    fixed_signer,
    kenya_record,
    nurse,
    romania_record,
    signed_record_bytes,
)

pytestmark = pytest.mark.kafka


def envelope_bytes(cmd=None, *, signer=KE_KEY, now=T0) -> bytes:  # type: ignore[no-untyped-def]
    return sign_attestation(build_attestation(cmd or nurse(), now=now), signer=signer).SerializeToString()


def dead_letters(settings: KafkaSettings, expected: int) -> list[registry_pb2.RejectedRecord]:
    consumer = KafkaConsumer(
        settings.topics.rejected,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[registry_pb2.RejectedRecord] = []
    try:

        def enough() -> bool | None:
            for batch in consumer.poll(timeout_ms=200).values():
                found.extend(registry_pb2.RejectedRecord.FromString(r.value) for r in batch)
            return True if len(found) >= expected else None

        wait_for("%d dead letters" % expected, enough, timeout=60)
        for batch in consumer.poll(timeout_ms=1000).values():  # and no more than expected
            found.extend(registry_pb2.RejectedRecord.FromString(r.value) for r in batch)
        return found
    finally:
        consumer.close()


@pytest.fixture
def registry_settings(kafka_settings: KafkaSettings, tmp_path: Path) -> RegistrySettings:
    (tmp_path / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    (tmp_path / "pseudonym.key").write_bytes(os.urandom(32).hex().encode())
    ensure_topics(kafka_settings)
    return RegistrySettings(
        kafka=kafka_settings,
        db_path=tmp_path / "registry.db",
        listen="127.0.0.1:0",
        root_key_files=(str(tmp_path / "root.pub.pem"),),
        destination="GB",
        pseudonym_key_file=tmp_path / "pseudonym.key",
    )


@pytest.fixture
def publisher(kafka_settings: KafkaSettings) -> Iterator[ConfirmingProducer]:
    producer = ConfirmingProducer(kafka_settings, client_id="test")
    yield producer
    producer.close()


def running(settings: RegistrySettings) -> Registry:
    registry = Registry(settings)
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    wait_for("SERVING", lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
    return registry


def test_every_bad_record_is_dead_lettered_with_its_reason_and_the_registry_keeps_answering(
    registry_settings: RegistrySettings, kafka_settings: KafkaSettings, publisher: ConfirmingProducer
) -> None:
    topics = kafka_settings.topics
    impostor_root = fixed_signer("self-appointed root")
    publisher.publish(
        [
            OutgoingRecord(topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
            OutgoingRecord(topics.trust_list, b"RO-CMR", signed_record_bytes(romania_record())),
            OutgoingRecord(
                topics.trust_list,
                b"XX-FAKE",
                signed_record_bytes(dataclasses.replace(kenya_record(), issuer_id="XX-FAKE"), root=impostor_root),
            ),
        ]
    )
    genuine = envelope_bytes(now=T0 + dt.timedelta(days=1))
    older = envelope_bytes(now=T0)
    tampered = genuine.replace(b"Wanjiru", b"Wanjiro")
    wrong_type = KE_KEY.sign("application/json", b"{}").SerializeToString()
    corpus = {
        # key: (value, reason a registry must give)
        b"KE-NCK/truncated": (genuine[: len(genuine) // 2], "MALFORMED"),
        b"KE-NCK/random": (bytes(range(256)) * 3, "MALFORMED"),
        b"KE-NCK/type": (wrong_type, "PAYLOAD_TYPE_UNSUPPORTED"),
        b"KE-NCK/12345": (tampered, "SIGNATURE_INVALID"),
        b"KE-NCK/forged": (envelope_bytes(nurse("forged"), signer=fixed_signer("a forger")), "ISSUER_UNKNOWN"),
        b"KE-NCK/scope": (envelope_bytes(nurse("scope", profession_isco="2211")), "ISSUER_NOT_AUTHORISED"),
        b"KE-NCK/romania": (envelope_bytes(nurse("romania"), signer=RO_KEY), "SIGNATURE_INVALID"),
        b"KE-NCK/oversized": (b"\x0a" + b"\xff" * (MAX_ENVELOPE_BYTES + 10), "OVERSIZED"),
        b"KE-NCK/other-key": (envelope_bytes(nurse("54321")), "RECORD_KEY_MISMATCH"),
    }
    registry = running(registry_settings)
    try:
        channel = grpc.insecure_channel("127.0.0.1:%d" % registry.port)
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        deliveries = publisher.publish(
            [OutgoingRecord(topics.attestations, b"KE-NCK/12345", genuine, ATTESTATION_TYPE)]
            + [OutgoingRecord(topics.attestations, key, value) for key, (value, _) in corpus.items()]
            + [
                OutgoingRecord(topics.attestations, b"KE-NCK/12345", genuine, ATTESTATION_TYPE),  # identical copy
                OutgoingRecord(topics.attestations, b"KE-NCK/12345", older, ATTESTATION_TYPE),
            ]  # replay
        )
        assert all(d.confirmed for d in deliveries)
        expected = {key: reason for key, (_, reason) in corpus.items()}
        dead = dead_letters(kafka_settings, len(expected) + 2)
        by_key = {(d.key, reason_code(d.reason)) for d in dead}
        assert {(key, reason) for key, reason in expected.items()} <= by_key
        assert (b"XX-FAKE", "TRUST_LIST_INVALID") in by_key
        assert (b"KE-NCK/12345", "REPLAYED") in by_key
        assert len(dead) == len(expected) + 2, "the identical copy must not be dead-lettered"
        for record in dead:
            original, reason = corpus.get(record.key, (None, None))
            if reason == reason_code(record.reason):
                assert record.source_topic == topics.attestations
                assert record.value_sha256 == hashlib.sha256(original).digest()
                assert record.value == original or (record.truncated and original.startswith(record.value))
            assert record.detail and record.offset >= 0

        answer = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/12345"), timeout=5)
        assert answer.verified and answer.evidence.SerializeToString() == genuine
        assert health_status("127.0.0.1:%d" % registry.port) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as bad_date:
            stub.Verify(
                registry_pb2.VerifyRequest(
                    credential_id="KE-NCK/12345",
                    claimed=registry_pb2.ClaimedSubject(date_of_birth={"year": 1992, "month": 2, "day": 30}),
                ),
                timeout=5,
            )
        assert bad_date.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        refused = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/scope"), timeout=5)
        assert [reason_code(r) for r in refused.reasons] == ["ISSUER_NOT_AUTHORISED"]
        channel.close()
    finally:
        registry.stop(grace=2)


def test_a_restarted_registry_resumes_from_its_stored_offsets(
    registry_settings: RegistrySettings, kafka_settings: KafkaSettings, publisher: ConfirmingProducer
) -> None:
    topics = kafka_settings.topics
    publisher.publish(
        [OutgoingRecord(topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record()))]
        + [
            OutgoingRecord(topics.attestations, ("KE-NCK/%d" % n).encode(), envelope_bytes(nurse(str(n))))
            for n in range(1, 201)
        ]
        + [OutgoingRecord(topics.attestations, b"KE-NCK/bad", b"not an envelope")]
    )
    registry = running(registry_settings)
    registry.stop(grace=2)
    first = registry.store.counts()
    assert first["attestations"] == 200 and first["rejections"] == 1

    publisher.publish(
        [
            OutgoingRecord(topics.attestations, ("KE-NCK/%d" % n).encode(), envelope_bytes(nurse(str(n))))
            for n in range(201, 301)
        ]
    )
    again = running(registry_settings)
    try:
        counts = again.store.counts()
        assert counts["attestations"] == 300
        assert counts["rejections"] == 1, "records consumed before the restart were judged again"
        assert len(dead_letters(kafka_settings, 1)) == 1
        registration = registry_pb2.RecordRegistrationRequest(
            credential_id="KE-NCK/7", registered_on=to_date(dt.date(2026, 5, 2))
        )
        with grpc.insecure_channel("127.0.0.1:%d" % again.port) as channel:
            reply = registry_pb2_grpc.RegistryServiceStub(channel).RecordRegistration(registration, timeout=10)
        assert isinstance(reply.move, moves_pb2.VerifiedMove) and reply.move.destination_country == "GB"
    finally:
        again.stop(grace=2)
