"""Mutual TLS in front of a real IssuerService socket: only the council's own systems, by the roles
the allow-list gives them, may read, sign, or touch keys. A certificate from another CA never gets
past the handshake; a system without the role an RPC needs gets PERMISSION_DENIED before the RPC
runs. No broker is needed: every call here is refused, or answered, before anything is published."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core.adapters.grpc_security import AllowList, ClientTls, ServerTls, open_channel
from credverify.core.adapters.grpc_server_kit import GrpcServer
from credverify.core.envelope import Signer
from credverify.core.settings import KafkaSecurity, KafkaSettings
from credverify.core.topics import Topics
from credverify.issuer.adapters.grpc_server import ROLES, build_server
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.bootstrap import Issuer, IssuerSettings
from credverify.v1 import attestation_pb2, issuer_pb2, issuer_pb2_grpc
from tests.pki import TestCA

ALLOW_LIST = """
[[caller]]
id = "KE-NCK-PORTAL"
roles = ["reader"]

[[caller]]
id = "KE-NCK-REGISTER"
roles = ["reader", "issuer"]

[[caller]]
id = "KE-NCK-KEYS"
roles = ["key-admin"]
"""


@dataclass
class Served:
    server: GrpcServer
    target: str
    clients: dict[str, ClientTls]

    def call(self, client: str, rpc: str, request: object) -> object:
        with open_channel(self.target, self.clients[client]) as channel:
            return getattr(issuer_pb2_grpc.IssuerServiceStub(channel), rpc)(request, timeout=10)

    def refusal(self, client: str, rpc: str, request: object) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as refused:
            self.call(client, rpc, request)
        code: grpc.StatusCode = refused.value.code()  # type: ignore[attr-defined]
        return code


# Requests that each get past the access check and stop right after it, without a broker.
REQUESTS = {
    "GetIssuer": issuer_pb2.GetIssuerRequest(),
    "GetCredential": issuer_pb2.GetCredentialRequest(credential_id="KE-NCK/404"),
    "Issue": issuer_pb2.IssueRequest(attestation=attestation_pb2.Attestation(issuer_id="UG-UNMC")),
    "ChangeStatus": issuer_pb2.ChangeStatusRequest(credential_id="KE-NCK/404"),
    "RotateKey": issuer_pb2.RotateKeyRequest(),
    "ReportCompromise": issuer_pb2.ReportCompromiseRequest(keyid="00000000"),
}
# What an admitted caller hears for each of those requests.
ADMITTED = {
    "GetIssuer": grpc.StatusCode.OK,
    "GetCredential": grpc.StatusCode.NOT_FOUND,
    "Issue": grpc.StatusCode.INVALID_ARGUMENT,          # another council's id
    "ChangeStatus": grpc.StatusCode.INVALID_ARGUMENT,   # no action
    "RotateKey": grpc.StatusCode.FAILED_PRECONDITION,   # one key file, no keyring
    "ReportCompromise": grpc.StatusCode.FAILED_PRECONDITION,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("issuer-pki")
    ca = TestCA.create("council CA")
    ca.write(work / "ca.pem")
    server_files = ca.issue_server(work / "issuer", hostnames=("localhost",))
    (work / "allow.toml").write_text(ALLOW_LIST)

    def client(files: object) -> ClientTls:
        return ClientTls(server_ca=work / "ca.pem", cert_chain=files.cert, private_key=files.key)  # type: ignore[attr-defined]

    clients = {name: client(ca.issue_client(work / name, uri="urn:credverify:regulator:" + name))
               for name in ("KE-NCK-PORTAL", "KE-NCK-REGISTER", "KE-NCK-KEYS", "KE-NCK-UNLISTED")}
    clients["impostor"] = client(TestCA.create("someone else's CA").issue_client(
        work / "impostor", uri="urn:credverify:regulator:KE-NCK-KEYS"))
    clients["by-common-name"] = client(ca.issue_client(work / "cn", common_name="KE-NCK-KEYS"))
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", topics=Topics(prefix="unused."),
                          security=KafkaSecurity())
    settings = IssuerSettings(kafka=kafka, ledger_path=work / "ledger.db", issuer_id="KE-NCK", jurisdiction="KE")
    issuer = Issuer(settings=settings, ledger=SqliteIssuedLedger(settings.ledger_path),
                    _key=Signer(Ed25519PrivateKey.generate()))
    server = build_server(issuer, listen="localhost:0",
                          tls=ServerTls(server_files.cert, server_files.key, client_ca=work / "ca.pem"),
                          access=AllowList.from_file(work / "allow.toml", roles=ROLES))
    server.start()
    try:
        yield Served(server, "localhost:%d" % server.port, clients)
    finally:
        server.stop(1)
        issuer.close()


def outcome(served: Served, client: str, rpc: str) -> grpc.StatusCode:
    try:
        served.call(client, rpc, REQUESTS[rpc])
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_each_council_system_may_call_exactly_the_rpcs_of_its_roles(served: Served) -> None:
    allowed = {
        "KE-NCK-PORTAL": {"GetIssuer", "GetCredential"},
        "KE-NCK-REGISTER": {"GetIssuer", "GetCredential", "Issue", "ChangeStatus"},
        "KE-NCK-KEYS": {"RotateKey", "ReportCompromise"},
    }
    for client, rpcs in allowed.items():
        seen = {rpc: outcome(served, client, rpc) for rpc in REQUESTS}
        expected = {rpc: ADMITTED[rpc] if rpc in rpcs else grpc.StatusCode.PERMISSION_DENIED for rpc in REQUESTS}
        assert seen == expected, client


def test_a_reader_cannot_sign_revoke_add_keys_or_stop_signing(served: Served) -> None:
    for rpc in ("Issue", "ChangeStatus", "RotateKey", "ReportCompromise"):
        assert served.refusal("KE-NCK-PORTAL", rpc, REQUESTS[rpc]) == grpc.StatusCode.PERMISSION_DENIED, rpc


@pytest.mark.parametrize("client", ["KE-NCK-UNLISTED", "by-common-name"])
def test_a_certificate_of_the_councils_ca_that_is_not_on_the_allow_list_is_refused_on_every_rpc(
    served: Served, client: str
) -> None:
    assert {rpc: outcome(served, client, rpc) for rpc in REQUESTS} == dict.fromkeys(
        REQUESTS, grpc.StatusCode.PERMISSION_DENIED)


def test_an_unknown_certificate_is_refused_at_the_handshake(served: Served) -> None:
    # UNAVAILABLE: no connection was ever established, so no servicer code ran.
    assert served.refusal("impostor", "RotateKey", REQUESTS["RotateKey"]) == grpc.StatusCode.UNAVAILABLE
    no_certificate = ClientTls(server_ca=served.clients["impostor"].server_ca)
    with open_channel(served.target, no_certificate) as channel, pytest.raises(grpc.RpcError) as refused:
        issuer_pb2_grpc.IssuerServiceStub(channel).GetIssuer(issuer_pb2.GetIssuerRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_plaintext_client_cannot_reach_the_tls_issuer(served: Served) -> None:
    with open_channel(served.target, None) as channel, pytest.raises(grpc.RpcError) as refused:
        issuer_pb2_grpc.IssuerServiceStub(channel).RotateKey(issuer_pb2.RotateKeyRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
