"""Mutual TLS in front of a real registry: a destination regulator on the allow-list is served; a
certificate from another CA, no certificate or plaintext never gets past the handshake; a valid
certificate not on the allow-list, or known only by its common name, or naming two regulators, is
PERMISSION_DENIED; and a regulator records registrations only for its own country."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from credverify.core.adapters.grpc_security import ClientTls, ServerTls, open_channel
from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord
from credverify.core.timefmt import to_date
from credverify.localrun import wait_for
from credverify.registry.bootstrap import Registry
from credverify.v1 import registry_pb2, registry_pb2_grpc
from tests.factories import kenya_record, nurse, signed_record_bytes
from tests.integration.test_registry_grpc import signed, start_registry
from tests.pki import TestCA

pytestmark = pytest.mark.kafka

ALLOW_LIST = """
# The regulators this GB registry admits, by the identity in their client certificates.
[[caller]]
id = "GB-NMC"
country = "GB"
name = "Nursing and Midwifery Council"

[[caller]]
id = "GB-GMC"           # its real certificate carries urn:credverify:regulator:GB-GMC
country = "GB"
name = "General Medical Council"

[[caller]]
id = "CA-ON-CNO"
country = "CA"
name = "College of Nurses of Ontario"
"""


@dataclass
class Pki:
    ca: Path
    clients: dict[str, ClientTls]


@dataclass
class TlsRegistry:
    registry: Registry
    target: str
    pki: Pki

    def stub(self, tls: ClientTls | None) -> tuple[grpc.Channel, registry_pb2_grpc.RegistryServiceStub]:
        channel = open_channel(self.target, tls)
        return channel, registry_pb2_grpc.RegistryServiceStub(channel)

    def verify(self, client: str) -> registry_pb2.VerifyResponse:
        channel, stub = self.stub(self.pki.clients[client])
        with channel:
            reply: registry_pb2.VerifyResponse = stub.Verify(
                registry_pb2.VerifyRequest(credential_id="KE-NCK/30001"), timeout=10)
            return reply


def refusal(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        call()  # type: ignore[operator]
    code: grpc.StatusCode = refused.value.code()  # type: ignore[attr-defined]
    return code


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    work = tmp_path_factory.mktemp("pki")
    ca = TestCA.create("credverify test federation CA")
    ca.write(work / "ca.pem")
    ca.issue_server(work / "registry", hostnames=("localhost",))
    impostor_ca = TestCA.create("someone else's CA")

    def client(name: str, files: object) -> ClientTls:
        return ClientTls(server_ca=work / "ca.pem", cert_chain=files.cert, private_key=files.key)  # type: ignore[attr-defined]

    clients = {
        "GB-NMC": client("GB-NMC", ca.issue_client(work / "gb-nmc", uri="urn:credverify:regulator:GB-NMC")),
        "GB-GMC": client("GB-GMC", ca.issue_client(work / "gb-gmc", uri="urn:credverify:regulator:GB-GMC")),
        # a certificate from the federation CA whose common name only says GB-GMC
        "GB-GMC-by-name": client("GB-GMC-by-name", ca.issue_client(work / "gb-gmc-cn", common_name="GB-GMC")),
        # one certificate naming two regulators: which would it act as?
        "two-regulators": client("two-regulators", ca.issue_client(
            work / "two", uri="urn:credverify:regulator:GB-NMC", more_uris=("urn:credverify:regulator:GB-GMC",))),
        "CA-ON-CNO": client("CA-ON-CNO", ca.issue_client(work / "ca-cno", uri="urn:credverify:regulator:CA-ON-CNO")),
        "XX-UNLISTED": client("XX-UNLISTED", ca.issue_client(work / "unlisted",
                                                             uri="urn:credverify:regulator:XX-UNLISTED")),
        # the right name, from the wrong CA
        "impostor": client("impostor", impostor_ca.issue_client(work / "impostor",
                                                                uri="urn:credverify:regulator:GB-NMC")),
        "no-certificate": ClientTls(server_ca=work / "ca.pem"),
    }
    (work / "allow-list.toml").write_text(ALLOW_LIST)
    return Pki(ca=work / "ca.pem", clients=clients)


@pytest.fixture(scope="module")
def served(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[TlsRegistry]:
    work = pki.ca.parent
    registry, kafka = start_registry(
        kafka_bootstrap, tmp_path_factory.mktemp("tls-registry"), metrics_listen=None, listen="localhost:0",
        tls=ServerTls(cert_chain=work / "registry.crt", private_key=work / "registry.key", client_ca=pki.ca),
        allow_list=work / "allow-list.toml")
    publisher = ConfirmingProducer(kafka, client_id="test")
    deliveries = publisher.publish([
        OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
        OutgoingRecord(kafka.topics.attestations, b"KE-NCK/30001", signed(nurse("30001"))),
    ])
    publisher.close()
    assert all(d.confirmed for d in deliveries)
    registry.start()
    running = TlsRegistry(registry, "localhost:%d" % registry.port, pki)

    def serving() -> bool | None:
        with open_channel(running.target, pki.clients["GB-NMC"]) as channel:
            try:
                status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2).status
            except grpc.RpcError:
                return None
        return True if status == health_pb2.HealthCheckResponse.SERVING else None

    wait_for("the TLS registry to report SERVING", serving)
    try:
        yield running
    finally:
        registry.stop(grace=2)


def test_a_regulator_on_the_allow_list_is_served(served: TlsRegistry) -> None:
    assert served.verify("GB-NMC").verified
    assert served.verify("GB-GMC").verified
    assert served.verify("CA-ON-CNO").verified, "verifying is open to every admitted regulator"


@pytest.mark.parametrize("client", ["impostor", "no-certificate"])
def test_a_caller_without_a_certificate_from_the_federation_ca_is_refused_at_the_handshake(
    served: TlsRegistry, client: str
) -> None:
    # UNAVAILABLE: no connection was ever established, so no RPC (and no servicer code) ran.
    assert refusal(lambda: served.verify(client)) == grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_cannot_connect_to_the_tls_server(served: TlsRegistry) -> None:
    channel, stub = served.stub(None)
    with channel:
        assert refusal(lambda: stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/30001"),
                                           timeout=5)) == grpc.StatusCode.UNAVAILABLE


def test_a_valid_certificate_not_on_the_allow_list_gets_permission_denied_on_every_rpc(
    served: TlsRegistry,
) -> None:
    channel, stub = served.stub(served.pki.clients["XX-UNLISTED"])
    with channel:
        calls = {
            "Verify": lambda: stub.Verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/30001"), timeout=5),
            "VerifyPresented": lambda: stub.VerifyPresented(registry_pb2.VerifyPresentedRequest(), timeout=5),
            "GetAttestation": lambda: stub.GetAttestation(
                registry_pb2.GetAttestationRequest(credential_id="KE-NCK/30001"), timeout=5),
            "WatchStatus": lambda: next(stub.WatchStatus(
                registry_pb2.WatchStatusRequest(credential_ids=["KE-NCK/30001"]), timeout=5)),
            "RecordRegistration": lambda: stub.RecordRegistration(
                registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/30001"), timeout=5),
        }
        assert {name: refusal(call) for name, call in calls.items()} == dict.fromkeys(
            calls, grpc.StatusCode.PERMISSION_DENIED)


@pytest.mark.parametrize("client", ["GB-GMC-by-name", "two-regulators"])
def test_a_certificate_without_exactly_one_regulator_uri_is_permission_denied(served: TlsRegistry,
                                                                              client: str) -> None:
    assert refusal(lambda: served.verify(client)) == grpc.StatusCode.PERMISSION_DENIED


def test_record_registration_only_for_the_callers_own_country(served: TlsRegistry) -> None:
    request = registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/30001",
                                                     registered_on=to_date(dt.date(2026, 11, 2)))
    channel, ontario = served.stub(served.pki.clients["CA-ON-CNO"])
    with channel:
        assert refusal(lambda: ontario.RecordRegistration(request, timeout=10)) == grpc.StatusCode.PERMISSION_DENIED
    channel, london = served.stub(served.pki.clients["GB-NMC"])
    with channel:
        reply = london.RecordRegistration(request, timeout=30)
    assert reply.move.destination_country == "GB"
