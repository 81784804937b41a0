"""SIGTERM to a real `credverify registry serve` while it ingests and answers: the calls in flight
finish, watchers are told to reconnect, the process exits cleanly, and the store it leaves is whole:
a restart neither loses nor judges twice a single record. Its logs are JSON lines without
personal data."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import threading
from pathlib import Path

import grpc
import pytest
from kafka import KafkaConsumer

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.attestation import sign_attestation
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.issuer.domain import build_attestation
from credverify.localrun import Service, cli_env, free_port, serving, wait_for
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.v1 import registry_pb2, registry_pb2_grpc
from tests.factories import KE_KEY, ROOT, T0, kenya_record, nurse, signed_record_bytes

pytestmark = pytest.mark.kafka

GOOD = 3000
BAD = 25
PERSONAL = ("Wanjiru", "Grace", "Akinyi", "Otieno", "NCK-", "1992-03-14", "1992")


def envelope(number: int) -> bytes:
    return sign_attestation(build_attestation(nurse(str(number)), now=T0), signer=KE_KEY).SerializeToString()


def count_dead_letters(settings: KafkaSettings) -> int:
    consumer = KafkaConsumer(settings.topics.rejected, bootstrap_servers=settings.bootstrap_servers,
                             group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        return sum(len(batch) for _ in range(10) for batch in consumer.poll(timeout_ms=300).values())
    finally:
        consumer.close()


def test_sigterm_finishes_in_flight_calls_and_leaves_a_consistent_store(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topics = kafka_settings.topics
    ensure_topics(KafkaSettings(kafka_settings.bootstrap_servers, topics))
    (tmp_path / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    (tmp_path / "pseudonym.key").write_bytes(os.urandom(32).hex().encode())
    producer = ConfirmingProducer(kafka_settings, client_id="test")
    assert all(d.confirmed for d in producer.publish([
        OutgoingRecord(topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
        OutgoingRecord(topics.attestations, b"KE-NCK/1", envelope(1)),
    ]))
    target = "127.0.0.1:%d" % free_port()
    args = ["registry", "serve", "--db", "registry.db", "--listen", target, "--root-key", "root.pub.pem",
            "--country", "GB", "--pseudonym-key-file", "pseudonym.key", "--plaintext-for-local-use"]
    env = cli_env(kafka_settings.bootstrap_servers, topics.prefix)
    registry = Service("registry", args, env=env, cwd=tmp_path)
    channel = grpc.insecure_channel(target)
    try:
        wait_for("the registry to report SERVING", lambda: serving(target), services=(registry,))
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        mismatch = registry_pb2.ClaimedSubject(family_name="Otieno", date_of_birth=to_date(dt.date(1992, 3, 14)))
        refused = stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/1", claimed=mismatch), timeout=5)
        assert not refused.verified

        # A watcher follows a credential; callers keep asking; a council publishes a whole register.
        watch = stub.WatchStatus(registry_pb2.WatchStatusRequest(credential_ids=["KE-NCK/1"]), timeout=120)
        assert next(watch).initial
        codes: list[grpc.StatusCode] = []
        stop_calling = threading.Event()

        def keep_verifying() -> None:
            while not stop_calling.is_set():
                try:
                    stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/1"), timeout=30)
                    codes.append(grpc.StatusCode.OK)
                except grpc.RpcError as exc:
                    codes.append(exc.code())  # type: ignore[attr-defined]
                    if exc.code() == grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                        return

        callers = [threading.Thread(target=keep_verifying) for _ in range(4)]
        for caller in callers:
            caller.start()
        register = [OutgoingRecord(topics.attestations, b"KE-NCK/%d" % n, envelope(n)) for n in range(2, GOOD + 1)]
        register += [OutgoingRecord(topics.attestations, b"KE-NCK/bad-%d" % n, b"\x0a\x03bad") for n in range(BAD)]
        assert all(d.confirmed for d in producer.publish(register))

        registry.process.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as watch_ended:
            for _ in watch:
                pass
        assert registry.process.wait(timeout=60) == 0, registry.log()[-3000:]
        stop_calling.set()
        for caller in callers:
            caller.join(timeout=60)
    finally:
        channel.close()
        registry.stop()
    assert watch_ended.value.code() == grpc.StatusCode.UNAVAILABLE, "the watcher is told to reconnect"  # type: ignore[attr-defined]
    assert "shutting down" in watch_ended.value.details()  # type: ignore[attr-defined]
    assert codes and set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, set(codes)

    # The logs: one JSON object a line (beside the banner on stdout), the shutdown recorded, no
    # personal data anywhere.
    log = registry.log()
    banner = "registry serving on port %s" % target.rsplit(":", 1)[1]
    lines = [json.loads(line) for line in log.splitlines() if line.strip() and line != banner]
    assert any(line["message"] == "registry stopped" for line in lines)
    assert any("plaintext" in line["message"] and line["level"] == "WARNING" for line in lines)
    for personal in PERSONAL:
        assert personal not in log, "the registry logged personal data (%s)" % personal

    # The store is whole, and a restart takes up exactly where the stopped registry left off.
    with sqlite3.connect(tmp_path / "registry.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = Service("registry-again", args, env=env, cwd=tmp_path)
    try:
        wait_for("the restarted registry to catch up", lambda: serving(target), services=(again,))
    finally:
        assert again.stop() == 0, again.log()[-3000:]
    counts = SqliteAttestationStore(tmp_path / "registry.db").counts()
    assert counts["attestations"] == GOOD, "an attestation was lost across the shutdown"
    assert counts["rejections"] == BAD, "a record was judged twice or lost across the shutdown"
    assert count_dead_letters(kafka_settings) == BAD, "a dead letter was sent twice or not at all"
    producer.close()
