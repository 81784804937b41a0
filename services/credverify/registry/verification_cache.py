"""Remembers the outcome of verifying each credential's stored envelope, so that Verify neither reads
the store nor checks the same signature again on every call.

An outcome is reused only while both things it was computed from are unchanged:

- the trust list. ``TrustList`` is immutable; adopting an issuer record (a new key,
  a compromised key, a narrower scope) makes a new list with a higher ``epoch``, and
  epochs are never reused, so an outcome is kept with the epoch it was checked
  against. A trust change shows on the very next call.
- the envelope held. Ingest calls ``forget`` with the credentials of every
  committed batch (``clear`` when the batch changed the trust list, which may
  store or re-judge others), before it tells any watcher of the change. A lookup
  that read the store before such a call and finishes after it is not cached
  (``generation``), so an outcome never outlives the row it was computed from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from credverify.core.attestation import VerifiedAttestation, verify_attestation
from credverify.core.errors import RecordRejected
from credverify.core.trust import TrustList
from credverify.registry.ports import StoredAttestation
from credverify.v1 import common_pb2, envelope_pb2

# About 2 KB an entry: 100,000 credentials fit in a few hundred MB at most; beyond that the
# oldest entries are dropped and read and verified again when asked for.
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class CheckedAttestation:
    """A stored envelope checked against a trust list: verified, or refused with a reason."""

    version: int
    envelope_bytes: bytes
    evidence: envelope_pb2.Envelope  # the parsed envelope (read-only)
    verified: VerifiedAttestation | None
    rejection: tuple[common_pb2.Reason, str] | None
    trust_epoch: int  # the epoch of the trust list it was checked against


def check_stored(stored: StoredAttestation, trust: TrustList) -> CheckedAttestation:
    """Verify ``stored`` against ``trust``; a refusal is part of the result, not an exception."""
    evidence = envelope_pb2.Envelope.FromString(stored.envelope_bytes)
    try:
        verified = verify_attestation(stored.envelope_bytes, trust=trust, record_key=stored.credential_id,
                                      witnessed_at=stored.appended_at)
    except RecordRejected as exc:
        return CheckedAttestation(stored.version, stored.envelope_bytes, evidence, None, (exc.reason, exc.detail),
                                  trust.epoch)
    return CheckedAttestation(stored.version, stored.envelope_bytes, evidence, verified, None, trust.epoch)


class VerificationCache:
    """Checked attestations by credential id. Thread-safe: gRPC threads read, ingest forgets."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._entries: dict[str, CheckedAttestation] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def generation(self) -> int:
        """Read before reading the store; pass to ``check`` so a lookup that raced a commit is not kept."""
        return self._generation

    def held(self, credential_id: str, trust: TrustList) -> CheckedAttestation | None:
        """The outcome for the envelope held, if known and checked against this very trust list."""
        entry = self._entries.get(credential_id)
        if entry is None or entry.trust_epoch != trust.epoch:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def check(self, stored: StoredAttestation, trust: TrustList, *, generation: int | None) -> CheckedAttestation:
        """Check ``stored``, reusing an outcome for the same bytes and trust list. Remember the result
        when ``generation`` (read before reading ``stored``) is still current: no commit came in between."""
        entry = self._entries.get(stored.credential_id)
        if (entry is not None and entry.trust_epoch == trust.epoch and entry.version == stored.version
                and entry.envelope_bytes == stored.envelope_bytes):
            return entry
        entry = check_stored(stored, trust)
        with self._lock:
            if generation is not None and generation == self._generation:
                if len(self._entries) >= self._max and stored.credential_id not in self._entries:
                    del self._entries[next(iter(self._entries))]  # the oldest entry
                self._entries[stored.credential_id] = entry
        return entry

    def verify(self, stored: StoredAttestation, trust: TrustList) -> tuple[VerifiedAttestation, envelope_pb2.Envelope]:
        """Return the verified attestation held and its parsed envelope (treat both as read-only).
        Raises RecordRejected, as ``verify_attestation`` would, when it no longer verifies."""
        entry = self.check(stored, trust, generation=None)
        if entry.verified is None:
            assert entry.rejection is not None
            raise RecordRejected(*entry.rejection)
        return entry.verified, entry.evidence

    def forget(self, credential_ids: Iterable[str]) -> None:
        """A newer envelope was committed for each of ``credential_ids``."""
        with self._lock:
            self._generation += 1
            for credential_id in credential_ids:
                self._entries.pop(credential_id, None)

    def clear(self) -> None:
        """The trust list changed, and with it possibly any stored row."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
