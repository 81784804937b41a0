"""Ed25519 key files: generate, store (0600, encrypted at rest), export.

The caller passes the passphrase (core/settings.py's ``read_passphrase`` finds it in a file, a prompt
or the environment); nothing here reads the environment. A key is stored in the clear only when asked
for by name.

A new encrypted key is written in credverify's key file format, version 1 (docs/keys.md): a JSON
object with the public key, the scrypt parameters and salt, and the 32-byte private seed sealed with
ChaCha20-Poly1305 under the scrypt-derived key; the associated data binds the format version and the
public key, so a file whose public half was swapped does not open. It replaces PKCS#8's
``BestAvailableEncryption`` (PBKDF2-HMAC-SHA256, 2,048 iterations: a stolen file could be tried
against millions of passphrases a second on one GPU). Older PKCS#8 PEM key files, encrypted or not,
are still read, so no existing key stops working; a key written with ``unencrypted`` stays PKCS#8 PEM
that openssl reads.

Public keys export as PEM (SubjectPublicKeyInfo) and as JWK (OKP, Ed25519) so
that anyone can verify with openssl, libsodium or a JOSE library.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from credverify.core.envelope import Signer, keyid_of, raw_public_key
from credverify.core.errors import ConfigurationError, InvalidInput

# NIST SP 800-63B asks for at least 8 characters of a memorised secret; a signing key deserves more.
MIN_PASSPHRASE_CHARS = 12

# --- the key file format (docs/keys.md) ----------------------------------------------------------------
KEY_FILE_FORMAT = "credverify-ed25519-private-key"
KEY_FILE_VERSION = 1
# Associated data of the AEAD: the format and its version, then the 32-byte raw public key.
KEY_FILE_AAD_PREFIX = b"credverify-ed25519-private-key/1\n"
# scrypt as OWASP's Password Storage Cheat Sheet recommends it (N=2^17, r=8, p=1: 128 MiB per guess,
# which is what makes a GPU or ASIC farm expensive); r=8 is RFC 7914's block size. RFC 7914 section 2
# suggests N=2^20 for file encryption, but that takes seconds and 1 GiB on our servers for every
# start; 2^17 opens a key in about 0.4 s on a 2-core CI machine under load.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16   # RFC 7914 leaves it open; 128 bits, as NIST SP 800-132 asks of a salt at least
# A key file is read before it is authenticated: parameters beyond these would let a planted file
# make us allocate gigabytes (128 * N * r * p bytes) or spin for minutes.
MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16
MAX_SCRYPT_BYTES = 1024**3
CHACHA20_POLY1305_NONCE_BYTES = 12  # RFC 8439
ED25519_SEED_BYTES = 32


def public_key_path(private_key_path: Path) -> Path:
    """Where the public half of a key file is written: ``issuer.key`` -> ``issuer.pub.pem``."""
    return private_key_path.with_suffix(".pub.pem")


def generate_key_file(path: Path, *, passphrase: bytes | None, unencrypted: bool = False) -> Signer:
    """Create a new Ed25519 private key at ``path`` (mode 0600; never overwrites) and its public
    PEM beside it (see public_key_path).

    Encrypted with ``passphrase`` in the key file format (docs/keys.md); None only with
    ``unencrypted`` (then PKCS#8 PEM in the clear). Returns a Signer for it.
    Raises InvalidInput when the file exists already, or when there is no passphrase and
    ``unencrypted`` was not asked for.
    """
    key = Ed25519PrivateKey.generate()
    if passphrase is None and not unencrypted:
        raise InvalidInput(
            "no passphrase for %s: give --passphrase-file or --prompt-passphrase, set $CREDVERIFY_KEY_PASSPHRASE "
            "or $CREDVERIFY_KEY_PASSPHRASE_FILE, or ask for --unencrypted explicitly" % path)
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise InvalidInput("passphrase: expected at least %d characters, found %d" % (
            MIN_PASSPHRASE_CHARS, len(passphrase)))
    data = seal_private_key(key, passphrase) if passphrase else key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InvalidInput("key file %s exists already; refusing to overwrite a key" % path) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    public_key_path(path).write_text(public_pem(key.public_key()))
    return Signer(key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError("%s: expected base64url text" % what)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("%s: not base64url" % what) from exc


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def seal_private_key(key: Ed25519PrivateKey, passphrase: bytes) -> bytes:
    """Return the key file (format version 1, docs/keys.md) holding ``key`` sealed under ``passphrase``."""
    public = raw_public_key(key.public_key())
    salt = os.urandom(SCRYPT_SALT_BYTES)
    nonce = os.urandom(CHACHA20_POLY1305_NONCE_BYTES)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    sealed = ChaCha20Poly1305(_scrypt(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(
        nonce, seed, KEY_FILE_AAD_PREFIX + public)
    document = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "keyid": keyid_of(key.public_key()),
        "public_key": _b64(public),
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": {"name": "chacha20-poly1305", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def _positive_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError("%s: expected a positive integer" % what)
    return value


def _scrypt_parameters(kdf: object) -> tuple[bytes, int, int, int]:
    """Return salt, N, r, p of a key file's ``kdf``. Raises ValueError when they are not scrypt's or
    would cost more than we ever spend on opening a key."""
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise ValueError("kdf: expected scrypt")
    n, r, p = (_positive_int(kdf.get(name), "kdf." + name) for name in ("n", "r", "p"))
    within = n & (n - 1) == 0 and 1 < n <= MAX_SCRYPT_N and r <= MAX_SCRYPT_R and p <= MAX_SCRYPT_P
    if not within or 128 * n * r * p > MAX_SCRYPT_BYTES:
        raise ValueError("kdf: scrypt parameters beyond N=2^20, r=%d, p=%d, 1 GiB" % (MAX_SCRYPT_R, MAX_SCRYPT_P))
    return _unb64(kdf.get("salt"), "kdf.salt"), n, r, p


def _sealed_parts(document: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """Return public key, nonce and ciphertext of a key file. Raises ValueError."""
    if document.get("format") != KEY_FILE_FORMAT or document.get("version") != KEY_FILE_VERSION:
        raise ValueError("expected %s version %d, found %r version %r" % (
            KEY_FILE_FORMAT, KEY_FILE_VERSION, document.get("format"), document.get("version")))
    cipher = document.get("cipher")
    if not isinstance(cipher, dict) or cipher.get("name") != "chacha20-poly1305":
        raise ValueError("cipher: expected chacha20-poly1305")
    public = _unb64(document.get("public_key"), "public_key")
    nonce = _unb64(cipher.get("nonce"), "cipher.nonce")
    if len(public) != 32 or len(nonce) != CHACHA20_POLY1305_NONCE_BYTES:
        raise ValueError("public_key or cipher.nonce has the wrong length")
    if document.get("keyid") != keyid_of(public):
        raise ValueError("keyid does not match public_key")
    return public, nonce, _unb64(document.get("ciphertext"), "ciphertext")


def open_sealed_key(data: bytes, passphrase: bytes) -> Ed25519PrivateKey:
    """Return the private key of a key file in our format. Raises ValueError when the file is not
    one, and InvalidTag when the passphrase does not open it (or the file was altered)."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")
    public, nonce, sealed = _sealed_parts(document)
    salt, n, r, p = _scrypt_parameters(document.get("kdf"))
    seed = ChaCha20Poly1305(_scrypt(passphrase, salt, n, r, p)).decrypt(nonce, sealed, KEY_FILE_AAD_PREFIX + public)
    if len(seed) != ED25519_SEED_BYTES:
        raise ValueError("sealed seed: expected 32 bytes")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    if raw_public_key(key.public_key()) != public:  # the AEAD binds it; a second check costs nothing
        raise ValueError("the sealed key does not match public_key")
    return key


def _load_private_key(path: Path, data: bytes, passphrase: bytes | None) -> object:
    """Return the key in ``data``: our key file format, else PKCS#8/PEM (encrypted or not).
    Raises ConfigurationError."""
    if not data.lstrip().startswith(b"{"):
        try:
            return serialization.load_pem_private_key(data, password=passphrase)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "key file %s could not be loaded (wrong or missing passphrase?)" % path) from exc
    if passphrase is None:
        raise ConfigurationError("key file %s is encrypted: give --passphrase-file or --prompt-passphrase, or "
                                 "set $CREDVERIFY_KEY_PASSPHRASE(_FILE)" % path)
    try:
        return open_sealed_key(data, passphrase)
    except InvalidTag as exc:
        raise ConfigurationError(
            "key file %s could not be loaded (wrong or missing passphrase?)" % path) from exc
    except ValueError as exc:
        raise ConfigurationError("key file %s: %s" % (path, exc)) from exc


def load_signer(path: Path, *, passphrase: bytes | None) -> Signer:
    """Load a private key file (our key file format, or PKCS#8 PEM), decrypting it with ``passphrase``
    (None for a key stored in the clear). Raises ConfigurationError when missing, unreadable, not
    Ed25519, or the passphrase does not open it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError("cannot read key file %s: %s" % (path, exc.strerror)) from exc
    key = _load_private_key(path, data, passphrase)
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
