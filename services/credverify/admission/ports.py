"""What admission's handlers need from the outside world, named for their role."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from credverify.admission.domain import AdmittedEntry
from credverify.core.publishing import Publisher
from credverify.core.trust import TrustList

__all__ = ["AdmissionIndex", "Publisher", "TrustSource"]


class AdmissionIndex(Protocol):
    """The admitted version of each credential and the consumed offsets, changed together only."""

    def admitted(self, credential_ids: Collection[str]) -> dict[str, AdmittedEntry]:
        """Return the admitted entry of each of ``credential_ids`` that has one."""
        ...

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Return the next offset to read of each (topic, partition) consumed so far."""
        ...

    def commit(self, entries: Iterable[AdmittedEntry], next_offsets: Mapping[tuple[str, int], int]) -> None:
        """Store ``entries`` (replacing a credential's earlier entry) and the offsets, in one transaction."""
        ...


class TrustSource(Protocol):
    def current(self) -> TrustList:
        """Return the trust list as followed so far."""
        ...

    def caught_up(self) -> TrustList:
        """Return the trust list read to the topic's current end (an issuer record published just
        before its first submission). Raises HubUnavailable."""
        ...
