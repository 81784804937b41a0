"""The hub's admission on a real broker: a council's genuine submissions reach the compacted
attestations topic byte for byte; another council's keys, tombstones, garbage, oversized records and
a backdated theft never do, so that compaction can no longer erase a genuine credential."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from kafka import KafkaProducer
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from credverify.admission.bootstrap import Admission, AdmissionSettings
from credverify.core.adapters.kafka import (
    ConfirmingProducer,
    OutgoingRecord,
    client_config,
    ensure_submission_topic,
    ensure_topics,
    new_admin,
    read_compacted_to_end,
)
from credverify.core.errors import reason_code
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_timestamp
from credverify.localrun import health_status, wait_for
from credverify.v1 import registry_pb2, registry_pb2_grpc
from tests.factories import (
    KE_KEY,
    RO_KEY,
    ROOT,
    T0,
    attestation_bytes,
    kenya_issuer_record,
    kenya_record,
    nurse,
    record_bytes,
    romania_record,
    signed_record_bytes,
)

pytestmark = pytest.mark.kafka

ROMANIAN = nurse("777", issuer_id="RO-CMR", jurisdiction="RO", profession_isco="2211")


def create_submission_topic(kafka: KafkaSettings, issuer_id: str) -> str:
    """Create ``issuer_id``'s submission topic as provisioning does (time-stamped by the hub); return its name."""
    return ensure_submission_topic(kafka, issuer_id)


def create_compacting_attestations_topic(kafka: KafkaSettings) -> None:
    """The attestations topic, compacted within seconds rather than hours."""
    config = {**kafka.topics.layout()[kafka.topics.attestations]["config"],  # type: ignore[dict-item]
              "segment.ms": "500", "min.compaction.lag.ms": "0", "min.cleanable.dirty.ratio": "0.01",
              "delete.retention.ms": "0"}
    admin = new_admin(kafka)
    try:
        admin.create_topics([NewTopic(kafka.topics.attestations, num_partitions=1, replication_factor=1,
                                      topic_configs=config)])
    finally:
        admin.close()


def records_of(kafka: KafkaSettings, topic: str) -> list[ConsumerRecord]:
    found: list[ConsumerRecord] = []
    read_compacted_to_end(kafka, topic, found.append, client_id="test-reader")
    return found


def dead_letters(kafka: KafkaSettings) -> list[registry_pb2.RejectedRecord]:
    return [registry_pb2.RejectedRecord.FromString(r.value) for r in records_of(kafka, kafka.topics.rejected)]


@dataclass
class Hub:
    kafka: KafkaSettings
    work: Path
    admission: Admission
    producer: KafkaProducer  # a council's own client: may send tombstones and anything else

    def submit(self, issuer_id: str, key: bytes | None, value: bytes | None) -> None:
        self.producer.send(self.kafka.topics.submissions(issuer_id), key=key, value=value).get(timeout=30)

    def attestations(self) -> list[ConsumerRecord]:
        return records_of(self.kafka, self.kafka.topics.attestations)

    def await_dead_letters(self, count: int) -> list[registry_pb2.RejectedRecord]:
        return wait_for("%d dead letters" % count,
                        lambda: found if len(found := dead_letters(self.kafka)) >= count else None)

    def await_admitted(self, *keys: bytes) -> list[ConsumerRecord]:
        def admitted() -> list[ConsumerRecord] | None:
            found = self.attestations()
            return found if {r.key for r in found} >= set(keys) else None

        return wait_for("%s on the attestations topic" % b", ".join(keys).decode(), admitted)


def start_hub(kafka: KafkaSettings, work: Path, *, issuer_records: list[bytes] | None = None,
              councils: tuple[str, ...] = ("KE-NCK", "RO-CMR")) -> Hub:
    ensure_topics(kafka)
    for issuer_id in councils:
        create_submission_topic(kafka, issuer_id)
    (work / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    publisher = ConfirmingProducer(kafka, client_id="test-federation")
    records = issuer_records or [signed_record_bytes(kenya_record()), signed_record_bytes(romania_record())]
    keys = [b"KE-NCK", b"RO-CMR"] if issuer_records is None else [b"KE-NCK"] * len(records)
    assert all(d.confirmed for d in publisher.publish(
        OutgoingRecord(kafka.topics.trust_list, key, value) for key, value in zip(keys, records, strict=True)))
    publisher.close()
    admission = Admission(AdmissionSettings(kafka=kafka, db_path=work / "admission.db",
                                            root_key_files=(str(work / "root.pub.pem"),),
                                            health_file=work / "admission.health"))
    admission.start()
    producer = KafkaProducer(**client_config(kafka, "test-council"), acks="all")
    return Hub(kafka, work, admission, producer)


@pytest.fixture
def hub(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[Hub]:
    running = start_hub(kafka_settings, tmp_path)
    try:
        yield running
    finally:
        running.producer.close()
        running.admission.stop()


def test_a_valid_submission_is_admitted_byte_for_byte_with_its_payload_type(hub: Hub) -> None:
    genuine = attestation_bytes(nurse("1001"))
    hub.submit("KE-NCK", b"KE-NCK/1001", genuine)
    [record] = hub.await_admitted(b"KE-NCK/1001")
    assert record.value == genuine
    assert dict(record.headers)["payload-type"] == b"application/vnd.credverify.attestation.v1+protobuf"
    assert record.timestamp_type == 1, "the attestations topic is time-stamped by the hub"
    assert os.stat(hub.work / "admission.db").st_mode & 0o777 == 0o600


def test_hostile_submissions_are_dead_lettered_and_never_reach_the_attestations_topic(hub: Hub) -> None:
    genuine = attestation_bytes(nurse("1001"))
    hub.submit("KE-NCK", b"KE-NCK/1001", genuine)
    romanian = attestation_bytes(ROMANIAN, signer=RO_KEY)
    hub.submit("KE-NCK", b"RO-CMR/777", romanian)          # Kenya writes a Romanian credential
    hub.submit("KE-NCK", b"KE-NCK/1001", None)              # a tombstone under a genuine credential
    hub.submit("KE-NCK", b"KE-NCK/1001", b"\x0a\x03bad")    # garbage under it
    hub.submit("RO-CMR", b"KE-NCK/1001", genuine)           # Romania re-sends Kenya's genuine bytes
    hub.submit("KE-NCK", b"KE-NCK/1001", b"\x0a" * 1_000_000)  # far over an envelope's size
    later = attestation_bytes(nurse("1002"))
    hub.submit("KE-NCK", b"KE-NCK/1002", later)             # and admission goes on

    letters = hub.await_dead_letters(5)
    admitted = hub.await_admitted(b"KE-NCK/1001", b"KE-NCK/1002")
    assert sorted((r.key, r.value) for r in admitted) == [(b"KE-NCK/1001", genuine), (b"KE-NCK/1002", later)]
    assert sorted((d.key, reason_code(d.reason)) for d in letters) == sorted([
        (b"RO-CMR/777", "ISSUER_NOT_AUTHORISED"), (b"KE-NCK/1001", "MALFORMED"), (b"KE-NCK/1001", "MALFORMED"),
        (b"KE-NCK/1001", "ISSUER_NOT_AUTHORISED"), (b"KE-NCK/1001", "OVERSIZED")])
    [oversized] = [d for d in letters if reason_code(d.reason) == "OVERSIZED"]
    assert len(oversized.value) <= 64 * 1024 and "1000000 bytes, sha256" in oversized.detail
    assert oversized.source_topic == hub.kafka.topics.submissions("KE-NCK")


def test_a_council_provisioned_while_admission_runs_is_read_within_seconds(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    running = start_hub(kafka_settings, tmp_path, councils=("KE-NCK",))
    try:
        time.sleep(1)  # admission is reading Kenya's topic only
        create_submission_topic(kafka_settings, "RO-CMR")
        started = time.monotonic()
        running.submit("RO-CMR", b"RO-CMR/777", attestation_bytes(ROMANIAN, signer=RO_KEY))
        running.await_admitted(b"RO-CMR/777")
        assert time.monotonic() - started < 30, "a new council waited for a metadata refresh"
    finally:
        running.producer.close()
        running.admission.stop()


def test_a_backdated_theft_is_refused_by_the_hubs_clock(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    # Kenya reported its key stolen from T0 + 1 day; the thief signs with an issued_at before that.
    reported = kenya_issuer_record()
    reported.version += 1
    reported.keys[0].compromised_at.CopyFrom(to_timestamp(T0 + dt.timedelta(days=1)))
    running = start_hub(kafka_settings, tmp_path, issuer_records=[record_bytes(reported)])
    try:
        stolen = attestation_bytes(nurse("3003"), signer=KE_KEY, now=T0)
        running.submit("KE-NCK", b"KE-NCK/3003", stolen)
        [letter] = running.await_dead_letters(1)
        assert reason_code(letter.reason) == "KEY_REVOKED" and "the hub received" in letter.detail
        assert running.attestations() == []
    finally:
        running.producer.close()
        running.admission.stop()


def test_compaction_cannot_erase_a_credential_a_fresh_registry_still_verifies_it(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from credverify.core.topics import Topics
    from credverify.registry.bootstrap import Registry, RegistrySettings

    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topics=Topics(prefix="t%s." % uuid.uuid4().hex[:10]))
    create_compacting_attestations_topic(kafka)
    running = start_hub(kafka, tmp_path)
    try:
        genuine = attestation_bytes(nurse("1001"))
        running.submit("KE-NCK", b"KE-NCK/1001", genuine)
        running.submit("KE-NCK", b"KE-NCK/1002", attestation_bytes(nurse("1002", version=5)))
        running.submit("KE-NCK", b"KE-NCK/1002", attestation_bytes(nurse("1002", version=6)))
        running.submit("KE-NCK", b"KE-NCK/1001", None)
        running.submit("KE-NCK", b"KE-NCK/1001", b"garbage")
        running.submit("RO-CMR", b"KE-NCK/1001", None)
        running.submit("RO-CMR", b"KE-NCK/1001", attestation_bytes(ROMANIAN, signer=RO_KEY))
        running.await_dead_letters(4)

        filler = iter(range(5000, 6000))

        def compacted() -> list[ConsumerRecord] | None:
            # New records roll segments; the cleaner then keeps only version 6 of KE-NCK/1002.
            number = str(next(filler))
            running.submit("KE-NCK", ("KE-NCK/" + number).encode(), attestation_bytes(nurse(number)))
            found = running.attestations()
            return found if [r.key for r in found].count(b"KE-NCK/1002") == 1 else None

        after = wait_for("the attestations topic to be compacted", compacted, timeout=150)
        assert [r.value for r in after if r.key == b"KE-NCK/1001"] == [genuine]
    finally:
        running.producer.close()
        running.admission.stop()

    (tmp_path / "pseudonym.key").write_bytes(os.urandom(32).hex().encode())
    registry = Registry(RegistrySettings(
        kafka=kafka, db_path=tmp_path / "fresh-replica.db", listen="127.0.0.1:0",
        root_key_files=(str(tmp_path / "root.pub.pem"),), destination="GB",
        pseudonym_key_file=tmp_path / "pseudonym.key"))
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    try:
        wait_for("the fresh registry to report SERVING",
                 lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
        with grpc.insecure_channel(target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            answer = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/1001"), timeout=5)
        assert answer.verified, [reason_code(r) for r in answer.reasons]
        assert answer.evidence.SerializeToString() == genuine
    finally:
        registry.stop(grace=2)
