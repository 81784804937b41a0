"""What the registry's handlers need from the outside world, named for their role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from credverify.core.attestation import VerifiedAttestation
from credverify.core.trust import TrustList, VerifiedIssuerRecord
from credverify.v1 import common_pb2, moves_pb2


@dataclass(frozen=True)
class StoredAttestation:
    credential_id: str
    version: int
    envelope_bytes: bytes
    # The trust rules' verdict under the current trust list, kept current by ingest: VERIFIED while
    # trusted; KEY_REVOKED, ISSUER_NOT_AUTHORISED, ... once an issuer record withdrew that trust;
    # UNSPECIFIED for a row stored before verdicts were kept, until it is judged at start-up.
    trust_reason: common_pb2.Reason = common_pb2.REASON_VERIFIED
    trust_detail: str = ""
    # When the hub appended the record (LogAppendTime): the witnessed time re-judging and Verify
    # pass to the gate, so they decide as live ingest did. None: not known (a row stored before
    # append times were kept, or a topic not time-stamped by the hub).
    appended_at: dt.datetime | None = None


@dataclass(frozen=True)
class Rejection:
    """A record refused: why, and where in the log it was read."""

    record_key: str
    reason: common_pb2.Reason
    detail: str
    topic: str
    partition: int
    offset: int
    # Why its dead letter could not be published after bounded retries ("" when it was, or when
    # none is sent, as in a rebuild): the refusal is then accounted for in the store and a metric.
    dead_letter_error: str = ""


@dataclass(frozen=True, kw_only=True)
class ParkedRecord(Rejection):
    """An attestation refused by a trust rule that a later issuer record may lift (an issuer or key
    not listed yet, a scope not yet widened): the refusal, kept with its envelope, latest per record
    key, to be judged again when an issuer record listing one of ``keyids`` is applied."""

    envelope_bytes: bytes
    keyids: tuple[str, ...]
    appended_at: dt.datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """A stored attestation's new trust verdict after the trust list changed."""

    credential_id: str
    trust_reason: common_pb2.Reason
    trust_detail: str


@dataclass(frozen=True)
class AttestationChanged:
    """A stored attestation changed: a new version was stored (``cause`` "ingested"), a parked record
    was admitted after a trust change ("admitted"), or its verdict changed ("rejudged")."""

    credential_id: str
    version: int
    trust_reason: common_pb2.Reason
    cause: str


@dataclass
class IngestBatch:
    """Everything one poll produced, committed together with the offsets it consumed; after the
    commit, ``changes`` says what it changed in the store (for the ingest listeners)."""

    attestations: dict[str, VerifiedAttestation]
    issuers: dict[str, VerifiedIssuerRecord]
    rejections: list[Rejection]
    next_offsets: dict[tuple[str, int], int]
    parked: dict[str, ParkedRecord] = field(default_factory=dict)
    # issuer id -> the keyids its previous and its new record list: what re-judging must cover
    trust_changes: dict[str, set[str]] = field(default_factory=dict)
    # Filled in by the commit: every attestation stored or re-judged with a new verdict, up to a
    # bound; ``changes_complete`` is False when there were more (listeners then re-read what they follow).
    changes: list[AttestationChanged] = field(default_factory=list)
    changes_complete: bool = True
    # The trust list with this batch's issuer records applied; adopted by readers only after the commit.
    trust: TrustList | None = None


class IngestTransaction(Protocol):
    """One write transaction of the store: everything in it is committed with the offsets, or nothing."""

    def held(self, credential_id: str) -> StoredAttestation | None: ...
    def put_issuers(self, issuers: Iterable[VerifiedIssuerRecord]) -> None: ...
    def put_attestations(self, attestations: Iterable[VerifiedAttestation]) -> None: ...
    def add_rejections(self, rejections: Iterable[Rejection]) -> None: ...
    def park(self, parked: Iterable[ParkedRecord]) -> None: ...
    def unpark(self, record_keys: Iterable[str]) -> None: ...
    def set_verdicts(self, verdicts: Iterable[Verdict]) -> None: ...
    def attestations_of_issuer(self, issuer_id: str, *, after: str, limit: int) -> list[StoredAttestation]: ...
    def attestations_signed_with(self, keyid: str, *, exclude_issuer: str, after: str,
                                 limit: int) -> list[StoredAttestation]: ...
    def unjudged_attestations(self, *, after: str, limit: int) -> list[StoredAttestation]: ...
    def parked_signed_with(self, keyids: Collection[str], *, after: str, limit: int) -> list[ParkedRecord]: ...
    def set_offsets(self, next_offsets: Mapping[tuple[str, int], int]) -> None: ...


class AttestationStore(Protocol):
    def get(self, credential_id: str) -> StoredAttestation | None: ...
    def rejections_for(self, record_key: str) -> list[Rejection]: ...
    def issuer_envelopes(self) -> Iterable[bytes]: ...
    def next_offsets(self) -> dict[tuple[str, int], int]: ...
    def transaction(self) -> AbstractContextManager[IngestTransaction]: ...
    def registration(self, move_id: str) -> moves_pb2.VerifiedMove | None: ...
    def add_registration(self, credential_id: str, move: moves_pb2.VerifiedMove) -> bool: ...
    def ping(self) -> None: ...
