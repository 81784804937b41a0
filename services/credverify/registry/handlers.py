"""Registry handlers: ingest records, answer Verify, record registrations."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from credverify.core.attestation import VerifiedAttestation, verify_attestation
from credverify.core.errors import RecordRejected, reason_code
from credverify.core.topics import Topics
from credverify.core.trust import RootKeys, TrustList, verify_issuer_record
from credverify.registry.domain import Judgement, build_move, judge
from credverify.registry.ports import AttestationStore, IngestBatch, Rejection
from credverify.v1 import common_pb2, moves_pb2, registry_pb2

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def load_trust(store: AttestationStore, roots: RootKeys) -> TrustList:
    """Rebuild the trust list from stored issuer records, re-checking each root signature."""
    trust = TrustList()
    for envelope in store.issuer_envelopes():
        try:
            trust.apply(verify_issuer_record(envelope, roots=roots))
        except RecordRejected as exc:
            logger.warning("stored issuer record no longer verifies (%s): %s", exc.code, exc.detail)
    return trust


def _decode_key(key: bytes | None) -> str:
    return key.decode("utf-8", errors="replace") if key else ""


def ingest(
    records: Iterable[IncomingRecord],
    *,
    topics: Topics,
    trust: TrustList,
    roots: RootKeys,
    store: AttestationStore,
) -> IngestBatch:
    """Judge a batch of records; return what to store, what to reject and the offsets consumed.

    Issuer records are applied before attestations so that an issuer admitted in
    the same batch is known. ``trust`` is updated in place.
    """
    ordered = sorted(records, key=lambda r: (r.topic != topics.trust_list, r.topic, r.partition, r.offset))
    batch = IngestBatch(attestations={}, issuers={}, rejections=[], next_offsets={})
    for record in ordered:
        batch.next_offsets[(record.topic, record.partition)] = record.offset + 1
        try:
            if record.topic == topics.trust_list:
                _ingest_issuer_record(record, trust=trust, roots=roots, batch=batch)
            else:
                _ingest_attestation(record, trust=trust, store=store, batch=batch)
        except RecordRejected as exc:
            batch.rejections.append(
                Rejection(
                    record_key=_decode_key(record.key)[:512],
                    reason=exc.reason,
                    detail=exc.detail,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
            )
    return batch


def _ingest_issuer_record(record: IncomingRecord, *, trust: TrustList, roots: RootKeys,
                          batch: IngestBatch) -> None:
    if record.value is None:
        return  # a tombstone: the operator withdrew the record; nothing to verify
    verified = verify_issuer_record(record.value, roots=roots)
    if trust.apply(verified):
        batch.issuers[verified.record.issuer_id] = verified


def _ingest_attestation(record: IncomingRecord, *, trust: TrustList, store: AttestationStore,
                        batch: IngestBatch) -> None:
    if record.value is None:
        raise RecordRejected(common_pb2.REASON_MALFORMED, "attestation record has no value")
    verified = verify_attestation(record.value, trust=trust, record_key=_decode_key(record.key))
    held = batch.attestations.get(verified.credential_id)
    held_version, held_bytes = (
        (held.version, held.envelope_bytes) if held else _stored(store, verified.credential_id)
    )
    if held_version is None or verified.version > held_version:
        batch.attestations[verified.credential_id] = verified
    elif verified.version == held_version and verified.envelope_bytes == held_bytes:
        return  # an identical copy (a producer retry, a replay of the log): harmless
    else:
        raise RecordRejected(
            common_pb2.REASON_REPLAYED,
            "version %d of %s is not newer than the accepted version %d"
            % (verified.version, verified.credential_id, held_version),
        )


def _stored(store: AttestationStore, credential_id: str) -> tuple[int | None, bytes | None]:
    stored = store.get(credential_id)
    return (stored.version, stored.envelope_bytes) if stored else (None, None)


@dataclass(frozen=True)
class VerifyOutcome:
    judgement: Judgement
    verified: VerifiedAttestation | None


def verify(
    credential_id: str,
    claimed: registry_pb2.ClaimedSubject | None,
    *,
    store: AttestationStore,
    trust: TrustList,
    today: dt.date,
) -> VerifyOutcome:
    """Judge a credential as of ``today`` against the current trust list.

    The stored envelope is verified again, so a key reported compromised or an
    issuer narrowed after ingest shows at once. An id with no accepted
    attestation answers NOT_FOUND, or the reasons its records were rejected.
    """
    stored = store.get(credential_id)
    if stored is None:
        rejections = store.rejections_for(credential_id)
        if rejections:
            reasons = tuple(dict.fromkeys(r.reason for r in rejections))
            return VerifyOutcome(
                Judgement(False, reasons, "%d record(s) published under this id were rejected: %s" % (
                    len(rejections), ", ".join(reason_code(r) for r in reasons))),
                None,
            )
        return VerifyOutcome(Judgement(False, (common_pb2.REASON_NOT_FOUND,), "no attestation with this id"), None)
    try:
        verified = verify_attestation(stored.envelope_bytes, trust=trust, record_key=credential_id)
    except RecordRejected as exc:
        return VerifyOutcome(Judgement(False, (exc.reason,), "no longer trusted: " + exc.detail), None)
    return VerifyOutcome(judge(verified, claimed, today=today), verified)


@dataclass(frozen=True)
class MoveRecorded:
    move: moves_pb2.VerifiedMove
    already_recorded: bool


class RegistrationRefused(Exception):
    """RecordRegistration for a credential that does not verify; ``judgement`` says why."""

    def __init__(self, judgement: Judgement) -> None:
        super().__init__(judgement.detail)
        self.judgement = judgement


def record_registration(
    credential_id: str,
    claimed: registry_pb2.ClaimedSubject | None,
    *,
    destination: str,
    registered_on: dt.date,
    pseudonym_key: bytes,
    store: AttestationStore,
    trust: TrustList,
    today: dt.date,
    publish_move: Callable[[moves_pb2.VerifiedMove], None],
) -> MoveRecorded:
    """Emit one VerifiedMove for a verified credential; the same applicant and credential again
    returns the recorded move without emitting. Raises RegistrationRefused when not verified."""
    outcome = verify(credential_id, claimed, store=store, trust=trust, today=today)
    if not outcome.judgement.verified or outcome.verified is None:
        raise RegistrationRefused(outcome.judgement)
    move = build_move(outcome.verified, destination=destination, registered_on=registered_on,
                      pseudonym_key=pseudonym_key)
    recorded = store.registration(move.move_id)
    if recorded is not None:
        return MoveRecorded(recorded, already_recorded=True)
    publish_move(move)  # confirmed by the broker before we remember it: a crash here re-publishes,
    store.add_registration(credential_id, move)  # and flowstats de-duplicates by move_id
    return MoveRecorded(move, already_recorded=False)
