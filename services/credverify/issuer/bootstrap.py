"""Composition root of an issuer: opens the ledger, the producer, the key or keyring, and the trust
list follower, and hands them to the handlers. Used by the CLI and by the gRPC service alike;
``run`` serves the IssuerService until told to stop."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import CollectorRegistry, Counter

from credverify.core.adapters.grpc_security import (
    AccessPolicy,
    AllowList,
    UnauthenticatedLocalAccess,
    require_loopback,
)
from credverify.core.adapters.grpc_server_kit import GrpcServerMetrics, ServerSettings, first_failure, setting
from credverify.core.adapters.kafka import ConfirmingProducer, partitions_of
from credverify.core.adapters.observability import MetricsEndpoint, configure_logging, serve_metrics
from credverify.core.adapters.trust_reader import TrustFollower, read_trust_list
from credverify.core.cli_support import EXIT_OK
from credverify.core.envelope import Signer
from credverify.core.errors import ConfigurationError, HubUnavailable
from credverify.core.issuing import IssueAttestation
from credverify.core.keys import load_signer
from credverify.core.sdjwt import IssuedCredential
from credverify.core.settings import KafkaSettings, read_passphrase
from credverify.core.trust import RootKeys, TrustList
from credverify.issuer import handlers
from credverify.issuer.adapters.grpc_server import ROLES, build_server
from credverify.issuer.adapters.keyring import Keyring
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.domain import ChangeStatus, choose_signing_key
from credverify.v1 import trust_pb2

logger = logging.getLogger(__name__)

# How long a service waits at start for the trust list before it serves without a signing key.
TRUST_CATCH_UP_S = 30.0
LEDGER_ENV = "CREDVERIFY_ISSUER_LEDGER"
DEFAULT_LEDGER = "issuer-ledger.db"
DEFAULT_LISTEN = "127.0.0.1:50061"
# Each health check asks the broker for metadata with a fresh client: every 2 s is cheap for the
# broker and still says NOT_SERVING within seconds of it going away.
HEALTH_INTERVAL_S = 2.0
SHUTDOWN_GRACE_S = 10.0


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

    @classmethod
    def from_env(cls, args: object, env: Mapping[str, str] = os.environ, *, issuer_id: str = "") -> IssuerSettings:
        """Build settings from parsed `issuer` arguments, with the environment for what they leave out
        (Kafka, the ledger, the key passphrase). Raises ConfigurationError for an unreadable passphrase."""
        root_keys: Sequence[Path] = getattr(args, "root_public_key", None) or ()
        return cls(
            kafka=KafkaSettings.from_env(getattr(args, "bootstrap", None)),
            ledger_path=Path(setting(args, "ledger", env, LEDGER_ENV, DEFAULT_LEDGER) or DEFAULT_LEDGER),
            issuer_id=getattr(args, "issuer_id", "") or issuer_id,
            jurisdiction=getattr(args, "jurisdiction", "") or "",
            key_file=getattr(args, "key", None),
            keyring=getattr(args, "keyring", None),
            root_key_files=tuple(str(p) for p in root_keys),
            passphrase=read_passphrase(file=getattr(args, "passphrase_file", None),
                                       prompt=bool(getattr(args, "prompt_passphrase", False))),
        )


@dataclass(frozen=True)
class IssuerServiceSettings:
    """An issuer, where its IssuerService listens, and (under mutual TLS) the allow-list of the
    council's systems that may call it."""

    issuer: IssuerSettings
    server: ServerSettings
    allow_list: Path | None = None

    @classmethod
    def from_env(cls, args: object, env: Mapping[str, str] = os.environ) -> IssuerServiceSettings:
        """Build settings from parsed `issuer serve` arguments and the environment ($CREDVERIFY_ISSUER_LISTEN,
        $CREDVERIFY_ISSUER_TLS_CERT, ..._TLS_KEY, ..._TLS_CLIENT_CA, ..._ALLOW_LIST, ..._PLAINTEXT_FOR_LOCAL_USE,
        ..._METRICS_LISTEN). Raises ConfigurationError."""
        allow_list = setting(args, "allow_list", env, "CREDVERIFY_ISSUER_ALLOW_LIST")
        return cls(issuer=IssuerSettings.from_env(args, env),
                   server=ServerSettings.from_env(args, env, prefix="CREDVERIFY_ISSUER_",
                                                  default_listen=DEFAULT_LISTEN),
                   allow_list=Path(allow_list) if allow_list else None)

    def access_policy(self) -> AccessPolicy:
        """Return who may call: the allow-list (with roles) under mutual TLS; in plaintext, on a loopback
        address only, every local caller with every role. Raises ConfigurationError for TLS without a
        client CA or an allow-list, and for plaintext on an address other machines can reach."""
        return access_policy(self.server, self.allow_list)


def access_policy(server: ServerSettings, allow_list: Path | None) -> AccessPolicy:
    """See IssuerServiceSettings.access_policy."""
    if server.tls is None:
        require_loopback(server.listen)
        return UnauthenticatedLocalAccess("", roles=ROLES)
    if server.tls.client_ca is None or allow_list is None:
        raise ConfigurationError("an issuer over TLS admits the council's systems by client certificate: it needs "
                                 "--tls-client-ca and --allow-list")
    return AllowList.from_file(allow_list, roles=ROLES)


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
    # told of every write's events (the service counts them); nothing by default
    on_written: Callable[[Sequence[handlers.AttestationIssued]], None] = lambda events: None

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
                # The council's submission topic is made when the federation admits it: a council's
                # principal may write there and nowhere else, and creates no topic.
                self._producer = ConfirmingProducer(self.settings.kafka, client_id="credverify-issuer")
            return self._producer

    def issue(self, commands: Sequence[IssueAttestation]) -> list[handlers.AttestationIssued]:
        events = handlers.issue(commands, signer=self.signer(), publisher=self.producer,
                                topics=self.settings.kafka.topics, ledger=self.ledger, now=self.clock())
        self.on_written(events)
        return events

    def change_statuses(self, changes: Sequence[ChangeStatus]) -> list[handlers.AttestationIssued]:
        events = handlers.change_statuses(changes, signer=self.signer(), publisher=self.producer,
                                          topics=self.settings.kafka.topics, ledger=self.ledger, now=self.clock())
        self.on_written(events)
        return events

    def credential(self, credential_id: str, *, holder_key: Ed25519PublicKey | None = None) -> IssuedCredential:
        """The practitioner's credential, signed now by the current key. Raises NotFound."""
        return handlers.credential(credential_id, ledger=self.ledger, signer=self.signer(), now=self.clock(),
                                   holder_key=holder_key)

    def issue_register(self, open_register: Callable[[], TextIO], *, strict: bool,
                       progress: Callable[[int], object],
                       deliver_credentials: Callable[[dict[str, IssuedCredential]], object] | None = None
                       ) -> handlers.BulkReport:
        # Validate first without touching the network: a broken file must not need a broker.
        rows, invalid = handlers.validate_register(open_register, issuer_id=self.settings.issuer_id,
                                                   jurisdiction=self.settings.jurisdiction)
        if invalid and (strict or invalid[0].row == 1):
            return handlers.BulkReport(rows=rows, invalid=invalid)
        return handlers.issue_register(
            open_register, issuer_id=self.settings.issuer_id, jurisdiction=self.settings.jurisdiction,
            signer=self.signer(), publisher=self.producer, topics=self.settings.kafka.topics, ledger=self.ledger,
            now=self.clock(), validation=(rows, invalid), strict=strict, progress=progress,
            deliver_credentials=deliver_credentials)

    def resend_unconfirmed(self) -> list[handlers.AttestationIssued]:
        return handlers.resend_unconfirmed(publisher=self.producer, topics=self.settings.kafka.topics,
                                           ledger=self.ledger)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self._producer is not None:
            self._producer.close()
        self.ledger.close()


def hub_answers(kafka: KafkaSettings, issuer_id: str) -> bool:
    """Ask the broker for the metadata of the council's submission topic. Raises HubUnavailable when the
    broker does not answer, or the topic is not there (the council was not admitted to this hub)."""
    topic = kafka.topics.submissions(issuer_id)
    if not partitions_of(kafka, topic, client_id="credverify-issuer-health"):
        raise HubUnavailable("submission topic %s does not exist (or this principal may not see it): "
                             "has the federation admitted %s to this hub?" % (topic, issuer_id))
    return True


def health_checks(issuer: Issuer, hub: Callable[[], object]) -> dict[str, Callable[[], object]]:
    """What SERVING needs, in order: a key that may sign now, a ledger that answers, a hub that answers."""
    return {"no key may sign": issuer.signer, "ledger": issuer.ledger.counts, "hub": hub}


class IssuerMetrics:
    """An issuer service's metrics in a registry of its own: RPCs, and attestation versions signed and
    confirmed by the hub."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.grpc = GrpcServerMetrics(self.registry)
        self._signed = Counter("credverify_issuer_attestations_signed_total",
                               "Attestation versions signed and sent (new credentials and status changes).",
                               registry=self.registry)
        self._confirmed = Counter("credverify_issuer_attestations_confirmed_total",
                                  "Attestation versions sent that the hub confirmed.", registry=self.registry)

    def written(self, events: Sequence[handlers.AttestationIssued]) -> None:
        for event in events:
            if event.outcome != handlers.UNCHANGED:
                self._signed.inc()
                if event.confirmed:
                    self._confirmed.inc()


class IssuerService:
    """A running IssuerService: gRPC server, health loop, metrics. ``stop`` is graceful."""

    def __init__(self, issuer: Issuer, settings: ServerSettings, *, hub: Callable[[], object],
                 access: AccessPolicy) -> None:
        self.issuer = issuer
        self.settings = settings
        self.metrics = IssuerMetrics()
        issuer.on_written = self.metrics.written
        self.grpc = build_server(issuer, listen=settings.listen, tls=settings.tls, access=access,
                                 metrics=self.metrics.grpc)
        self.port = self.grpc.port
        self._checks = health_checks(issuer, hub)
        self._stop = threading.Event()
        self._health = threading.Thread(target=self._health_loop, name="health", daemon=True)
        self.metrics_endpoint: MetricsEndpoint | None = None

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            failed = first_failure(self._checks)
            self.grpc.set_serving(failed is None, why=failed or "")
            self._stop.wait(HEALTH_INTERVAL_S)

    def start(self) -> None:
        if self.settings.metrics_listen:
            self.metrics_endpoint = serve_metrics(self.settings.metrics_listen, self.metrics.registry)
            logger.info("metrics on port %d", self.metrics_endpoint.port)
        self.grpc.start()
        self._health.start()
        if self.settings.tls is None:
            logger.warning("gRPC is plaintext and unauthenticated: for local use only")
        logger.info("issuer %s serving IssuerService on port %d", self.issuer.settings.issuer_id, self.port)

    def stop(self, grace: float = SHUTDOWN_GRACE_S) -> None:
        """NOT_SERVING; refuse new calls and let running ones finish (for up to ``grace`` seconds);
        stop the health loop and the metrics endpoint. The issuer itself is closed by its owner."""
        logger.info("stopping: health NOT_SERVING, in-flight RPCs get %.0f s to finish", grace)
        self.grpc.stop(grace)
        self._stop.set()
        self._health.join(timeout=grace + 5)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.stop()
        logger.info("issuer service stopped")


def run(settings: IssuerServiceSettings, stop: threading.Event, *,
        on_started: Callable[[int], object] = lambda port: None) -> int:
    """Serve the IssuerService until ``stop`` is set, then shut down gracefully; return the exit code.
    Raises ConfigurationError (before serving) for unusable settings."""
    configure_logging(logging.getLevelName(logging.getLogger().level), json_lines=settings.server.json_logs)
    access = settings.access_policy()  # before opening anything: a bad transport stops the start at once
    issuer = Issuer.open(settings.issuer, follow_trust=True)
    try:
        kafka, issuer_id = settings.issuer.kafka, settings.issuer.issuer_id
        service = IssuerService(issuer, settings.server, hub=lambda: hub_answers(kafka, issuer_id), access=access)
        service.start()
        try:
            on_started(service.port)
            stop.wait()
        finally:
            service.stop()
    finally:
        issuer.close()
    return EXIT_OK
