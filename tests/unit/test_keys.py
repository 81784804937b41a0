"""Key files: encrypted at rest with a memory-hard KDF and an authenticated cipher (docs/keys.md), 0600,
passphrase from a file, a prompt or the environment; older PKCS#8 key files still open."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.cli import EXIT_OK, EXIT_USAGE, main
from credverify.core.envelope import keyid_of
from credverify.core.errors import ConfigurationError, InvalidInput
from credverify.core.keys import (
    KEY_FILE_FORMAT,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    generate_key_file,
    load_signer,
    public_jwk,
    public_pem,
)
from credverify.core.settings import read_passphrase
from credverify.issuer.adapters.keyring import Keyring


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
    assert json.loads(key_file.read_bytes())["format"] == KEY_FILE_FORMAT
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


PASSPHRASE = b"a passphrase for this test only"


def test_a_stolen_key_file_costs_a_memory_hard_guess_per_passphrase(tmp_path: Path) -> None:
    signer = generate_key_file(tmp_path / "ke.key", passphrase=PASSPHRASE)
    document = json.loads((tmp_path / "ke.key").read_text())
    kdf = document["kdf"]
    # OWASP Password Storage Cheat Sheet, scrypt: N=2^17, r=8, p=1 at least (128 MiB per guess);
    # PKCS#8's BestAvailableEncryption gave PBKDF2 with 2,048 iterations and no memory cost.
    assert (kdf["name"], kdf["n"], kdf["r"], kdf["p"]) == ("scrypt", SCRYPT_N, SCRYPT_R, SCRYPT_P)
    assert 128 * kdf["n"] * kdf["r"] * kdf["p"] >= 128 * 1024**2
    assert document["cipher"]["name"] == "chacha20-poly1305"
    assert document["keyid"] == signer.keyid and document["version"] == 1
    assert b"PRIVATE KEY" not in (tmp_path / "ke.key").read_bytes()
    started = time.perf_counter()
    assert load_signer(tmp_path / "ke.key", passphrase=PASSPHRASE).keyid == signer.keyid
    assert time.perf_counter() - started < 1.5, "opening a key must stay well under a second or two"


def test_a_key_file_whose_public_key_was_swapped_does_not_open(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "ke.key", passphrase=PASSPHRASE)
    document = json.loads((tmp_path / "ke.key").read_text())
    other = Ed25519PrivateKey.generate().public_key()
    raw = other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    document["public_key"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    document["keyid"] = keyid_of(raw)
    (tmp_path / "swapped.key").write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match="wrong or missing passphrase"):
        load_signer(tmp_path / "swapped.key", passphrase=PASSPHRASE)
    document["keyid"] = "0" * 64
    (tmp_path / "mislabelled.key").write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match="keyid does not match"):
        load_signer(tmp_path / "mislabelled.key", passphrase=PASSPHRASE)


@pytest.mark.parametrize(("kdf", "complaint"), [
    ({"n": 2**30}, "beyond"),
    ({"r": 1024}, "beyond"),
    ({"n": 1000}, "beyond"),
    ({"n": "131072"}, "positive integer"),
    ({"name": "pbkdf2"}, "expected scrypt"),
])
def test_a_planted_key_file_cannot_make_us_spend_gigabytes(tmp_path: Path, kdf: dict[str, object],
                                                           complaint: str) -> None:
    generate_key_file(tmp_path / "ke.key", passphrase=PASSPHRASE)
    document = json.loads((tmp_path / "ke.key").read_text())
    document["kdf"].update(kdf)
    (tmp_path / "planted.key").write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match=complaint):
        load_signer(tmp_path / "planted.key", passphrase=PASSPHRASE)


def test_an_encrypted_key_file_without_a_passphrase_says_so(tmp_path: Path) -> None:
    generate_key_file(tmp_path / "ke.key", passphrase=PASSPHRASE)
    with pytest.raises(ConfigurationError, match="is encrypted: give --passphrase-file"):
        load_signer(tmp_path / "ke.key", passphrase=None)


def test_key_files_written_before_the_new_format_still_open(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    for name, encryption, passphrase in [
        ("pkcs8-encrypted.key", serialization.BestAvailableEncryption(PASSPHRASE), PASSPHRASE),
        ("pkcs8-clear.key", serialization.NoEncryption(), None),
    ]:
        (tmp_path / name).write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8, encryption))
        assert load_signer(tmp_path / name, passphrase=passphrase).keyid == keyid_of(key.public_key())
    with pytest.raises(ConfigurationError, match="wrong or missing passphrase"):
        load_signer(tmp_path / "pkcs8-encrypted.key", passphrase=b"not the passphrase at all")


def test_public_export_is_unchanged_by_the_new_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    signer = generate_key_file(tmp_path / "ke.key", passphrase=PASSPHRASE)
    assert (tmp_path / "ke.pub.pem").read_text() == public_pem(signer.private_key.public_key())
    secret = tmp_path / "passphrase"
    secret.write_bytes(PASSPHRASE)
    assert main(["issuer", "export-public", "--key", str(tmp_path / "ke.key"), "--format", "jwk",
                 "--passphrase-file", str(secret)]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["kid"] == signer.keyid


def test_a_keyring_opens_each_key_file_once_until_it_changes(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ring = Keyring(tmp_path, passphrase=PASSPHRASE)
    first = ring.generate()
    opened: list[Path] = []
    real = load_signer

    def counting(path: Path, *, passphrase: bytes | None) -> object:
        opened.append(path)
        return real(path, passphrase=passphrase)

    monkeypatch.setattr("credverify.issuer.adapters.keyring.load_signer", counting)
    assert set(ring.signers()) == {first.keyid}
    assert set(ring.signers()) == {first.keyid}
    assert len(opened) == 1, "every signing would pay the key derivation again"
    second = ring.generate()
    assert set(ring.signers()) == {first.keyid, second.keyid} and len(opened) == 2
