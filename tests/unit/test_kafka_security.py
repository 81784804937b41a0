"""How a client authenticates to the hub: read from the environment in Kafka's own names, refused when
the combination cannot work or would send a password in clear, and the same for every client library."""

from __future__ import annotations

from pathlib import Path

import pytest

from credverify.core.adapters.kafka import client_config, faust_broker_config
from credverify.core.errors import ConfigurationError
from credverify.core.settings import KafkaSecurity, KafkaSettings
from credverify.core.topics import Topics

COUNCIL = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
           "KAFKA_SASL_USERNAME": "KE-NCK", "KAFKA_SASL_PASSWORD": "a long random password"}


def test_a_council_s_credentials_file_is_read_as_kafka_names_it() -> None:
    security = KafkaSecurity.from_env(COUNCIL)
    assert (security.protocol, security.sasl_mechanism, security.username) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-512", "KE-NCK")
    assert KafkaSecurity.from_env(security.as_env()) == security
    assert "a long random password" not in repr(security)


def test_the_password_may_come_from_a_mounted_secret(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from a secret store\n")
    env = {k: v for k, v in COUNCIL.items() if k != "KAFKA_SASL_PASSWORD"} | {"KAFKA_SASL_PASSWORD_FILE": str(secret)}
    assert KafkaSecurity.from_env(env).password == "from a secret store"


def test_nothing_configured_means_plaintext_and_no_credentials() -> None:
    assert KafkaSecurity.from_env({}) == KafkaSecurity()


@pytest.mark.parametrize(("env", "message"), [
    ({**COUNCIL, "KAFKA_SASL_PASSWORD": ""}, "SASL_PLAINTEXT needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ({**COUNCIL, "KAFKA_SASL_MECHANISM": "PLAIN"}, "PLAIN sends the password in clear"),
    ({**COUNCIL, "KAFKA_SASL_MECHANISM": "GSSAPI"}, "expected one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_TLS"}, "expected one of PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "client.pem"}, "a client certificate needs its key"),
    ({"KAFKA_SSL_CERTFILE": "c.pem", "KAFKA_SSL_KEYFILE": "c.key"}, "a client certificate needs SSL or SASL_SSL"),
])
def test_a_combination_that_cannot_work_is_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KafkaSecurity.from_env(env)


def test_every_kafka_python_client_authenticates_with_the_same_settings() -> None:
    kafka = KafkaSettings("127.0.0.1:9092", Topics(), security=KafkaSecurity.from_env(COUNCIL))
    config = client_config(kafka, "credverify-issuer")
    assert {k: config[k] for k in ("security_protocol", "sasl_mechanism", "sasl_plain_username")} == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "KE-NCK"}
    assert config["sasl_plain_password"] == "a long random password"


def test_the_flows_worker_s_faust_app_authenticates_the_same_way() -> None:
    kafka = KafkaSettings("b1:9092,b2:9092", Topics(), security=KafkaSecurity.from_env(COUNCIL))
    config = faust_broker_config(kafka)
    assert config["broker"] == "kafka://b1:9092;kafka://b2:9092"
    credentials = config["broker_credentials"]
    assert (credentials.username, credentials.mechanism.value, credentials.protocol.value) == (
        "KE-NCK", "SCRAM-SHA-512", "SASL_PLAINTEXT")
