"""Ed25519 key files: generate, store (0600, encrypted at rest), export.

The caller passes the passphrase (core/settings.py's ``read_passphrase`` finds it in a file, a prompt
or the environment); nothing here reads the environment. A key is stored in the clear only when asked
for by name.

Public keys export as PEM (SubjectPublicKeyInfo) and as JWK (OKP, Ed25519) so
that anyone can verify with openssl, libsodium or a JOSE library.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credverify.core.envelope import Signer, keyid_of, raw_public_key
from credverify.core.errors import ConfigurationError, InvalidInput

# NIST SP 800-63B asks for at least 8 characters of a memorised secret; a signing key deserves more.
MIN_PASSPHRASE_CHARS = 12


def public_key_path(private_key_path: Path) -> Path:
    """Where the public half of a key file is written: ``issuer.key`` -> ``issuer.pub.pem``."""
    return private_key_path.with_suffix(".pub.pem")


def generate_key_file(path: Path, *, passphrase: bytes | None, unencrypted: bool = False) -> Signer:
    """Create a new Ed25519 private key at ``path`` (mode 0600; never overwrites) and its public
    PEM beside it (see public_key_path).

    Encrypted with ``passphrase``; None only with ``unencrypted``. Returns a Signer for it.
    Raises InvalidInput when the file exists already, or when there is no passphrase and
    ``unencrypted`` was not asked for.
    """
    key = Ed25519PrivateKey.generate()
    secret = passphrase
    if secret is None and not unencrypted:
        raise InvalidInput(
            "no passphrase for %s: give --passphrase-file or --prompt-passphrase, set $CREDVERIFY_KEY_PASSPHRASE "
            "or $CREDVERIFY_KEY_PASSPHRASE_FILE, or ask for --unencrypted explicitly" % path)
    if secret is not None and len(secret) < MIN_PASSPHRASE_CHARS:
        raise InvalidInput("passphrase: expected at least %d characters, found %d" % (
            MIN_PASSPHRASE_CHARS, len(secret)))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InvalidInput("key file %s exists already; refusing to overwrite a key" % path) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_key_path(path).write_text(public_pem(key.public_key()))
    return Signer(key)


def load_signer(path: Path, *, passphrase: bytes | None) -> Signer:
    """Load a private key file, decrypting it with ``passphrase`` (None for a key stored in the clear).
    Raises ConfigurationError when missing, unreadable, not Ed25519, or the passphrase does not open it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError("cannot read key file %s: %s" % (path, exc.strerror)) from exc
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            "key file %s could not be loaded (wrong or missing passphrase?)" % path
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("key file %s holds a %s key, expected Ed25519" % (path, type(key).__name__))
    return Signer(key)


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """Return the RFC 8037 JWK of an Ed25519 public key, with our keyid as ``kid``."""
    x = base64.urlsafe_b64encode(raw_public_key(key)).decode().rstrip("=")
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": keyid_of(key)}


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Load a PEM public key (or a file holding the private key's public half). Raises InvalidInput."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InvalidInput("not a PEM public key: %s" % exc) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("expected an Ed25519 public key, found %s" % type(key).__name__)
    return key


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise InvalidInput("an Ed25519 public key has 32 bytes, found %d" % len(raw))
    return Ed25519PublicKey.from_public_bytes(raw)
