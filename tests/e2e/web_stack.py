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
from credverify.core.attestation import attestation_v2_of, sign_attestation_v2
from credverify.core.issuing import build_attestation
from credverify.core.sdjwt import present
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.localrun import Service, cli_env, free_port, health_status, run_cli, wait_for
from credverify.registry.bootstrap import Registry
from credverify.v1 import common_pb2, registry_pb2, registry_pb2_grpc
from credverify.web.bootstrap import WebServer, start_web
from tests.factories import KE_KEY, T0, kenya_record, nurse, signed_record_bytes
from tests.integration.test_registry_grpc import start_registry
from tests.integration.test_registry_presentations import EVERYTHING, issue
from tests.web_support import add_accounts

NURSE = "KE-NCK/30001"
SUSPENDED_NURSE = "KE-NCK/30002"
WATCHED_NURSE = "KE-NCK/30003"  # suspended during a test, so kept apart from the others


@dataclass
class WebStack:
    web: WebServer
    registry_target: str
    issuer_target: str
    issuer_topics: Topics
    bootstrap: str
    credential: str  # the nurse's own SD-JWT VC, as her council handed it to her
    suspended_credential: str
    kafka: KafkaSettings
    watched_digests: tuple[str, ...]

    def suspend_watched_nurse(self) -> None:
        """Her council suspends WATCHED_NURSE: a newer version, same digests, on the registry's topic."""
        suspended = build_attestation(nurse("30003", status=common_pb2.CREDENTIAL_STATUS_SUSPENDED,
                                            status_reason="INTERIM_ORDER"), now=T0 + dt.timedelta(days=1))
        envelope = sign_attestation_v2(attestation_v2_of(suspended, self.watched_digests), signer=KE_KEY)
        publisher = ConfirmingProducer(self.kafka, client_id="test")
        try:
            [delivery] = publisher.publish([OutgoingRecord(self.kafka.topics.attestations, WATCHED_NURSE.encode(),
                                                           envelope.SerializeToString())])
        finally:
            publisher.close()
        assert delivery.confirmed, delivery.error

    def presentation(self, credential: str | None = None, disclose: tuple[str, ...] = EVERYTHING) -> str:
        return present(credential or self.credential, disclose=disclose, now=dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class _Held:
    registry: Registry
    target: str
    kafka: KafkaSettings
    credential: str
    suspended_credential: str
    watched_digests: tuple[str, ...]


def _registry_with_nurses(bootstrap: str, work: Path) -> _Held:
    work.mkdir()
    registry, kafka = start_registry(bootstrap, work)
    active, credential, _ = issue(build_attestation(nurse("30001"), now=T0))
    suspended, suspended_credential, _ = issue(build_attestation(nurse(
        "30002", status=common_pb2.CREDENTIAL_STATUS_SUSPENDED, status_reason="INTERIM_ORDER"), now=T0), salts=100)
    watched, _, watched_digests = issue(build_attestation(nurse("30003"), now=T0), salts=200)
    publisher = ConfirmingProducer(kafka, client_id="test")
    try:
        deliveries = publisher.publish([
            OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", signed_record_bytes(kenya_record())),
            OutgoingRecord(kafka.topics.attestations, NURSE.encode(), active),
            OutgoingRecord(kafka.topics.attestations, SUSPENDED_NURSE.encode(), suspended),
            OutgoingRecord(kafka.topics.attestations, WATCHED_NURSE.encode(), watched)])
    finally:
        publisher.close()
    assert all(d.confirmed for d in deliveries)
    registry.start()
    target = "127.0.0.1:%d" % registry.port
    wait_for("the registry to report SERVING",
             lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
    with grpc.insecure_channel(target) as channel:
        stub = registry_pb2_grpc.RegistryServiceStub(channel)
        for credential_id in (NURSE, SUSPENDED_NURSE, WATCHED_NURSE):
            wait_for("%s to be ingested" % credential_id, lambda cid=credential_id: stub.Verify(  # type: ignore[misc]
                registry_pb2.VerifyRequest(credential_id=cid), timeout=5).current_version or None, timeout=30)
    return _Held(registry, target, kafka, credential, suspended_credential, watched_digests)


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
    (work / "issuer").mkdir(parents=True)
    issuer, issuer_target = _issuer_service(bootstrap, work / "issuer", topics)
    registry: Registry | None = None
    web: WebServer | None = None
    try:
        held = _registry_with_nurses(bootstrap, work / "registry")
        registry = held.registry
        web = start_web(registries={"GB": held.target}, issuers={"KE-NCK": issuer_target}, db_path=work / "web.db")
        add_accounts(web.deps.store)
        yield WebStack(web, held.target, issuer_target, topics, bootstrap, held.credential,
                       held.suspended_credential, held.kafka, held.watched_digests)
    finally:
        if web is not None:
            web.stop()
        if registry is not None:
            registry.stop(grace=2)
        issuer.stop()
