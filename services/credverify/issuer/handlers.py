"""Issuer handlers: sign attestations and status changes, publish them, report only confirmed deliveries.

Every handler follows one plan: (1) build and validate everything, touching no
network, so that a bad order stops the batch before anything is sent; (2) ask
the ledger what was issued before: the same content already confirmed is not
sent again, the same content signed but never confirmed is re-sent byte for
byte, anything else is signed as the next version; (3) write the signings to the
ledger; (4) publish; (5) write down what the broker confirmed.

What goes to the hub is a v2 attestation: the practitioner's personal claims are
sealed (core.sdjwt.seal) and only their salted digests are signed. The ledger
keeps the complete attestation and the sealing, so a status change carries the
same digests and ``credentials`` can sign her SD-JWT VC again at any time.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credverify.core.attestation import attestation_v2_of, sign_attestation_v2
from credverify.core.envelope import Signer
from credverify.core.errors import InvalidInput, NotFound
from credverify.core.issuing import IssueAttestation, build_attestation
from credverify.core.publishing import Delivery, OutgoingRecord
from credverify.core.register_csv import RegisterRow, RowError, read_register
from credverify.core.sdjwt import IssuedCredential, Sealing, content_of_attestation, seal, sign_credential
from credverify.core.topics import Topics
from credverify.issuer.domain import ChangeStatus, change_status, content_digest
from credverify.issuer.ports import IssuedEntry, IssuedLedger, Publisher
from credverify.v1 import attestation_pb2, envelope_pb2

PUBLISHED = "published"
UNCHANGED = "unchanged"          # the same content was confirmed before; nothing sent
NOT_CONFIRMED = "not-confirmed"  # sent, but the broker did not confirm it: not done


@dataclass(frozen=True)
class AttestationIssued:
    """Event: what became of one order. Only ``confirmed`` ones may be reported as delivered."""

    credential_id: str
    version: int
    envelope_bytes: bytes
    outcome: str
    delivery: Delivery | None = None

    @property
    def confirmed(self) -> bool:
        return self.outcome != NOT_CONFIRMED

    @property
    def error(self) -> str | None:
        return self.delivery.error if self.delivery is not None else None

    @property
    def envelope(self) -> envelope_pb2.Envelope:
        return envelope_pb2.Envelope.FromString(self.envelope_bytes)


def issue(
    commands: Sequence[IssueAttestation],
    *,
    signer: Signer,
    publisher: Publisher,
    topics: Topics,
    ledger: IssuedLedger,
    now: dt.datetime,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[AttestationIssued]:
    """Issue ``commands`` (one event each, in order). Raises InvalidInput, before anything is sent,
    when any command is invalid or two name the same credential. ``random_bytes`` gives the salts."""
    ids = [cmd.credential_id for cmd in commands]
    _check_each_once(ids)
    # (1), (2)
    issued = ledger.lookup(ids)
    atts: list[attestation_pb2.Attestation] = []
    for cmd in commands:
        previous = issued.get(cmd.credential_id)
        atts.append(build_attestation(cmd, now=now, previous_version=previous.version if previous else None))
    plan = [_plan_issue(att, issued.get(att.credential_id), signer=signer, random_bytes=random_bytes)
            for att in atts]
    return _send(plan, publisher=publisher, topics=topics, ledger=ledger)


def _check_each_once(ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise InvalidInput("credential_id: each credential once per batch, found %s more than once" % repeated[:5])


def _plan_issue(att: attestation_pb2.Attestation, previous: IssuedEntry | None, *, signer: Signer,
                random_bytes: Callable[[int], bytes]) -> IssuedEntry | AttestationIssued:
    """Return what to do with a validated ``att``: nothing (the same content was confirmed), send
    ``previous`` again byte for byte (the same content was signed but never confirmed), or send a
    new signing. A credential the hub holds as v1 (personal data in clear) is signed again as v2."""
    digest = content_digest(att)
    if previous is not None and previous.digest == digest and previous.sealing is not None:
        return previous if not previous.confirmed else AttestationIssued(
            att.credential_id, previous.version, previous.envelope_bytes, UNCHANGED)
    return _new_signing(att, digest, previous, signer=signer, random_bytes=random_bytes)


def _new_signing(att: attestation_pb2.Attestation, digest: str, previous: IssuedEntry | None, *, signer: Signer,
                 random_bytes: Callable[[int], bytes]) -> IssuedEntry:
    """The ledger entry of a signing not yet sent: ``att``'s personal claims sealed (a claim unchanged
    since ``previous`` keeps its Disclosure, so its digest), the v2 attestation of their digests signed."""
    sealing = seal(content_of_attestation(att), random_bytes=random_bytes,
                   previous=previous.sealing if previous else None)
    envelope = sign_attestation_v2(attestation_v2_of(att, sealing.digests), signer=signer)
    return IssuedEntry(att.credential_id, att.version, digest, envelope.SerializeToString(),
                       confirmed=False, partition=None, offset=None,
                       attestation=att.SerializeToString(deterministic=True), sealing=sealing)


def change_statuses(
    changes: Sequence[ChangeStatus],
    *,
    signer: Signer,
    publisher: Publisher,
    topics: Topics,
    ledger: IssuedLedger,
    now: dt.datetime,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[AttestationIssued]:
    """Sign and publish the next version of each credential with its status changed. Raises
    InvalidInput, before anything is sent, for a credential the ledger does not hold or a change that
    does not apply (see issuer.domain.change_status). The digests stay those of the previous version,
    so the practitioner's credential keeps working; only a change of conditions seals the conditions
    claim anew (she then needs her credential again: ``credentials``)."""
    issued = ledger.lookup([c.credential_id for c in changes])
    plan: list[IssuedEntry | AttestationIssued] = []
    for change in changes:
        entry = issued.get(change.credential_id)
        if entry is None:
            raise NotFound("credential_id: %s was never issued from this ledger" % change.credential_id)
        att = change_status(_attestation_of(entry), change, now=now)
        entry = _new_signing(att, content_digest(att), entry, signer=signer, random_bytes=random_bytes)
        issued[change.credential_id] = entry
        plan.append(entry)
    return _send(plan, publisher=publisher, topics=topics, ledger=ledger)


def resend_unconfirmed(*, publisher: Publisher, topics: Topics, ledger: IssuedLedger) -> list[AttestationIssued]:
    """Publish again, byte for byte, every signing the broker never confirmed."""
    return _send(list(ledger.unconfirmed()), publisher=publisher, topics=topics, ledger=ledger)


def current_attestation(credential_id: str, *, ledger: IssuedLedger) -> tuple[attestation_pb2.Attestation,
                                                                               IssuedEntry]:
    """Return the latest signed attestation of ``credential_id`` and its ledger entry. Raises InvalidInput."""
    entry = ledger.lookup([credential_id]).get(credential_id)
    if entry is None:
        raise NotFound("credential_id: %s was never issued from this ledger" % credential_id)
    return _attestation_of(entry), entry


def _attestation_of(entry: IssuedEntry) -> attestation_pb2.Attestation:
    """The complete attestation of a ledger entry (signed by this issuer, so parsed without checks): the
    ledger's own copy, or for a credential signed as v1 the one inside its envelope."""
    if entry.attestation is not None:
        return attestation_pb2.Attestation.FromString(entry.attestation)
    return attestation_pb2.Attestation.FromString(envelope_pb2.Envelope.FromString(entry.envelope_bytes).payload)


def credentials(credential_ids: Sequence[str], *, ledger: IssuedLedger, signer: Signer, now: dt.datetime,
                holder_key: Ed25519PublicKey | None = None) -> dict[str, IssuedCredential]:
    """Return the practitioner's SD-JWT VC of each credential the ledger holds sealed, signed now by
    ``signer`` over the Disclosures of its latest version: the digests are those on the hub whatever
    the key or the day. ``holder_key`` binds it (``cnf``). A credential signed as v1 has none."""
    issued = ledger.lookup(credential_ids)
    return {cid: _credential_of(entry, entry.sealing, signer=signer, now=now, holder_key=holder_key)
            for cid, entry in issued.items() if entry.sealing is not None}


def credential(credential_id: str, *, ledger: IssuedLedger, signer: Signer, now: dt.datetime,
               holder_key: Ed25519PublicKey | None = None) -> IssuedCredential:
    """Return the practitioner's SD-JWT VC of one credential. Raises NotFound."""
    found = credentials([credential_id], ledger=ledger, signer=signer, now=now, holder_key=holder_key)
    if credential_id not in found:
        current_attestation(credential_id, ledger=ledger)  # NotFound when never issued
        raise NotFound("credential_id: %s was signed before sealed personal data (a v1 attestation): issue it "
                       "again to give the practitioner a credential" % credential_id)
    return found[credential_id]


def _credential_of(entry: IssuedEntry, sealing: Sealing, *, signer: Signer, now: dt.datetime,
                   holder_key: Ed25519PublicKey | None) -> IssuedCredential:
    content = content_of_attestation(_attestation_of(entry))
    return sign_credential(content, sealing, signer=signer, now=now, holder_key=holder_key)


def _send(plan: list[IssuedEntry | AttestationIssued], *, publisher: Publisher, topics: Topics,
          ledger: IssuedLedger) -> list[AttestationIssued]:
    to_send = [item for item in plan if isinstance(item, IssuedEntry)]
    # (3) the ledger knows of a signing before the broker does
    ledger.record_signed(entry for entry in to_send if not entry.confirmed)
    # (4)
    deliveries = publisher.publish(_record_of(entry, topics) for entry in to_send)
    # (5)
    ledger.record_delivered((e.credential_id, e.version, d) for e, d in zip(to_send, deliveries, strict=True))
    # Each entry sent gets the event of its own delivery, in plan order: one batch may change one
    # credential twice (suspend, then revoke), and each change is reported as itself.
    sent = iter(_outcomes(to_send, deliveries))
    return [item if isinstance(item, AttestationIssued) else next(sent) for item in plan]


def _record_of(entry: IssuedEntry, topics: Topics) -> OutgoingRecord:
    """The record of a signing, on this council's own submission topic: the hub's admission verifies it
    there and alone writes the compacted attestations topic."""
    issuer_id = entry.credential_id.split("/", 1)[0]  # "<issuer id>/<number>", validated before signing
    payload_type = envelope_pb2.Envelope.FromString(entry.envelope_bytes).payloadType  # v2, or v1 re-sent
    return OutgoingRecord(topic=topics.submissions(issuer_id), key=entry.credential_id.encode(),
                          value=entry.envelope_bytes, payload_type=payload_type)


def _outcomes(sent: list[IssuedEntry], deliveries: list[Delivery]) -> list[AttestationIssued]:
    """Return the event of each entry sent, in the order sent."""
    return [
        AttestationIssued(entry.credential_id, entry.version, entry.envelope_bytes,
                          PUBLISHED if delivery.confirmed else NOT_CONFIRMED, delivery)
        for entry, delivery in zip(sent, deliveries, strict=True)
    ]


# --- bulk issue from a register export ------------------------------------------------------------

# Rows signed, recorded and published together: large enough to keep the producer's batches full,
# small enough that memory stays flat whatever the file's size.
BULK_BATCH = 2_000


@dataclass
class BulkReport:
    """What a bulk issue did, row by row where it matters."""

    rows: int = 0
    invalid: list[RowError] = field(default_factory=list)
    published: int = 0
    unchanged: int = 0
    not_confirmed: list[tuple[int, str, str]] = field(default_factory=list)  # (row, credential id, error)
    credentials: int = 0  # practitioners' credentials handed to ``deliver_credentials``

    @property
    def complete(self) -> bool:
        return not self.invalid and not self.not_confirmed


def validate_register(open_register: Callable[[], TextIO], *, issuer_id: str, jurisdiction: str
                      ) -> tuple[int, list[RowError]]:
    """Read the whole register once, publishing nothing; return (data rows, errors)."""
    rows, errors = 0, []
    with open_register() as handle:
        for item in read_register(handle, issuer_id=issuer_id, jurisdiction=jurisdiction):
            if isinstance(item, RowError):
                errors.append(item)
                if item.row == 1:
                    return 0, errors
            rows += 1
    return rows, errors


def issue_register(
    open_register: Callable[[], TextIO],
    *,
    issuer_id: str,
    jurisdiction: str,
    signer: Signer,
    publisher: Publisher,
    topics: Topics,
    ledger: IssuedLedger,
    now: dt.datetime,
    validation: tuple[int, list[RowError]] | None = None,
    strict: bool = False,
    progress: Callable[[int], object] = lambda rows: None,
    deliver_credentials: Callable[[dict[str, IssuedCredential]], object] | None = None,
) -> BulkReport:
    """Issue every valid row of a register export; return the report.

    (1) Every row is validated before anything is published; invalid rows are reported and never
    published (with ``strict``, nothing at all is published when any row is invalid). (2) The valid
    rows are issued in batches through ``issue``: content the ledger holds as confirmed is not sent
    again, so a second run of the same file publishes nothing. ``progress`` is called with the number
    of rows each batch completed. ``validation`` is validate_register's result when the caller has it
    already. ``deliver_credentials`` gets, batch by batch, the practitioners' credentials of the rows
    the hub holds (published now or confirmed before), signed now. Memory stays flat: the file is read
    twice, never held.
    """
    report = BulkReport()
    report.rows, report.invalid = validation or validate_register(open_register, issuer_id=issuer_id,
                                                                  jurisdiction=jurisdiction)
    if report.invalid and (strict or report.invalid[0].row == 1):
        return report
    rows = _valid_rows(open_register, issuer_id=issuer_id, jurisdiction=jurisdiction,
                       bad_rows={error.row for error in report.invalid}, progress=progress)
    for batch in _batches(rows, BULK_BATCH):
        events = issue([r.command for r in batch], signer=signer, publisher=publisher, topics=topics,
                       ledger=ledger, now=now)
        _tally(report, batch, events)
        if deliver_credentials is not None:
            report.credentials += _deliver(events, deliver_credentials, ledger=ledger, signer=signer, now=now)
        progress(len(batch))
    return report


def _deliver(events: list[AttestationIssued], deliver_credentials: Callable[[dict[str, IssuedCredential]], object],
             *, ledger: IssuedLedger, signer: Signer, now: dt.datetime) -> int:
    """Hand over the credentials of the events the hub holds; return how many."""
    held = [event.credential_id for event in events if event.confirmed]
    issued = credentials(held, ledger=ledger, signer=signer, now=now)
    deliver_credentials(issued)
    return len(issued)


def _valid_rows(open_register: Callable[[], TextIO], *, issuer_id: str, jurisdiction: str, bad_rows: set[int],
                progress: Callable[[int], object]) -> Iterator[RegisterRow]:
    """Yield the rows of the second pass that the first found valid; an invalid row counts as done."""
    with open_register() as handle:
        for item in read_register(handle, issuer_id=issuer_id, jurisdiction=jurisdiction):
            if isinstance(item, RowError):
                progress(1)
                continue
            if item.row in bad_rows:  # the file changed between the passes: never publish unvalidated rows
                continue
            yield item


def _batches(rows: Iterator[RegisterRow], size: int) -> Iterator[list[RegisterRow]]:
    """Yield ``rows`` in lists of ``size``, the last one shorter; each as soon as it is full."""
    batch: list[RegisterRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _tally(report: BulkReport, batch: list[RegisterRow], events: list[AttestationIssued]) -> None:
    for register_row, event in zip(batch, events, strict=True):
        if event.outcome == PUBLISHED:
            report.published += 1
        elif event.outcome == UNCHANGED:
            report.unchanged += 1
        else:
            report.not_confirmed.append((register_row.row, event.credential_id, event.error or "not confirmed"))
