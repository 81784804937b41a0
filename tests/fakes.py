"""In-memory fakes of our own ports, for unit tests of the handlers: no broker, no database file.

Each fake does what its real adapter does and nothing more; where the adapter's behaviour is
subtle (the ledger keeps only a newer version, a delivery is marked by credential *and* version),
the fake copies it and says so. What a fake adds is only for tests to steer or inspect it
(choosing which deliveries fail, reading what was asked to be sent).

- ``InMemoryIssuedLedger``    issuer.ports.IssuedLedger        like issuer/adapters/sqlite_ledger.py
- ``FakePublisher``           core.publishing.Publisher        like core/adapters/kafka.py ConfirmingProducer
- ``InMemoryAttestationStore``  registry.ports.AttestationStore  like registry/adapters/sqlite_store.py
- ``FakeMovePublisher``       the registry's ``publish_move`` callback (registry/bootstrap.py)
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

from credverify.core.attestation import VerifiedAttestation
from credverify.core.errors import DeliveryFailed
from credverify.core.publishing import Delivery, OutgoingRecord
from credverify.core.trust import VerifiedIssuerRecord
from credverify.issuer.ports import IssuedEntry
from credverify.registry.ports import ParkedRecord, Rejection, StoredAttestation, Verdict
from credverify.v1 import common_pb2, moves_pb2

# --- issuer ---------------------------------------------------------------------------------------


class InMemoryIssuedLedger:
    """The issuer's ledger in a dict, with SqliteIssuedLedger's rules:

    - ``record_signed`` inserts a credential, or replaces it (unconfirmed again) only with a *higher*
      version; the same or a lower version leaves the entry as it is;
    - ``record_delivered`` marks an entry confirmed only when credential id *and* version match and
      the delivery was confirmed; a failed delivery changes nothing;
    - ``unconfirmed`` is ordered by credential id.
    """

    def __init__(self) -> None:
        self._entries: dict[str, IssuedEntry] = {}

    def lookup(self, credential_ids: Sequence[str]) -> dict[str, IssuedEntry]:
        return {cid: self._entries[cid] for cid in dict.fromkeys(credential_ids) if cid in self._entries}

    def record_signed(self, entries: Iterable[IssuedEntry]) -> None:
        for entry in entries:
            held = self._entries.get(entry.credential_id)
            if held is None or entry.version > held.version:
                self._entries[entry.credential_id] = replace(entry, confirmed=False, partition=None, offset=None)

    def record_delivered(self, deliveries: Iterable[tuple[str, int, Delivery]]) -> None:
        for credential_id, version, delivery in deliveries:
            held = self._entries.get(credential_id)
            if delivery.confirmed and held is not None and held.version == version:
                self._entries[credential_id] = replace(held, confirmed=True, partition=delivery.partition,
                                                       offset=delivery.offset)

    def unconfirmed(self) -> list[IssuedEntry]:
        return [self._entries[cid] for cid in sorted(self._entries) if not self._entries[cid].confirmed]

    def counts(self) -> dict[str, int]:
        confirmed = sum(entry.confirmed for entry in self._entries.values())
        return {"credentials": len(self._entries), "confirmed": confirmed,
                "unconfirmed": len(self._entries) - confirmed}


# What ConfirmingProducer reports for a record the broker never confirmed within the delivery
# timeout (kafka-python's message for an expired batch), and for one it refused outright.
NOT_CONFIRMED_IN_TIME = "KafkaTimeoutError: Batch for TopicPartition expired before it was sent"
REFUSED_BY_BROKER = "NotLeaderForPartitionError: [Error 6] NotLeaderForPartitionError"


def keyed(*keys: str) -> Callable[[OutgoingRecord], bool]:
    """Select the records whose Kafka key is one of ``keys`` (for attestations: the credential id)."""
    wanted = {key.encode() for key in keys}
    return lambda record: record.key in wanted


def every_nth(n: int) -> Callable[[OutgoingRecord], bool]:
    """Select the n-th, 2n-th, ... record the publisher is asked to send, counted across calls."""
    seen = 0

    def select(record: OutgoingRecord) -> bool:
        nonlocal seen
        seen += 1
        return seen % n == 0

    return select


@dataclass(frozen=True)
class _Failure:
    which: Callable[[OutgoingRecord], bool]
    error: str


class FakePublisher:
    """A Publisher whose hub is a list per topic partition.

    Like ConfirmingProducer, it returns one Delivery per record, in order: confirmed with the
    partition and offset the record landed at, or with an ``error`` and no position. Which records
    fail is the test's choice (``fail`` / ``stay_unconfirmed`` with a selector such as ``keyed`` or
    ``every_nth``; ``recover`` clears every choice). A record is placed by its key, so one key always
    lands in one partition; offsets count up from 0 in each partition.

    ``asked`` is every record it was asked to send, failed or not; ``hub`` what it confirmed.
    A record that was not confirmed is kept out of the hub (a real broker may or may not hold it:
    tests must not rely on either).
    """

    def __init__(self, *, partitions: int = 3) -> None:
        self.partitions = partitions
        self.asked: list[OutgoingRecord] = []
        self.hub: dict[tuple[str, int], list[OutgoingRecord]] = {}
        self.calls = 0
        self._failures: list[_Failure] = []

    def fail(self, which: Callable[[OutgoingRecord], bool], *, error: str = REFUSED_BY_BROKER) -> None:
        """From now on, deliveries of the records ``which`` selects fail with ``error``."""
        self._failures.append(_Failure(which, error))

    def stay_unconfirmed(self, which: Callable[[OutgoingRecord], bool]) -> None:
        """From now on, the records ``which`` selects are never confirmed in time."""
        self.fail(which, error=NOT_CONFIRMED_IN_TIME)

    def recover(self) -> None:
        """Every record is confirmed again."""
        self._failures.clear()

    def publish(self, records: Iterable[OutgoingRecord]) -> list[Delivery]:
        self.calls += 1
        deliveries = []
        for record in records:
            self.asked.append(record)
            error = next((f.error for f in self._failures if f.which(record)), None)
            if error is not None:
                deliveries.append(Delivery(record, None, None, error))
                continue
            partition = zlib.crc32(record.key or b"") % self.partitions
            log = self.hub.setdefault((record.topic, partition), [])
            log.append(record)
            deliveries.append(Delivery(record, partition, len(log) - 1, None))
        return deliveries

    def delivered(self, topic: str) -> list[OutgoingRecord]:
        """Every record confirmed on ``topic``, partition by partition."""
        return [record for (name, _), log in sorted(self.hub.items()) if name == topic for record in log]


# --- registry -------------------------------------------------------------------------------------


@dataclass
class _HeldAttestation:
    stored: StoredAttestation
    issuer_id: str
    keyid: str


@dataclass
class _State:
    attestations: dict[str, _HeldAttestation]
    issuers: dict[str, VerifiedIssuerRecord]
    rejections: list[Rejection]
    offsets: dict[tuple[str, int], int]
    registrations: dict[str, tuple[str, bytes]]  # move id -> (credential id, serialised move)
    parked: dict[tuple[str, str], ParkedRecord]  # (record key, keyid) -> record, as the table's key


class InMemoryAttestationStore:
    """The registry's store in dicts, with SqliteAttestationStore's rules: ``put_attestations``
    replaces whatever is held under the id (the version check is ingest's, not the store's) with the
    verdict VERIFIED and drops a parked record of that id; a transaction's writes are seen by
    readers only once it ends without an exception; a registration is stored once per move id, and
    comes back as a copy, never the object that was added."""

    def __init__(self) -> None:
        self._state = _State({}, {}, [], {}, {}, {})

    def get(self, credential_id: str) -> StoredAttestation | None:
        held = self._state.attestations.get(credential_id)
        return held.stored if held is not None else None

    def rejections_for(self, record_key: str) -> list[Rejection]:
        return [r for r in self._state.rejections if r.record_key == record_key]

    def issuer_envelopes(self) -> Iterable[bytes]:
        return [record.envelope_bytes for record in self._state.issuers.values()]

    def next_offsets(self) -> dict[tuple[str, int], int]:
        return dict(self._state.offsets)

    @contextmanager
    def transaction(self) -> Iterator[InMemoryTransaction]:
        working = copy.deepcopy(self._state)
        yield InMemoryTransaction(working)
        self._state = working  # not reached when the body raised: nothing of it is kept

    def registration(self, move_id: str) -> moves_pb2.VerifiedMove | None:
        held = self._state.registrations.get(move_id)
        return moves_pb2.VerifiedMove.FromString(held[1]) if held is not None else None

    def add_registration(self, credential_id: str, move: moves_pb2.VerifiedMove) -> bool:
        """Record a published move; returns False when it was recorded before."""
        if move.move_id in self._state.registrations:
            return False
        self._state.registrations[move.move_id] = (credential_id, move.SerializeToString())
        return True

    def ping(self) -> None:
        return None

    def counts(self) -> dict[str, int]:
        state = self._state
        return {
            "attestations": len(state.attestations),
            "issuers": len(state.issuers),
            "rejections": len(state.rejections),
            "registrations": len(state.registrations),
            "untrusted": sum(h.stored.trust_reason != common_pb2.REASON_VERIFIED
                             for h in state.attestations.values()),
            "parked": len({record_key for record_key, _ in state.parked}),
        }


class InMemoryTransaction:
    """The IngestTransaction of InMemoryAttestationStore, working on a copy committed at the end."""

    def __init__(self, state: _State) -> None:
        self._state = state

    def held(self, credential_id: str) -> StoredAttestation | None:
        held = self._state.attestations.get(credential_id)
        return held.stored if held is not None else None

    def put_issuers(self, issuers: Iterable[VerifiedIssuerRecord]) -> None:
        for issuer in issuers:
            self._state.issuers[issuer.record.issuer_id] = issuer

    def put_attestations(self, attestations: Iterable[VerifiedAttestation]) -> None:
        """Store each as the version held, with the verdict VERIFIED; a parked record of its id is dropped."""
        stored = [
            _HeldAttestation(StoredAttestation(v.credential_id, v.version, v.envelope_bytes,
                                               common_pb2.REASON_VERIFIED, ""), v.attestation.issuer_id, v.keyid)
            for v in attestations
        ]
        for held in stored:
            self._state.attestations[held.stored.credential_id] = held
        self.unpark(held.stored.credential_id for held in stored)

    def add_rejections(self, rejections: Iterable[Rejection]) -> None:
        self._state.rejections.extend(rejections)

    def park(self, parked: Iterable[ParkedRecord]) -> None:
        """Keep each, replacing what was parked under its record key before (the latest record wins)."""
        records = list(parked)
        self.unpark(p.record_key for p in records)
        for record in records:
            for keyid in record.keyids:
                self._state.parked[(record.record_key, keyid)] = record

    def unpark(self, record_keys: Iterable[str]) -> None:
        keys = set(record_keys)
        for slot in [slot for slot in self._state.parked if slot[0] in keys]:
            del self._state.parked[slot]

    def set_verdicts(self, verdicts: Iterable[Verdict]) -> None:
        for verdict in verdicts:
            held = self._state.attestations.get(verdict.credential_id)
            if held is not None:
                held.stored = replace(held.stored, trust_reason=verdict.trust_reason, trust_detail=verdict.trust_detail)

    def attestations_of_issuer(self, issuer_id: str, *, after: str, limit: int) -> list[StoredAttestation]:
        return self._page(lambda h: h.issuer_id == issuer_id, after=after, limit=limit)

    def attestations_signed_with(self, keyid: str, *, exclude_issuer: str, after: str,
                                 limit: int) -> list[StoredAttestation]:
        return self._page(lambda h: h.keyid == keyid and h.issuer_id != exclude_issuer, after=after, limit=limit)

    def unjudged_attestations(self, *, after: str, limit: int) -> list[StoredAttestation]:
        return self._page(lambda h: h.stored.trust_reason == common_pb2.REASON_UNSPECIFIED, after=after,
                          limit=limit)

    def parked_signed_with(self, keyids: Collection[str], *, after: str, limit: int) -> list[ParkedRecord]:
        wanted = set(keyids)
        found: dict[str, ParkedRecord] = {}
        for (record_key, keyid), record in sorted(self._state.parked.items()):
            if keyid in wanted and record_key > after:
                found.setdefault(record_key, record)
        return [found[key] for key in sorted(found)][:limit]

    def set_offsets(self, next_offsets: Mapping[tuple[str, int], int]) -> None:
        self._state.offsets.update(next_offsets)

    def _page(self, keep: Callable[[_HeldAttestation], bool], *, after: str, limit: int) -> list[StoredAttestation]:
        ids = sorted(cid for cid, held in self._state.attestations.items() if cid > after and keep(held))
        return [self._state.attestations[cid].stored for cid in ids[:limit]]


class FakeMovePublisher:
    """The registry's ``publish_move`` callback. Like the one bootstrap wires, it returns once the hub
    confirmed the move and raises DeliveryFailed when it did not (after ``fail_deliveries``)."""

    def __init__(self) -> None:
        self.moves: list[moves_pb2.VerifiedMove] = []  # confirmed, in order
        self.attempts = 0
        self.failing = False

    def fail_deliveries(self) -> None:
        self.failing = True

    def recover(self) -> None:
        self.failing = False

    def __call__(self, move: moves_pb2.VerifiedMove) -> None:
        self.attempts += 1
        if self.failing:
            raise DeliveryFailed("verified move %s not confirmed: %s" % (move.move_id, NOT_CONFIRMED_IN_TIME))
        confirmed = moves_pb2.VerifiedMove()
        confirmed.CopyFrom(move)  # what the hub holds: the bytes sent, not the caller's object
        self.moves.append(confirmed)
