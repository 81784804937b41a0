"""What the registry's handlers need from the outside world, named for their role."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from credverify.core.attestation import VerifiedAttestation
from credverify.core.trust import VerifiedIssuerRecord
from credverify.v1 import common_pb2, moves_pb2


@dataclass(frozen=True)
class StoredAttestation:
    credential_id: str
    version: int
    envelope_bytes: bytes


@dataclass(frozen=True)
class Rejection:
    record_key: str
    reason: common_pb2.Reason
    detail: str
    topic: str
    partition: int
    offset: int


@dataclass
class IngestBatch:
    """Everything one poll produced, committed together with the offsets it consumed."""

    attestations: dict[str, VerifiedAttestation]
    issuers: dict[str, VerifiedIssuerRecord]
    rejections: list[Rejection]
    next_offsets: dict[tuple[str, int], int]


class AttestationStore(Protocol):
    def get(self, credential_id: str) -> StoredAttestation | None: ...
    def rejections_for(self, record_key: str) -> list[Rejection]: ...
    def issuer_envelopes(self) -> Iterable[bytes]: ...
    def next_offsets(self) -> dict[tuple[str, int], int]: ...
    def commit(self, batch: IngestBatch) -> None: ...
    def registration(self, move_id: str) -> moves_pb2.VerifiedMove | None: ...
    def add_registration(self, credential_id: str, move: moves_pb2.VerifiedMove) -> bool: ...
    def ping(self) -> None: ...
