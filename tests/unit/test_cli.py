"""The command line refuses bad input with exit code 2 and a message naming the field, before any
network traffic (the bootstrap address here is a closed port)."""

from __future__ import annotations

from pathlib import Path

import pytest

from credverify.cli import EXIT_USAGE, main


@pytest.fixture
def issuer_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["issuer", "keygen", "--key", "ke.key"]) == 0
    return tmp_path / "ke.key"


BASE = ["issuer", "issue", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE", "--number", "1",
        "--practitioner-number", "NCK-1", "--family-name", "Wanjiru", "--dob", "1992-03-14", "--trained-in", "KE",
        "--isco", "2221"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("--trained-in", "Kenya"), "country_of_training"),
        (("--isco", "1234"), "profession_isco"),
        (("--dob", "14/03/1992"), "dob"),
        (("--kind", "CERTIFICATE"), "kind"),
        (("--status", "GONE"), "status"),
    ],
)
def test_issue_refuses_bad_input_naming_the_field(
    issuer_key: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], named: str
) -> None:
    args = list(BASE)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    assert main(args) == EXIT_USAGE
    assert named in capsys.readouterr().err


def test_keygen_writes_a_private_key_only_its_owner_can_read(issuer_key: Path) -> None:
    assert issuer_key.stat().st_mode & 0o777 == 0o600
    assert (issuer_key.parent / "ke.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keygen_never_overwrites_a_key(issuer_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = issuer_key.read_bytes()
    assert main(["issuer", "keygen", "--key", str(issuer_key)]) == EXIT_USAGE
    assert "exists already" in capsys.readouterr().err
    assert issuer_key.read_bytes() == before


def test_registry_refuses_to_start_without_a_root_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDVERIFY_ROOT_KEYS", raising=False)
    assert main(["registry", "serve", "--country", "GB", "--db", str(tmp_path / "r.db")]) == EXIT_USAGE
    assert "root key" in capsys.readouterr().err
