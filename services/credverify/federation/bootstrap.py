"""Composition root of the federation operator's tools: the root key, the trust list as the hub holds
it, and a confirming publisher, opened once and handed to the handlers."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from credverify.core.adapters.kafka import ConfirmingProducer, ensure_topics
from credverify.core.adapters.trust_reader import read_trust_list
from credverify.core.envelope import Signer
from credverify.core.keys import load_signer
from credverify.core.settings import KafkaSecurity, KafkaSettings, read_passphrase
from credverify.core.trust import RootKeys, TrustList
from credverify.federation import handlers
from credverify.federation.access import Access, council_access
from credverify.federation.adapters.kafka_admin import KafkaHubAdmin, check_credentials_path, write_credentials_file
from credverify.federation.domain import RegisterIssuer

# 256 bits from the OS: a hub password is never typed, only handed over in a file.
PASSWORD_BYTES = 32


@dataclass(frozen=True)
class FederationSettings:
    kafka: KafkaSettings
    root_key: Path | None = None                    # the root's private key: needed to sign records
    root_public_keys: tuple[Path, ...] = ()          # or only its public key(s): enough to read the list
    passphrase: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, *, bootstrap: str | None = None, root_key: Path | None = None,
                 root_public_keys: Sequence[Path] = (), passphrase_file: Path | None = None,
                 prompt_passphrase: bool = False) -> FederationSettings:
        """Settings from the command line's values, the rest from the environment (Kafka, passphrase)."""
        passphrase = (read_passphrase(file=passphrase_file, prompt=prompt_passphrase)
                      if root_key is not None else None)
        return cls(kafka=KafkaSettings.from_env(bootstrap), root_key=root_key,
                   root_public_keys=tuple(root_public_keys), passphrase=passphrase)


class Federation:
    """The operator's tools, open: ``with Federation.open(settings) as federation: ...``."""

    def __init__(self, settings: FederationSettings, root: Signer | None, roots: RootKeys | None) -> None:
        self.settings = settings
        self._root = root
        self._roots = roots
        self._producer: ConfirmingProducer | None = None
        self._hub: KafkaHubAdmin | None = None

    @classmethod
    def open(cls, settings: FederationSettings) -> Federation:
        """Load the root key (or public keys). Raises ConfigurationError for a key that cannot be read or
        opened; touches no network until a record is read or published."""
        if settings.root_key is not None:
            root = load_signer(settings.root_key, passphrase=settings.passphrase)
            return cls(settings, root, RootKeys({root.keyid: root.private_key.public_key()}))
        return cls(settings, None, RootKeys.from_pem_files([str(p) for p in settings.root_public_keys]))

    @classmethod
    def for_access(cls, settings: FederationSettings) -> Federation:
        """The operator's tools for the hub's principals and ACLs only: no key is needed to grant or
        revoke access (the hub checks that the caller is the operator)."""
        return cls(settings, None, None)

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def root(self) -> Signer:
        assert self._root is not None, "opened without the root's private key"
        return self._root

    def trust(self) -> TrustList:
        """The trust list on the hub now, every record checked against the root key(s)."""
        assert self._roots is not None, "opened for access only, without root keys"
        return read_trust_list(self.settings.kafka, roots=self._roots)

    def _publisher(self) -> ConfirmingProducer:
        if self._producer is None:
            kafka = self.settings.kafka
            ensure_topics(kafka, only=[kafka.topics.trust_list])
            self._producer = ConfirmingProducer(kafka, client_id="credverify-trust")
        return self._producer

    def hub(self) -> KafkaHubAdmin:
        """The hub's principals, ACLs and topics (the caller must be the operator)."""
        if self._hub is None:
            self._hub = KafkaHubAdmin(self.settings.kafka)
        return self._hub

    def register(self, cmd: RegisterIssuer, *, credentials_out: Path | None = None
                 ) -> tuple[handlers.IssuerRecordPublished, Access]:
        """Admit ``cmd``'s issuer: its submission topic, ACLs, a credential written to ``credentials_out``
        (none made without it), then its record. Raises InvalidInput (an issuer already admitted),
        AccessDenied, HubUnavailable, DeliveryFailed."""
        kafka = self.settings.kafka
        council = council_access(cmd.issuer_id, kafka.topics)
        if credentials_out is not None:
            check_credentials_path(credentials_out)
        password = secrets.token_urlsafe(PASSWORD_BYTES) if credentials_out is not None else None
        publisher = self._publisher()
        event = handlers.register_issuer(cmd, trust=self.trust(), root=self.root, publisher=publisher,
                                         topics=kafka.topics, now=dt.datetime.now(dt.UTC), hub=self.hub(),
                                         council=council, password=password)
        if credentials_out is not None and password is not None:
            self._hand_over(credentials_out, council, password)
        return event, council

    def grant(self, access: Access, *, credentials_out: Path | None) -> handlers.AccessGranted:
        """Grant ``access`` its ACLs (and its council's submission topic), and with ``credentials_out`` a
        new credential written there. Raises InvalidInput, AccessDenied, HubUnavailable."""
        kafka = self.settings.kafka
        if credentials_out is not None:
            check_credentials_path(credentials_out)
        ensure_topics(kafka)  # the shared topics, made by the operator with their layout
        if access.role.value == "council":
            self.hub().ensure_topic(kafka.topics.submissions(access.name), kafka.topics.submissions_spec())
        password = secrets.token_urlsafe(PASSWORD_BYTES) if credentials_out is not None else None
        granted = handlers.grant_access(access, hub=self.hub(), password=password)
        if credentials_out is not None and password is not None:
            self._hand_over(credentials_out, access, password)
        return granted

    def revoke(self, name: str) -> handlers.AccessRevoked:
        return handlers.revoke_access(name, hub=self.hub())

    def _hand_over(self, path: Path, access: Access, password: str) -> None:
        write_credentials_file(path, self.settings.kafka.bootstrap_servers,
                               KafkaSecurity.sasl(access.name, password, protocol=self._client_protocol()))

    def _client_protocol(self) -> str:
        """The operator's own protocol (SASL_SSL on a TLS hub) is the one every principal uses."""
        own = self.settings.kafka.security.protocol
        return own if own.startswith("SASL_") else "SASL_PLAINTEXT"

    def change(self, issuer_id: str, change: handlers.RecordChange) -> handlers.IssuerRecordPublished:
        return handlers.change_issuer(issuer_id, change, trust=self.trust(), root=self.root,
                                      publisher=self._publisher(), topics=self.settings.kafka.topics)

    def close(self) -> None:
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        if self._producer is not None:
            self._producer.close()
            self._producer = None
