"""Verify and RecordRegistration with the applicant's SD-JWT presentation, over a real gRPC socket,
fed by a real broker into a real SQLite file: a v2 record on the hub, her credential in her hand."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from credverify.cli import main
from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord
from credverify.core.attestation import attestation_v2_of, sign_attestation_v2
from credverify.core.errors import reason_code
from credverify.core.sdjwt import content_of_attestation, issue_credential, make_disclosure, present, split_combined
from credverify.core.timefmt import to_date
from credverify.issuer.domain import build_attestation
from credverify.localrun import health_status, wait_for
from credverify.v1 import attestation_pb2, common_pb2, moves_pb2, registry_pb2, registry_pb2_grpc
from tests.factories import KE_KEY, T0, kenya_record, nurse, signed_record_bytes
from tests.integration.test_registry_grpc import start_registry
from tests.topic_reader import read_all

pytestmark = pytest.mark.kafka

CREDENTIAL_ID = "KE-NCK/20001"
EVERYTHING = ("family_name", "given_names", "birth_date", "practitioner_number", "country_of_training")


def counter_bytes(start: int) -> Callable[[int], bytes]:
    counter = itertools.count(start)
    return lambda n: next(counter).to_bytes(n, "big")


def issue(att: attestation_pb2.Attestation, *, salts: int = 0) -> tuple[bytes, str, tuple[str, ...]]:
    credential = issue_credential(content_of_attestation(att), signer=KE_KEY, now=T0, random_bytes=counter_bytes(salts))
    envelope = sign_attestation_v2(attestation_v2_of(att, credential.digests), signer=KE_KEY)
    return envelope.SerializeToString(), credential.text, credential.digests


class Hub:
    def __init__(self, stub: registry_pb2_grpc.RegistryServiceStub, publisher: ConfirmingProducer,
                 topic: str, credential: str, digests: tuple[str, ...], bootstrap: str, moves_topic: str,
                 target: str) -> None:
        self.stub, self.publisher, self.topic, self.target = stub, publisher, topic, target
        self.credential, self.digests = credential, digests
        self.bootstrap, self.moves_topic = bootstrap, moves_topic

    def verify(self, presentation: str, **claimed: object) -> registry_pb2.VerifyResponse:
        return self.stub.Verify(registry_pb2.VerifyRequest(
            credential_id=CREDENTIAL_ID, claimed=registry_pb2.ClaimedSubject(**claimed),  # type: ignore[arg-type]
            presentation=presentation), timeout=10)


@pytest.fixture(scope="module")
def hub(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    registry, kafka = start_registry(kafka_bootstrap, tmp_path_factory.mktemp("registry"))
    data, credential, digests = issue(build_attestation(nurse("20001"), now=T0))
    publisher = ConfirmingProducer(kafka, client_id="test")
    deliveries = publisher.publish([
        OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
        OutgoingRecord(kafka.topics.attestations, CREDENTIAL_ID.encode(), data)])
    assert all(d.confirmed for d in deliveries)
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    wait_for("the registry to report SERVING",
             lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
    channel = grpc.insecure_channel(target)
    stub = registry_pb2_grpc.RegistryServiceStub(channel)
    wait_for("the v2 record to be ingested", lambda: stub.Verify(
        registry_pb2.VerifyRequest(credential_id=CREDENTIAL_ID), timeout=5).verified or None, timeout=30)
    try:
        yield Hub(stub, publisher, kafka.topics.attestations, credential, digests, kafka_bootstrap,
                  kafka.topics.verified_moves, target)
    finally:
        channel.close()
        registry.stop(grace=2)
        publisher.close()


def shown(hub: Hub, disclose: tuple[str, ...] = EVERYTHING) -> str:
    return present(hub.credential, disclose=disclose, now=dt.datetime.now(dt.UTC))


def codes(answer: registry_pb2.VerifyResponse) -> list[str]:
    return [reason_code(r) for r in answer.reasons]


def test_verify_compares_the_typed_details_with_the_disclosed_ones(hub: Hub) -> None:
    answer = hub.verify(shown(hub), family_name="wanjiru", date_of_birth=to_date(dt.date(1992, 3, 14)))
    assert answer.verified and codes(answer) == ["VERIFIED"], answer.detail
    assert answer.disclosed["family_name"] == "Wanjiru" and answer.disclosed["birth_date"] == "1992-03-14"
    assert not answer.attestation.HasField("subject"), "the v2 record has no personal data to hand out"

    typo = hub.verify(shown(hub), family_name="Wanjiku")
    assert codes(typo) == ["SUBJECT_MISMATCH"]
    unchecked = hub.verify(shown(hub, ("family_name",)), date_of_birth=to_date(dt.date(1992, 3, 14)))
    assert codes(unchecked) == ["SUBJECT_NOT_CHECKED"] and "birth_date" not in unchecked.disclosed


def test_verify_presented_takes_her_envelope_with_her_presentation(hub: Hub) -> None:
    evidence = hub.verify(shown(hub)).evidence
    answer = hub.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(
        envelope=evidence, claimed=registry_pb2.ClaimedSubject(family_name="WANJIRU"),
        presentation=shown(hub, ("family_name",))), timeout=10)
    assert codes(answer) == ["VERIFIED"] and dict(answer.disclosed) == {"family_name": "Wanjiru"}
    bare = hub.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(
        envelope=evidence, claimed=registry_pb2.ClaimedSubject(family_name="WANJIRU")), timeout=10)
    assert codes(bare) == ["SUBJECT_NOT_CHECKED"] and dict(bare.disclosed) == {}
    with pytest.raises(grpc.RpcError) as refused:
        hub.stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(envelope=evidence, nonce="n"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_a_forged_disclosure_is_a_verdict_not_an_error(hub: Hub) -> None:
    jwt = split_combined(hub.credential).jwt
    forged = "~".join([jwt, make_disclosure("c2FsdHNhbHQ", "family_name", "Otieno"), ""])
    answer = hub.verify(forged, family_name="Otieno")
    assert not answer.verified and codes(answer) == ["DISCLOSURE_UNKNOWN"]
    assert dict(answer.disclosed) == {}


def test_a_presentation_above_the_cap_is_invalid_argument(hub: Hub) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        hub.verify("x" * (100 * 1024))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_get_attestation_of_a_v2_record_returns_no_personal_data(hub: Hub) -> None:
    reply = hub.stub.GetAttestation(registry_pb2.GetAttestationRequest(credential_id=CREDENTIAL_ID), timeout=5)
    assert not reply.attestation.HasField("subject")
    for secret in (b"Wanjiru", b"NCK-20001", b"Grace"):
        assert secret not in reply.SerializeToString()


def test_registration_takes_the_country_of_training_from_her_presentation(hub: Hub) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        hub.stub.RecordRegistration(registry_pb2.RecordRegistrationRequest(credential_id=CREDENTIAL_ID), timeout=10)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    assert "SUBJECT_NOT_CHECKED" in (refused.value.details() or "")  # type: ignore[attr-defined]

    request = registry_pb2.RecordRegistrationRequest(credential_id=CREDENTIAL_ID, presentation=shown(hub),
                                                     claimed=registry_pb2.ClaimedSubject(family_name="Wanjiru"))
    first = hub.stub.RecordRegistration(request, timeout=30)
    again = hub.stub.RecordRegistration(request, timeout=30)
    assert not first.already_recorded and again.already_recorded and again.move == first.move
    assert first.move.country_of_training == "KE" and not first.move.return_migration
    moves = [moves_pb2.VerifiedMove.FromString(value) for _, value in read_all(hub.bootstrap, hub.moves_topic)]
    assert [m.move_id for m in moves].count(first.move.move_id) == 1, "not exactly one move on the hub"
    for secret in (b"Wanjiru", b"NCK-20001", b"1992"):
        assert secret not in first.move.SerializeToString()


def test_after_a_status_change_her_presentation_still_opens_it_but_another_credential_does_not(hub: Hub) -> None:
    suspended = build_attestation(nurse("20001", status=common_pb2.CREDENTIAL_STATUS_SUSPENDED,
                                        status_reason="INTERIM_ORDER"), now=T0 + dt.timedelta(days=1))
    newer = sign_attestation_v2(attestation_v2_of(suspended, hub.digests), signer=KE_KEY).SerializeToString()
    [delivery] = hub.publisher.publish([OutgoingRecord(hub.topic, CREDENTIAL_ID.encode(), newer)])
    assert delivery.confirmed, delivery.error
    wait_for("the suspension to be ingested", lambda: hub.stub.Verify(registry_pb2.VerifyRequest(
        credential_id=CREDENTIAL_ID), timeout=5).current_version == suspended.version or None, timeout=30)

    stale = hub.verify(shown(hub), family_name="Wanjiru")
    assert codes(stale) == ["SUSPENDED"], stale.detail

    _, other, _ = issue(build_attestation(nurse("20001"), now=T0), salts=5000)
    foreign = hub.verify(present(other, disclose=EVERYTHING, now=dt.datetime.now(dt.UTC)), family_name="Wanjiru")
    assert codes(foreign) == ["DIGESTS_NOT_CURRENT"] and dict(foreign.disclosed) == {}


def test_registry_verify_cli_reads_a_presentation_file(hub: Hub, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "presentation.txt"
    path.write_text(shown(hub) + "\n")
    main(["registry", "verify", CREDENTIAL_ID, "--plaintext-for-local-use", "--target", hub.target,
          "--presentation", str(path), "--family-name", "Wanjiku"])
    assert "SUBJECT_MISMATCH" in capsys.readouterr().out, "the typed name was not compared with the disclosed one"
