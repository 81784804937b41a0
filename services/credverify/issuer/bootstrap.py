"""Composition root of an issuer: opens the ledger, the producer, the key or keyring, and the trust
list follower, and hands them to the handlers. Used by the CLI and by the gRPC service alike."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from credverify.core.adapters.kafka import ConfirmingProducer, ensure_topics
from credverify.core.adapters.trust_reader import TrustFollower, read_trust_list
from credverify.core.envelope import Signer
from credverify.core.errors import ConfigurationError
from credverify.core.keys import load_signer
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys, TrustList
from credverify.issuer import handlers
from credverify.issuer.adapters.keyring import Keyring
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.domain import ChangeStatus, IssueAttestation, choose_signing_key
from credverify.v1 import trust_pb2

logger = logging.getLogger(__name__)

# How long a service waits at start for the trust list before it serves without a signing key.
TRUST_CATCH_UP_S = 30.0


@dataclass(frozen=True)
class IssuerSettings:
    kafka: KafkaSettings
    ledger_path: Path
    issuer_id: str = ""
    jurisdiction: str = ""
    key_file: Path | None = None          # sign with this key, chosen by the operator
    keyring: Path | None = None           # or choose among these by the trust list
    root_key_files: tuple[str, ...] = ()  # needed with a keyring: to read the trust list
    passphrase: bytes | None = None


@dataclass
class Issuer:
    """A running issuer: what the handlers need, opened once."""

    settings: IssuerSettings
    ledger: SqliteIssuedLedger
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    _producer: ConfirmingProducer | None = None
    _key: Signer | None = None
    keyring: Keyring | None = None
    follower: TrustFollower | None = None
    _trust: Callable[[], TrustList] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: IssuerSettings, *, follow_trust: bool = False) -> Issuer:
        """Open the ledger and the signing key(s). With a keyring, read the trust list once, or follow it
        in the background when ``follow_trust`` (a long-running service). Raises ConfigurationError."""
        if (settings.key_file is None) == (settings.keyring is None):
            raise ConfigurationError("give exactly one of --key (a key file) or --keyring (a directory)")
        if settings.keyring is not None and not settings.root_key_files:
            raise ConfigurationError("a keyring needs the federation root public key(s) (--root-public-key) "
                                     "to read the trust list that says which key may sign")
        issuer = cls(settings=settings, ledger=SqliteIssuedLedger(settings.ledger_path))
        if settings.key_file is not None:
            issuer._key = load_signer(settings.key_file, passphrase=settings.passphrase)
            return issuer
        assert settings.keyring is not None
        issuer.keyring = Keyring(settings.keyring, passphrase=settings.passphrase)
        issuer.keyring.signers()  # a wrong passphrase or a broken file stops here, not at the first signing
        roots = RootKeys.from_pem_files(list(settings.root_key_files))
        kafka = settings.kafka
        if follow_trust:
            follower = TrustFollower(kafka, roots=roots).start()
            issuer.follower = follower
            issuer._trust = lambda: follower.trust
            if not follower.caught_up.wait(TRUST_CATCH_UP_S):
                logger.warning("trust list not read within %.0f s; signing waits for it", TRUST_CATCH_UP_S)
        else:
            trust = read_trust_list(kafka, roots=roots)
            issuer._trust = lambda: trust
        return issuer

    def record(self) -> trust_pb2.IssuerRecord | None:
        """The federation's current record of this issuer (None without a keyring or before registration)."""
        if self._trust is None or not self.settings.issuer_id:
            return None
        return self._trust().issuer(self.settings.issuer_id)

    def record_envelope(self) -> bytes | None:
        if self._trust is None:
            return None
        verified = self._trust().issuers.get(self.settings.issuer_id)
        return verified.envelope_bytes if verified else None

    def signer(self) -> Signer:
        """The key to sign with now. Raises ConfigurationError when no key may sign."""
        if self._key is not None:
            return self._key
        assert self.keyring is not None
        signers = self.keyring.signers()
        keyid = choose_signing_key(set(signers), record=self.record(),
                                   locally_compromised=set(self.keyring.compromised()), now=self.clock())
        return signers[keyid]

    @property
    def producer(self) -> ConfirmingProducer:
        with self._lock:
            if self._producer is None:
                kafka = self.settings.kafka
                ensure_topics(kafka, only=[kafka.topics.attestations])
                self._producer = ConfirmingProducer(kafka, client_id="credverify-issuer")
            return self._producer

    def issue(self, commands: Sequence[IssueAttestation]) -> list[handlers.AttestationIssued]:
        return handlers.issue(commands, signer=self.signer(), publisher=self.producer,
                              topics=self.settings.kafka.topics, ledger=self.ledger, now=self.clock())

    def change_statuses(self, changes: Sequence[ChangeStatus]) -> list[handlers.AttestationIssued]:
        return handlers.change_statuses(changes, signer=self.signer(), publisher=self.producer,
                                        topics=self.settings.kafka.topics, ledger=self.ledger, now=self.clock())

    def issue_register(self, open_register: Callable[[], TextIO], *, strict: bool,
                       progress: Callable[[int], object]) -> handlers.BulkReport:
        # Validate first without touching the network: a broken file must not need a broker.
        rows, invalid = handlers.validate_register(open_register, issuer_id=self.settings.issuer_id,
                                                   jurisdiction=self.settings.jurisdiction)
        if invalid and (strict or invalid[0].row == 1):
            return handlers.BulkReport(rows=rows, invalid=invalid)
        return handlers.issue_register(
            open_register, issuer_id=self.settings.issuer_id, jurisdiction=self.settings.jurisdiction,
            signer=self.signer(), publisher=self.producer, topics=self.settings.kafka.topics, ledger=self.ledger,
            now=self.clock(), validation=(rows, invalid), strict=strict, progress=progress)

    def resend_unconfirmed(self) -> list[handlers.AttestationIssued]:
        return handlers.resend_unconfirmed(publisher=self.producer, topics=self.settings.kafka.topics,
                                           ledger=self.ledger)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self._producer is not None:
            self._producer.close()
        self.ledger.close()
