"""Who may call an issuer is configured explicitly, as for a registry: mutual TLS with an allow-list of
the council's own systems and their roles, or plaintext on a loopback address only. Mistakes stop the
issuer at start-up; a caller without the role an RPC needs is refused before anything runs."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest

from credverify.cli import EXIT_USAGE, main
from credverify.core.adapters.grpc_security import (
    AllowList,
    Caller,
    UnauthenticatedLocalAccess,
    admit,
    require_loopback,
)
from credverify.core.errors import AccessDenied, ConfigurationError
from credverify.issuer.adapters.grpc_server import READER, ROLE_OF_RPC, ROLES
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.bootstrap import IssuerServiceSettings
from credverify.v1 import issuer_pb2

COUNCIL_SYSTEMS = """
[[caller]]
id = "KE-NCK-PORTAL"
name = "the council's public look-up"
roles = ["reader"]

[[caller]]
id = "KE-NCK-REGISTER"
name = "the council's register system"
roles = ["reader", "issuer"]

[[caller]]
id = "KE-NCK-KEYS"
name = "the key custodian's workstation"
roles = ["key-admin"]
"""


class CallContext:
    def __init__(self, auth: dict[str, list[bytes]]) -> None:
        self._auth = auth

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth


def certificate_of(identity: str) -> CallContext:
    return CallContext({"peer_uri": [b"urn:credverify:regulator:" + identity.encode()],
                        "x509_common_name": [b"whatever"]})


def serve_args(**values: object) -> argparse.Namespace:
    defaults: dict[str, object] = dict(key=Path("ke.key"), keyring=None, root_public_key=[], issuer_id="KE-NCK",
                                       jurisdiction="KE", passphrase_file=None, prompt_passphrase=False,
                                       bootstrap=None, ledger=None, listen=None, tls_cert=None, tls_key=None,
                                       tls_client_ca=None, allow_list=None, plaintext_for_local_use=False,
                                       metrics_listen=None, log_format="json")
    defaults.update(values)
    return argparse.Namespace(**defaults)


def test_every_rpc_of_the_issuer_service_needs_a_named_role() -> None:
    methods = {m.name for m in issuer_pb2.DESCRIPTOR.services_by_name["IssuerService"].methods}
    assert set(ROLE_OF_RPC) == methods, "an RPC without a role would be served to no one, or to anyone"
    assert ROLES == {"reader", "issuer", "key-admin"}


def test_the_allow_list_gives_each_council_system_only_its_roles(tmp_path: Path) -> None:
    path = tmp_path / "issuer-allow.toml"
    path.write_text(COUNCIL_SYSTEMS)
    allowed = AllowList.from_file(path, roles=ROLES)
    portal = certificate_of("KE-NCK-PORTAL")
    assert admit(allowed, portal, READER).id == "KE-NCK-PORTAL"  # type: ignore[arg-type]
    for rpc in ("Issue", "ChangeStatus", "RotateKey", "ReportCompromise"):
        with pytest.raises(AccessDenied, match="does not hold the %s role" % ROLE_OF_RPC[rpc]):
            admit(allowed, portal, ROLE_OF_RPC[rpc])  # type: ignore[arg-type]
    assert allowed.callers["KE-NCK-REGISTER"].roles == {"reader", "issuer"}
    with pytest.raises(AccessDenied, match="does not hold the key-admin role"):
        admit(allowed, certificate_of("KE-NCK-REGISTER"), "key-admin")  # type: ignore[arg-type]
    with pytest.raises(AccessDenied, match="not on this service's allow-list"):
        admit(allowed, certificate_of("UG-UNMC"), READER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[caller]]\nid = "KE-NCK-PORTAL"\n', "roles: expected a list"),
        ('[[caller]]\nid = "KE-NCK-PORTAL"\nroles = []\n', "roles: expected a list"),
        ('[[caller]]\nid = "KE-NCK-PORTAL"\nroles = ["admin"]\n', "found admin"),
        ('[[caller]]\nid = "KE-NCK-PORTAL"\ncountry = "XX"\nroles = ["reader"]\n', "ISO 3166-1"),
    ],
)
def test_a_faulty_issuer_allow_list_stops_the_issuer_at_start_up(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "allow.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=complaint):
        AllowList.from_file(path, roles=ROLES)


def test_a_registry_allow_list_has_no_roles(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text('[[caller]]\nid = "GB-NMC"\ncountry = "GB"\nroles = ["reader"]\n')
    with pytest.raises(ConfigurationError, match="this service has none"):
        AllowList.from_file(path)
    assert AllowList.from_file(path, roles=ROLES).callers["GB-NMC"] == Caller("GB-NMC", "GB", "", frozenset({READER}))


@pytest.mark.parametrize("listen", ["0.0.0.0:50061", "[::]:50061", ":50061", "192.168.1.20:50061",
                                    "issuer.example:50061"])
def test_plaintext_on_an_address_other_machines_reach_is_refused(listen: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback address"):
        require_loopback(listen)
    settings = IssuerServiceSettings.from_env(serve_args(listen=listen, plaintext_for_local_use=True), {})
    with pytest.raises(ConfigurationError, match="--listen %s" % listen.replace("[", r"\[").replace("]", r"\]")):
        settings.access_policy()


@pytest.mark.parametrize("listen", ["127.0.0.1:50061", "127.0.0.2:0", "[::1]:50061", "localhost:50061",
                                    "unix:/tmp/issuer.sock"])
def test_plaintext_on_loopback_admits_local_callers_with_every_role(listen: str) -> None:
    settings = IssuerServiceSettings.from_env(serve_args(listen=listen, plaintext_for_local_use=True), {})
    access = settings.access_policy()
    assert isinstance(access, UnauthenticatedLocalAccess)
    assert access.caller(CallContext({})).roles == ROLES  # type: ignore[arg-type]


def test_an_issuer_over_tls_needs_a_client_ca_and_an_allow_list() -> None:
    for missing in (dict(tls_client_ca=Path("ca.pem")), dict(allow_list=Path("allow.toml"))):
        settings = IssuerServiceSettings.from_env(
            serve_args(tls_cert=Path("s.crt"), tls_key=Path("s.key"), **missing), {})
        with pytest.raises(ConfigurationError, match="--tls-client-ca and --allow-list"):
            settings.access_policy()


def test_issuer_serve_in_plaintext_on_all_addresses_stops_at_start_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDVERIFY_ISSUER_LISTEN", raising=False)
    assert main(["issuer", "serve", "--key", str(tmp_path / "ke.key"), "--issuer-id", "KE-NCK", "--jurisdiction",
                 "KE", "--ledger", str(tmp_path / "l.db"), "--listen", "0.0.0.0:50061",
                 "--plaintext-for-local-use"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "loopback address" in err and "0.0.0.0:50061" in err
    assert not (tmp_path / "l.db").exists(), "nothing was opened before the refusal"


def test_the_issuer_ledger_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        ledger = SqliteIssuedLedger(tmp_path / "ledger.db")
        ledger.counts()
        ledger.close()
        (tmp_path / "old.db").write_bytes(b"")
        (tmp_path / "old.db").chmod(0o644)
        SqliteIssuedLedger(tmp_path / "old.db").close()
    finally:
        os.umask(old_umask)
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "old.db"):
        if (tmp_path / name).exists():
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
