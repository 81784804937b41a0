"""Composition root of the holder's tools: files only, no network. Reads the credential and the wallet
key the arguments name; nothing else is opened."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core.errors import InvalidInput
from credverify.core.keys import generate_key_file, load_signer
from credverify.core.private_files import write_private
from credverify.core.settings import read_passphrase

# A credential is about 1.5 KB; a file far larger is not one, and is not read whole.
MAX_CREDENTIAL_FILE_BYTES = 128 * 1024


@dataclass(frozen=True)
class HolderSettings:
    passphrase_file: Path | None = None
    prompt_passphrase: bool = False


def read_credential(path: Path) -> str:
    """Return the credential text of a file (surrounding whitespace removed). Raises InvalidInput."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CREDENTIAL_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput("credential: cannot read %s: %s" % (path, exc.strerror)) from exc
    if len(data) > MAX_CREDENTIAL_FILE_BYTES:
        raise InvalidInput("credential: %s is larger than %d bytes, not a credential" % (
            path, MAX_CREDENTIAL_FILE_BYTES))
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise InvalidInput("credential: %s is not an SD-JWT (expected ASCII text)" % path) from exc


def load_holder_key(path: Path, settings: HolderSettings) -> Ed25519PrivateKey:
    """Return the wallet key in ``path``. Raises ConfigurationError."""
    passphrase = read_passphrase(file=settings.passphrase_file, prompt=settings.prompt_passphrase)
    return load_signer(path, passphrase=passphrase).private_key


def create_holder_key(path: Path, settings: HolderSettings, *, unencrypted: bool) -> str:
    """Create a wallet key file (0600, never overwritten); return its keyid. Raises InvalidInput."""
    passphrase = read_passphrase(file=settings.passphrase_file, prompt=settings.prompt_passphrase, confirm=True)
    return generate_key_file(path, passphrase=passphrase, unencrypted=unencrypted).keyid


def write_presentation(path: Path, text: str) -> None:
    """Write a presentation to a new file readable by its owner only: it holds personal data. Raises
    ConfigurationError when it exists."""
    write_private(path, text.encode("ascii") + b"\n")
