"""`credverify holder`: a practitioner presents her credential from a file, revealing only what she
chose, and nothing she did not choose ever reaches the screen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credverify.cli import main
from credverify.core import sdjwt
from credverify.core.keys import load_signer
from credverify.core.settings import read_passphrase
from tests.factories import KE_KEY
from tests.unit.test_sdjwt import credential

KEYS = {KE_KEY.keyid: KE_KEY.private_key.public_key()}


def verified(text: str, **kwargs: object) -> sdjwt.VerifiedPresentation:
    options: dict[str, object] = dict(keys_by_kid=KEYS, audience="registry-GB", nonce="n-1",
                                      now=dt.datetime.now(dt.UTC), max_age=dt.timedelta(minutes=5))
    options.update(kwargs)
    return sdjwt.verify_presentation(text.strip(), **options)  # type: ignore[arg-type]


@pytest.fixture
def credential_file(tmp_path: Path) -> Path:
    path = tmp_path / "grace.sd-jwt"
    path.write_text(credential().text + "\n")
    return path


def test_present_prints_only_the_chosen_claims(credential_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["holder", "present", "--credential", str(credential_file), "--disclose", "family_name"]) == 0
    out = capsys.readouterr()
    assert verified(out.out).disclosed == {"family_name": "Wanjiru"}
    for secret in ("Grace", "1992", "NCK-12345"):
        assert secret not in out.out + out.err and secret not in str(sdjwt.holder_claims(out.out.strip()))


def test_present_writes_a_private_file(credential_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "for-london.txt"
    assert main(["holder", "present", "--credential", str(credential_file), "--disclose",
                 "family_name,birth_date", "--output", str(output)]) == 0
    assert output.stat().st_mode & 0o777 == 0o600
    assert verified(output.read_text()).disclosed == {"family_name": "Wanjiru", "birth_date": "1992-03-14"}


def test_present_with_a_wallet_key_binds_to_audience_and_nonce(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "wallet.key"
    assert main(["holder", "keygen", "--key", str(key), "--unencrypted"]) == 0
    holder = load_signer(key, passphrase=read_passphrase()).private_key
    issued = sdjwt.issue_credential(
        sdjwt.content_of_attestation(_attestation()), signer=KE_KEY, now=dt.datetime.now(dt.UTC),
        random_bytes=lambda n: b"\x07" * n, holder_key=holder.public_key())
    path = tmp_path / "bound.sd-jwt"
    path.write_text(issued.text)
    capsys.readouterr()
    assert main(["holder", "present", "--credential", str(path), "--disclose", "given_names", "--holder-key",
                 str(key), "--audience", "registry-GB", "--nonce", "n-1"]) == 0
    result = verified(capsys.readouterr().out)
    assert result.key_bound and result.disclosed == {"given_names": "Grace Akinyi"}


def test_present_refuses_an_unknown_claim_with_a_usage_error(credential_file: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["holder", "present", "--credential", str(credential_file), "--disclose", "email"]) == 2
    err = capsys.readouterr().err
    assert "no claim email" in err and "Wanjiru" not in err


def test_present_refuses_a_file_that_is_not_a_credential(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("dear registrar")
    assert main(["holder", "present", "--credential", str(path)]) == 2
    assert "not an SD-JWT" in capsys.readouterr().err


def test_show_lists_claim_names_and_values_only_when_asked(credential_file: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["holder", "show", "--credential", str(credential_file)]) == 0
    names = capsys.readouterr().out
    assert "family_name (disclosable)" in names and "credential_id (in clear)" in names and "Wanjiru" not in names
    assert main(["holder", "show", "--credential", str(credential_file), "--values"]) == 0
    assert "family_name (disclosable): Wanjiru" in capsys.readouterr().out


def _attestation():  # type: ignore[no-untyped-def]
    from credverify.issuer.domain import build_attestation
    from tests.factories import T0, nurse

    return build_attestation(nurse(), now=T0)
