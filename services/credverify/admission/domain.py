"""The hub's admission rules: which submitted record may enter the compacted attestations topic.

Pure: no clock, no I/O. The time a rule needs is the hub's own (the submission record's
LogAppendTime, the "witnessed time"), passed in with the record. ``judge`` follows one plan:

  (1) size: a record larger than an envelope may be is refused unparsed; a tombstone or an empty
      value is refused (it would erase the credential under its key once compacted)
  (2) the submission topic names the issuer, and the record key is one of that issuer's
      credential ids (a council cannot write under another council's key)
  (3) the one gate, ``verify_attestation``: signature, trust list, scope, record key
  (4) the attestation and the key that signed it belong to the topic's issuer
  (5) witnessed time: the hub received the record before the signing key's time of compromise,
      and ``issued_at`` is not later than that receipt (give or take MAX_ISSUED_AT_AHEAD)
  (6) version: newer than the admitted version of the credential; an identical copy of the
      admitted envelope is already admitted; anything else is a replay. An admitted version signed
      by a key compromised at or before its witnessed time no longer counts (a thief's far-future
      version must not lock the council out of its own credential)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from credverify.core.attestation import VerifiedAttestation, verify_attestation
from credverify.core.envelope import MAX_ENVELOPE_BYTES
from credverify.core.errors import Malformed, RecordRejected, Untrusted
from credverify.core.timefmt import from_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import TrustedKey, TrustList
from credverify.v1 import common_pb2

# How far ``issued_at`` may lie after the hub's receipt of the record. An honest signer signs
# before it sends, so only clock drift puts issued_at later; councils keep their hosts on NTP
# (seconds), and five minutes tolerates a badly kept clock without letting a signer claim a time
# the hub has not reached.
MAX_ISSUED_AT_AHEAD = dt.timedelta(minutes=5)
# The reason an issued_at ahead of the hub's clock is refused with. No reason code of credverify.v1
# says "issued after the hub received it" yet; MALFORMED (the record is not what it claims to be)
# is the closest, and the detail says which rule refused it.
ISSUED_AHEAD_REASON = common_pb2.REASON_MALFORMED
# A credential id is "<issuer id>/<local number>": far below this in any register.
MAX_RECORD_KEY_BYTES = 512


@dataclass(frozen=True)
class Submission:
    """One record of a council's submission topic, as the hub stored it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    # True when the topic stamps records with the hub's clock (LogAppendTime); a topic created
    # with the producer's clock (CreateTime) witnesses nothing.
    hub_timestamped: bool

    @property
    def witnessed_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp_ms / 1000, dt.UTC)

    @property
    def record_key(self) -> str | None:
        """The key as text; None when missing, too long or not UTF-8 (rule (2) refuses it)."""
        if self.key is None or len(self.key) > MAX_RECORD_KEY_BYTES:
            return None
        try:
            return self.key.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class AdmittedEntry:
    """What the hub keeps of the admitted version of a credential."""

    credential_id: str
    version: int
    digest: str  # SHA-256 of the envelope bytes, lowercase hex
    witnessed_at: dt.datetime
    keyid: str


@dataclass(frozen=True)
class Admitted:
    """Decision: write ``submission``'s bytes, unchanged, to the attestations topic."""

    submission: Submission
    entry: AdmittedEntry
    verified: VerifiedAttestation


@dataclass(frozen=True)
class AlreadyAdmitted:
    """Decision: an identical copy of the admitted envelope; nothing to write."""

    submission: Submission
    credential_id: str


@dataclass(frozen=True)
class Refused:
    """Decision: send ``submission`` to the dead-letter topic with ``reason``."""

    submission: Submission
    reason: common_pb2.Reason
    detail: str


Decision = Admitted | AlreadyAdmitted | Refused


def envelope_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def judge(submission: Submission, *, topics: Topics, trust: TrustList, held: AdmittedEntry | None) -> Decision:
    """Return what to do with ``submission``, given the version of its credential admitted so far
    (``held``, None when none). Never raises for anything a submitter can send."""
    try:
        # (1) size, before anything is parsed
        value = _check_size(submission)
        # (2) the topic names the issuer; the record key is one of its credential ids
        issuer_id, credential_id = _check_topic_and_key(submission, topics)
        # (3) the gate: envelope, signature, trust list, scope, record key
        verified = verify_attestation(value, trust=trust, record_key=credential_id)
        # (4) the attestation and its key belong to the topic's issuer
        key = _check_issuer(verified, trust, issuer_id)
        # (5) witnessed time
        _check_witnessed_time(submission, verified, key)
        # (6) version against the admitted one
        return _judge_version(submission, verified, held, trust)
    except RecordRejected as exc:
        return Refused(submission, exc.reason, exc.detail)


def _check_size(submission: Submission) -> bytes:
    """Step (1): return the value. Raises Malformed: OVERSIZED, or MALFORMED for no value."""
    value = submission.value
    if value is None:
        raise Malformed("a tombstone (no value) would erase the credential under key %r once compacted"
                        % _shown_key(submission))
    if len(value) > MAX_ENVELOPE_BYTES:
        raise Malformed("record of %d bytes exceeds the envelope limit of %d" % (len(value), MAX_ENVELOPE_BYTES),
                        reason=common_pb2.REASON_OVERSIZED)
    if not value:
        raise Malformed("empty value under key %r" % _shown_key(submission))
    return value


def _check_topic_and_key(submission: Submission, topics: Topics) -> tuple[str, str]:
    """Step (2): return (issuer id, credential id). Raises Untrusted: ISSUER_NOT_AUTHORISED for a key
    of another issuer, RECORD_KEY_MISMATCH for a missing or unreadable key."""
    issuer_id = topics.issuer_of_submissions(submission.topic)
    if issuer_id is None:
        raise Untrusted(common_pb2.REASON_ISSUER_NOT_AUTHORISED,
                        "topic %r is not a submission topic" % submission.topic[:200])
    credential_id = submission.record_key
    if credential_id is None:
        raise Untrusted(common_pb2.REASON_RECORD_KEY_MISMATCH,
                        "record key: expected a credential id of %s in UTF-8 of at most %d bytes, found %s"
                        % (issuer_id, MAX_RECORD_KEY_BYTES, "none" if submission.key is None
                           else "%d bytes" % len(submission.key)))
    if not credential_id.startswith(issuer_id + "/"):
        raise Untrusted(common_pb2.REASON_ISSUER_NOT_AUTHORISED,
                        "%s submitted under key %r, which is not one of its credential ids ('%s/<number>')"
                        % (issuer_id, credential_id[:200], issuer_id))
    return issuer_id, credential_id


def _check_issuer(verified: VerifiedAttestation, trust: TrustList, issuer_id: str) -> TrustedKey:
    """Step (4): return the signing key. Raises Untrusted (ISSUER_NOT_AUTHORISED). The gate has
    already tied key, issuer and record key together; this says it for the topic, whatever the gate
    becomes."""
    key = trust.key(verified.keyid)
    assert key is not None  # the gate returns only keyids of the trust list
    if verified.attestation.issuer_id != issuer_id or key.issuer_id != issuer_id:
        raise Untrusted(common_pb2.REASON_ISSUER_NOT_AUTHORISED,
                        "%s's submission topic carries an attestation of %s signed by a key of %s"
                        % (issuer_id, verified.attestation.issuer_id, key.issuer_id))
    return key


def _check_witnessed_time(submission: Submission, verified: VerifiedAttestation, key: TrustedKey) -> None:
    """Step (5). Raises: MALFORMED when the topic does not stamp the hub's time, KEY_REVOKED when the
    hub received the record at or after the key's compromise, ISSUED_AHEAD_REASON when issued_at
    is more than MAX_ISSUED_AT_AHEAD after the receipt."""
    if not submission.hub_timestamped:
        raise Malformed("topic %s is not time-stamped by the hub (message.timestamp.type=LogAppendTime): "
                        "the time of receipt is the sender's word" % submission.topic)
    witnessed = submission.witnessed_at
    if key.compromised_at is not None and witnessed >= key.compromised_at:
        raise Untrusted(common_pb2.REASON_KEY_REVOKED,
                        "key %s was reported compromised at %s; the hub received this record at %s"
                        % (verified.keyid[:16], key.compromised_at.isoformat(), witnessed.isoformat()))
    issued_at = from_timestamp(verified.attestation.issued_at)
    if issued_at > witnessed + MAX_ISSUED_AT_AHEAD:
        raise Untrusted(ISSUED_AHEAD_REASON,
                        "issued_at %s is later than the hub's receipt %s by more than %s"
                        % (issued_at.isoformat(), witnessed.isoformat(), MAX_ISSUED_AT_AHEAD))


def still_blocks(held: AdmittedEntry, trust: TrustList) -> bool:
    """True when the admitted version still decides which versions are newer: False once its key
    is reported compromised at or before the hub received it (a thief's version, whatever its number)."""
    key = trust.key(held.keyid)
    return key is None or key.compromised_at is None or held.witnessed_at < key.compromised_at


def _judge_version(submission: Submission, verified: VerifiedAttestation, held: AdmittedEntry | None,
                   trust: TrustList) -> Decision:
    """Step (6). Raises Untrusted (REPLAYED) for an older version or an equal one with other bytes."""
    digest = envelope_digest(verified.envelope_bytes)
    if held is not None and still_blocks(held, trust):
        if held.digest == digest:
            return AlreadyAdmitted(submission, verified.credential_id)
        if verified.version <= held.version:
            raise Untrusted(common_pb2.REASON_REPLAYED,
                            "version %d of %s is not newer than the admitted version %d"
                            % (verified.version, verified.credential_id, held.version))
    entry = AdmittedEntry(credential_id=verified.credential_id, version=verified.version, digest=digest,
                          witnessed_at=submission.witnessed_at, keyid=verified.keyid)
    return Admitted(submission, entry, verified)


def _shown_key(submission: Submission) -> str:
    return (submission.key or b"").decode("utf-8", "replace")[:200]
