"""Faults on the real thing: a registry process killed with SIGKILL in the middle of ingesting tens of
thousands of attestations, and a broker stopped and started again under a running registry. Nothing
may be lost and nothing applied twice: every attestation is stored once at its latest version, every
bad record is refused once in the store (the dead-letter topic is at-least-once), and the stored
offsets end at the topics' ends. The registry keeps answering throughout."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from kafka import KafkaConsumer, TopicPartition

from credverify.core.adapters.kafka import ConfirmingProducer, Delivery, OutgoingRecord, ensure_topics
from credverify.core.envelope import ATTESTATION_TYPE
from credverify.core.errors import reason_code
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.localrun import Service, cli_env, free_port, health_status, wait_for
from credverify.v1 import registry_pb2, registry_pb2_grpc
from tests.factories import (
    KE_KEY,
    ROOT,
    T0,
    attestation_bytes,
    bulk_attestations,
    kenya_issuer_record,
    nurse,
    record_bytes,
)

pytestmark = pytest.mark.kafka

ATTESTATIONS = 50_000
SECOND_VERSIONS = 1_000  # credentials 0..999 also get a newer version, published after every first one
BAD_EVERY = 100  # one bad record after every this many good ones
PUBLISH_CHUNK = 5_000
FIRST_VERSION = int(T0.timestamp() * 1_000_000)
SECOND_VERSION = int((T0.timestamp() + 86_400) * 1_000_000)


def bad_record(index: int) -> tuple[bytes, bytes, str]:
    """(key, value, reason a registry must give) of the index-th bad record: the kinds take turns."""
    genuine = attestation_bytes(nurse("bad-%d" % index))
    kinds = [
        (genuine[: len(genuine) // 2], "MALFORMED"),
        (b"\x00not an envelope at all", "MALFORMED"),
        (KE_KEY.sign("application/json", b"{}").SerializeToString(), "PAYLOAD_TYPE_UNSUPPORTED"),
        (genuine.replace(b"Wanjiru", b"Wanjiro"), "SIGNATURE_INVALID"),
    ]
    value, reason = kinds[index % len(kinds)]
    return b"KE-NCK/bad-%d" % index, value, reason


def corpus(topics: Topics) -> Iterator[list[OutgoingRecord]]:
    """Chunks of records to publish: first versions with bad records among them, then second versions."""
    chunk: list[OutgoingRecord] = []
    bad = 0
    for index, (key, value) in enumerate(bulk_attestations(ATTESTATIONS, now=T0)):
        chunk.append(OutgoingRecord(topics.attestations, key, value, ATTESTATION_TYPE))
        if index % BAD_EVERY == BAD_EVERY - 1:
            bad_key, bad_value, _ = bad_record(bad)
            chunk.append(OutgoingRecord(topics.attestations, bad_key, bad_value))
            bad += 1
        if len(chunk) >= PUBLISH_CHUNK:
            yield chunk
            chunk = []
    second = T0.replace(day=T0.day + 1)
    chunk += [OutgoingRecord(topics.attestations, key, value, ATTESTATION_TYPE)
              for key, value in bulk_attestations(SECOND_VERSIONS, now=second)]
    yield chunk


BAD_RECORDS = ATTESTATIONS // BAD_EVERY


class Publisher(threading.Thread):
    """Publishes chunks in the background while the test kills and restarts things."""

    def __init__(self, bootstrap: str, chunks: Iterator[list[OutgoingRecord]]) -> None:
        super().__init__(name="publisher", daemon=True)
        self.bootstrap = bootstrap
        self.chunks = chunks
        self.deliveries: list[Delivery] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        producer = ConfirmingProducer(KafkaSettings(self.bootstrap, Topics()), client_id="fault-test", linger_ms=20)
        try:
            for chunk in self.chunks:
                self.deliveries += producer.publish(chunk)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test thread in finish()
            self.error = exc
        finally:
            producer.close()

    def finish(self, timeout: float = 180.0) -> dict[tuple[str, int], int]:
        """Wait until all is published; return the end offset of every partition written to."""
        self.join(timeout)
        assert not self.is_alive(), "publishing did not finish within %.0f s" % timeout
        if self.error is not None:
            raise self.error
        failed = [d for d in self.deliveries if not d.confirmed]
        assert not failed, "%d records not confirmed, first: %s" % (len(failed), failed[0].error)
        ends: dict[tuple[str, int], int] = {}
        for d in self.deliveries:
            assert d.partition is not None and d.offset is not None
            key = (d.record.topic, d.partition)
            ends[key] = max(ends.get(key, 0), d.offset + 1)
        return ends


class RegistryProcess:
    """`credverify registry serve` as its own process, restartable on the same store."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.port = free_port()
        self.target = "127.0.0.1:%d" % self.port
        self.starts = 0
        self.service: Service | None = None

    def start(self) -> Service:
        self.starts += 1
        self.service = Service("registry-%d" % self.starts, [
            "registry", "serve", "--db", "registry.db", "--listen", self.target, "--root-key", "root.pub.pem",
            "--country", "GB", "--plaintext-for-local-use", "--log-format", "text"], env=self.env, cwd=self.cwd)
        return self.service

    def kill(self) -> None:
        assert self.service is not None
        self.service.assert_running()
        self.service.process.kill()  # SIGKILL: no handler runs, nothing is flushed
        self.service.process.wait()
        self.service.stop()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()

    def running(self) -> tuple[Service, ...]:
        return (self.service,) if self.service is not None else ()


def read_store(db: Path, query: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def stored_count(db: Path) -> int:
    return int(read_store(db, "SELECT COUNT(*) FROM attestations")[0][0]) if db.exists() else 0


def stored_offsets(db: Path) -> dict[tuple[str, int], int]:
    if not db.exists():
        return {}
    return {(str(t), int(p)): int(o) for t, p, o in read_store(db, "SELECT topic, partition, next_offset FROM offsets")}


def consumed_to(db: Path, ends: dict[tuple[str, int], int]) -> bool | None:
    """True once the store's offsets reach ``ends`` on every partition written to."""
    stored = stored_offsets(db)
    return True if {key: stored.get(key) for key in ends} == ends else None


def verify(target: str, credential_id: str) -> registry_pb2.VerifyResponse:
    with grpc.insecure_channel(target) as channel:
        return registry_pb2_grpc.RegistryServiceStub(channel).Verify(
            registry_pb2.VerifyRequest(credential_id=credential_id), timeout=10)


class Prober(threading.Thread):
    """Asks the registry about one credential every 0.2 s until stopped, counting answers and failures."""

    def __init__(self, target: str, credential_id: str) -> None:
        super().__init__(name="prober", daemon=True)
        self.target = target
        self.credential_id = credential_id
        self.answers = 0
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            grpc.channel_ready_future(channel).result(timeout=60)
            while not self.halt.wait(0.2):
                try:
                    stub.Verify(registry_pb2.VerifyRequest(credential_id=self.credential_id), timeout=10)
                    self.answers += 1
                except grpc.RpcError as exc:
                    self.failures.append("%s: %s" % (exc.code().name, exc.details()))  # type: ignore[attr-defined]


def dead_letter_keys(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        keys: list[bytes] = []

        def done() -> bool | None:
            for batch in consumer.poll(timeout_ms=500).values():
                keys.extend(r.key for r in batch)
            return True if all(consumer.position(tp) >= ends[tp] for tp in partitions) else None

        wait_for("the dead-letter topic read to its end", done, timeout=60)
        return keys
    finally:
        consumer.close()


def check_exactly_once(db: Path, *, attestations: int, second_versions: int, bad_records: int) -> None:
    """Every attestation once at its latest version, every bad record refused once with its reason."""
    rows = read_store(db, "SELECT credential_id, version, trust_reason FROM attestations")
    expected = {"KE-NCK/%d" % n: SECOND_VERSION if n < second_versions else FIRST_VERSION
                for n in range(attestations)}
    held = {str(c): int(v) for c, v, _ in rows}
    missing = sorted(set(expected) - set(held))
    assert not missing, "%d attestations lost, e.g. %s" % (len(missing), missing[:5])
    assert len(rows) == attestations, "%d rows for %d attestations" % (len(rows), attestations)
    wrong = [c for c, v in expected.items() if held[c] != v]
    assert not wrong, "%d attestations at the wrong version, e.g. %s" % (len(wrong), wrong[:5])
    assert {r for _, _, r in rows} == {1}, "every stored attestation is VERIFIED"

    rejections = read_store(db, 'SELECT record_key, reason, topic, partition, "offset" FROM rejections')
    positions = [(t, p, o) for _, _, t, p, o in rejections]
    assert len(positions) == len(set(positions)), "a record was judged twice: it was applied again after a restart"
    replayed = [k for k, r, *_ in rejections if int(r) == 15]  # REASON_REPLAYED
    assert not replayed, "older versions refused as replays: records consumed twice, e.g. %s" % replayed[:3]
    expected_bad = {bad_record(i)[0].decode(): bad_record(i)[2] for i in range(bad_records)}
    got_bad = {str(k): reason_code(int(r)) for k, r, *_ in rejections}  # type: ignore[arg-type]
    assert got_bad == expected_bad
    assert len(rejections) == bad_records


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    return tmp_path


def test_a_registry_killed_mid_ingest_stores_every_attestation_exactly_once(
    workdir: Path, kafka_bootstrap: str, topics: Topics
) -> None:
    ensure_topics(KafkaSettings(kafka_bootstrap, topics))
    trust = ConfirmingProducer(KafkaSettings(kafka_bootstrap, Topics()), client_id="fault-test")
    admitted = trust.publish_one(OutgoingRecord(topics.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record())))
    trust.close()
    assert admitted.confirmed
    # Everything is on the topic before the registry starts, so that it is busy, never idle waiting
    # for records, at each kill.
    publisher = Publisher(kafka_bootstrap, corpus(topics))
    publisher.start()
    ends = publisher.finish()
    db = workdir / "registry.db"
    registry = RegistryProcess(workdir, cli_env(kafka_bootstrap, topics.prefix))
    registry.start()
    try:
        kills_at = (8_000, 25_000)  # stored attestations at which the running registry is killed
        for threshold in kills_at:
            wait_for("%d attestations stored" % threshold, lambda t=threshold: True if stored_count(db) >= t else None,  # type: ignore[misc]
                     timeout=180, services=registry.running())
            assert not consumed_to(db, ends), "the registry finished before it could be killed mid-ingest"
            registry.kill()
            registry.start()
        wait_for("every record consumed", lambda: consumed_to(db, ends), timeout=180, services=registry.running())
        check_exactly_once(db, attestations=ATTESTATIONS, second_versions=SECOND_VERSIONS, bad_records=BAD_RECORDS)

        wait_for("SERVING after the restarts", lambda: True if health_status(registry.target)
                 == health_pb2.HealthCheckResponse.SERVING else None, services=registry.running())
        answer = verify(registry.target, "KE-NCK/0")
        assert answer.verified and answer.attestation.version == SECOND_VERSION
        dead = dead_letter_keys(kafka_bootstrap, topics.rejected)
        assert {bad_record(i)[0] for i in range(BAD_RECORDS)} <= set(dead), "a bad record never reached the DLQ"
    finally:
        registry.stop()


def test_a_broker_restart_under_a_running_registry_loses_nothing(
    workdir: Path, private_kafka, topics: Topics  # type: ignore[no-untyped-def]
) -> None:
    bootstrap = private_kafka.bootstrap
    ensure_topics(KafkaSettings(bootstrap, topics))
    before, after = 20_000, 10_000
    producer = ConfirmingProducer(KafkaSettings(bootstrap, Topics()), client_id="fault-test", linger_ms=20)
    first = producer.publish(
        [OutgoingRecord(topics.trust_list, b"KE-NCK", record_bytes(kenya_issuer_record()))]
        + [OutgoingRecord(topics.attestations, key, value, ATTESTATION_TYPE)
           for key, value in bulk_attestations(before)])
    producer.close()
    assert all(d.confirmed for d in first)

    db = workdir / "registry.db"
    registry = RegistryProcess(workdir, cli_env(bootstrap, topics.prefix))
    registry.start()
    prober = Prober(registry.target, "KE-NCK/0")
    try:
        prober.start()
        wait_for("ingest under way", lambda: True if stored_count(db) >= 2_000 else None,
                 timeout=120, services=registry.running())
        # gRPC accepts connections once the server has started, which on a loaded machine can come
        # after the first thousands of records are stored: the point here is the broker going away.
        wait_for("the registry to accept connections", lambda: True if health_status(registry.target) is not None
                 else None, services=registry.running())
        private_kafka.stop()
        # The broker is down: the registry still answers from its store.
        held = str(read_store(db, "SELECT credential_id FROM attestations LIMIT 1")[0][0])
        answer = wait_for("an answer while the broker is down", lambda: verify(registry.target, held),
                          services=registry.running())
        assert answer.verified, answer.detail
        private_kafka.start()

        producer = ConfirmingProducer(KafkaSettings(bootstrap, Topics()), client_id="fault-test", linger_ms=20)
        records = [OutgoingRecord(topics.attestations, key, value, ATTESTATION_TYPE)
                   for key, value in bulk_attestations(after, start=before)]
        bad_records = 8
        records += [OutgoingRecord(topics.attestations, key, value)
                    for key, value, _ in (bad_record(i) for i in range(bad_records))]
        second = producer.publish(records)
        producer.close()
        assert all(d.confirmed for d in second)
        ends: dict[tuple[str, int], int] = {}
        for d in first + second:
            assert d.partition is not None and d.offset is not None
            ends[(d.record.topic, d.partition)] = max(ends.get((d.record.topic, d.partition), 0), d.offset + 1)

        wait_for("every record consumed after the broker restart", lambda: consumed_to(db, ends), timeout=180,
                 services=registry.running())
        check_exactly_once(db, attestations=before + after, second_versions=0, bad_records=bad_records)
        wait_for("SERVING after the broker restart", lambda: True if health_status(registry.target)
                 == health_pb2.HealthCheckResponse.SERVING else None, services=registry.running())
        assert verify(registry.target, "KE-NCK/%d" % (before + after - 1)).verified
        assert registry.starts == 1, "the registry process rode out the broker restart"
        prober.halt.set()
        prober.join(timeout=30)
        assert prober.answers > 0 and not prober.failures, \
            "Verify failed while the broker restarted and bad records arrived: %s" % prober.failures[:3]
    finally:
        prober.halt.set()
        registry.stop()
