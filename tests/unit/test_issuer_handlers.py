"""The issuer's handlers against in-memory fakes of the ledger and the publisher: the ledger learns of
a signing before the broker does, only confirmed deliveries count as done, and a re-run of anything
publishes only what was never confirmed."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core.attestation import ATTESTATION_V2_TYPE, verify_attestation
from credverify.core.errors import InvalidInput, NotFound
from credverify.core.issuing import IssueAttestation, build_attestation
from credverify.core.publishing import Delivery, OutgoingRecord
from credverify.core.register_csv import REQUIRED_COLUMNS, RowError
from credverify.core.sdjwt import (
    SEALED_DIGESTS,
    Sealing,
    decode_disclosure,
    holder_claims,
    hub_digests,
    make_disclosure,
    present,
    verify_presentation,
)
from credverify.core.topics import Topics
from credverify.issuer import handlers
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.domain import ChangeStatus, content_digest
from credverify.issuer.ports import IssuedEntry
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2
from tests.factories import KE_KEY, T0, attestation_bytes, nurse, trust_list
from tests.fakes import (
    NOT_CONFIRMED_IN_TIME,
    REFUSED_BY_BROKER,
    FakePublisher,
    InMemoryIssuedLedger,
    every_nth,
    keyed,
)

TOPICS = Topics(prefix="unit.")
LATER = T0 + dt.timedelta(days=1)


class Issuer:
    """One issuer's ports, fixed key and clock: what bootstrap would wire, in memory."""

    def __init__(self) -> None:
        self.ledger = InMemoryIssuedLedger()
        self.publisher = FakePublisher()

    def issue(self, *commands: IssueAttestation, now: dt.datetime = T0) -> list[handlers.AttestationIssued]:
        return handlers.issue(list(commands), signer=KE_KEY, publisher=self.publisher, topics=TOPICS,
                              ledger=self.ledger, now=now)

    def change(self, *changes: ChangeStatus, now: dt.datetime = LATER) -> list[handlers.AttestationIssued]:
        return handlers.change_statuses(list(changes), signer=KE_KEY, publisher=self.publisher, topics=TOPICS,
                                        ledger=self.ledger, now=now)

    def resend(self) -> list[handlers.AttestationIssued]:
        return handlers.resend_unconfirmed(publisher=self.publisher, topics=TOPICS, ledger=self.ledger)

    def entry(self, credential_id: str = "KE-NCK/12345") -> IssuedEntry:
        return self.ledger.lookup([credential_id])[credential_id]

    def sent_ids(self) -> list[str]:
        return [record.key.decode() for record in self.publisher.asked if record.key is not None]


def attestation_of(envelope_bytes: bytes) -> attestation_pb2.Attestation:
    """What a registry would read from the bytes: verified against the federation's trust list."""
    return verify_attestation(envelope_bytes, trust=trust_list()).attestation


def digests_of(envelope_bytes: bytes) -> tuple[str, ...]:
    """The digests the hub's attestation carries (read from the issuer's own envelope: the trust list's
    scope is not the point here)."""
    payload = envelope_pb2.Envelope.FromString(envelope_bytes).payload
    return tuple(attestation_pb2.AttestationV2.FromString(payload).subject_digests)


def claims_of(issuer: Issuer, credential_id: str = "KE-NCK/12345", *, now: dt.datetime = LATER) -> dict[str, object]:
    """What the practitioner's credential, as the council exports it now, says of her; checked to open
    exactly the digests of the version on the hub."""
    entry = issuer.entry(credential_id)
    credential = handlers.credential(credential_id, ledger=issuer.ledger, signer=KE_KEY, now=now)
    assert hub_digests(credential.text) == digests_of(entry.envelope_bytes) == credential.digests
    return holder_claims(credential.text)


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


# --- issue ----------------------------------------------------------------------------------------


class LedgerWitness:
    """A publisher that notes what the ledger held for each record at the moment it was asked to send it."""

    def __init__(self, ledger: InMemoryIssuedLedger, publisher: FakePublisher) -> None:
        self.ledger, self.publisher = ledger, publisher
        self.held_when_sent: list[IssuedEntry | None] = []

    def publish(self, records: Iterable[OutgoingRecord]) -> list[Delivery]:
        records = list(records)
        for record in records:
            assert record.key is not None
            self.held_when_sent.append(self.ledger.lookup([record.key.decode()]).get(record.key.decode()))
        return self.publisher.publish(records)


def test_the_ledger_holds_a_signing_before_the_broker_is_asked_to_send_it(issuer: Issuer) -> None:
    witness = LedgerWitness(issuer.ledger, issuer.publisher)
    [event] = handlers.issue([nurse()], signer=KE_KEY, publisher=witness, topics=TOPICS, ledger=issuer.ledger,
                             now=T0)
    [held] = witness.held_when_sent
    assert held is not None, "a crash during publishing would leave no trace of the signing"
    assert held.envelope_bytes == event.envelope_bytes and held.version == event.version
    assert not held.confirmed


def test_a_confirmed_issue_is_published_as_signed_and_marked_with_its_position(issuer: Issuer) -> None:
    [event] = issuer.issue(nurse())
    [record] = issuer.publisher.asked
    assert (record.topic, record.key, record.payload_type) == ("unit.credverify.submissions.v1.KE-NCK",
                                                               b"KE-NCK/12345", ATTESTATION_V2_TYPE)
    assert record.value == event.envelope_bytes
    assert event.outcome == handlers.PUBLISHED and event.confirmed and event.error is None
    assert event.delivery is not None and event.delivery.partition is not None
    entry = issuer.entry()
    assert entry.confirmed
    assert (entry.partition, entry.offset) == (event.delivery.partition, event.delivery.offset)
    assert (entry.version, entry.envelope_bytes) == (event.version, event.envelope_bytes)
    att = attestation_of(record.value)
    assert att.credential_id == "KE-NCK/12345" and att.version == event.version
    assert not att.HasField("subject"), "the hub carries digests, not the person"
    assert claims_of(issuer)["family_name"] == "Wanjiru"


def test_a_batch_is_answered_one_event_per_order_in_order(issuer: Issuer) -> None:
    events = issuer.issue(nurse("3"), nurse("1"), nurse("2"))
    assert [e.credential_id for e in events] == ["KE-NCK/3", "KE-NCK/1", "KE-NCK/2"]
    assert issuer.sent_ids() == ["KE-NCK/3", "KE-NCK/1", "KE-NCK/2"]
    assert issuer.ledger.counts() == {"credentials": 3, "confirmed": 3, "unconfirmed": 0}


def test_a_reissue_of_identical_content_publishes_nothing(issuer: Issuer) -> None:
    [first] = issuer.issue(nurse())
    [again] = issuer.issue(nurse(), now=LATER)
    assert again.outcome == handlers.UNCHANGED and again.confirmed
    assert again.version == first.version and again.envelope_bytes == first.envelope_bytes
    assert len(issuer.publisher.asked) == 1, "the same content was sent twice"
    assert issuer.entry().version == first.version


def test_changed_content_is_signed_as_a_new_higher_version(issuer: Issuer) -> None:
    [first] = issuer.issue(nurse())
    [changed] = issuer.issue(nurse(family_name="Wanjiru-Otieno"), now=LATER)
    assert changed.outcome == handlers.PUBLISHED
    assert changed.version > first.version
    assert claims_of(issuer)["family_name"] == "Wanjiru-Otieno"
    assert len(set(digests_of(first.envelope_bytes)) & set(digests_of(changed.envelope_bytes))) == 9, (
        "only the changed claim's digest changes")
    assert issuer.entry().version == changed.version and issuer.entry().confirmed
    assert len(issuer.publisher.asked) == 2


def test_a_change_signed_under_a_clock_that_stepped_back_still_gets_a_higher_version(issuer: Issuer) -> None:
    [first] = issuer.issue(nurse())
    [changed] = issuer.issue(nurse(given_names="Grace"), now=T0 - dt.timedelta(hours=1))
    assert changed.version == first.version + 1


def test_a_delivery_the_broker_did_not_confirm_is_not_reported_as_done(issuer: Issuer) -> None:
    issuer.publisher.stay_unconfirmed(keyed("KE-NCK/2"))
    events = issuer.issue(nurse("1"), nurse("2"))
    assert [e.outcome for e in events] == [handlers.PUBLISHED, handlers.NOT_CONFIRMED]
    assert not events[1].confirmed and events[1].error == NOT_CONFIRMED_IN_TIME
    assert [e.credential_id for e in issuer.ledger.unconfirmed()] == ["KE-NCK/2"]
    assert issuer.entry("KE-NCK/2").partition is None and issuer.entry("KE-NCK/2").offset is None


def test_reissuing_content_that_was_never_confirmed_resends_the_same_bytes(issuer: Issuer) -> None:
    issuer.publisher.fail(keyed("KE-NCK/12345"))
    [lost] = issuer.issue(nurse())
    issuer.publisher.recover()
    [again] = issuer.issue(nurse(), now=LATER)
    assert again.outcome == handlers.PUBLISHED
    assert again.version == lost.version, "a second version was signed for content already signed"
    assert [r.value for r in issuer.publisher.asked] == [lost.envelope_bytes, lost.envelope_bytes]
    assert issuer.entry().confirmed


def test_a_batch_naming_a_credential_twice_is_refused_before_anything_is_sent(issuer: Issuer) -> None:
    with pytest.raises(InvalidInput, match=r"each credential once per batch, found \['KE-NCK/1'\]"):
        issuer.issue(nurse("1"), nurse("2"), nurse("1", family_name="Otieno"))
    assert issuer.publisher.asked == [] and issuer.ledger.counts()["credentials"] == 0


def test_one_invalid_order_stops_the_batch_before_anything_is_signed_or_sent(issuer: Issuer) -> None:
    with pytest.raises(InvalidInput, match="profession_isco: .*'9999'"):
        issuer.issue(nurse("1"), nurse("2", profession_isco="9999"))
    assert issuer.publisher.asked == [] and issuer.ledger.counts()["credentials"] == 0


# --- status changes -------------------------------------------------------------------------------


def test_a_suspension_is_published_as_the_next_version(issuer: Issuer) -> None:
    [issued] = issuer.issue(nurse())
    [suspended] = issuer.change(ChangeStatus("KE-NCK/12345", "suspend", "INTERIM_ORDER"))
    assert suspended.outcome == handlers.PUBLISHED and suspended.version > issued.version
    att = attestation_of(issuer.publisher.asked[-1].value)
    assert att.status == common_pb2.CREDENTIAL_STATUS_SUSPENDED and att.status_reason == "INTERIM_ORDER"
    assert claims_of(issuer)["family_name"] == "Wanjiru", "a status change keeps everything else"
    assert digests_of(suspended.envelope_bytes) == digests_of(issued.envelope_bytes), (
        "a status change keeps the digests: the practitioner's credential keeps working")
    assert issuer.entry().version == suspended.version and issuer.entry().confirmed


def test_a_reinstatement_after_a_suspension_makes_the_credential_active_again(issuer: Issuer) -> None:
    issuer.issue(nurse())
    [suspended] = issuer.change(ChangeStatus("KE-NCK/12345", "suspend", "INTERIM_ORDER"))
    [reinstated] = issuer.change(ChangeStatus("KE-NCK/12345", "reinstate", "SUSPENSION_ENDED"),
                                 now=LATER + dt.timedelta(days=1))
    assert reinstated.version > suspended.version
    assert attestation_of(reinstated.envelope_bytes).status == common_pb2.CREDENTIAL_STATUS_ACTIVE


def test_a_revoked_credential_cannot_be_reinstated_and_nothing_is_sent(issuer: Issuer) -> None:
    issuer.issue(nurse())
    [revoked] = issuer.change(ChangeStatus("KE-NCK/12345", "revoke", "FRAUDULENT_ENTRY"))
    assert attestation_of(revoked.envelope_bytes).status == common_pb2.CREDENTIAL_STATUS_REVOKED
    sent = len(issuer.publisher.asked)
    with pytest.raises(InvalidInput, match="KE-NCK/12345 is revoked; a revocation is final"):
        issuer.change(ChangeStatus("KE-NCK/12345", "reinstate", "SUSPENSION_ENDED"), now=LATER + dt.timedelta(days=1))
    assert len(issuer.publisher.asked) == sent and issuer.entry().version == revoked.version


def test_reinstating_an_active_credential_is_refused_with_the_status_it_has(issuer: Issuer) -> None:
    issuer.issue(nurse())
    with pytest.raises(InvalidInput, match="cannot reinstate a credential that is ACTIVE"):
        issuer.change(ChangeStatus("KE-NCK/12345", "reinstate", "SUSPENSION_ENDED"))
    assert len(issuer.publisher.asked) == 1


def test_a_status_change_of_a_credential_never_issued_is_not_found(issuer: Issuer) -> None:
    with pytest.raises(NotFound, match="KE-NCK/404 was never issued from this ledger"):
        issuer.change(ChangeStatus("KE-NCK/404", "suspend", "INTERIM_ORDER"))
    assert issuer.publisher.asked == []


def test_one_refused_change_stops_the_whole_batch_before_anything_is_sent(issuer: Issuer) -> None:
    issuer.issue(nurse("1"), nurse("2"))
    with pytest.raises(InvalidInput, match="reason: expected a status reason code"):
        issuer.change(ChangeStatus("KE-NCK/1", "suspend", "INTERIM_ORDER"),
                      ChangeStatus("KE-NCK/2", "suspend", "BECAUSE"))
    assert len(issuer.publisher.asked) == 2, "the valid change of the batch was sent anyway"
    assert issuer.ledger.counts() == {"credentials": 2, "confirmed": 2, "unconfirmed": 0}


def test_a_status_change_the_broker_did_not_confirm_stays_in_the_ledger_to_resend(issuer: Issuer) -> None:
    issuer.issue(nurse())
    issuer.publisher.fail(lambda record: True)
    [suspended] = issuer.change(ChangeStatus("KE-NCK/12345", "suspend", "INTERIM_ORDER"))
    assert suspended.outcome == handlers.NOT_CONFIRMED and suspended.error == REFUSED_BY_BROKER
    assert issuer.ledger.unconfirmed() == [issuer.entry()]
    assert issuer.entry().envelope_bytes == suspended.envelope_bytes


def test_two_changes_of_one_credential_in_a_batch_are_reported_each_as_itself(issuer: Issuer) -> None:
    issuer.issue(nurse())
    suspended, revoked = issuer.change(ChangeStatus("KE-NCK/12345", "suspend", "INTERIM_ORDER"),
                                       ChangeStatus("KE-NCK/12345", "revoke", "FRAUDULENT_ENTRY"))
    assert suspended.version < revoked.version
    assert attestation_of(suspended.envelope_bytes).status == common_pb2.CREDENTIAL_STATUS_SUSPENDED
    assert attestation_of(revoked.envelope_bytes).status == common_pb2.CREDENTIAL_STATUS_REVOKED
    assert (suspended.delivery.offset, revoked.delivery.offset) == (1, 2)


# --- resend ---------------------------------------------------------------------------------------


def test_resending_sends_byte_for_byte_what_was_unconfirmed_and_marks_it_confirmed(issuer: Issuer) -> None:
    issuer.publisher.stay_unconfirmed(keyed("KE-NCK/2", "KE-NCK/3"))
    first = issuer.issue(nurse("1"), nurse("2"), nurse("3"))
    issuer.publisher.recover()
    resent = issuer.resend()
    assert [e.credential_id for e in resent] == ["KE-NCK/2", "KE-NCK/3"]
    assert [r.value for r in issuer.publisher.asked[3:]] == [first[1].envelope_bytes, first[2].envelope_bytes]
    assert [(e.outcome, e.version) for e in resent] == [(handlers.PUBLISHED, first[1].version),
                                                        (handlers.PUBLISHED, first[2].version)]
    assert issuer.ledger.unconfirmed() == []
    assert issuer.entry("KE-NCK/2").offset is not None


def test_resending_when_everything_was_confirmed_sends_nothing(issuer: Issuer) -> None:
    issuer.issue(nurse("1"), nurse("2"))
    assert issuer.resend() == []
    assert len(issuer.publisher.asked) == 2


def test_a_resend_that_fails_again_leaves_the_signing_unconfirmed(issuer: Issuer) -> None:
    issuer.publisher.stay_unconfirmed(keyed("KE-NCK/1"))
    [lost] = issuer.issue(nurse("1"))
    [again] = issuer.resend()
    assert again.outcome == handlers.NOT_CONFIRMED
    assert [e.envelope_bytes for e in issuer.ledger.unconfirmed()] == [lost.envelope_bytes]


# --- bulk issue from a register export -----------------------------------------------------------

HEADER = ",".join(REQUIRED_COLUMNS)


def row(number: int, *, isco: str = "2221", family_name: str = "Achieng") -> str:
    return "%d,LICENCE,NCK-%d,%s,Faith,1995-02-03,KE,%s,ACTIVE,2024-01-01,2027-01-01" % (
        number, number, family_name, isco)


def register(*rows: str) -> Callable[[], TextIO]:
    text = "\n".join([HEADER, *rows]) + "\n"
    return lambda: io.StringIO(text)


def bulk(issuer: Issuer, open_register: Callable[[], TextIO], *, strict: bool = False,
         now: dt.datetime = T0, progress: Callable[[int], object] = lambda rows: None) -> handlers.BulkReport:
    return handlers.issue_register(open_register, issuer_id="KE-NCK", jurisdiction="KE", signer=KE_KEY,
                                   publisher=issuer.publisher, topics=TOPICS, ledger=issuer.ledger, now=now,
                                   strict=strict, progress=progress)


def test_a_bulk_issue_publishes_every_valid_row(issuer: Issuer) -> None:
    report = bulk(issuer, register(row(30001), row(30002), row(30003)))
    assert (report.rows, report.published, report.unchanged) == (3, 3, 0) and report.complete
    assert issuer.sent_ids() == ["KE-NCK/30001", "KE-NCK/30002", "KE-NCK/30003"]
    assert claims_of(issuer, "KE-NCK/30002")["practitioner_number"] == "NCK-30002"


def test_bulk_hands_over_the_credentials_of_the_rows_the_hub_holds(issuer: Issuer) -> None:
    issuer.publisher.stay_unconfirmed(keyed("KE-NCK/30002"))
    handed: dict[str, str] = {}
    report = handlers.issue_register(
        register(row(30001), row(30002), row(30003)), issuer_id="KE-NCK", jurisdiction="KE", signer=KE_KEY,
        publisher=issuer.publisher, topics=TOPICS, ledger=issuer.ledger, now=T0,
        deliver_credentials=lambda issued: handed.update({cid: c.text for cid, c in issued.items()}))
    assert sorted(handed) == ["KE-NCK/30001", "KE-NCK/30003"] and report.credentials == 2
    assert holder_claims(handed["KE-NCK/30003"])["practitioner_number"] == "NCK-30003"


def test_rows_the_broker_did_not_confirm_are_reported_by_row_number(issuer: Issuer) -> None:
    issuer.publisher.stay_unconfirmed(keyed("KE-NCK/30003"))
    report = bulk(issuer, register(row(30001), row(30002), row(30003), row(30004)))
    assert report.published == 3 and not report.complete
    assert report.not_confirmed == [(4, "KE-NCK/30003", NOT_CONFIRMED_IN_TIME)]


def test_a_rerun_after_a_partial_confirmation_publishes_only_what_was_not_confirmed(issuer: Issuer) -> None:
    issuer.publisher.stay_unconfirmed(keyed("KE-NCK/30002"))
    the_register = register(row(30001), row(30002), row(30003))
    bulk(issuer, the_register)
    [lost] = [r for r in issuer.publisher.asked if r.key == b"KE-NCK/30002"]
    issuer.publisher.recover()
    rerun = bulk(issuer, the_register, now=LATER)
    assert (rerun.published, rerun.unchanged, rerun.not_confirmed) == (1, 2, [])
    assert issuer.sent_ids()[3:] == ["KE-NCK/30002"]
    assert issuer.publisher.asked[-1].value == lost.value, "the unconfirmed row was signed again"
    assert issuer.ledger.unconfirmed() == []


def test_a_rerun_of_the_same_register_publishes_nothing(issuer: Issuer) -> None:
    the_register = register(row(30001), row(30002))
    bulk(issuer, the_register)
    rerun = bulk(issuer, the_register, now=LATER)
    assert (rerun.published, rerun.unchanged) == (0, 2) and rerun.complete
    assert len(issuer.publisher.asked) == 2


def test_a_changed_row_in_a_rerun_is_published_as_a_new_version(issuer: Issuer) -> None:
    bulk(issuer, register(row(30001), row(30002)))
    before = issuer.entry("KE-NCK/30002").version
    rerun = bulk(issuer, register(row(30001), row(30002, family_name="Achieng-Mwangi")), now=LATER)
    assert (rerun.published, rerun.unchanged) == (1, 1)
    assert issuer.sent_ids()[2:] == ["KE-NCK/30002"] and issuer.entry("KE-NCK/30002").version > before


def test_invalid_rows_are_reported_and_never_published(issuer: Issuer) -> None:
    report = bulk(issuer, register(row(30001), row(30002, isco="9999"), row(30003)))
    assert [(e.row, e.field) for e in report.invalid] == [(3, "isco")]
    assert "9999" in report.invalid[0].reason
    assert (report.rows, report.published) == (3, 2) and not report.complete
    assert issuer.sent_ids() == ["KE-NCK/30001", "KE-NCK/30003"]
    assert issuer.ledger.lookup(["KE-NCK/30002"]) == {}


def test_strict_mode_publishes_nothing_while_any_row_is_invalid(issuer: Issuer) -> None:
    report = bulk(issuer, register(row(30001), row(30002), row(30003, isco="9999")), strict=True)
    assert report.invalid == [RowError(4, "isco", report.invalid[0].reason)]
    assert report.published == 0 and issuer.publisher.asked == []
    assert issuer.ledger.counts()["credentials"] == 0


def test_a_register_missing_a_column_publishes_nothing(issuer: Issuer) -> None:
    text = "\n".join([HEADER.replace(",isco", ""), row(30001)])
    report = bulk(issuer, lambda: io.StringIO(text))
    assert [(e.row, e.field) for e in report.invalid] == [(1, "header")]
    assert report.rows == 0 and issuer.publisher.asked == []


def test_a_register_larger_than_a_batch_is_issued_batch_by_batch(issuer: Issuer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers, "BULK_BATCH", 2)
    issuer.publisher.stay_unconfirmed(every_nth(2))
    done: list[int] = []
    report = bulk(issuer, register(*(row(n) for n in range(30001, 30006))), progress=done.append)
    assert done == [2, 2, 1] and issuer.publisher.calls == 3
    assert [(r, cid) for r, cid, _ in report.not_confirmed] == [(3, "KE-NCK/30002"), (5, "KE-NCK/30004")]
    assert report.published == 3


def test_an_envelope_sent_is_exactly_the_bytes_the_ledger_holds(issuer: Issuer) -> None:
    bulk(issuer, register(row(30001)))
    [record] = issuer.publisher.asked
    envelope = envelope_pb2.Envelope.FromString(record.value)
    assert envelope.payloadType == ATTESTATION_V2_TYPE
    assert issuer.entry("KE-NCK/30001").envelope_bytes == record.value


# --- sealed personal data -------------------------------------------------------------------------


def test_every_credential_carries_the_same_number_of_digests_whatever_its_claims(issuer: Issuer) -> None:
    licence, conditioned, diploma = issuer.issue(
        nurse("1"), nurse("2", status=common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS,
                          conditions=("Supervised practice only",)),
        nurse("3", kind=common_pb2.CREDENTIAL_KIND_DIPLOMA, institution="University of Nairobi",
              programme="BSc Nursing", award_date=dt.date(2015, 11, 20)))
    assert {len(digests_of(e.envelope_bytes)) for e in (licence, conditioned, diploma)} == {SEALED_DIGESTS}
    assert claims_of(issuer, "KE-NCK/2")["conditions"] == ["Supervised practice only"]
    assert claims_of(issuer, "KE-NCK/3")["diploma"] == {"institution": "University of Nairobi",
                                                        "programme": "BSc Nursing", "award_date": "2015-11-20"}


def test_a_new_condition_seals_only_the_conditions_claim_anew(issuer: Issuer) -> None:
    [issued] = issuer.issue(nurse())
    before = issuer.entry().sealing
    [conditioned] = issuer.change(ChangeStatus("KE-NCK/12345", "add-condition", "CONDITIONS_IMPOSED",
                                               "No night shifts"))
    after = issuer.entry().sealing
    assert before is not None and after is not None
    assert set(before.disclosures) < set(after.disclosures), "unchanged claims keep their disclosures and salts"
    [new] = set(after.disclosures) - set(before.disclosures)
    assert decode_disclosure(new)[1:] == ("conditions", ["No night shifts"])
    assert len(digests_of(conditioned.envelope_bytes)) == SEALED_DIGESTS
    assert len(set(digests_of(issued.envelope_bytes)) & set(digests_of(conditioned.envelope_bytes))) == 9
    assert claims_of(issuer)["conditions"] == ["No night shifts"]


def test_salts_are_fresh_for_each_credential(issuer: Issuer) -> None:
    one, two = issuer.issue(nurse("1"), nurse("2", practitioner_number="NCK-1"))
    assert not set(digests_of(one.envelope_bytes)) & set(digests_of(two.envelope_bytes)), (
        "equal claims of two practitioners must not have equal digests")


def test_a_credential_the_hub_holds_as_v1_is_signed_again_as_v2_when_reissued(issuer: Issuer) -> None:
    v1 = attestation_bytes(nurse())
    issuer.ledger.record_signed([IssuedEntry("KE-NCK/12345", 1, content_digest(build_attestation(nurse(), now=T0)),
                                             v1, False, None, None)])
    with pytest.raises(NotFound, match="signed before sealed personal data"):
        handlers.credential("KE-NCK/12345", ledger=issuer.ledger, signer=KE_KEY, now=LATER)
    [event] = issuer.issue(nurse(), now=LATER)
    assert event.outcome == handlers.PUBLISHED and event.version > 1
    assert envelope_pb2.Envelope.FromString(event.envelope_bytes).payloadType == ATTESTATION_V2_TYPE
    assert claims_of(issuer)["given_names"] == "Grace Akinyi"


def test_a_v1_entry_is_resent_under_its_own_type(issuer: Issuer) -> None:
    v1 = attestation_bytes(nurse())
    issuer.ledger.record_signed([IssuedEntry("KE-NCK/12345", 1, "d", v1, False, None, None)])
    issuer.resend()
    [record] = issuer.publisher.asked
    assert (record.value, record.payload_type) == (v1, "application/vnd.credverify.attestation.v1+protobuf")


def test_a_credential_never_issued_is_not_found(issuer: Issuer) -> None:
    with pytest.raises(NotFound, match="never issued"):
        handlers.credential("KE-NCK/404", ledger=issuer.ledger, signer=KE_KEY, now=LATER)


def test_a_holder_key_binds_the_exported_credential(issuer: Issuer) -> None:
    issuer.issue(nurse())
    wallet = Ed25519PrivateKey.generate()
    bound = handlers.credential("KE-NCK/12345", ledger=issuer.ledger, signer=KE_KEY, now=LATER,
                                holder_key=wallet.public_key())
    presented = present(bound.text, disclose=["family_name"], now=LATER, holder_key=wallet, audience="GB-NMC",
                        nonce="n-1")
    keys = {KE_KEY.keyid: KE_KEY.private_key.public_key()}
    verified = verify_presentation(presented, keys_by_kid=keys, audience="GB-NMC", nonce="n-1", now=LATER,
                                   max_age=dt.timedelta(minutes=5),
                                   expected_digests=digests_of(issuer.entry().envelope_bytes))
    assert verified.key_bound and verified.disclosed == {"family_name": "Wanjiru"}


def test_the_ledger_keeps_sealings_across_a_reopen_and_migrates_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE issued (credential_id TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                      "digest TEXT NOT NULL, envelope BLOB NOT NULL, confirmed INTEGER NOT NULL DEFAULT 0, "
                      'partition INTEGER, "offset" INTEGER, signed_at REAL NOT NULL, confirmed_at REAL);'
                      "INSERT INTO issued VALUES ('KE-NCK/1', 1, 'd', x'00', 1, 0, 0, 0, 0);")
    old.commit()
    old.close()
    ledger = SqliteIssuedLedger(path)
    assert ledger.lookup(["KE-NCK/1"])["KE-NCK/1"].sealing is None
    handlers.issue([nurse("2")], signer=KE_KEY, publisher=FakePublisher(), topics=TOPICS, ledger=ledger, now=T0)
    ledger.close()
    reopened = SqliteIssuedLedger(path)
    entry = reopened.lookup(["KE-NCK/2"])["KE-NCK/2"]
    reopened.close()
    assert entry.sealing is not None and len(entry.sealing.digests) == SEALED_DIGESTS
    assert attestation_pb2.Attestation.FromString(entry.attestation or b"").subject.family_name == "Wanjiru"
    assert entry.sealing.digests == digests_of(entry.envelope_bytes)


# --- the fake ledger keeps the SQLite ledger's rules ----------------------------------------------


def test_the_in_memory_ledger_answers_as_the_sqlite_ledger_does(tmp_path: Path) -> None:
    def entry(cid: str, version: int) -> IssuedEntry:
        sealing = Sealing(disclosures=(make_disclosure("c2FsdA", "family_name", "Wanjiru %d" % version),),
                          decoys=("d" * 43,)) if cid != "c" else None
        return IssuedEntry(cid, version, "digest-%d" % version, b"envelope-%d" % version, True, 9, 9,
                           attestation=b"attestation-%d" % version if sealing else None, sealing=sealing)

    def delivery(ok: bool, offset: int) -> Delivery:
        record = OutgoingRecord("t", None, b"")
        return Delivery(record, 0, offset, None) if ok else Delivery(record, None, None, REFUSED_BY_BROKER)

    sqlite, fake = SqliteIssuedLedger(tmp_path / "ledger.db"), InMemoryIssuedLedger()
    for ledger in (sqlite, fake):
        ledger.record_signed([entry("a", 5), entry("b", 5), entry("c", 5)])
        ledger.record_signed([entry("a", 4), entry("b", 6)])  # only a higher version replaces
        ledger.record_delivered([("a", 5, delivery(True, 1)), ("b", 5, delivery(True, 2)),
                                 ("c", 5, delivery(False, 3))])  # b's delivery is of a replaced version
    ids = ["a", "b", "c", "d"]
    assert fake.lookup(ids) == sqlite.lookup(ids)
    assert fake.unconfirmed() == sqlite.unconfirmed() and [e.credential_id for e in fake.unconfirmed()] == ["b", "c"]
    assert fake.counts() == sqlite.counts() == {"credentials": 3, "confirmed": 1, "unconfirmed": 2}
    sqlite.close()
