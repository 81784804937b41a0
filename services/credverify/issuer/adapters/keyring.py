"""A directory of an issuer's Ed25519 key files (encrypted at rest, 0600) and the keys it stopped
trusting itself. Which one signs is decided by issuer.domain.choose_signing_key.

Opening a key file costs a memory-hard key derivation (core/keys.py: scrypt, ~0.4 s), and a service
asks for its keys on every signing and every health check, so each file is opened once and kept
until it changes on disk."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from credverify.core.envelope import Signer
from credverify.core.errors import ConfigurationError
from credverify.core.keys import generate_key_file, load_signer
from credverify.core.timefmt import to_timestamp

COMPROMISED_FILE = "compromised.json"


class Keyring:
    def __init__(self, directory: Path, *, passphrase: bytes | None) -> None:
        self.directory = directory
        self._passphrase = passphrase
        # path -> (what its stat said when it was opened, its Signer)
        self._opened: dict[Path, tuple[tuple[int, int, int], Signer]] = {}
        if not directory.is_dir():
            raise ConfigurationError("keyring %s is not a directory" % directory)

    def generate(self) -> Signer:
        """Create a new key file in the keyring; return its Signer."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return generate_key_file(self.directory / ("issuer-%s.key" % stamp), passphrase=self._passphrase)

    def signers(self) -> dict[str, Signer]:
        """Every key of the keyring by keyid. Raises ConfigurationError if a file cannot be loaded."""
        found = {}
        opened = {}
        for path in sorted(self.directory.glob("*.key")):
            signer = self._open(path)
            opened[path] = self._opened[path]
            found[signer.keyid] = signer
        self._opened = opened  # a file that went away is forgotten
        return found

    def _open(self, path: Path) -> Signer:
        try:
            info = path.stat()
        except OSError as exc:
            raise ConfigurationError("cannot read key file %s: %s" % (path, exc.strerror)) from exc
        seen = (info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._opened.get(path)
        if cached is None or cached[0] != seen:
            cached = self._opened[path] = (seen, load_signer(path, passphrase=self._passphrase))
        return cached[1]

    def compromised(self) -> dict[str, dt.datetime]:
        path = self.directory / COMPROMISED_FILE
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
            return {keyid: dt.datetime.fromisoformat(at) for keyid, at in data.items()}
        except (OSError, ValueError, AttributeError) as exc:
            raise ConfigurationError("cannot read %s: %s" % (path, exc)) from exc

    def mark_compromised(self, keyid: str, at: dt.datetime) -> None:
        """Record that ``keyid`` must never sign again (written atomically; the earliest instant wins)."""
        marks = self.compromised()
        marks[keyid] = min(at, marks.get(keyid, at))
        to_timestamp(at)  # refuses a naive time
        path = self.directory / COMPROMISED_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({k: v.isoformat() for k, v in sorted(marks.items())}, indent=2))
        os.replace(temporary, path)
