"""Registry handlers: answer Verify, record registrations. Ingest is credverify.registry.ingest
(``ingest``, ``IncomingRecord`` and ``load_trust`` are re-exported here for existing callers)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from credverify.core.attestation import VerifiedAttestation, verify_attestation
from credverify.core.errors import RecordRejected, RegistrationRefused, reason_code
from credverify.core.sdjwt import PresentationRejected
from credverify.core.timefmt import to_timestamp
from credverify.core.trust import TrustList
from credverify.registry.domain import Judgement, build_move, check_presentation, judge, presentation_refusal
from credverify.registry.ingest import IncomingRecord as IncomingRecord
from credverify.registry.ingest import judge_records as ingest  # noqa: F401 - re-exported
from credverify.registry.ingest import load_trust as load_trust
from credverify.registry.ports import AttestationStore, StoredAttestation
from credverify.registry.verification_cache import VerificationCache, check_stored
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2, moves_pb2, registry_pb2

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyOutcome:
    judgement: Judgement
    verified: VerifiedAttestation | None
    # the parsed envelope of ``verified`` when cached, or of the version held when it no longer verifies
    evidence: envelope_pb2.Envelope | None = None
    current_version: int = 0  # the version the registry holds; 0 when none
    # What a checked presentation disclosed: for the caller's answer only, never stored.
    disclosed: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Presented:
    """The applicant's presentation (SD-JWT VC text) and what its key-binding JWT must name."""

    text: str
    audience: str
    nonce: str
    now: dt.datetime


def verify(credential_id: str, claimed: registry_pb2.ClaimedSubject | None, *, store: AttestationStore,
           trust: TrustList, today: dt.date, cache: VerificationCache | None = None,
           presented: Presented | None = None) -> VerifyOutcome:
    """Judge a credential as of ``today`` against the current trust list.

    The stored envelope is verified again (or its outcome taken from ``cache``, which
    is keyed by the trust list's state), so a key reported compromised or an issuer
    narrowed after ingest shows at once. An id with no accepted attestation answers
    NOT_FOUND, or the reasons its records were rejected. With ``presented``, the
    claimed details are compared with those the presentation discloses (v2); a
    presentation that does not check out is its reason, as a verdict.
    """
    checked = cache.held(credential_id, trust) if cache is not None else None
    if checked is None:
        generation = cache.generation if cache is not None else None
        stored = store.get(credential_id)
        if stored is None:
            return _never_accepted(credential_id, store)
        checked = (cache.check(stored, trust, generation=generation) if cache is not None
                   else check_stored(stored, trust))
    if checked.verified is None:
        assert checked.rejection is not None
        reason, detail = checked.rejection
        # Still the evidence: the envelope this registry once accepted, for a regulator that relied on it.
        return VerifyOutcome(Judgement(False, (reason,), "no longer trusted: " + detail), None,
                             checked.evidence, checked.version)
    if presented is None:
        return VerifyOutcome(judge(checked.verified, claimed, today=today), checked.verified, checked.evidence,
                             checked.version)
    return _judge_presented(checked.verified, claimed, presented, trust=trust, today=today,
                            evidence=checked.evidence, version=checked.version)


def _judge_presented(verified: VerifiedAttestation, claimed: registry_pb2.ClaimedSubject | None,
                     presented: Presented, *, trust: TrustList, today: dt.date,
                     evidence: envelope_pb2.Envelope | None, version: int) -> VerifyOutcome:
    """The verdict on the version held with the applicant's presentation: the presentation's fault
    when it does not check out, else the judgement with her disclosed details."""
    try:
        checked = check_presentation(presented.text, verified, trust=trust, audience=presented.audience,
                                     nonce=presented.nonce, now=presented.now)
    except PresentationRejected as exc:
        reason, detail = presentation_refusal(exc)
        return VerifyOutcome(Judgement(False, (reason,), detail), verified, evidence, version)
    return VerifyOutcome(judge(verified, claimed, today=today, disclosed=checked.disclosed), verified, evidence,
                         version, disclosed=checked.disclosed)


def _never_accepted(credential_id: str, store: AttestationStore) -> VerifyOutcome:
    """The verdict on an id the registry holds no attestation for: the reasons its records were
    rejected, or NOT_FOUND when none came."""
    rejections = store.rejections_for(credential_id)
    if not rejections:
        return VerifyOutcome(Judgement(False, (common_pb2.REASON_NOT_FOUND,), "no attestation with this id"), None)
    reasons = tuple(dict.fromkeys(r.reason for r in rejections))
    return VerifyOutcome(Judgement(False, reasons, "%d record(s) published under this id were rejected: %s" % (
        len(rejections), ", ".join(reason_code(r) for r in reasons))), None)


@dataclass(frozen=True)
class MoveRecorded:
    move: moves_pb2.VerifiedMove
    already_recorded: bool


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
    presented: Presented | None = None,
) -> MoveRecorded:
    """Emit one VerifiedMove for a verified credential; the same applicant and credential again
    returns the recorded move without emitting. A v2 credential needs ``presented``, disclosing the
    register number and country of training; of them only the move's pseudonym and country of
    training are kept. Raises RegistrationRefused when not verified."""
    outcome = verify(credential_id, claimed, store=store, trust=trust, today=today, presented=presented)
    if not outcome.judgement.verified or outcome.verified is None:
        raise RegistrationRefused(credential_id, outcome.judgement.reasons, outcome.judgement.detail)
    move = build_move(outcome.verified, destination=destination, registered_on=registered_on,
                      pseudonym_key=pseudonym_key, disclosed=outcome.disclosed if presented is not None else None)
    recorded = store.registration(move.move_id)
    if recorded is not None:
        return MoveRecorded(recorded, already_recorded=True)
    publish_move(move)  # confirmed by the broker before we remember it: a crash here re-publishes,
    store.add_registration(credential_id, move)  # and flowstats de-duplicates by move_id
    return MoveRecorded(move, already_recorded=False)


def verify_presented(envelope_bytes: bytes, claimed: registry_pb2.ClaimedSubject | None, *,
                     store: AttestationStore, trust: TrustList, today: dt.date, now: dt.datetime,
                     cache: VerificationCache | None = None, presented: Presented | None = None) -> VerifyOutcome:
    """Judge an envelope an applicant hands over, as of ``today``.

    Nothing about it needs to be stored: it is checked offline, then against
    the state the registry holds. A refusal of the envelope itself (a bad
    signature, an unknown issuer, bytes that do not parse) is a verdict, not an
    error: the applicant handed over a bad document.

    Its witnessed time (spec 10.3) is the hub's append time when the registry holds these very
    bytes, else ``now``, when the registry first sees them: an envelope signed by a key reported
    compromised that the hub never witnessed before the compromise is KEY_REVOKED.

    With ``presented`` (a v2 envelope), the claimed details are compared with those her presentation
    discloses, checked against the envelope's digests, as ``verify`` does with the version held.
    """
    # (1) the envelope verifies against the current trust list, exactly as a Kafka record would
    try:
        verified = verify_attestation(envelope_bytes, trust=trust, witnessed_at=_witnessed(envelope_bytes, store, now))
    except RecordRejected as exc:
        return VerifyOutcome(Judgement(False, (exc.reason,), exc.detail), None)

    # (2) what it says holds today and matches the applicant's claimed details (those she disclosed, v2)
    judged = (_judge_presented(verified, claimed, presented, trust=trust, today=today, evidence=None, version=0)
              if presented is not None else VerifyOutcome(judge(verified, claimed, today=today), verified))
    judgement, disclosed = judged.judgement, judged.disclosed

    # (3) it is the version the registry holds, or newer (the registry has not caught up yet)
    stored = store.get(verified.credential_id)
    if stored is None:
        return VerifyOutcome(_noted(judgement, "the registry holds no version of this credential"), verified,
                             disclosed=disclosed)
    return _against_held(envelope_bytes, verified, judgement, stored, trust=trust, cache=cache, disclosed=disclosed)


def _against_held(envelope_bytes: bytes, verified: VerifiedAttestation, judgement: Judgement,
                  stored: StoredAttestation, *, trust: TrustList, cache: VerificationCache | None,
                  disclosed: Mapping[str, object]) -> VerifyOutcome:
    """The verdict on a presented envelope given the version held: STALE when that is newer, or the
    same version with other bytes."""
    presented_payload = envelope_pb2.Envelope.FromString(envelope_bytes).payload
    superseded = stored.version > verified.version or (
        stored.version == verified.version
        and envelope_pb2.Envelope.FromString(stored.envelope_bytes).payload != presented_payload
    )
    if superseded:
        reasons = tuple(r for r in judgement.reasons
                        if r not in (common_pb2.REASON_VERIFIED, common_pb2.REASON_CONDITIONS_APPLY))
        detail = "version %d is superseded by version %d the registry holds%s" % (
            verified.version, stored.version, _held_status(stored, trust, cache))
        if judgement.verified is False:
            detail += "; " + judgement.detail
        return VerifyOutcome(Judgement(False, reasons + (common_pb2.REASON_STALE,), detail), verified,
                             current_version=stored.version, disclosed=disclosed)
    if stored.version < verified.version:
        judgement = _noted(judgement, "newer than version %d the registry holds" % stored.version)
    return VerifyOutcome(judgement, verified, current_version=stored.version, disclosed=disclosed)


def _witnessed(envelope_bytes: bytes, store: AttestationStore, now: dt.datetime) -> dt.datetime:
    """The hub's append time of the version held when it is these very bytes, else ``now``."""
    try:
        credential_id = attestation_pb2.Attestation.FromString(
            envelope_pb2.Envelope.FromString(envelope_bytes).payload).credential_id
    except DecodeError:
        return now  # the gate refuses it as malformed
    stored = store.get(credential_id) if credential_id else None
    if stored is not None and stored.envelope_bytes == envelope_bytes and stored.appended_at is not None:
        return stored.appended_at
    return now


def _noted(judgement: Judgement, note: str) -> Judgement:
    return Judgement(judgement.verified, judgement.reasons, "%s; %s" % (judgement.detail, note))


def _held_status(stored: StoredAttestation, trust: TrustList, cache: VerificationCache | None) -> str:
    try:
        held = (cache.verify(stored, trust)[0] if cache is not None
                else verify_attestation(stored.envelope_bytes, trust=trust, record_key=stored.credential_id,
                                        witnessed_at=stored.appended_at))
    except RecordRejected as exc:
        return " (which no longer verifies: %s)" % exc.code
    status = common_pb2.CredentialStatus.Name(held.attestation.status).removeprefix("CREDENTIAL_STATUS_")
    return " (status %s)" % status


def status_update(
    credential_id: str,
    *,
    store: AttestationStore,
    trust: TrustList,
    today: dt.date,
    observed_at: dt.datetime,
    initial: bool,
    cache: VerificationCache | None = None,
) -> registry_pb2.StatusUpdate:
    """Return the state of ``credential_id`` for WatchStatus: as Verify would judge it without
    claimed details, with the status and evidence of the version held."""
    outcome = verify(credential_id, None, store=store, trust=trust, today=today, cache=cache)
    update = registry_pb2.StatusUpdate(
        credential_id=credential_id,
        version=outcome.current_version,
        verified=outcome.judgement.verified,
        reasons=list(outcome.judgement.reasons),
        detail=outcome.judgement.detail,
        observed_at=to_timestamp(observed_at),
        initial=initial,
    )
    if outcome.verified is not None:
        update.status = outcome.verified.attestation.status
    if outcome.evidence is not None:  # also when no longer trusted: what the registry once accepted
        update.evidence.CopyFrom(outcome.evidence)
    return update
