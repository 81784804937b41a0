"""Trust changes published on the hub reach what a running registry holds, and `credverify registry
rebuild` replays both topics into a fresh store that answers as the live one does and that a
registry then serves from where the rebuild stopped. Real broker, real processes, real SQLite."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.envelope import ATTESTATION_TYPE
from credverify.core.errors import reason_code
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.localrun import cli_env, health_status, run_cli, wait_for
from credverify.registry import handlers
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.ingest import load_trust
from credverify.v1 import registry_pb2, trust_pb2
from tests.factories import (
    ROOT,
    ROOTS,
    T0,
    TODAY,
    attestation_bytes,
    fixed_signer,
    kenya_issuer_record,
    nurse,
    record_bytes,
)
from tests.integration.test_registry_faults import RegistryProcess, dead_letter_keys, read_store, verify

pytestmark = pytest.mark.kafka

DAY = dt.timedelta(days=1)
NEXT_KEY = fixed_signer("kenya's next key")


def codes(answer: registry_pb2.VerifyResponse) -> list[str]:
    return [reason_code(r) for r in answer.reasons]


def publish(bootstrap: str, records: list[OutgoingRecord]) -> None:
    producer = ConfirmingProducer(KafkaSettings(bootstrap, Topics()), client_id="rejudge-test")
    try:
        assert all(d.confirmed for d in producer.publish(records))
    finally:
        producer.close()


def answers_from(db: Path, ids: list[str]) -> dict[str, tuple[bool, list[str]]]:
    """What Verify answers from the store at ``db`` (the handler the gRPC Verify calls)."""
    store = SqliteAttestationStore(db)
    trust = load_trust(store, ROOTS)
    try:
        outcomes = {c: handlers.verify(c, None, store=store, trust=trust, today=TODAY) for c in ids}
    finally:
        store.close()
    return {c: (o.judgement.verified, [reason_code(r) for r in o.judgement.reasons]) for c, o in outcomes.items()}


def test_trust_changes_reach_the_store_and_a_rebuild_answers_the_same(
    tmp_path: Path, kafka_bootstrap: str, topics: Topics
) -> None:
    workdir = tmp_path
    (workdir / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    ensure_topics(KafkaSettings(kafka_bootstrap, topics))
    admitted = kenya_issuer_record()
    attestations = {
        "KE-NCK/1": attestation_bytes(nurse("1"), now=T0),
        "KE-NCK/2": attestation_bytes(nurse("2"), now=T0 + 10 * DAY),
        "KE-NCK/3": attestation_bytes(nurse("3", profession_isco="2222"), now=T0),
        "KE-NCK/4": attestation_bytes(nurse("4"), signer=NEXT_KEY, now=T0 + 20 * DAY),  # key not listed yet
    }
    # KE-NCK/2 reaches the hub only after the instant its key will be reported compromised from, with
    # an issued_at before it (a thief backdating): the hub's append time decides, not issued_at.
    publish(kafka_bootstrap, [OutgoingRecord(topics.trust_list, b"KE-NCK", record_bytes(admitted))] + [
        OutgoingRecord(topics.attestations, c.encode(), v, ATTESTATION_TYPE) for c, v in attestations.items()
        if c != "KE-NCK/2"])
    time.sleep(1.0)
    compromised_at = dt.datetime.now(dt.UTC)
    time.sleep(1.0)
    publish(kafka_bootstrap, [OutgoingRecord(topics.attestations, b"KE-NCK/2", attestations["KE-NCK/2"],
                                             ATTESTATION_TYPE)])

    registry = RegistryProcess(workdir, cli_env(kafka_bootstrap, topics.prefix))
    registry.start()
    try:
        wait_for("SERVING", lambda: True if health_status(registry.target)
                 == health_pb2.HealthCheckResponse.SERVING else None, services=registry.running())
        assert [codes(verify(registry.target, c)) for c in attestations] == [
            ["VERIFIED"], ["VERIFIED"], ["VERIFIED"], ["ISSUER_UNKNOWN"]]

        # The federation reports Kenya's key compromised from that instant, drops midwives from its
        # scope, and lists its next key.
        changed = trust_pb2.IssuerRecord()
        changed.CopyFrom(admitted)
        changed.version += 1
        changed.keys[0].compromised_at.CopyFrom(to_timestamp(compromised_at))
        changed.professions_isco.remove("2222")
        changed.keys.append(kenya_issuer_record(keys=(NEXT_KEY,), now=T0).keys[0])
        publish(kafka_bootstrap, [OutgoingRecord(topics.trust_list, b"KE-NCK", record_bytes(changed))])

        revoked = wait_for("KE-NCK/2 answered KEY_REVOKED", lambda: (
            a if codes(a := verify(registry.target, "KE-NCK/2")) == ["KEY_REVOKED"] else None),
            services=registry.running())
        assert not revoked.verified and "compromised" in revoked.detail and "hub appended" in revoked.detail
        assert revoked.evidence.SerializeToString() == attestations["KE-NCK/2"], "the evidence once accepted"
        assert codes(verify(registry.target, "KE-NCK/3")) == ["ISSUER_NOT_AUTHORISED"]
        assert codes(verify(registry.target, "KE-NCK/4")) == ["VERIFIED"], "parked until its key was listed"
        assert codes(verify(registry.target, "KE-NCK/1")) == ["VERIFIED"], "signed before the compromise"
        verdicts = dict(read_store(workdir / "registry.db", "SELECT credential_id, trust_reason FROM attestations"))
        assert {c: reason_code(int(r)) for c, r in verdicts.items()} == {  # type: ignore[arg-type]
            "KE-NCK/1": "VERIFIED", "KE-NCK/2": "KEY_REVOKED", "KE-NCK/3": "ISSUER_NOT_AUTHORISED",
            "KE-NCK/4": "VERIFIED"}
        assert dead_letter_keys(kafka_bootstrap, topics.rejected) == [b"KE-NCK/4"], \
            "re-judging sends no dead letter; only the record refused on arrival has one"
    finally:
        registry.stop()

    env = cli_env(kafka_bootstrap, topics.prefix)
    rebuilt = run_cli(["registry", "rebuild", "--store", "rebuilt.db", "--root-key", "root.pub.pem"],
                      env=env, cwd=workdir)
    assert ("rebuilt rebuilt.db: 2 attestations (0 no longer trusted), 1 issuer records, 2 rejected records "
            "(2 parked awaiting an issuer record)") in rebuilt.stdout, rebuilt.stdout
    ids = list(attestations)
    assert answers_from(workdir / "rebuilt.db", ids) == answers_from(workdir / "registry.db", ids)
    assert not list(workdir.glob("rebuilt.db.partial*"))

    refused = run_cli(["registry", "rebuild", "--store", "rebuilt.db", "--root-key", "root.pub.pem"],
                      env=env, cwd=workdir, check=False)
    assert refused.returncode == 2 and "exists already" in refused.stderr
    run_cli(["registry", "rebuild", "--store", "rebuilt.db", "--root-key", "root.pub.pem", "--force"],
            env=env, cwd=workdir)

    # A registry started on the rebuilt store resumes where the rebuild stopped.
    (workdir / "registry.db").unlink()
    (workdir / "rebuilt.db").rename(workdir / "registry.db")
    publish(kafka_bootstrap, [OutgoingRecord(topics.attestations, b"KE-NCK/5",
                                             attestation_bytes(nurse("5"), signer=NEXT_KEY, now=T0 + 20 * DAY),
                                             ATTESTATION_TYPE)])
    registry.start()
    try:
        wait_for("SERVING on the rebuilt store", lambda: True if health_status(registry.target)
                 == health_pb2.HealthCheckResponse.SERVING else None, services=registry.running())
        answer = wait_for("KE-NCK/5 verified by the registry on the rebuilt store", lambda: (
            a if (a := verify(registry.target, "KE-NCK/5")).verified else None), services=registry.running())
        assert answer.verified
        assert read_store(workdir / "registry.db", "SELECT COUNT(*) FROM rejections")[0][0] == 2, \
            "records the rebuild consumed were not judged again"
    finally:
        registry.stop()
