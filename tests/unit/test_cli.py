"""The command line refuses bad input with exit code 2 and a message naming the field, before any
network traffic (the bootstrap address here is a closed port)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from credverify.cli import EXIT_USAGE, main
from credverify.core.errors import InvalidInput
from credverify.issuer.cli import read_subject


@pytest.fixture
def issuer_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["issuer", "keygen", "--key", "ke.key"]) == 0
    return tmp_path / "ke.key"


BASE = ["issuer", "issue", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE", "--number", "1",
        "--subject-file", "subject.json", "--isco", "2221"]
SUBJECT = {"practitioner_number": "NCK-1", "family_name": "Wanjiru", "given_names": "Grace Akinyi",
           "date_of_birth": "1992-03-14", "country_of_training": "KE"}


def write_subject(where: Path, **changes: str) -> None:
    (where / "subject.json").write_text(json.dumps({**SUBJECT, **changes}))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("--isco", "1234"), "profession_isco"),
        (("--kind", "CERTIFICATE"), "kind"),
        (("--status", "GONE"), "status"),
    ],
)
def test_issue_refuses_bad_input_naming_the_field(
    issuer_key: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], named: str
) -> None:
    write_subject(issuer_key.parent)
    args = list(BASE)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    assert main(args) == EXIT_USAGE
    assert named in capsys.readouterr().err


@pytest.mark.parametrize(
    ("subject", "named"),
    [
        ({"country_of_training": "Kenya"}, "country_of_training"),
        ({"date_of_birth": "14/03/1992"}, "date_of_birth"),
        ({"family_name": ""}, "missing: family_name"),
        ({"maiden_name": "Otieno"}, "unknown: maiden_name"),
    ],
)
def test_a_bad_subject_file_is_refused_naming_the_field_but_never_its_value(
    issuer_key: Path, capsys: pytest.CaptureFixture[str], subject: dict[str, str], named: str
) -> None:
    write_subject(issuer_key.parent, **subject)
    assert main(BASE) == EXIT_USAGE
    err = capsys.readouterr().err
    assert named in err
    for value in [*SUBJECT.values(), *subject.values()]:
        if len(value) > 2:  # a country code may appear in a message about country codes
            assert value not in err, "the error shows personal data: %s" % err


@pytest.mark.parametrize("flag", ["--family-name", "--dob", "--practitioner-number", "--given-names", "--trained-in"])
def test_personal_data_on_the_command_line_is_refused_with_where_to_put_it(
    issuer_key: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    write_subject(issuer_key.parent)
    assert main([*BASE, flag, "Wanjiru"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert flag in err and "--subject-file" in err and "/proc" in err


def test_the_subject_is_read_from_json_or_key_value_lines() -> None:
    lines = "# one practitioner\n" + "".join("%s = %s\n" % item for item in SUBJECT.items())
    assert read_subject(lines) == read_subject(json.dumps(SUBJECT)) == SUBJECT
    assert read_subject(json.dumps({k: v for k, v in SUBJECT.items() if k != "given_names"}))["given_names"] == ""
    with pytest.raises(InvalidInput, match="line 1: expected key=value"):
        read_subject("Wanjiru")

def test_the_subject_may_come_on_standard_input(issuer_key: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # The order gets past the subject to the next check (a profession that does not exist), so the
    # subject was read from standard input, and nothing reached the broker.
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(SUBJECT)))
    args = list(BASE)
    args[args.index("subject.json")] = "-"
    args[args.index("2221")] = "1234"
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "profession_isco" in err and "subject-file" not in err


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
