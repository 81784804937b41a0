"""The pages with real services behind them, on the session's real broker: a GB registry holding a
Kenyan nurse's v2 credential (and a suspended one), Kenya's issuer service, and the pages talking to
both over gRPC. For the journey tests of the pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord
from credverify.core.sdjwt import present
from credverify.core.topics import Topics
from credverify.issuer.domain import build_attestation
from credverify.localrun import Service, cli_env, free_port, health_status, run_cli, wait_for
from credverify.registry.bootstrap import Registry
from credverify.v1 import common_pb2, registry_pb2, registry_pb2_grpc
from credverify.web.bootstrap import WebServer, start_web
from tests.factories import T0, kenya_record, nurse, signed_record_bytes
from tests.integration.test_registry_grpc import start_registry
from tests.integration.test_registry_presentations import EVERYTHING, issue
from tests.web_support import add_accounts

NURSE = "KE-NCK/30001"
SUSPENDED_NURSE = "KE-NCK/30002"


@dataclass
class WebStack:
    web: WebServer
    registry_target: str
    issuer_target: str
    issuer_topics: Topics
    bootstrap: str
    credential: str  # the nurse's own SD-JWT VC, as her council handed it to her
    suspended_credential: str

    def presentation(self, credential: str | None = None, disclose: tuple[str, ...] = EVERYTHING) -> str:
        return present(credential or self.credential, disclose=disclose, now=dt.datetime.now(dt.UTC))


def _registry_with_nurses(bootstrap: str, work: Path) -> tuple[Registry, str, str, str]:
    work.mkdir()
    registry, kafka = start_registry(bootstrap, work)
    active, credential, _ = issue(build_attestation(nurse("30001"), now=T0))
    suspended, suspended_credential, _ = issue(build_attestation(nurse(
        "30002", status=common_pb2.CREDENTIAL_STATUS_SUSPENDED, status_reason="INTERIM_ORDER"), now=T0), salts=100)
    publisher = ConfirmingProducer(kafka, client_id="test")
    try:
        deliveries = publisher.publish([
            OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
            OutgoingRecord(kafka.topics.attestations, NURSE.encode(), active),
            OutgoingRecord(kafka.topics.attestations, SUSPENDED_NURSE.encode(), suspended)])
    finally:
        publisher.close()
    assert all(d.confirmed for d in deliveries)
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    wait_for("the registry to report SERVING",
             lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
    with grpc.insecure_channel(target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        for credential_id in (NURSE, SUSPENDED_NURSE):
            wait_for("%s to be ingested" % credential_id, lambda cid=credential_id: stub.Verify(  # type: ignore[misc]
                registry_pb2.VerifyRequest(credential_id=cid), timeout=5).current_version or None, timeout=30)
    return registry, target, credential, suspended_credential


def _issuer_service(bootstrap: str, work: Path, topics: Topics) -> tuple[Service, str]:
    env = cli_env(bootstrap, topics.prefix)
    run_cli(["trust", "init-root", "--key", "root.key"], env=env, cwd=work)
    run_cli(["issuer", "keygen", "--keyring", "ring"], env=env, cwd=work)
    [public] = (work / "ring").glob("*.pub.pem")
    run_cli(["trust", "register-issuer", "--root-key", "root.key", "--issuer-id", "KE-NCK", "--country", "KE",
             "--name", "Nursing Council of Kenya", "--kinds", "LICENCE,GOOD_STANDING,DIPLOMA",
             "--isco", "2221,2222,3221", "--issuer-public-key", str(public)], env=env, cwd=work)
    target = "127.0.0.1:%d" % free_port()
    server = Service("issuer", ["issuer", "serve", "--keyring", "ring", "--root-public-key", "root.pub.pem",
                                "--issuer-id", "KE-NCK", "--jurisdiction", "KE", "--listen", target,
                                "--plaintext-for-local-use"], env=env, cwd=work)
    wait_for("the issuer to report SERVING", lambda: health_status(target) == health_pb2.HealthCheckResponse.SERVING
             or None, services=(server,))
    return server, target


def web_stack(bootstrap: str, work: Path) -> Iterator[WebStack]:
    """Start the three and yield them; stop them all afterwards."""
    topics = Topics(prefix="tweb%s." % free_port())
    (work / "issuer").mkdir()
    issuer, issuer_target = _issuer_service(bootstrap, work / "issuer", topics)
    registry: Registry | None = None
    web: WebServer | None = None
    try:
        registry, registry_target, credential, suspended = _registry_with_nurses(bootstrap, work / "registry")
        web = start_web(registries={"GB": registry_target}, issuers={"KE-NCK": issuer_target},
                        db_path=work / "web.db")
        add_accounts(web.deps.store)
        yield WebStack(web, registry_target, issuer_target, topics, bootstrap, credential, suspended)
    finally:
        if web is not None:
            web.stop()
        if registry is not None:
            registry.stop(grace=2)
        issuer.stop()
