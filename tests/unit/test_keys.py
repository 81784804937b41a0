"""Key files: encrypted at rest, 0600, passphrase from a file, a prompt or the environment."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from credverify.cli import EXIT_OK, EXIT_USAGE, main
from credverify.core.envelope import keyid_of
from credverify.core.errors import ConfigurationError, InvalidInput
from credverify.core.keys import generate_key_file, load_signer, public_jwk
from credverify.core.settings import read_passphrase


def test_a_key_is_never_written_in_the_clear_unless_asked_for(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDVERIFY_KEY_PASSPHRASE", raising=False)
    with pytest.raises(InvalidInput, match="no passphrase.*--unencrypted"):
        generate_key_file(tmp_path / "ke.key", passphrase=read_passphrase())
    assert not (tmp_path / "ke.key").exists()
    generate_key_file(tmp_path / "throwaway.key", passphrase=None, unencrypted=True)
    assert b"ENCRYPTED" not in (tmp_path / "throwaway.key").read_bytes()


def test_a_passphrase_file_encrypts_the_key_and_only_it_opens_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDVERIFY_KEY_PASSPHRASE", raising=False)
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    assert main(["issuer", "keygen", "--key", str(tmp_path / "ke.key"), "--passphrase-file", str(secret)]) == EXIT_OK
    key_file = tmp_path / "ke.key"
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    signer = load_signer(key_file, passphrase=read_passphrase(file=secret))
    with pytest.raises(ConfigurationError, match="wrong or missing passphrase"):
        load_signer(key_file, passphrase=b"not the passphrase at all")
    monkeypatch.setenv("CREDVERIFY_KEY_PASSPHRASE_FILE", str(secret))
    assert load_signer(key_file, passphrase=read_passphrase()).keyid == signer.keyid


def test_a_short_passphrase_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CREDVERIFY_KEY_PASSPHRASE", "1234")
    assert main(["trust", "init-root", "--key", str(tmp_path / "root.key")]) == EXIT_USAGE
    assert "passphrase: expected at least 12 characters, found 4" in capsys.readouterr().err


def test_the_jwk_is_rfc_8037_and_names_the_keyid(tmp_path: Path) -> None:
    signer = generate_key_file(tmp_path / "ke.key", passphrase=b"a passphrase for this test only")
    jwk = public_jwk(signer.private_key.public_key())
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    assert (jwk["kty"], jwk["crv"], len(raw)) == ("OKP", "Ed25519", 32)
    assert jwk["kid"] == keyid_of(raw) == signer.keyid
