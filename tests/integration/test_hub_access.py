"""The closed hub on the real broker: who is refused, who may do what, and that revoking really closes.

Principals are made with the operator's own commands (`credverify trust register-issuer`, `grant`,
`revoke-access`) and then used as their holder would use them: through core's Kafka adapters, with the
credentials file the operator handed over. Council ids are unique per test: principals are hub-wide.
"""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from credverify.core.adapters.kafka import ConfirmingProducer, client_config, new_admin, partitions_of
from credverify.core.errors import HubUnavailable
from credverify.core.publishing import OutgoingRecord
from credverify.core.settings import KafkaSecurity, KafkaSettings
from credverify.core.topics import Topics
from credverify.federation.access import flows_app_id
from credverify.localrun import cli_env, run_cli


def _council_id() -> str:
    return "ZZ-T%s" % uuid.uuid4().hex[:8].upper()


def _security_from(path: Path) -> KafkaSecurity:
    env = dict(line.split("=", 1) for line in path.read_text().splitlines() if line)
    return KafkaSecurity.from_env(env)


class Hub:
    """The operator's commands against this test's topics, run as the real CLI."""

    def __init__(self, work: Path, bootstrap: str, topics: Topics) -> None:
        self.work, self.topics, self.bootstrap = work, topics, bootstrap
        self.env = cli_env(bootstrap, topics.prefix)
        self.kafka = KafkaSettings(bootstrap, topics)
        run_cli(["trust", "init-root", "--key", "root.key"], env=self.env, cwd=work)

    def cli(self, *args: str, check: bool = True) -> str:
        result = run_cli(list(args), env=self.env, cwd=self.work, check=check)
        return result.stdout + result.stderr

    def register(self, issuer_id: str, *, check: bool = True) -> str:
        key = "%s.key" % issuer_id.lower()
        if not (self.work / key).exists():
            self.cli("issuer", "keygen", "--key", key)
        return self.cli("trust", "register-issuer", "--root-key", "root.key", "--issuer-id", issuer_id,
                        "--country", issuer_id[:2] if issuer_id[:2] != "ZZ" else "KE", "--name", "Council " + issuer_id,
                        "--kinds", "LICENCE", "--isco", "2221", "--issuer-public-key", "%s.pub.pem" % issuer_id.lower(),
                        "--hub-credentials-out", "%s.kafka.env" % issuer_id.lower(), check=check)

    def as_(self, name: str) -> KafkaSettings:
        return self.kafka.with_security(_security_from(self.work / ("%s.kafka.env" % name.lower())))


@pytest.fixture
def hub(tmp_path: Path, kafka_bootstrap: str, topics: Topics) -> Hub:
    return Hub(tmp_path, kafka_bootstrap, topics)


def _send(kafka: KafkaSettings, topic: str) -> str | None:
    """Publish one record as ``kafka``'s principal; return the delivery error (None when confirmed)."""
    producer = ConfirmingProducer(kafka, client_id="hub-access-test")
    try:
        return producer.publish([OutgoingRecord(topic, b"KE-NCK/1001", b"tombstone or garbage", None)],
                                timeout_s=20)[0].error
    finally:
        producer.close()


def test_a_client_without_credentials_gets_no_answer_from_the_hub(hub: Hub) -> None:
    stranger = hub.kafka.with_security(KafkaSecurity())  # PLAINTEXT against the SASL listener
    with pytest.raises(HubUnavailable, match="did not answer"):
        new_admin(stranger).close()


def test_a_wrong_password_is_refused(hub: Hub) -> None:
    impostor = hub.kafka.with_security(KafkaSecurity.sasl("credverify-operator", "not the password"))
    with pytest.raises(HubUnavailable, match="(?i)authentication|did not answer"):
        new_admin(impostor).close()


def test_register_issuer_hands_over_a_credential_file_and_never_prints_the_password(hub: Hub) -> None:
    council = _council_id()
    out = hub.register(council)
    env_file = hub.work / ("%s.kafka.env" % council.lower())
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    security = _security_from(env_file)
    assert (security.protocol, security.sasl_mechanism, security.username) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-512", council)
    assert security.password and security.password not in out
    assert "User:%s" % council in out


def test_a_council_writes_its_own_submission_topic_and_nothing_else(hub: Hub) -> None:
    kenya, romania = _council_id(), _council_id()
    hub.register(kenya)
    hub.register(romania)
    as_kenya = hub.as_(kenya)
    assert _send(as_kenya, hub.topics.submissions(kenya)) is None
    for topic in (hub.topics.submissions(romania), hub.topics.attestations, hub.topics.trust_list):
        error = _send(as_kenya, topic)
        assert error is not None and "Authorization" in error, "%s wrote %s: %s" % (kenya, topic, error)


def test_registering_an_issuer_twice_is_refused_and_keeps_its_record(hub: Hub) -> None:
    council = _council_id()
    hub.register(council)
    (hub.work / ("%s.kafka.env" % council.lower())).unlink()
    again = hub.register(council, check=False)
    assert "on the trust list already" in again, again
    shown = hub.cli("trust", "show", "--root-public-key", "root.pub.pem", "--issuer-id", council)
    assert shown.count('"keyid"') == 1


def test_a_registry_reads_attestations_but_cannot_write_them_or_the_trust_list(hub: Hub) -> None:
    hub.cli("trust", "grant", "--role", "registry", "--name", "registry-GB",
            "--hub-credentials-out", "registry-gb.kafka.env")
    as_registry = hub.as_("registry-GB")
    assert partitions_of(as_registry, hub.topics.attestations), "the registry cannot see the attestations"
    assert _send(as_registry, hub.topics.verified_moves) is None
    for topic in (hub.topics.attestations, hub.topics.trust_list):
        error = _send(as_registry, topic)
        assert error is not None and "Authorization" in error, "registry wrote %s: %s" % (topic, error)


def test_the_flows_worker_may_create_its_topics_and_join_its_group_and_nothing_more(hub: Hub) -> None:
    from kafka.errors import TopicAuthorizationFailedError

    hub.cli("trust", "grant", "--role", "flows", "--hub-credentials-out", "credverify-flows.kafka.env")
    as_flows = hub.as_("credverify-flows")
    app = flows_app_id(hub.topics)
    admin = new_admin(as_flows)
    try:
        # What Faust does at start: create its internal topics, under its app id.
        admin.create_topics({app + "-counted-changelog": {"num_partitions": 3, "replication_factor": -1}})
        with pytest.raises(TopicAuthorizationFailedError):
            admin.create_topics({hub.topics.prefix + "elsewhere": {"num_partitions": 1, "replication_factor": -1}})
    finally:
        admin.close()
    # ... and join its consumer group on the verified moves.
    config = client_config(as_flows, "hub-access-flows")
    consumer = KafkaConsumer(hub.topics.verified_moves, group_id=app, auto_offset_reset="earliest", **config)
    try:
        for _ in range(40):
            consumer.poll(timeout_ms=500)
            if consumer.assignment():
                break
        assert consumer.assignment(), "the flows worker never joined its group"
    finally:
        consumer.close()
    assert _send(as_flows, hub.topics.flow_statistics) is None
    error = _send(as_flows, hub.topics.verified_moves)
    assert error is not None and "Authorization" in error


def test_revoking_access_closes_the_hub_to_that_principal_at_once(hub: Hub) -> None:
    council = _council_id()
    hub.register(council)
    as_council = hub.as_(council)
    producer = ConfirmingProducer(as_council, client_id="hub-access-revoked")
    own = hub.topics.submissions(council)
    try:
        assert producer.publish_one(OutgoingRecord(own, b"k", b"before", None)).confirmed
        out = hub.cli("trust", "revoke-access", "--issuer-id", council)
        assert "credential removed" in out, out
        # The connection it opened before is still up, but every request is checked against ACLs.
        late = producer.publish([OutgoingRecord(own, b"k", b"after", None)], timeout_s=20)[0]
        assert not late.confirmed and "Authorization" in (late.error or "")
    finally:
        producer.close()
    with pytest.raises(HubUnavailable):  # and a new connection no longer authenticates
        new_admin(as_council).close()
