"""The IssuerService over a real socket: issue, change status, rotate and report a compromised key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from credverify.core.sdjwt import holder_claims, hub_digests
from credverify.core.topics import Topics
from credverify.issuer.domain import build_attestation
from credverify.localrun import Service, cli_env, free_port, health_status, run_cli, wait_for
from credverify.v1 import attestation_pb2, common_pb2, issuer_pb2, issuer_pb2_grpc
from tests.factories import T0, nurse

Running = tuple[issuer_pb2_grpc.IssuerServiceStub, dict[str, str], str]


def draft(number: str, **fields: str) -> attestation_pb2.Attestation:
    """A valid attestation to ask for (the service sets version and issued_at), with ``fields`` spoilt."""
    att = build_attestation(nurse(number), now=T0)
    att.ClearField("version")
    att.ClearField("issued_at")
    for name, value in fields.items():
        setattr(att, name, value)
    return att


@pytest.fixture
def service(tmp_path: Path, kafka_bootstrap: str, topics: Topics) -> Iterator[Running]:
    """An issuer registered on the trust list with a one-key keyring, served over a real socket."""
    env = cli_env(kafka_bootstrap, topics.prefix)
    run_cli(["trust", "init-root", "--key", "root.key"], env=env, cwd=tmp_path)
    run_cli(["issuer", "keygen", "--keyring", "ring"], env=env, cwd=tmp_path)
    [public] = (tmp_path / "ring").glob("*.pub.pem")
    run_cli(["trust", "register-issuer", "--root-key", "root.key", "--issuer-id", "KE-NCK", "--country", "KE",
             "--name", "Nursing Council of Kenya", "--kinds", "LICENCE,GOOD_STANDING", "--isco", "2221,2222",
             "--issuer-public-key", str(public)], env=env, cwd=tmp_path)
    target = "127.0.0.1:%d" % free_port()
    server = Service("issuer", ["issuer", "serve", "--keyring", "ring", "--root-public-key", "root.pub.pem",
                                "--issuer-id", "KE-NCK", "--jurisdiction", "KE", "--listen", target,
                                "--plaintext-for-local-use"], env=env, cwd=tmp_path)
    try:
        wait_for("the issuer to report SERVING", lambda: health_status(target) == health_pb2.HealthCheckResponse.SERVING
                 or None, services=(server,))
        with grpc.insecure_channel(target) as channel:
            yield issuer_pb2_grpc.IssuerServiceStub(channel), env, target
    finally:
        server.stop()


def test_a_council_issues_and_changes_status_over_grpc(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stub, _, _ = service
    issued = stub.Issue(issuer_pb2.IssueRequest(attestation=draft("50001")), timeout=30)
    assert issued.delivery.confirmed and not issued.unchanged and issued.version > 0
    assert issued.attestation.issuer_id == "KE-NCK" and issued.envelope.signatures[0].keyid
    again = stub.Issue(issuer_pb2.IssueRequest(attestation=draft("50001")), timeout=30)
    assert again.unchanged and again.version == issued.version

    suspended = stub.ChangeStatus(issuer_pb2.ChangeStatusRequest(
        credential_id="KE-NCK/50001", action=issuer_pb2.STATUS_ACTION_SUSPEND, reason="INTERIM_ORDER"), timeout=30)
    assert suspended.version > issued.version
    assert suspended.attestation.status == common_pb2.CREDENTIAL_STATUS_SUSPENDED
    fetched = stub.GetCredential(issuer_pb2.GetCredentialRequest(credential_id="KE-NCK/50001"), timeout=10)
    assert fetched.version == suspended.version

    # Her credential comes with each answer, and opens every version: a suspension keeps the digests.
    on_hub = attestation_pb2.AttestationV2.FromString(suspended.envelope.payload).subject_digests
    for answer in (issued, again, suspended, fetched):
        assert hub_digests(answer.credential) == tuple(on_hub)
    assert holder_claims(issued.credential)["family_name"] == "Wanjiru"
    assert issued.attestation.subject.family_name == "Wanjiru", "the council's own record is complete"
    assert b"Wanjiru" not in issued.envelope.SerializeToString(), "what went to the hub is not"

    for call, request, code in [
        (stub.ChangeStatus, issuer_pb2.ChangeStatusRequest(credential_id="KE-NCK/50001",
                                                           action=issuer_pb2.STATUS_ACTION_ADD_CONDITION,
                                                           reason="CONDITIONS_IMPOSED", condition="supervised"),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.ChangeStatus, issuer_pb2.ChangeStatusRequest(credential_id="KE-NCK/59999",
                                                           action=issuer_pb2.STATUS_ACTION_REVOKE,
                                                           reason="FRAUDULENT_ENTRY"), grpc.StatusCode.NOT_FOUND),
        (stub.Issue, issuer_pb2.IssueRequest(attestation=draft("50002", profession_isco="1234")),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.Issue, issuer_pb2.IssueRequest(attestation=draft("50003", issuer_id="UG-UNMC")),
         grpc.StatusCode.INVALID_ARGUMENT),
        (stub.GetCredential, issuer_pb2.GetCredentialRequest(credential_id="RO-CMR/1"),
         grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(grpc.RpcError) as refused:
            call(request, timeout=10)
        assert refused.value.code() == code, refused.value.details()


def test_signing_follows_a_rotation_and_stops_on_a_reported_compromise(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stub, env, target = service
    first = stub.GetIssuer(issuer_pb2.GetIssuerRequest(), timeout=10)
    assert first.record.issuer_id == "KE-NCK" and first.signing_keyid == first.record.keys[0].keyid

    new = stub.RotateKey(issuer_pb2.RotateKeyRequest(), timeout=10)
    assert new.keyid != first.signing_keyid and "BEGIN PUBLIC KEY" in new.public_key_pem
    states = {k.keyid: k.state for k in stub.GetIssuer(issuer_pb2.GetIssuerRequest(), timeout=10).keys}
    assert states == {first.signing_keyid: issuer_pb2.KEY_STATE_SIGNING, new.keyid: issuer_pb2.KEY_STATE_PENDING}

    (tmp_path / "new.pub.pem").write_text(new.public_key_pem)
    run_cli(["trust", "rotate-key", "--root-key", "root.key", "--issuer-id", "KE-NCK",
             "--new-public-key", "new.pub.pem"], env=env, cwd=tmp_path)
    wait_for("the service to sign with the new key", lambda: stub.GetIssuer(
        issuer_pb2.GetIssuerRequest(), timeout=10).signing_keyid == new.keyid or None)
    issued = stub.Issue(issuer_pb2.IssueRequest(attestation=draft("50010")), timeout=30)
    assert issued.envelope.signatures[0].keyid == new.keyid

    compromised = stub.ReportCompromise(issuer_pb2.ReportCompromiseRequest(keyid=new.keyid[:12]), timeout=10)
    assert compromised.keyid == new.keyid and "report-compromise" in compromised.next_step
    with pytest.raises(grpc.RpcError) as refused:
        stub.Issue(issuer_pb2.IssueRequest(attestation=draft("50011")), timeout=30)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    wait_for("health to say NOT_SERVING without a key that may sign",
             lambda: health_status(target) == health_pb2.HealthCheckResponse.NOT_SERVING or None)
