"""When a service says SERVING, and how its settings are read: the issuer's health needs a key that may
sign, a ledger that answers and a broker that answers; both services choose their transport the
same way, from the command line over the environment."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from credverify.core.adapters.grpc_security import ServerTls
from credverify.core.adapters.grpc_server_kit import ServerSettings, first_failure
from credverify.core.errors import ConfigurationError, HubUnavailable
from credverify.issuer.bootstrap import IssuerServiceSettings, health_checks


def answers() -> object:
    return object()


def fails(error: Exception) -> object:
    def check() -> object:
        raise error
    return check


def issuer(*, signer: object = answers, counts: object = answers) -> object:
    return SimpleNamespace(signer=signer, ledger=SimpleNamespace(counts=counts))


def test_the_issuer_serves_only_while_a_key_may_sign_the_ledger_and_the_broker_answer() -> None:
    hub_down = fails(HubUnavailable("reading the partitions: Kafka at 127.0.0.1:1 did not answer"))
    assert first_failure(health_checks(issuer(), hub=answers)) is None  # type: ignore[arg-type]
    assert first_failure(health_checks(issuer(), hub=hub_down)) == "hub"  # type: ignore[arg-type]
    assert first_failure(health_checks(  # type: ignore[arg-type]
        issuer(signer=fails(ConfigurationError("no key may sign now"))), hub=answers)) == "no key may sign"
    assert first_failure(health_checks(  # type: ignore[arg-type]
        issuer(counts=fails(OSError("disk gone"))), hub=answers)) == "ledger"


def test_a_check_that_says_false_is_a_failure_too() -> None:
    assert first_failure({"ingest": lambda: True, "catching up": lambda: False}) == "catching up"


def serve_args(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = dict(key=Path("ke.key"), keyring=None, root_public_key=[], issuer_id="KE-NCK",
                                       jurisdiction="KE", passphrase_file=None, prompt_passphrase=False,
                                       bootstrap=None, ledger=None, listen=None, tls_cert=None, tls_key=None,
                                       tls_client_ca=None, plaintext_for_local_use=False, metrics_listen=None,
                                       log_format="json")
    defaults.update(values)
    return argparse.Namespace(**defaults)


def test_issuer_settings_take_the_command_line_over_the_environment() -> None:
    env = {"CREDVERIFY_ISSUER_LISTEN": "0.0.0.0:7000", "CREDVERIFY_ISSUER_PLAINTEXT_FOR_LOCAL_USE": "1",
           "CREDVERIFY_ISSUER_METRICS_LISTEN": "127.0.0.1:9464", "CREDVERIFY_ISSUER_LEDGER": "env.db"}
    settings = IssuerServiceSettings.from_env(serve_args(listen="127.0.0.1:7001"), env)
    assert settings.server == ServerSettings(listen="127.0.0.1:7001", tls=None, metrics_listen="127.0.0.1:9464")
    assert settings.issuer.ledger_path == Path("env.db") and settings.issuer.issuer_id == "KE-NCK"


def test_an_issuer_without_tls_or_the_plaintext_flag_does_not_start() -> None:
    with pytest.raises(ConfigurationError, match="--plaintext-for-local-use"):
        IssuerServiceSettings.from_env(serve_args(), {})
    with pytest.raises(ConfigurationError, match="contradicts"):
        IssuerServiceSettings.from_env(serve_args(tls_cert=Path("s.crt"), tls_key=Path("s.key"),
                                                  plaintext_for_local_use=True), {})
    tls = IssuerServiceSettings.from_env(serve_args(tls_cert=Path("s.crt"), tls_key=Path("s.key")), {}).server.tls
    assert tls == ServerTls(Path("s.crt"), Path("s.key"), None)
