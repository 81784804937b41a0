"""`credverify web`: an administrator creates accounts; serve refuses settings that cannot be safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from credverify.cli import main
from credverify.web.adapters.sqlite_store import SqliteWebStore


def test_an_administrator_creates_a_case_officer_and_a_registrar(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "password"
    secret.write_text("a long enough password\n")
    db = tmp_path / "web.db"
    assert main(["web", "add-account", "--db", str(db), "--username", "A.Mensah", "--country", "gb",
                 "--password-file", str(secret)]) == 0
    assert main(["web", "add-account", "--db", str(db), "--username", "j.kariuki", "--issuer-id", "KE-NCK",
                 "--password-file", str(secret)]) == 0
    assert "account a.mensah created: case-officer of GB" in capsys.readouterr().out
    store = SqliteWebStore(db)
    officer, registrar = store.account("a.mensah"), store.account("j.kariuki")
    store.close()
    assert officer is not None and officer.account.scope == "GB" and officer.password_hash.startswith("$argon2id$")
    assert registrar is not None and registrar.account.role.value == "registrar"


@pytest.mark.parametrize(("args", "says"), [
    (["--username", "x.y", "--country", "GBR"], "expected an ISO 3166-1 alpha-2 code"),
    (["--username", "x.y", "--issuer-id", "kenya"], "expected an issuer id such as KE-NCK"),
    (["--username", "a.mensah", "--country", "GB"], "exists already"),
])
def test_bad_accounts_are_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str], says: str) -> None:
    secret = tmp_path / "password"
    secret.write_text("a long enough password")
    base = ["web", "add-account", "--db", str(tmp_path / "web.db"), "--password-file", str(secret)]
    main(base + ["--username", "a.mensah", "--country", "GB"])
    capsys.readouterr()
    assert main(base + args) == 2
    assert says in capsys.readouterr().err


def test_a_short_password_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "password"
    secret.write_text("short")
    assert main(["web", "add-account", "--db", str(tmp_path / "web.db"), "--username", "a.b", "--country", "GB",
                 "--password-file", str(secret)]) == 2
    assert "password: expected 12 to 256 characters" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "says"), [
    (["--listen", "0.0.0.0:8080", "--registry", "GB=127.0.0.1:50051", "--grpc-plaintext-for-local-use"],
     "plain HTTP is served only on a loopback address"),
    (["--grpc-plaintext-for-local-use"], "no service to talk to"),
    (["--registry", "GB", "--grpc-plaintext-for-local-use"], "expected KEY=host:port"),
    (["--registry", "GB=127.0.0.1:50051"], "no transport security"),
])
def test_serve_refuses_settings_that_cannot_work_safely(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                        says: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["web", "serve", *args]) == 2
    assert says in capsys.readouterr().err


def test_an_account_for_single_sign_on_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "web.db"
    assert main(["web", "add-account", "--db", str(db), "--username", "a.mensah", "--country", "GB",
                 "--sso-issuer", "https://login.nmc.example/realm/", "--sso-subject", "ama@nmc", "--no-password"]) == 0
    store = SqliteWebStore(db)
    assert store.username_of_sso("https://login.nmc.example/realm", "ama@nmc") == "a.mensah"
    store.close()
    assert main(["web", "add-account", "--db", str(db), "--username", "b.b", "--country", "GB", "--no-password"]) == 2
    assert "--no-password needs them" in capsys.readouterr().err


def test_single_sign_on_needs_https_except_on_this_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["web", "serve", "--registry", "GB=127.0.0.1:50051", "--grpc-plaintext-for-local-use"]
    assert main([*base, "--oidc-issuer", "http://login.nmc.example/realm", "--oidc-client-id", "web"]) == 2
    assert "expected an https:// URL" in capsys.readouterr().err
    assert main([*base, "--oidc-issuer", "https://login.nmc.example/realm"]) == 2
    assert "needs both --oidc-issuer and --oidc-client-id" in capsys.readouterr().err
