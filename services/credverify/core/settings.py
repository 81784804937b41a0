"""Configuration from the environment, read once by each composition root."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from credverify.core.errors import ConfigurationError
from credverify.core.topics import Topics

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
TOPIC_PREFIX_ENV = "CREDVERIFY_TOPIC_PREFIX"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
PASSPHRASE_ENV = "CREDVERIFY_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "CREDVERIFY_KEY_PASSPHRASE_FILE"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topics: Topics

    @classmethod
    def from_env(cls, bootstrap: str | None = None) -> KafkaSettings:
        return cls(
            bootstrap_servers=bootstrap or os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
            topics=Topics(prefix=os.environ.get(TOPIC_PREFIX_ENV, "")),
        )


def _read_passphrase_file(path: Path) -> bytes:
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigurationError("cannot read passphrase file %s: %s" % (path, exc.strerror)) from exc
    if not secret:
        raise ConfigurationError("passphrase file %s is empty" % path)
    return secret


def read_passphrase(*, file: Path | None = None, prompt: bool = False, confirm: bool = False) -> bytes | None:
    """Return the key passphrase from, in this order: ``file`` (``--passphrase-file``), an interactive
    prompt (``--prompt-passphrase``), $CREDVERIFY_KEY_PASSPHRASE, or the file named by
    $CREDVERIFY_KEY_PASSPHRASE_FILE (a mounted secret); None when there is none.
    Raises ConfigurationError for an unreadable or empty file, or prompts that differ."""
    if file is not None:
        return _read_passphrase_file(file)
    if prompt:
        first = getpass.getpass("key passphrase: ")
        if confirm and getpass.getpass("again: ") != first:
            raise ConfigurationError("the two passphrases differ")
        return first.encode() if first else None
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode()
    env_file = os.environ.get(PASSPHRASE_FILE_ENV)
    if env_file:
        return _read_passphrase_file(Path(env_file))
    return None
