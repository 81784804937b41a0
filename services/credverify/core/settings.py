"""Configuration from the environment, read once by each composition root."""

from __future__ import annotations

import dataclasses
import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from credverify.core.errors import ConfigurationError
from credverify.core.topics import Replication, Topics

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
TOPIC_PREFIX_ENV = "CREDVERIFY_TOPIC_PREFIX"
# How the topics credverify creates are replicated; unset: the cluster's defaults.
REPLICATION_FACTOR_ENV = "CREDVERIFY_REPLICATION_FACTOR"
MIN_INSYNC_REPLICAS_ENV = "CREDVERIFY_MIN_INSYNC_REPLICAS"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
PASSPHRASE_ENV = "CREDVERIFY_KEY_PASSPHRASE"
PASSPHRASE_FILE_ENV = "CREDVERIFY_KEY_PASSPHRASE_FILE"


# The names Kafka's own tools and client libraries use for these settings.
SECURITY_PROTOCOL_ENV = "KAFKA_SECURITY_PROTOCOL"
SASL_MECHANISM_ENV = "KAFKA_SASL_MECHANISM"
SASL_USERNAME_ENV = "KAFKA_SASL_USERNAME"
SASL_PASSWORD_ENV = "KAFKA_SASL_PASSWORD"
SASL_PASSWORD_FILE_ENV = "KAFKA_SASL_PASSWORD_FILE"
SSL_CAFILE_ENV = "KAFKA_SSL_CAFILE"
SSL_CERTFILE_ENV = "KAFKA_SSL_CERTFILE"
SSL_KEYFILE_ENV = "KAFKA_SSL_KEYFILE"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
# SCRAM: the hub's principals are created and removed through Kafka's admin API (no broker file to
# edit), and the password never crosses the wire. PLAIN is accepted for brokers that front another store.
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates to the hub. Read from the environment, in the names Kafka users know
    (see ``from_env``); PLAINTEXT only where nobody has configured anything else."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def __post_init__(self) -> None:
        if self.protocol not in SECURITY_PROTOCOLS:
            raise ConfigurationError("%s: expected one of %s, found %r" % (
                SECURITY_PROTOCOL_ENV, ", ".join(SECURITY_PROTOCOLS), self.protocol))
        if self.uses_sasl:
            self._check_sasl()
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ConfigurationError("a client certificate needs its key: set both %s and %s" % (
                SSL_CERTFILE_ENV, SSL_KEYFILE_ENV))
        if self.ssl_certfile is not None and not self.uses_tls:
            raise ConfigurationError("%s is set but %s is %s: a client certificate needs SSL or SASL_SSL" % (
                SSL_CERTFILE_ENV, SECURITY_PROTOCOL_ENV, self.protocol))

    def _check_sasl(self) -> None:
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigurationError("%s: expected one of %s with %s, found %r" % (
                SASL_MECHANISM_ENV, ", ".join(SASL_MECHANISMS), self.protocol, self.sasl_mechanism))
        if self.sasl_mechanism == "PLAIN" and not self.uses_tls:
            raise ConfigurationError("%s=PLAIN sends the password in clear: use it only with SASL_SSL, "
                                     "or SCRAM-SHA-512" % SASL_MECHANISM_ENV)
        if not self.username or not self.password:
            raise ConfigurationError("%s needs %s and %s (or %s)" % (
                self.protocol, SASL_USERNAME_ENV, SASL_PASSWORD_ENV, SASL_PASSWORD_FILE_ENV))

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @classmethod
    def sasl(cls, username: str, password: str, *, mechanism: str = "SCRAM-SHA-512",
             protocol: str = "SASL_PLAINTEXT") -> KafkaSecurity:
        return cls(protocol=protocol, sasl_mechanism=mechanism, username=username, password=password)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read $KAFKA_SECURITY_PROTOCOL, $KAFKA_SASL_MECHANISM, $KAFKA_SASL_USERNAME,
        $KAFKA_SASL_PASSWORD or $KAFKA_SASL_PASSWORD_FILE (a mounted secret), $KAFKA_SSL_CAFILE,
        $KAFKA_SSL_CERTFILE and $KAFKA_SSL_KEYFILE. Raises ConfigurationError for a combination that
        cannot work."""
        env = os.environ if environ is None else environ
        password = env.get(SASL_PASSWORD_ENV)
        if not password and env.get(SASL_PASSWORD_FILE_ENV):
            password = _read_secret_file(Path(env[SASL_PASSWORD_FILE_ENV]), SASL_PASSWORD_FILE_ENV).decode()
        protocol = env.get(SECURITY_PROTOCOL_ENV) or ("SASL_PLAINTEXT" if env.get(SASL_USERNAME_ENV)
                                                      else "PLAINTEXT")
        return cls(
            protocol=protocol.upper(),
            sasl_mechanism=(env.get(SASL_MECHANISM_ENV) or "SCRAM-SHA-512").upper()
            if protocol.upper().startswith("SASL_") else None,
            username=env.get(SASL_USERNAME_ENV) or None,
            password=password or None,
            ssl_cafile=_optional_path(env.get(SSL_CAFILE_ENV)),
            ssl_certfile=_optional_path(env.get(SSL_CERTFILE_ENV)),
            ssl_keyfile=_optional_path(env.get(SSL_KEYFILE_ENV)),
        )

    def as_env(self) -> dict[str, str]:
        """The environment that ``from_env`` reads back as these settings (for child processes)."""
        env = {SECURITY_PROTOCOL_ENV: self.protocol}
        for name, value in ((SASL_MECHANISM_ENV, self.sasl_mechanism), (SASL_USERNAME_ENV, self.username),
                            (SASL_PASSWORD_ENV, self.password), (SSL_CAFILE_ENV, self.ssl_cafile),
                            (SSL_CERTFILE_ENV, self.ssl_certfile), (SSL_KEYFILE_ENV, self.ssl_keyfile)):
            if value is not None:
                env[name] = str(value)
        return env


def _optional_count(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError("%s: expected a whole number, found %r" % (name, value)) from None


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class KafkaSettings:
    """Where the hub is, which topic names this deployment uses, and how this client authenticates
    (by default what the environment says: see KafkaSecurity.from_env)."""

    bootstrap_servers: str
    topics: Topics
    security: KafkaSecurity = field(default_factory=KafkaSecurity.from_env)
    replication: Replication = field(default_factory=Replication)

    @classmethod
    def from_env(cls, bootstrap: str | None = None) -> KafkaSettings:
        """Read $KAFKA_BOOTSTRAP_SERVERS, $CREDVERIFY_TOPIC_PREFIX, the security settings, and
        $CREDVERIFY_REPLICATION_FACTOR and $CREDVERIFY_MIN_INSYNC_REPLICAS (unset: the cluster's defaults).
        Raises ConfigurationError for a setting that cannot work."""
        return cls(
            bootstrap_servers=bootstrap or os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
            topics=Topics(prefix=os.environ.get(TOPIC_PREFIX_ENV, "")),
            security=KafkaSecurity.from_env(),
            replication=Replication(_optional_count(REPLICATION_FACTOR_ENV), _optional_count(MIN_INSYNC_REPLICAS_ENV)),
        )

    def with_security(self, security: KafkaSecurity) -> KafkaSettings:
        """The same hub and topics, reached as another principal."""
        return dataclasses.replace(self, security=security)


def _read_secret_file(path: Path, what: str = "passphrase file") -> bytes:
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigurationError("cannot read %s %s: %s" % (what, path, exc.strerror)) from exc
    if not secret:
        raise ConfigurationError("%s %s is empty" % (what, path))
    return secret


def read_passphrase(*, file: Path | None = None, prompt: bool = False, confirm: bool = False) -> bytes | None:
    """Return the key passphrase from, in this order: ``file`` (``--passphrase-file``), an interactive
    prompt (``--prompt-passphrase``), $CREDVERIFY_KEY_PASSPHRASE, or the file named by
    $CREDVERIFY_KEY_PASSPHRASE_FILE (a mounted secret); None when there is none.
    Raises ConfigurationError for an unreadable or empty file, or prompts that differ."""
    if file is not None:
        return _read_secret_file(file)
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
        return _read_secret_file(Path(env_file))
    return None
