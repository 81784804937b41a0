"""RegistryService over a real gRPC socket, fed by a real broker into a real SQLite file: what a
destination regulator's systems see when they call Verify, VerifyPresented, GetAttestation,
WatchStatus and RecordRegistration, and what an operator sees on /metrics."""

from __future__ import annotations

import datetime as dt
import os
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families

from credverify.cli import main
from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.attestation import sign_attestation, verify_attestation
from credverify.core.errors import reason_code
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date, to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import sign_issuer_record
from credverify.federation.domain import build_issuer_record
from credverify.issuer.domain import IssueAttestation, build_attestation
from credverify.localrun import health_status, wait_for
from credverify.registry.bootstrap import Registry, RegistrySettings
from credverify.v1 import common_pb2, envelope_pb2, registry_pb2, registry_pb2_grpc
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
    trust_list,
)

pytestmark = pytest.mark.kafka

SUSPENDED = common_pb2.CREDENTIAL_STATUS_SUSPENDED


def signed(cmd: IssueAttestation, *, now: dt.datetime = T0, signer=KE_KEY) -> bytes:  # type: ignore[no-untyped-def]
    return sign_attestation(build_attestation(cmd, now=now), signer=signer).SerializeToString()


def codes(reasons: object) -> list[str]:
    return [reason_code(r) for r in reasons]  # type: ignore[attr-defined]


@dataclass
class RunningRegistry:
    registry: Registry
    kafka: KafkaSettings
    publisher: ConfirmingProducer
    channel: grpc.Channel
    stub: registry_pb2_grpc.RegistryServiceStub
    envelopes: dict[str, bytes]

    def publish(self, credential_id: str, value: bytes) -> None:
        [delivery] = self.publisher.publish(
            [OutgoingRecord(self.kafka.topics.attestations, credential_id.encode(), value)])
        assert delivery.confirmed, delivery.error


def start_registry(kafka_bootstrap: str, work: Path, **overrides: object) -> tuple[Registry, KafkaSettings]:
    """A registry on fresh topics, with the federation root of tests.factories, not yet started."""
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topics=Topics(prefix="t%s." % uuid.uuid4().hex[:10]))
    ensure_topics(kafka)
    (work / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    (work / "pseudonym.key").write_bytes(os.urandom(32).hex().encode())
    fields: dict[str, object] = dict(
        kafka=kafka, db_path=work / "registry.db", listen="127.0.0.1:0",
        root_key_files=(str(work / "root.pub.pem"),), destination="GB",
        pseudonym_key_file=work / "pseudonym.key", metrics_listen="127.0.0.1:0",
    )
    fields.update(overrides)
    return Registry(RegistrySettings(**fields)), kafka  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def running(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    registry, kafka = start_registry(kafka_bootstrap, tmp_path_factory.mktemp("registry"))
    envelopes = {
        "KE-NCK/10001": signed(nurse("10001")),
        # suspended at home, expired, and (when the claim says so) someone else's: three reasons
        "KE-NCK/10002": signed(nurse("10002", status=SUSPENDED, status_reason="INTERIM_ORDER",
                                     valid_until=dt.date(2024, 12, 31))),
        "KE-NCK/10003#1": signed(nurse("10003"), now=T0),
        "KE-NCK/10003": signed(nurse("10003", status=SUSPENDED, status_reason="INTERIM_ORDER"),
                               now=T0 + dt.timedelta(days=3)),
        "KE-NCK/10004": signed(nurse("10004", family_name="Njeri-Wanjikú", given_names="Mary")),
        "KE-NCK/forged": signed(nurse("forged"), signer=fixed_signer("a forger")),
    }
    publisher = ConfirmingProducer(kafka, client_id="test")
    deliveries = publisher.publish(
        [OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
         OutgoingRecord(kafka.topics.trust_list, b"RO-CMR", signed_record_bytes(romania_record()))]
        + [OutgoingRecord(kafka.topics.attestations, key.split("#")[0].encode(), value)
           for key, value in envelopes.items()])
    assert all(d.confirmed for d in deliveries)
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    wait_for("the registry to report SERVING",
             lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
    channel = grpc.insecure_channel(target)
    try:
        yield RunningRegistry(registry, kafka, publisher, channel, registry_pb2_grpc.RegistryServiceStub(channel),
                              envelopes)
    finally:
        channel.close()
        registry.stop(grace=2)
        publisher.close()


def test_verify_gives_every_reason_that_applies_not_only_the_first(running: RunningRegistry) -> None:
    claimed = registry_pb2.ClaimedSubject(family_name="Otieno", date_of_birth=to_date(dt.date(1992, 3, 14)))
    answer = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10002", claimed=claimed),
                                 timeout=5)
    assert not answer.verified
    assert codes(answer.reasons) == ["SUSPENDED", "EXPIRED", "SUBJECT_MISMATCH"]
    assert "family_name" in answer.detail and "Otieno" not in answer.detail, "the detail names fields, not values"
    assert answer.attestation.credential_id == "KE-NCK/10002" and answer.current_version > 0


def test_verify_matches_names_regardless_of_case_diacritics_and_spacing(running: RunningRegistry) -> None:
    claimed = registry_pb2.ClaimedSubject(family_name="  NJERI  wanjiku ", given_names="MARY",
                                          date_of_birth=to_date(dt.date(1992, 3, 14)))
    answer = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10004", claimed=claimed),
                                 timeout=5)
    assert answer.verified, answer.detail
    assert codes(answer.reasons) == ["VERIFIED"]


def test_verify_hands_out_evidence_that_re_verifies_offline(running: RunningRegistry) -> None:
    answer = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10001"), timeout=5)
    assert answer.verified
    assert answer.evidence.SerializeToString() == running.envelopes["KE-NCK/10001"]
    offline = verify_attestation(answer.evidence.SerializeToString(), trust=trust_list(), record_key="KE-NCK/10001")
    assert offline.attestation == answer.attestation


def test_verify_answers_an_unknown_credential_as_not_found_and_a_forgery_as_refused(
    running: RunningRegistry,
) -> None:
    missing = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/00000"), timeout=5)
    assert not missing.verified and codes(missing.reasons) == ["NOT_FOUND"] and missing.current_version == 0
    forged = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/forged"), timeout=5)
    assert not forged.verified and codes(forged.reasons) == ["ISSUER_UNKNOWN"]


def test_verify_presented_flags_an_envelope_older_than_the_version_held_as_stale(
    running: RunningRegistry,
) -> None:
    old = envelope_pb2.Envelope.FromString(running.envelopes["KE-NCK/10003#1"])
    answer = running.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(envelope=old), timeout=5)
    assert not answer.verified
    assert codes(answer.reasons) == ["STALE"]
    assert answer.current_version > answer.attestation.version
    assert "SUSPENDED" in answer.detail, "the regulator learns what the newer version says"

    current = envelope_pb2.Envelope.FromString(running.envelopes["KE-NCK/10003"])
    latest = running.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(envelope=current), timeout=5)
    assert codes(latest.reasons) == ["SUSPENDED"] and latest.current_version == latest.attestation.version


def test_verify_presented_checks_the_envelope_offline_before_anything_else(running: RunningRegistry) -> None:
    genuine = envelope_pb2.Envelope.FromString(running.envelopes["KE-NCK/10001"])
    ok = running.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(envelope=genuine), timeout=5)
    assert ok.verified and codes(ok.reasons) == ["VERIFIED"]

    tampered = envelope_pb2.Envelope()
    tampered.CopyFrom(genuine)
    tampered.payload = tampered.payload.replace(b"Wanjiru", b"Wanjiro")
    refused = running.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(envelope=tampered), timeout=5)
    assert not refused.verified and codes(refused.reasons) == ["SIGNATURE_INVALID"]
    assert not refused.HasField("attestation"), "nothing unverified is handed back as an attestation"

    unseen = envelope_pb2.Envelope.FromString(signed(nurse("55555")))
    fresh = running.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(envelope=unseen), timeout=5)
    assert fresh.verified and fresh.current_version == 0 and "holds no version" in fresh.detail


def test_get_attestation_returns_the_evidence_or_not_found(running: RunningRegistry) -> None:
    reply = running.stub.GetAttestation(registry_pb2.GetAttestationRequest(credential_id="KE-NCK/10001"), timeout=5)
    assert reply.evidence.SerializeToString() == running.envelopes["KE-NCK/10001"]
    assert reply.attestation.subject.family_name == "Wanjiru"
    with pytest.raises(grpc.RpcError) as missing:
        running.stub.GetAttestation(registry_pb2.GetAttestationRequest(credential_id="KE-NCK/00000"), timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_watch_status_sends_the_current_state_then_a_suspension_as_it_happens(running: RunningRegistry) -> None:
    request = registry_pb2.WatchStatusRequest(credential_ids=["KE-NCK/20001", "KE-NCK/20002"])
    running.publish("KE-NCK/20001", signed(nurse("20001"), now=T0))
    wait_for("KE-NCK/20001 to be ingested", lambda: True if running.stub.Verify(
        registry_pb2.VerifyRequest(credential_id="KE-NCK/20001"), timeout=5).verified else None)
    stream = running.stub.WatchStatus(request, timeout=60)
    try:
        initial = [next(stream), next(stream)]
        assert [(u.credential_id, u.initial, u.verified) for u in initial] == [
            ("KE-NCK/20001", True, True), ("KE-NCK/20002", True, False)]
        assert codes(initial[1].reasons) == ["NOT_FOUND"]

        # Nairobi suspends the first nurse and registers the second: London hears of both.
        running.publish("KE-NCK/20001", signed(nurse("20001", status=SUSPENDED, status_reason="INTERIM_ORDER"),
                                               now=T0 + dt.timedelta(days=1)))
        running.publish("KE-NCK/20002", signed(nurse("20002"), now=T0 + dt.timedelta(days=1)))
        changes = {}
        while len(changes) < 2:
            update = next(stream)
            changes[update.credential_id] = update
        suspended = changes["KE-NCK/20001"]
        assert not suspended.initial and not suspended.verified and suspended.status == SUSPENDED
        assert codes(suspended.reasons) == ["SUSPENDED"] and suspended.version > initial[0].version
        assert suspended.evidence.payload, "the update carries the signed evidence of the suspension"
        assert changes["KE-NCK/20002"].verified
    finally:
        stream.cancel()
    wait_for("the cancelled stream to be released", lambda: True if running.registry.hub.subscriptions == 0 else None)


def test_watch_status_ends_at_the_callers_deadline(running: RunningRegistry) -> None:
    stream = running.stub.WatchStatus(registry_pb2.WatchStatusRequest(credential_ids=["KE-NCK/10001"]), timeout=1.5)
    with pytest.raises(grpc.RpcError) as ended:
        for _ in stream:
            pass
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    wait_for("the expired stream to be released", lambda: True if running.registry.hub.subscriptions == 0 else None)


def test_record_registration_emits_once_per_applicant_and_credential(running: RunningRegistry) -> None:
    request = registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/10004",
                                                     registered_on=to_date(dt.date(2026, 11, 2)))
    first = running.stub.RecordRegistration(request, timeout=30)
    again = running.stub.RecordRegistration(request, timeout=30)
    assert not first.already_recorded and again.already_recorded and again.move == first.move
    assert first.move.destination_country == "GB" and first.move.origin_country == "KE"
    raw = first.move.SerializeToString()
    for personal in (b"Njeri", b"Mary", b"NCK-10004", b"1992"):
        assert personal not in raw

    with pytest.raises(grpc.RpcError) as unknown:
        running.stub.RecordRegistration(registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/00000"),
                                        timeout=10)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as suspended:
        running.stub.RecordRegistration(registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/10002"),
                                        timeout=10)
    assert suspended.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "request_bytes"),
    [
        ("/credverify.v1.RegistryService/Verify", b"\xff\xff\xff"),  # not a protobuf message at all
        ("/credverify.v1.RegistryService/Verify",
         registry_pb2.VerifyRequest(credential_id="no-slash").SerializeToString()),
        ("/credverify.v1.RegistryService/Verify",
         registry_pb2.VerifyRequest(credential_id="KE-NCK/1", claimed=registry_pb2.ClaimedSubject(
             date_of_birth=common_pb2.Date(year=1992, month=2, day=30))).SerializeToString()),
        ("/credverify.v1.RegistryService/VerifyPresented", registry_pb2.VerifyPresentedRequest().SerializeToString()),
        ("/credverify.v1.RegistryService/GetAttestation", b"\x0a\x05"),  # truncated
        ("/credverify.v1.RegistryService/RecordRegistration", registry_pb2.RecordRegistrationRequest(
            credential_id="KE-NCK/10001", registered_on=common_pb2.Date(year=2026, month=13, day=1)
        ).SerializeToString()),
    ],
)
def test_malformed_requests_are_invalid_argument_never_internal(
    running: RunningRegistry, method: str, request_bytes: bytes
) -> None:
    call = running.channel.unary_unary(method)  # raw bytes in and out
    with pytest.raises(grpc.RpcError) as refused:
        call(request_bytes, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()  # type: ignore[attr-defined]


@pytest.mark.parametrize("ids", [[], ["KE-NCK/1", "bad"], ["KE-NCK/%d" % n for n in range(1001)]])
def test_a_malformed_watch_is_invalid_argument(running: RunningRegistry, ids: list[str]) -> None:
    stream = running.stub.WatchStatus(registry_pb2.WatchStatusRequest(credential_ids=ids), timeout=5)
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_an_oversized_request_is_refused_before_it_reaches_the_registry(running: RunningRegistry) -> None:
    huge = registry_pb2.VerifyPresentedRequest(envelope=envelope_pb2.Envelope(payload=b"x" * (2 * 1024 * 1024)))
    with pytest.raises(grpc.RpcError) as refused:
        running.stub.VerifyPresented(huge, timeout=10)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]


def test_concurrent_verifies_all_get_answers(running: RunningRegistry) -> None:
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            for _ in range(50):
                reply = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10001"), timeout=30)
                assert reply.verified
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]


def test_metrics_endpoint_reports_consumption_verdicts_dead_letters_lag_and_latency(
    running: RunningRegistry,
) -> None:
    running.stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/10002"), timeout=5)
    endpoint = running.registry.metrics_endpoint
    assert endpoint is not None
    url = "http://127.0.0.1:%d/metrics" % endpoint.port

    def scrape() -> dict[str, list[tuple[str, dict[str, str], float]]]:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        return {family.name: [(s.name, s.labels, s.value) for s in family.samples]
                for family in text_string_to_metric_families(text)}

    def lag_known() -> dict[str, list[tuple[str, dict[str, str], float]]] | None:
        metrics = scrape()
        return metrics if metrics.get("credverify_registry_consumer_lag_records") else None

    metrics = wait_for("the consumer lag to be measured", lag_known, timeout=30)
    assert {labels["topic"] for _, labels, _ in metrics["credverify_registry_consumer_lag_records"]} == {
        running.kafka.topics.trust_list, running.kafka.topics.attestations}
    [(_, _, consumed)] = metrics["credverify_registry_records_consumed"]
    assert consumed >= len(running.envelopes) + 2
    verdicts = {(labels["rpc"], labels["reason"]): value
                for name, labels, value in metrics["credverify_registry_verdicts"] if name.endswith("_total")}
    assert verdicts[("Verify", "SUSPENDED")] >= 1 and verdicts[("Verify", "EXPIRED")] >= 1
    dead = {labels["reason"]: value for name, labels, value in metrics["credverify_registry_dead_letters"]
            if name.endswith("_total")}
    assert dead["ISSUER_UNKNOWN"] >= 1
    latency = [(labels, value) for name, labels, value in metrics["grpc_server_handling_seconds"]
               if name.endswith("_count") and labels["grpc_method"] == "Verify"]
    assert latency and latency[0][1] >= 1
    handled = {(labels["grpc_method"], labels["grpc_code"]) for name, labels, _ in metrics["grpc_server_handled"]
               if name.endswith("_total")}
    assert ("Verify", "OK") in handled


def test_the_watch_command_prints_the_state_of_each_followed_credential(
    running: RunningRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    target = "127.0.0.1:%d" % running.registry.port
    assert main(["registry", "watch", "KE-NCK/10001", "KE-NCK/10002", "--target", target, "--timeout", "2",
                 "--plaintext-for-local-use"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1:3] for line in lines] == [["KE-NCK/10001", "v%d" % running.registry.store.get(
        "KE-NCK/10001").version], ["KE-NCK/10002", "v%d" % running.registry.store.get("KE-NCK/10002").version]]
    assert "VERIFIED" in lines[0] and "SUSPENDED,EXPIRED" in lines[1]


def test_a_key_reported_compromised_reaches_watchers_and_verify_at_once(running: RunningRegistry) -> None:
    doctor = nurse("40001", issuer_id="RO-CMR", jurisdiction="RO", profession_isco="2211")
    running.publish("RO-CMR/40001", signed(doctor, signer=RO_KEY))
    wait_for("RO-CMR/40001 to be ingested", lambda: True if running.stub.Verify(
        registry_pb2.VerifyRequest(credential_id="RO-CMR/40001"), timeout=5).verified else None)
    stream = running.stub.WatchStatus(registry_pb2.WatchStatusRequest(credential_ids=["RO-CMR/40001"]), timeout=60)
    try:
        assert next(stream).verified
        # The federation learns that the Romanian college's key leaked before it signed this licence.
        record = build_issuer_record(romania_record(), now=T0 + dt.timedelta(days=90))
        record.keys[0].compromised_at.CopyFrom(to_timestamp(T0 - dt.timedelta(hours=1)))
        [delivery] = running.publisher.publish([OutgoingRecord(
            running.kafka.topics.trust_list, b"RO-CMR", sign_issuer_record(record, root=ROOT).SerializeToString())])
        assert delivery.confirmed
        update = next(stream)
        assert not update.verified and codes(update.reasons) == ["KEY_REVOKED"]
        assert update.evidence.payload, "the envelope once accepted is still handed out as evidence"
    finally:
        stream.cancel()
    answer = running.stub.Verify(registry_pb2.VerifyRequest(credential_id="RO-CMR/40001"), timeout=5)
    assert not answer.verified and codes(answer.reasons) == ["KEY_REVOKED"]
