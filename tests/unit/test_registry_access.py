"""Who may call a registry is configured explicitly: mutual TLS with an allow-list, or plaintext only
when asked for by name. Mistakes in that configuration stop the registry at start-up."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

from credverify.cli import EXIT_USAGE, main
from credverify.core.adapters.grpc_security import (
    AllowList,
    Caller,
    ClientTls,
    ServerTls,
    UnauthenticatedLocalAccess,
    peer_identity,
)
from credverify.core.adapters.observability import JsonLogFormatter
from credverify.core.errors import AccessDenied, ConfigurationError
from credverify.registry.bootstrap import RegistrySettings
from tests.pki import TestCA

ONE_REGULATOR = '[[caller]]\nid = "GB-NMC"\ncountry = "GB"\nname = "Nursing and Midwifery Council"\n'


class CallContext:
    """Stands in for a gRPC ServicerContext: only the auth context gRPC's TLS layer fills in."""

    def __init__(self, auth: dict[str, list[bytes]]) -> None:
        self._auth = auth

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth


def serve_args(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = dict(root_key=["root.pub.pem"], country="GB", tls_cert=None, tls_key=None,
                                       tls_client_ca=None, allow_list=None, plaintext_for_local_use=False)
    defaults.update(values)
    return argparse.Namespace(**defaults)


@pytest.fixture(autouse=True)
def no_registry_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CREDVERIFY_REGISTRY_TLS_CERT", "CREDVERIFY_REGISTRY_TLS_KEY", "CREDVERIFY_REGISTRY_TLS_CLIENT_CA",
                 "CREDVERIFY_REGISTRY_ALLOW_LIST", "CREDVERIFY_REGISTRY_PLAINTEXT_FOR_LOCAL_USE"):
        monkeypatch.delenv(name, raising=False)


def test_an_allow_list_names_each_regulator_and_its_country(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text(ONE_REGULATOR)
    allowed = AllowList.from_file(path)
    assert allowed.callers == {"GB-NMC": Caller("GB-NMC", "GB", "Nursing and Midwifery Council")}
    uri = CallContext({"peer_uri": [b"urn:credverify:regulator:GB-NMC"], "x509_common_name": [b"nmc.example"]})
    assert allowed.caller(uri).country == "GB"  # type: ignore[arg-type]
    with pytest.raises(AccessDenied, match="not on this service's allow-list"):
        allowed.caller(CallContext({"peer_uri": [b"urn:credverify:regulator:XX-OTHER"]}))  # type: ignore[arg-type]
    with pytest.raises(AccessDenied, match="no client certificate"):
        allowed.caller(CallContext({}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "names no caller"),
        ("[[caller]]\nid = \"GB-NMC\"\ncountry = \"UK\"\n", "ISO 3166-1"),
        ("[[caller]]\ncountry = \"GB\"\n", "id"),
        (ONE_REGULATOR + ONE_REGULATOR, "twice"),
        ("[[caller]\n", "not valid TOML"),
    ],
)
def test_a_faulty_allow_list_stops_the_registry_at_start_up(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "allow.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=complaint):
        AllowList.from_file(path)


def test_identity_comes_from_the_one_regulator_uri_of_the_certificate() -> None:
    assert peer_identity(CallContext({  # type: ignore[arg-type]
        "peer_uri": [b"https://example.org/other", b"urn:credverify:regulator:CA-ON-CNO"],
        "x509_common_name": [b"cno"]})) == "CA-ON-CNO"
    assert peer_identity(CallContext({})) is None  # type: ignore[arg-type]


def test_a_certificate_whose_common_name_alone_says_gb_nmc_does_not_act_as_gb_nmc() -> None:
    # Any certificate from the CA could carry that common name (a web server's, a test machine's).
    for auth in ({"x509_common_name": [b"GB-NMC"]},
                 {"peer_uri": [b"https://example.org"], "x509_common_name": [b"GB-NMC"]},
                 {"peer_uri": [b"urn:credverify:regulator:"], "x509_common_name": [b"GB-NMC"]}):
        with pytest.raises(AccessDenied, match="expected a URI subject alternative name"):
            peer_identity(CallContext(auth))  # type: ignore[arg-type]


def test_a_certificate_naming_several_regulators_is_refused() -> None:
    two = CallContext({"peer_uri": [b"urn:credverify:regulator:GB-NMC", b"urn:credverify:regulator:GB-GMC"],
                       "x509_common_name": [b"both"]})
    with pytest.raises(AccessDenied, match="expected one urn:credverify:regulator:<ID> URI, found 2"):
        peer_identity(two)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (dict(ca=None, cert=Path("c.crt"), key=Path("c.key"), plaintext_for_local_use=False), "needs --ca-cert"),
        (dict(ca=None, cert=None, key=None, plaintext_for_local_use=False), "--plaintext-for-local-use"),
        (dict(ca=Path("ca.pem"), cert=None, key=None, plaintext_for_local_use=True), "contradicts"),
        (dict(ca=Path("ca.pem"), cert=Path("c.crt"), key=None, plaintext_for_local_use=False), "private key"),
    ],
)
def test_a_client_never_falls_back_to_plaintext_unasked(options: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        ClientTls.chosen(**options)  # type: ignore[arg-type]
    assert ClientTls.chosen(ca=None, cert=None, key=None, plaintext_for_local_use=True) is None
    assert ClientTls.chosen(ca=Path("ca.pem"), cert=None, key=None, plaintext_for_local_use=False) == ClientTls(
        Path("ca.pem"))


def test_verify_with_a_client_certificate_but_no_ca_exits_before_sending_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CREDVERIFY_GRPC_CA_CERT", "CREDVERIFY_GRPC_PLAINTEXT_FOR_LOCAL_USE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["registry", "verify", "KE-NCK/1", "--cert", "c.crt", "--key", "c.key", "--family-name", "Wanjiru",
                 "--target", "127.0.0.1:1"]) == EXIT_USAGE
    assert "needs --ca-cert" in capsys.readouterr().err


def test_plaintext_must_be_asked_for_by_name() -> None:
    with pytest.raises(ConfigurationError, match="no transport security"):
        RegistrySettings.from_env(serve_args())
    local = RegistrySettings.from_env(serve_args(plaintext_for_local_use=True))
    assert local.tls is None
    assert isinstance(local.access_policy(), UnauthenticatedLocalAccess)


def test_mutual_tls_needs_a_client_ca_and_an_allow_list(tmp_path: Path) -> None:
    settings = RegistrySettings.from_env(serve_args(tls_cert="s.crt", tls_key="s.key"))
    assert settings.tls == ServerTls(Path("s.crt"), Path("s.key"), None)
    with pytest.raises(ConfigurationError, match="client CA and an allow-list"):
        settings.access_policy()
    with pytest.raises(ConfigurationError, match="contradicts"):
        RegistrySettings.from_env(serve_args(tls_cert="s.crt", tls_key="s.key", plaintext_for_local_use=True))
    with pytest.raises(ConfigurationError, match="both --tls-cert and --tls-key"):
        RegistrySettings.from_env(serve_args(tls_cert="s.crt", tls_client_ca="ca.pem"))


def test_unusable_certificate_files_are_reported_by_name(tmp_path: Path) -> None:
    ca = TestCA.create("test CA")
    server = ca.issue_server(tmp_path / "server")
    (tmp_path / "not-a-cert.pem").write_text("hello")
    with pytest.raises(ConfigurationError, match="server certificate .*not-a-cert.pem"):
        ServerTls(tmp_path / "not-a-cert.pem", server.key).credentials()
    with pytest.raises(ConfigurationError, match="cannot read client CA"):
        ServerTls(server.cert, server.key, tmp_path / "missing.pem").credentials()
    with pytest.raises(ConfigurationError, match="private key"):
        ClientTls(ca.write(tmp_path / "ca.pem"), server.cert, None).credentials()
    ServerTls(server.cert, server.key, ca.write(tmp_path / "ca.pem")).credentials()  # the good set loads


def test_serve_without_tls_or_the_plaintext_flag_exits_with_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["registry", "serve", "--country", "GB", "--root-key", "root.pub.pem",
                 "--db", str(tmp_path / "r.db")]) == EXIT_USAGE
    assert "--plaintext-for-local-use" in capsys.readouterr().err


def test_log_lines_are_json_with_the_extra_fields() -> None:
    record = logging.makeLogRecord({"name": "credverify.registry", "levelname": "WARNING", "levelno": 30,
                                    "msg": "rejected %s", "args": ("KE-NCK/1",), "offset": 42})
    line = json.loads(JsonLogFormatter().format(record))
    assert line["message"] == "rejected KE-NCK/1" and line["offset"] == 42 and line["level"] == "WARNING"
