"""Composition root of the federation operator's tools: the root key, the trust list as the hub holds
it, and a confirming publisher, opened once and handed to the handlers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from credverify.core.adapters.kafka import ConfirmingProducer, ensure_topics
from credverify.core.adapters.trust_reader import read_trust_list
from credverify.core.envelope import Signer
from credverify.core.keys import load_signer
from credverify.core.settings import KafkaSettings, read_passphrase
from credverify.core.trust import RootKeys, TrustList
from credverify.federation import handlers
from credverify.federation.domain import RegisterIssuer


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

    def __init__(self, settings: FederationSettings, root: Signer | None, roots: RootKeys) -> None:
        self.settings = settings
        self._root = root
        self._roots = roots
        self._producer: ConfirmingProducer | None = None

    @classmethod
    def open(cls, settings: FederationSettings) -> Federation:
        """Load the root key (or public keys). Raises ConfigurationError for a key that cannot be read or
        opened; touches no network until a record is read or published."""
        if settings.root_key is not None:
            root = load_signer(settings.root_key, passphrase=settings.passphrase)
            return cls(settings, root, RootKeys({root.keyid: root.private_key.public_key()}))
        return cls(settings, None, RootKeys.from_pem_files([str(p) for p in settings.root_public_keys]))

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
        return read_trust_list(self.settings.kafka, roots=self._roots)

    def _publisher(self) -> ConfirmingProducer:
        if self._producer is None:
            kafka = self.settings.kafka
            ensure_topics(kafka, only=[kafka.topics.trust_list])
            self._producer = ConfirmingProducer(kafka, client_id="credverify-trust")
        return self._producer

    def register(self, cmd: RegisterIssuer) -> handlers.IssuerRecordPublished:
        return handlers.register_issuer(cmd, root=self.root, publisher=self._publisher(),
                                        topics=self.settings.kafka.topics, now=dt.datetime.now(dt.UTC))

    def change(self, issuer_id: str, change: handlers.RecordChange) -> handlers.IssuerRecordPublished:
        return handlers.change_issuer(issuer_id, change, trust=self.trust(), root=self.root,
                                      publisher=self._publisher(), topics=self.settings.kafka.topics)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
