"""Ingest: judge what arrives on the trust list and the attestations topic, and commit what it changes.

One batch (one poll) goes through this plan:

  (1) issuer records first, whatever their offsets: root signature, then the newer version wins
  (2) attestations: signature and trust rules through ``verify_attestation`` (the one gate; the
      caller's verifier may spread the records over threads), then, in offset order, the version
      rule against the version held
  (3) the caller publishes the dead letters and waits for the broker to confirm them
  (4) one store transaction with the consumed offsets: issuer records, accepted attestations,
      rejections, parked records, and the re-judging of everything a changed issuer record touches

Trust changes. When an issuer record is applied (a key reported compromised, a key's validity
changed, the scope narrowed or widened, the record replaced), every stored attestation that names
the issuer or is signed by a key the old or new record lists is judged again under the new trust
list. An attestation that no longer passes is kept, with the reason and detail as its verdict:
``Verify`` then answers KEY_REVOKED or ISSUER_NOT_AUTHORISED and can still hand out the envelope
the registry once accepted, which a regulator that registered someone on the strength of it needs;
a later record that restores trust restores the verdict, which a deletion could not.

A lagging trust list. Before judging attestations the ingest loop reads the trust list to its end,
so an issuer record published before an attestation is always applied before it. An attestation
refused by a rule that an issuer record can lift (ISSUER_UNKNOWN, ISSUER_NOT_AUTHORISED,
KEY_NOT_VALID, KEY_REVOKED) is dead-lettered like any refusal and also parked, latest per record
key; when an issuer record listing one of its signing keys is applied, it is judged again and
stored if it now passes. The answers a registry gives therefore depend on what the topics hold,
not on the order in which it happened to read them: a live registry and one rebuilt from the same
topics give every credential the same verdict. (What they keep may differ: a live registry that
accepted an attestation before its issuer's scope narrowed keeps the envelope, with its new
verdict, as evidence; a rebuilt one refused it from the start.)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from credverify.core.attestation import VerifiedAttestation, verify_attestation
from credverify.core.envelope import parse_envelope
from credverify.core.errors import Malformed, RecordRejected, reason_code
from credverify.core.topics import Topics
from credverify.core.trust import RootKeys, TrustList, verify_issuer_record
from credverify.registry.ports import (
    AttestationChanged,
    AttestationStore,
    IngestBatch,
    IngestTransaction,
    ParkedRecord,
    Rejection,
    StoredAttestation,
    Verdict,
)
from credverify.v1 import common_pb2

logger = logging.getLogger(__name__)

# Refusals that a later issuer record can lift; the records refused so are parked (see above).
LIFTABLE_REASONS = frozenset({
    common_pb2.REASON_ISSUER_UNKNOWN,
    common_pb2.REASON_ISSUER_NOT_AUTHORISED,
    common_pb2.REASON_KEY_NOT_VALID,
    common_pb2.REASON_KEY_REVOKED,
})
# Rows read, judged and written per step when re-judging: memory stays bounded however many
# attestations an issuer has.
REJUDGE_PAGE = 2000
# Refusals parked: those above, and a replay, which is lifted when the version that blocks it is
# found to be a compromised key's (spec 11.2): a far-future version a thief signed must not keep
# the council's genuine update out once the compromise is reported.
PARKED_REASONS = LIFTABLE_REASONS | {common_pb2.REASON_REPLAYED}
# Change events kept for one commit's listeners; beyond this the listeners are told the list is
# incomplete and re-read what they follow instead.
MAX_CHANGE_EVENTS = 100_000
MAX_RECORD_KEY_CHARS = 512

Outcome = VerifiedAttestation | RecordRejected
# What the gate judges: envelope bytes, record key, and the hub's append time (None: not known).
ToJudge = tuple[bytes, str, dt.datetime | None]
# Judges ToJudge items under a trust list, one outcome per item, in order.
Verifier = Callable[[Sequence[ToJudge], TrustList], list[Outcome]]


@dataclass(frozen=True)
class IncomingRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # The hub's append time (the record's timestamp when the topic uses LogAppendTime); None when
    # the topic lets producers set it, which a stolen key could backdate.
    appended_at: dt.datetime | None = None


def load_trust(store: AttestationStore, roots: RootKeys) -> TrustList:
    """Rebuild the trust list from stored issuer records, re-checking each root signature."""
    trust = TrustList()
    for envelope in store.issuer_envelopes():
        try:
            trust = trust.applied(verify_issuer_record(envelope, roots=roots))
        except RecordRejected as exc:
            logger.warning("stored issuer record no longer verifies (%s): %s", exc.code, exc.detail)
    return trust


def verify_each(items: Sequence[ToJudge] | Sequence[tuple[bytes, str]], trust: TrustList) -> list[Outcome]:
    """Judge each (envelope bytes, record key, append time) in turn; the default Verifier. An item
    without an append time, (envelope bytes, record key), is judged without one."""
    return [_verify_one(item[0], item[1], item[2] if len(item) > 2 else None, trust)
            for item in items]


def _verify_one(data: bytes, record_key: str, appended_at: dt.datetime | None, trust: TrustList) -> Outcome:
    try:
        return verify_attestation(data, trust=trust, record_key=record_key, witnessed_at=appended_at)
    except RecordRejected as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the same bytes fail the same way: retrying would stall ingest
        logger.exception("judging record %r failed unexpectedly; refusing it as malformed", record_key[:80])
        return Malformed("the record could not be judged (%s); the registry logged the details"
                         % type(exc).__name__)


def _decode_key(key: bytes | None) -> str:
    return key.decode("utf-8", errors="replace")[:MAX_RECORD_KEY_CHARS] if key else ""


def _rejection(record: IncomingRecord, exc: RecordRejected) -> Rejection:
    return Rejection(record_key=_decode_key(record.key), reason=exc.reason, detail=exc.detail,
                     topic=record.topic, partition=record.partition, offset=record.offset)


def judge_records(
    records: Iterable[IncomingRecord],
    *,
    topics: Topics,
    trust: TrustList,
    roots: RootKeys,
    store: AttestationStore,
    verify: Verifier = verify_each,
) -> IngestBatch:
    """Judge a batch of records; return what to store, reject and park, and the offsets consumed.

    Steps (1) and (2) of the plan. Issuer records are applied before attestations, so an issuer
    admitted in the same batch is known; the resulting list is ``batch.trust`` (``trust`` itself is
    immutable). Reads the store, never writes.
    """
    ordered = sorted(records, key=lambda r: (r.topic != topics.trust_list, r.topic, r.partition, r.offset))
    batch = IngestBatch(attestations={}, issuers={}, rejections=[], next_offsets={})
    attestation_records: list[IncomingRecord] = []
    for record in ordered:
        batch.next_offsets[(record.topic, record.partition)] = record.offset + 1
        if record.topic != topics.trust_list:
            attestation_records.append(record)
            continue
        # (1) issuer records
        try:
            trust = _apply_issuer_record(record, trust=trust, roots=roots, batch=batch)
        except RecordRejected as exc:
            batch.rejections.append(_rejection(record, exc))
    if attestation_records:
        _judge_attestations(attestation_records, trust=trust, store=store, verify=verify, batch=batch)
    batch.trust = trust
    return batch


def _apply_issuer_record(record: IncomingRecord, *, trust: TrustList, roots: RootKeys, batch: IngestBatch
                         ) -> TrustList:
    """Return ``trust`` with the record applied when it is newer; note the change in ``batch``."""
    if record.value is None:
        # A tombstone carries no root signature: anyone able to write to the topic could send one.
        # An operator withdraws an issuer with a signed record that lists no valid key instead.
        return trust
    verified = verify_issuer_record(record.value, roots=roots)
    issuer_id = verified.record.issuer_id
    previous = trust.issuers.get(issuer_id)
    if not trust.newer(verified):
        return trust
    batch.issuers[issuer_id] = verified
    keyids = batch.trust_changes.setdefault(issuer_id, set())
    keyids.update(k.keyid for k in verified.record.keys)
    if previous is not None:
        keyids.update(k.keyid for k in previous.record.keys)
    return trust.applied(verified)


def _judge_attestations(records: list[IncomingRecord], *, trust: TrustList, store: AttestationStore,
                        verify: Verifier, batch: IngestBatch) -> None:
    keys = [_decode_key(r.key) for r in records]
    held = {key: stored for key in set(keys) if (stored := store.get(key)) is not None}
    # (2a) an exact copy of the envelope held, the first of its key in the batch, is a harmless
    # duplicate (a producer retry, a replay after a restart): its verdict is kept current by
    # re-judging, so it needs no signature check again
    duplicate = _copies_of_held(records, keys, held)
    todo = [(r.value, key, r.appended_at) for r, key, dup in zip(records, keys, duplicate, strict=True)
            if not dup and r.value is not None]
    outcomes = iter(verify(todo, trust))

    # (2b) in offset order: the version rule against what the batch or the store holds
    for record, key, dup in zip(records, keys, duplicate, strict=True):
        if dup:
            continue
        if record.value is None:
            batch.rejections.append(_rejection(record, Malformed("attestation record has no value")))
            continue
        _settle(record, key, next(outcomes), batch=batch, held=held, trust=trust, verify=verify)


def _copies_of_held(records: list[IncomingRecord], keys: list[str], held: dict[str, StoredAttestation]
                    ) -> list[bool]:
    """Return, per record, whether it is the first of its key in the batch and an exact copy of the
    envelope held for that key."""
    seen: set[str] = set()
    duplicate: list[bool] = []
    for record, key in zip(records, keys, strict=True):
        stored = held.get(key) if key not in seen else None
        duplicate.append(stored is not None and record.value == stored.envelope_bytes)
        seen.add(key)
    return duplicate


def _settle(record: IncomingRecord, key: str, outcome: Outcome, *, batch: IngestBatch,
            held: dict[str, StoredAttestation], trust: TrustList, verify: Verifier) -> None:
    """Put one judged record in ``batch``: rejected (and parked when a later issuer record may lift
    the refusal), accepted as the newest version, or dropped as an identical copy of the version held."""
    if isinstance(outcome, RecordRejected):
        _refuse(record, key, outcome, batch)
        return
    try:
        newer = _version_rule(outcome, batch=batch, held=held, trust=trust, verify=verify)
    except RecordRejected as exc:
        _refuse(record, key, exc, batch)
        return
    if not newer:
        return  # an identical copy of the version held
    batch.attestations[outcome.credential_id] = outcome
    batch.parked.pop(outcome.credential_id, None)  # a newer accepted record supersedes a parked one


def _refuse(record: IncomingRecord, key: str, refusal: RecordRejected, batch: IngestBatch) -> None:
    batch.rejections.append(_rejection(record, refusal))
    if refusal.reason in PARKED_REASONS:
        _park(record, key, refusal, batch)


def _version_rule(verified: VerifiedAttestation, *, batch: IngestBatch, held: dict[str, StoredAttestation],
                  trust: TrustList, verify: Verifier) -> bool:
    """Return True when ``verified`` is newer than the version held (or none is, or the one held was
    signed by a key reported compromised before the hub saw it), False when it is an identical copy
    of it; raise REPLAYED otherwise."""
    in_batch = batch.attestations.get(verified.credential_id)
    stored = held.get(verified.credential_id)
    held_version, held_bytes = (
        (in_batch.version, in_batch.envelope_bytes) if in_batch is not None
        else (stored.version, stored.envelope_bytes) if stored is not None
        else (None, None)
    )
    if held_version is None or verified.version > held_version:
        return True
    if verified.version == held_version and verified.envelope_bytes == held_bytes:
        return False
    if in_batch is None and stored is not None and _revoked(stored, trust, verify):
        return True  # a compromised key's version, however high, blocks nothing (spec 11.2)
    raise RecordRejected(
        common_pb2.REASON_REPLAYED,
        "version %d of %s is not newer than the accepted version %d"
        % (verified.version, verified.credential_id, held_version),
    )


def _revoked(stored: StoredAttestation, trust: TrustList, verify: Verifier) -> bool:
    """Whether the version held fails KEY_REVOKED under ``trust``: its key was reported compromised
    at or before its issue or append time. Read from its verdict, or judged again when the verdict
    says it is trusted (the batch itself may carry the compromise)."""
    if stored.trust_reason == common_pb2.REASON_KEY_REVOKED:
        return True
    [outcome] = verify([(stored.envelope_bytes, stored.credential_id, stored.appended_at)], trust)
    return isinstance(outcome, RecordRejected) and outcome.reason == common_pb2.REASON_KEY_REVOKED


def _park(record: IncomingRecord, key: str, refusal: RecordRejected, batch: IngestBatch) -> None:
    assert record.value is not None
    try:
        keyids = tuple(sorted({s.keyid for s in parse_envelope(record.value).signatures if s.keyid}))
    except RecordRejected:
        return
    if keyids:
        batch.parked[key] = ParkedRecord(
            record_key=key, envelope_bytes=record.value, keyids=keyids, reason=refusal.reason,
            detail=refusal.detail, topic=record.topic, partition=record.partition, offset=record.offset,
            appended_at=record.appended_at,
        )


@dataclass
class _Changes:
    events: list[AttestationChanged] = field(default_factory=list)
    complete: bool = True

    def add(self, event: AttestationChanged) -> None:
        if len(self.events) < MAX_CHANGE_EVENTS:
            self.events.append(event)
        else:
            self.complete = False


def commit_batch(batch: IngestBatch, *, store: AttestationStore, verify: Verifier = verify_each) -> None:
    """Step (4): write ``batch`` and the re-judging its trust changes call for (under ``batch.trust``),
    in one transaction with its offsets, and fill in ``batch.changes``. Raises whatever the store
    raises (then nothing was written)."""
    trust = batch.trust
    if trust is None:
        raise ValueError("commit_batch: the batch was not judged (no trust list); call judge_records first")
    changes = _Changes()
    with store.transaction() as tx:
        tx.put_issuers(batch.issuers.values())
        tx.put_attestations(batch.attestations.values())
        for verified in batch.attestations.values():
            changes.add(AttestationChanged(verified.credential_id, verified.version,
                                           common_pb2.REASON_VERIFIED, "ingested"))
        tx.add_rejections(batch.rejections)
        tx.park(batch.parked.values())
        for issuer_id, keyids in sorted(batch.trust_changes.items()):
            _rejudge_issuer(tx, issuer_id, keyids, trust=trust, verify=verify,
                            skip=batch.attestations.keys(), changes=changes)
            current = trust.issuers.get(issuer_id)
            if current is not None:
                _admit_parked(tx, {k.keyid for k in current.record.keys}, trust=trust, verify=verify,
                              changes=changes)
        tx.set_offsets(batch.next_offsets)
    batch.changes, batch.changes_complete = changes.events, changes.complete


def judge_unjudged(store: AttestationStore, *, trust: TrustList, verify: Verifier = verify_each) -> int:
    """Give every stored attestation without a verdict (stored before verdicts were kept) its verdict
    under ``trust``, in one transaction. Returns how many were judged."""
    changes = _Changes()
    judged = 0
    with store.transaction() as tx:
        after = ""
        while page := tx.unjudged_attestations(after=after, limit=REJUDGE_PAGE):
            _rejudge_page(tx, page, trust=trust, verify=verify, skip=(), changes=changes)
            judged += len(page)
            after = page[-1].credential_id
    return judged


def _rejudge_issuer(tx: IngestTransaction, issuer_id: str, keyids: Collection[str], *, trust: TrustList,
                    verify: Verifier, skip: Collection[str], changes: _Changes) -> None:
    """Judge again, page by page, every stored attestation naming ``issuer_id`` or signed by one of
    ``keyids`` (a key may have moved between issuers); write the verdicts that changed."""
    after = ""
    while page := tx.attestations_of_issuer(issuer_id, after=after, limit=REJUDGE_PAGE):
        _rejudge_page(tx, page, trust=trust, verify=verify, skip=skip, changes=changes)
        after = page[-1].credential_id
    for keyid in sorted(keyids):
        after = ""
        while page := tx.attestations_signed_with(keyid, exclude_issuer=issuer_id, after=after, limit=REJUDGE_PAGE):
            _rejudge_page(tx, page, trust=trust, verify=verify, skip=skip, changes=changes)
            after = page[-1].credential_id


def _rejudge_page(tx: IngestTransaction, page: list[StoredAttestation], *, trust: TrustList, verify: Verifier,
                  skip: Collection[str], changes: _Changes) -> None:
    todo = [stored for stored in page if stored.credential_id not in skip]
    outcomes = verify([(stored.envelope_bytes, stored.credential_id, stored.appended_at) for stored in todo], trust)
    verdicts = []
    for stored, outcome in zip(todo, outcomes, strict=True):
        reason, detail = ((common_pb2.REASON_VERIFIED, "") if isinstance(outcome, VerifiedAttestation)
                          else (outcome.reason, outcome.detail))
        if (reason, detail) == (stored.trust_reason, stored.trust_detail):
            continue
        verdicts.append(Verdict(stored.credential_id, reason, detail))
        changes.add(AttestationChanged(stored.credential_id, stored.version, reason, "rejudged"))
    if verdicts:
        logger.info("trust list changed: %d stored attestation(s) re-judged with a new verdict", len(verdicts))
    tx.set_verdicts(verdicts)


def _admit_parked(tx: IngestTransaction, keyids: Collection[str], *, trust: TrustList, verify: Verifier,
                  changes: _Changes) -> None:
    """Judge again the parked records signed by one of ``keyids``; store those that now pass and are
    newer than the version held, forget those that pass but are not, keep the others parked."""
    after = ""
    while page := tx.parked_signed_with(keyids, after=after, limit=REJUDGE_PAGE):
        after = page[-1].record_key
        outcomes = verify([(p.envelope_bytes, p.record_key, p.appended_at) for p in page], trust)
        done: list[str] = []
        admitted: list[VerifiedAttestation] = []
        for parked, outcome in zip(page, outcomes, strict=True):
            if isinstance(outcome, RecordRejected):
                if outcome.reason not in LIFTABLE_REASONS:
                    done.append(parked.record_key)
                continue
            done.append(parked.record_key)
            held = tx.held(outcome.credential_id)  # one parked record per key, and the key is the id
            if (held is not None and outcome.version <= held.version
                    and held.trust_reason != common_pb2.REASON_KEY_REVOKED):
                continue  # superseded while it waited (a compromised key's version supersedes nothing)
            admitted.append(outcome)
            changes.add(AttestationChanged(outcome.credential_id, outcome.version,
                                           common_pb2.REASON_VERIFIED, "admitted"))
            logger.info("%s admitted: the trust list now allows what was refused at %s[%d]@%d (%s)",
                        outcome.credential_id, parked.topic, parked.partition, parked.offset,
                        reason_code(parked.reason))
        tx.put_attestations(admitted)
        tx.unpark(done)
