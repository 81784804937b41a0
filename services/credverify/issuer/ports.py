"""What the issuer's handlers need from the outside world, named for their role."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from credverify.core.publishing import Delivery, OutgoingRecord
from credverify.core.sdjwt import Sealing


@dataclass(frozen=True)
class IssuedEntry:
    """The latest signing of one credential as the issuer's ledger knows it."""

    credential_id: str
    version: int
    digest: str             # issuer.domain.content_digest: what it says, not when it was signed
    envelope_bytes: bytes   # exactly what was (or is to be) published
    confirmed: bool         # the broker confirmed the delivery
    partition: int | None
    offset: int | None
    # The complete attestation, personal data included (serialized v1-shaped Attestation): the council's
    # own record, never published. None for a credential signed before sealed personal data (v1), whose
    # envelope carries it.
    attestation: bytes | None = None
    sealing: Sealing | None = None  # the practitioner's Disclosures and the decoys; None for v1


class IssuedLedger(Protocol):
    """The issuer's own record of what it signed and what the hub confirmed: proof of delivery,
    the current version to change a status from, and what makes a re-run publish nothing new."""

    def lookup(self, credential_ids: Sequence[str]) -> dict[str, IssuedEntry]: ...

    def record_signed(self, entries: Iterable[IssuedEntry]) -> None: ...

    def record_delivered(self, deliveries: Iterable[tuple[str, int, Delivery]]) -> None: ...

    def unconfirmed(self) -> list[IssuedEntry]: ...

    def counts(self) -> dict[str, int]: ...


class Publisher(Protocol):
    def publish(self, records: Iterable[OutgoingRecord]) -> list[Delivery]: ...
