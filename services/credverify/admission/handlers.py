"""Admission handlers: judge a batch of submissions, write what is admitted, dead-letter the rest, commit.

One batch (one poll of the submission topics) goes through this plan:

  (1) judge every record in offset order (credverify.admission.domain), each against the version
      admitted before it, in the index or earlier in the same batch
  (2) when a record is refused because its key is on no issuer record, read the trust list to its
      current end and judge the batch again: an issuer record published just before the council's
      first submission is the common race, not an attack
  (3) publish the admitted records to the attestations topic, same key, same bytes, and wait for the
      broker to confirm every one; otherwise raise DeliveryFailed and commit nothing (the batch is
      read and judged again; re-publishing identical bytes is a harmless duplicate downstream)
  (4) publish the dead letters, the copied bytes capped, with a few retries; one that still cannot
      be published is logged and counted, and ingest goes on: one record never stalls the hub
  (5) commit the admitted entries with the consumed offsets, in one transaction
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from credverify.admission.domain import (
    Admitted,
    AdmittedEntry,
    AlreadyAdmitted,
    Decision,
    Refused,
    Submission,
    judge,
)
from credverify.admission.ports import AdmissionIndex, Publisher, TrustSource
from credverify.core.envelope import MAX_ENVELOPE_BYTES
from credverify.core.errors import DeliveryFailed, reason_code
from credverify.core.publishing import OutgoingRecord
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import TrustList
from credverify.v1 import common_pb2, registry_pb2

logger = logging.getLogger(__name__)

# A dead letter copies at most this much of the refused value: everything of a record that could
# have been an envelope, and far below the broker's 1 MiB default, whatever the submission topic
# accepted. The original's size and SHA-256 stay in the detail, its topic/partition/offset in the record.
MAX_DEAD_LETTER_VALUE_BYTES = MAX_ENVELOPE_BYTES
MAX_DEAD_LETTER_KEY_BYTES = 1024
MAX_DETAIL_CHARS = 2000
# Attempts to publish one batch's dead letters, and the pauses between them: a broker restart or a
# leader election passes in seconds; past that the refusal is logged and counted instead.
DEAD_LETTER_PAUSES_S = (0.5, 2.0)


@dataclass
class AdmissionCounts:
    """What admission did since it started, for the health file and the logs."""

    admitted: int = 0
    already_admitted: int = 0
    refused: int = 0
    dead_letters_lost: int = 0  # refusals whose dead letter the broker never confirmed
    batches: int = 0
    refused_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgedBatch:
    decisions: list[Decision]
    entries: dict[str, AdmittedEntry]
    next_offsets: dict[tuple[str, int], int]

    @property
    def admitted(self) -> list[Admitted]:
        return [d for d in self.decisions if isinstance(d, Admitted)]

    @property
    def refused(self) -> list[Refused]:
        return [d for d in self.decisions if isinstance(d, Refused)]


def judge_batch(submissions: Sequence[Submission], *, topics: Topics, trust_list: TrustList,
                index: AdmissionIndex) -> JudgedBatch:
    """Step (1): return the decision on each submission, in order, with the entries to store and
    the offsets consumed."""
    held = index.admitted({key for s in submissions if (key := s.record_key) is not None})
    entries: dict[str, AdmittedEntry] = {}
    decisions: list[Decision] = []
    next_offsets: dict[tuple[str, int], int] = {}
    for submission in submissions:
        key = submission.record_key
        current = (entries.get(key) or held.get(key)) if key is not None else None
        decision = judge(submission, topics=topics, trust=trust_list, held=current)
        if isinstance(decision, Admitted):
            entries[decision.entry.credential_id] = decision.entry
        decisions.append(decision)
        place = (submission.topic, submission.partition)
        next_offsets[place] = max(next_offsets.get(place, 0), submission.offset + 1)
    return JudgedBatch(decisions, entries, next_offsets)


def admit(submissions: Sequence[Submission], *, topics: Topics, trust: TrustSource, index: AdmissionIndex,
          publisher: Publisher, now: Callable[[], dt.datetime], counts: AdmissionCounts,
          pause: Callable[[float], object]) -> JudgedBatch:
    """Run the plan above on one batch; return what was decided. Raises DeliveryFailed (nothing
    committed) when the broker does not confirm an admitted record, HubUnavailable when the trust
    list cannot be read."""
    # (1)
    batch = judge_batch(submissions, topics=topics, trust_list=trust.current(), index=index)
    # (2)
    if any(r.reason == common_pb2.REASON_ISSUER_UNKNOWN for r in batch.refused):
        batch = judge_batch(submissions, topics=topics, trust_list=trust.caught_up(), index=index)
    # (3)
    _publish_admitted(batch.admitted, topics=topics, publisher=publisher)
    # (4)
    lost = send_dead_letters(batch.refused, topics=topics, publisher=publisher, now=now(), pause=pause)
    # (5)
    index.commit(batch.entries.values(), batch.next_offsets)
    _count(batch, lost, counts)
    return batch


def _publish_admitted(admitted: list[Admitted], *, topics: Topics, publisher: Publisher) -> None:
    """Step (3). Raises DeliveryFailed unless the broker confirmed every record."""
    if not admitted:
        return
    # The header names the payload type the signature was verified under (v1 or v2), as it is.
    records = [OutgoingRecord(topics.attestations, a.submission.key, a.verified.envelope_bytes,
                              payload_type=a.verified.payload_type) for a in admitted]
    failed = [d for d in publisher.publish(records) if not d.confirmed]
    if failed:
        raise DeliveryFailed("%d of %d admitted record(s) not confirmed by the hub: %s" % (
            len(failed), len(records), failed[0].error))
    for decision in admitted:
        logger.info("admitted %s version %d from %s[%d]@%d", decision.entry.credential_id, decision.entry.version,
                    decision.submission.topic, decision.submission.partition, decision.submission.offset)


def send_dead_letters(refused: list[Refused], *, topics: Topics, publisher: Publisher, now: dt.datetime,
                      pause: Callable[[float], object]) -> int:
    """Step (4): publish a dead letter of each refusal, retrying those not confirmed; return how many
    were still not confirmed after the last attempt (each logged)."""
    for refusal in refused:
        # The detail may quote a field of the attestation: the log names the reason and the place only.
        logger.warning("refused %s: %s", _place(refusal), reason_code(refusal.reason))
    pending = [(refusal, dead_letter(refusal, topics=topics, now=now)) for refusal in refused]
    for wait in (*DEAD_LETTER_PAUSES_S, None):
        pending = _publish_unconfirmed(pending, publisher)
        if not pending or wait is None:
            break
        pause(wait)
    for refusal, _ in pending:
        logger.error("dead letter of %s (%s) not confirmed after %d attempts; going on without it",
                     _place(refusal), reason_code(refusal.reason), len(DEAD_LETTER_PAUSES_S) + 1)
    return len(pending)


def _publish_unconfirmed(pending: list[tuple[Refused, OutgoingRecord]], publisher: Publisher
                         ) -> list[tuple[Refused, OutgoingRecord]]:
    """Publish ``pending``; return those the hub did not confirm."""
    if not pending:
        return []
    deliveries = publisher.publish([record for _, record in pending])
    return [item for item, delivery in zip(pending, deliveries, strict=True) if not delivery.confirmed]


def _place(refusal: Refused) -> str:
    sub = refusal.submission
    return "%s[%d]@%d key %r" % (sub.topic, sub.partition, sub.offset, (sub.key or b"")[:200])


def dead_letter(refusal: Refused, *, topics: Topics, now: dt.datetime) -> OutgoingRecord:
    """Return the dead letter of ``refusal``: where the record was, why it was refused, its key and
    value cut to MAX_DEAD_LETTER_KEY_BYTES / MAX_DEAD_LETTER_VALUE_BYTES, and the size and SHA-256
    of the original value in the detail."""
    sub = refusal.submission
    value = sub.value or b""
    original = "original value: %s" % ("none (tombstone)" if sub.value is None else "%d bytes, sha256 %s" % (
        len(value), hashlib.sha256(value).hexdigest()))
    if len(value) > MAX_DEAD_LETTER_VALUE_BYTES:
        original += ", copy cut to its first %d bytes" % MAX_DEAD_LETTER_VALUE_BYTES
    key = sub.key[:MAX_DEAD_LETTER_KEY_BYTES] if sub.key is not None else None
    message = registry_pb2.RejectedRecord(
        source_topic=sub.topic, partition=sub.partition, offset=sub.offset, key=key or b"",
        value=value[:MAX_DEAD_LETTER_VALUE_BYTES], reason=refusal.reason,
        detail="%s (%s)" % (refusal.detail[:MAX_DETAIL_CHARS], original), rejected_at=to_timestamp(now))
    return OutgoingRecord(topics.rejected, key, message.SerializeToString())


def _count(batch: JudgedBatch, lost: int, counts: AdmissionCounts) -> None:
    counts.batches += 1
    counts.dead_letters_lost += lost
    for decision in batch.decisions:
        if isinstance(decision, Admitted):
            counts.admitted += 1
        elif isinstance(decision, AlreadyAdmitted):
            counts.already_admitted += 1
        else:
            counts.refused += 1
            code = reason_code(decision.reason)
            counts.refused_by_reason[code] = counts.refused_by_reason.get(code, 0) + 1
