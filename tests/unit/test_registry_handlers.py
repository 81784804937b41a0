"""The registry's handlers against an in-memory store: RecordRegistration emits one move with no
personal data, once, and only for a credential that verifies; Verify gives every reason that
applies, tolerates how people type names, and sees a trust change on the very next call."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from google.protobuf import text_format

from credverify.core.attestation import sign_attestation, verify_attestation
from credverify.core.errors import DeliveryFailed, RegistrationRefused
from credverify.core.timefmt import to_date, to_timestamp
from credverify.core.trust import TrustList, verify_issuer_record
from credverify.issuer.domain import IssueAttestation, build_attestation
from credverify.registry import handlers
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.domain import build_move
from credverify.registry.ports import Rejection, StoredAttestation, Verdict
from credverify.registry.verification_cache import VerificationCache
from credverify.v1 import common_pb2, moves_pb2, registry_pb2
from tests.factories import KE_KEY, ROOTS, T0, TODAY, kenya_issuer_record, nurse, record_bytes, trust_list
from tests.fakes import FakeMovePublisher, InMemoryAttestationStore

PSEUDONYM_KEY = hashlib.sha256(b"registry GB pseudonym key").digest()
ID = "KE-NCK/12345"
R = common_pb2


def envelope(cmd: IssueAttestation | None = None, *, now: dt.datetime = T0) -> bytes:
    return sign_attestation(build_attestation(cmd or nurse(), now=now), signer=KE_KEY).SerializeToString()


def ingested(store: InMemoryAttestationStore, trust: TrustList, *envelopes: bytes) -> None:
    """What ingest leaves in the store for envelopes that passed the gate."""
    with store.transaction() as tx:
        tx.put_attestations(verify_attestation(data, trust=trust) for data in envelopes)


def compromise_kenya_key(trust: TrustList, *, at: dt.datetime) -> TrustList:
    """The trust list after the federation published Kenya's key (valid since T0 - 30 days) as
    compromised since ``at``, in the next version of Kenya's record."""
    record = kenya_issuer_record()
    record.version += 1
    record.keys[0].compromised_at.CopyFrom(to_timestamp(at))
    changed = trust.applied(verify_issuer_record(record_bytes(record), roots=ROOTS))
    assert changed.epoch > trust.epoch
    return changed


def claimed(family_name: str = "", given_names: str = "", date_of_birth: dt.date | None = None
            ) -> registry_pb2.ClaimedSubject:
    subject = registry_pb2.ClaimedSubject(family_name=family_name, given_names=given_names)
    if date_of_birth is not None:
        subject.date_of_birth.CopyFrom(to_date(date_of_birth))
    return subject


class Registry:
    """A registry in Great Britain with its store, trust list, cache and move publisher in memory."""

    def __init__(self) -> None:
        self.store = InMemoryAttestationStore()
        self.trust = trust_list()
        self.cache = VerificationCache()
        self.moves = FakeMovePublisher()

    def holds(self, *envelopes: bytes) -> None:
        ingested(self.store, self.trust, *envelopes)

    def register(self, credential_id: str = ID, subject: registry_pb2.ClaimedSubject | None = None, *,
                 destination: str = "GB", registered_on: dt.date = TODAY) -> handlers.MoveRecorded:
        return handlers.record_registration(credential_id, subject, destination=destination,
                                            registered_on=registered_on, pseudonym_key=PSEUDONYM_KEY,
                                            store=self.store, trust=self.trust, today=TODAY,
                                            publish_move=self.moves)

    def verify(self, credential_id: str = ID, subject: registry_pb2.ClaimedSubject | None = None
               ) -> handlers.VerifyOutcome:
        return handlers.verify(credential_id, subject, store=self.store, trust=self.trust, today=TODAY,
                               cache=self.cache)


def reasons(outcome: handlers.VerifyOutcome) -> list[str]:
    return [R.Reason.Name(r).removeprefix("REASON_") for r in outcome.judgement.reasons]


@pytest.fixture
def registry() -> Registry:
    return Registry()


# --- RecordRegistration ---------------------------------------------------------------------------


def test_a_verified_credential_emits_exactly_one_move(registry: Registry) -> None:
    registry.holds(envelope())
    recorded = registry.register()
    assert not recorded.already_recorded
    [move] = registry.moves.moves
    assert move == recorded.move
    assert (move.origin_country, move.destination_country, move.profession_isco) == ("KE", "GB", "2221")
    assert move.credential_kind == R.CREDENTIAL_KIND_LICENCE and move.country_of_training == "KE"
    assert (move.registered_on.year, move.registered_on.month, move.registered_on.day) == (2026, 6, 1)
    assert not move.return_migration
    assert registry.store.registration(move.move_id) == move


def test_a_move_carries_no_names_numbers_or_birth_date(registry: Registry) -> None:
    registry.holds(envelope(nurse(family_name="Wanjiru", given_names="Grace Akinyi",
                                  date_of_birth=dt.date(1992, 3, 14))))
    move = registry.register().move
    readable = text_format.MessageToString(move)
    wire = move.SerializeToString()
    for personal in ("Wanjiru", "Grace", "Akinyi", "NCK-12345", "12345", "1992"):
        assert personal not in readable and personal.encode() not in wire, "%s leaked into the move" % personal
    dates = [getattr(move, f.name) for f in move.DESCRIPTOR.fields if f.message_type is not None
             and f.message_type.full_name == "credverify.v1.Date"]
    assert [(d.year, d.month, d.day) for d in dates] == [(2026, 6, 1)], "only the registration date"


def test_the_subject_token_cannot_be_recomputed_without_the_registry_key(registry: Registry) -> None:
    registry.holds(envelope())
    token = registry.register().move.subject_token
    assert token != hashlib.sha256(b"KE-NCK\x00NCK-12345").hexdigest()
    other = build_move(verify_attestation(envelope(), trust=registry.trust), destination="GB",
                                registered_on=TODAY, pseudonym_key=b"another registry's key")
    assert other.subject_token != token


def test_registering_the_same_applicant_again_emits_nothing_and_returns_the_first_move(registry: Registry) -> None:
    registry.holds(envelope())
    first = registry.register()
    again = registry.register(registered_on=TODAY + dt.timedelta(days=3))
    assert again.already_recorded and again.move == first.move
    assert len(registry.moves.moves) == 1 and registry.moves.attempts == 1
    assert registry.store.counts()["registrations"] == 1


def test_registering_in_another_country_is_another_move(registry: Registry) -> None:
    registry.holds(envelope())
    gb = registry.register(destination="GB").move
    ie = registry.register(destination="IE").move
    assert gb.move_id != ie.move_id and gb.subject_token == ie.subject_token
    assert [m.destination_country for m in registry.moves.moves] == ["GB", "IE"]


def test_a_registration_back_in_the_country_of_training_is_a_return(registry: Registry) -> None:
    registry.holds(envelope(nurse(country_of_training="GB")))
    assert registry.register(destination="GB").move.return_migration


def test_a_credential_that_does_not_verify_is_refused_and_no_move_is_emitted(registry: Registry) -> None:
    registry.holds(envelope(nurse(status=R.CREDENTIAL_STATUS_SUSPENDED, status_reason="INTERIM_ORDER")))
    with pytest.raises(RegistrationRefused) as refused:
        registry.register()
    assert refused.value.reasons == (R.REASON_SUSPENDED,) and refused.value.status == "FAILED_PRECONDITION"
    assert registry.moves.attempts == 0 and registry.store.counts()["registrations"] == 0


def test_a_registration_for_someone_else_is_refused_as_a_subject_mismatch(registry: Registry) -> None:
    registry.holds(envelope())
    with pytest.raises(RegistrationRefused) as refused:
        registry.register(subject=claimed(family_name="Otieno"))
    assert refused.value.reasons == (R.REASON_SUBJECT_MISMATCH,)
    assert "Otieno" not in str(refused.value)
    assert registry.moves.attempts == 0


def test_an_unknown_credential_is_refused_as_not_found(registry: Registry) -> None:
    with pytest.raises(RegistrationRefused) as refused:
        registry.register("KE-NCK/404")
    assert refused.value.reasons == (R.REASON_NOT_FOUND,) and refused.value.status == "NOT_FOUND"
    assert registry.moves.attempts == 0


def test_a_credential_signed_with_a_compromised_key_is_refused(registry: Registry) -> None:
    registry.holds(envelope())
    registry.trust = compromise_kenya_key(registry.trust, at=T0 - dt.timedelta(days=1))
    with pytest.raises(RegistrationRefused) as refused:
        registry.register()
    assert refused.value.reasons == (R.REASON_KEY_REVOKED,)
    assert registry.moves.attempts == 0


def test_a_move_the_hub_did_not_confirm_is_not_remembered_so_a_retry_sends_it(registry: Registry) -> None:
    registry.holds(envelope())
    registry.moves.fail_deliveries()
    with pytest.raises(DeliveryFailed):
        registry.register()
    assert registry.store.counts()["registrations"] == 0
    registry.moves.recover()
    retried = registry.register()
    assert not retried.already_recorded and registry.moves.moves == [retried.move]


# --- Verify ---------------------------------------------------------------------------------------


def test_a_current_credential_is_genuine_and_current(registry: Registry) -> None:
    registry.holds(envelope())
    outcome = registry.verify()
    assert reasons(outcome) == ["VERIFIED"] and outcome.judgement.detail == "genuine and current"
    assert outcome.verified is not None and outcome.current_version == outcome.verified.version
    assert outcome.evidence is not None and outcome.evidence.payload


@pytest.mark.parametrize(("overrides", "expected", "detail"), [
    ({"status": R.CREDENTIAL_STATUS_SUSPENDED, "status_reason": "INTERIM_ORDER"}, ["SUSPENDED"],
     "status suspended (INTERIM_ORDER)"),
    ({"status": R.CREDENTIAL_STATUS_REVOKED, "status_reason": "FRAUDULENT_ENTRY"}, ["REVOKED"], "status revoked"),
    ({"valid_until": dt.date(2026, 5, 31)}, ["EXPIRED"], "expired on 2026-05-31"),
    ({"valid_from": dt.date(2026, 6, 2)}, ["NOT_YET_VALID"], "valid from 2026-06-02"),
    ({"status": R.CREDENTIAL_STATUS_LAPSED, "status_reason": "NOT_RENEWED", "valid_until": dt.date(2026, 1, 1)},
     ["LAPSED", "EXPIRED"], "status lapsed (NOT_RENEWED); expired on 2026-01-01"),
])
def test_a_credential_that_is_not_current_is_refused_with_every_reason(
        registry: Registry, overrides: dict[str, object], expected: list[str], detail: str) -> None:
    registry.holds(envelope(nurse("12345", **overrides)))
    outcome = registry.verify()
    assert not outcome.judgement.verified
    assert reasons(outcome) == expected and detail in outcome.judgement.detail


def test_a_credential_with_conditions_verifies_and_says_so(registry: Registry) -> None:
    registry.holds(envelope(nurse(status=R.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS,
                                  conditions=("supervised practice only",))))
    outcome = registry.verify()
    assert outcome.judgement.verified and reasons(outcome) == ["VERIFIED", "CONDITIONS_APPLY"]
    assert "supervised practice only" in outcome.judgement.detail


def test_an_unknown_credential_is_not_found(registry: Registry) -> None:
    outcome = registry.verify("KE-NCK/404")
    assert reasons(outcome) == ["NOT_FOUND"] and outcome.verified is None and outcome.current_version == 0


def test_an_id_whose_records_were_all_rejected_answers_why(registry: Registry) -> None:
    with registry.store.transaction() as tx:
        tx.add_rejections([
            Rejection(ID, R.REASON_SIGNATURE_INVALID, "bad signature", "attestations", 0, 7),
            Rejection(ID, R.REASON_SIGNATURE_INVALID, "bad signature", "attestations", 0, 9),
            Rejection(ID, R.REASON_ISSUER_UNKNOWN, "unknown key", "attestations", 1, 3),
        ])
    outcome = registry.verify()
    assert reasons(outcome) == ["SIGNATURE_INVALID", "ISSUER_UNKNOWN"]
    assert outcome.judgement.detail.startswith("3 record(s) published under this id were rejected")


@pytest.mark.parametrize("typed", [
    claimed(family_name="WANJIRU", given_names="grace akinyi"),
    claimed(family_name="  Wanjirú ", given_names="Grace-Akinyi"),
    claimed(given_names="Grace  Akinyi", date_of_birth=dt.date(1992, 3, 14)),
])
def test_names_match_whatever_the_case_accents_hyphens_and_spacing(registry: Registry,
                                                                    typed: registry_pb2.ClaimedSubject) -> None:
    registry.holds(envelope())
    assert reasons(registry.verify(subject=typed)) == ["VERIFIED"]


def test_accents_in_the_attested_name_need_not_be_typed(registry: Registry) -> None:
    registry.holds(envelope(nurse(family_name="Ștefănescu", given_names="Ana-Maria")))
    assert reasons(registry.verify(subject=claimed(family_name="STEFANESCU", given_names="ana maria"))) == [
        "VERIFIED"]


@pytest.mark.parametrize(("typed", "fields"), [
    (claimed(family_name="Otieno"), "family_name"),
    (claimed(family_name="Wanjiru", given_names="Mercy"), "given_names"),
    (claimed(date_of_birth=dt.date(1992, 3, 15)), "date_of_birth"),
    (claimed(family_name="Otieno", given_names="Mercy"), "family_name, given_names"),
])
def test_a_different_person_is_a_subject_mismatch_naming_fields_not_values(
        registry: Registry, typed: registry_pb2.ClaimedSubject, fields: str) -> None:
    registry.holds(envelope())
    outcome = registry.verify(subject=typed)
    assert reasons(outcome) == ["SUBJECT_MISMATCH"]
    assert outcome.judgement.detail == "claimed %s differ from the attestation" % fields
    for value in ("Otieno", "Mercy", "1992", "Wanjiru", "Grace"):
        assert value not in outcome.judgement.detail


class CountingStore(InMemoryAttestationStore):
    """The in-memory store, counting reads of attestations."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, credential_id: str) -> StoredAttestation | None:
        self.reads += 1
        return super().get(credential_id)


def test_a_second_verify_is_answered_from_the_cache_without_reading_the_store(registry: Registry) -> None:
    registry.store = store = CountingStore()
    registry.holds(envelope())
    first = registry.verify()
    second = registry.verify()
    assert store.reads == 1 and registry.cache.hits == 1
    assert second.verified is first.verified and reasons(second) == ["VERIFIED"]


def test_the_cache_keeps_the_signature_check_not_the_verdict_on_the_claimed_details(registry: Registry) -> None:
    registry.holds(envelope())
    assert reasons(registry.verify(subject=claimed(family_name="Wanjiru"))) == ["VERIFIED"]
    assert reasons(registry.verify(subject=claimed(family_name="Otieno"))) == ["SUBJECT_MISMATCH"]
    assert registry.cache.hits == 1


def test_the_cache_judges_against_today_not_the_day_it_was_filled(registry: Registry) -> None:
    registry.holds(envelope(nurse(valid_until=TODAY)))
    assert reasons(registry.verify()) == ["VERIFIED"]
    tomorrow = handlers.verify(ID, None, store=registry.store, trust=registry.trust,
                               today=TODAY + dt.timedelta(days=1), cache=registry.cache)
    assert reasons(tomorrow) == ["EXPIRED"] and registry.cache.hits == 1


def test_a_key_reported_compromised_shows_on_the_next_verify(registry: Registry) -> None:
    registry.holds(envelope())
    assert reasons(registry.verify()) == ["VERIFIED"]
    registry.trust = compromise_kenya_key(registry.trust, at=T0 - dt.timedelta(days=1))
    outcome = registry.verify()
    assert reasons(outcome) == ["KEY_REVOKED"] and outcome.judgement.detail.startswith("no longer trusted: ")
    assert outcome.verified is None
    assert outcome.evidence is not None and outcome.current_version > 0, "the evidence once accepted is kept"


def test_a_key_compromised_only_after_the_signing_still_verifies(registry: Registry) -> None:
    registry.holds(envelope())
    registry.verify()
    registry.trust = compromise_kenya_key(registry.trust, at=T0 + dt.timedelta(days=1))
    assert reasons(registry.verify()) == ["VERIFIED"]


def test_a_newer_version_shows_once_ingest_forgets_the_old_outcome(registry: Registry) -> None:
    registry.holds(envelope())
    first = registry.verify()
    registry.holds(envelope(nurse(status=R.CREDENTIAL_STATUS_REVOKED, status_reason="FRAUDULENT_ENTRY"),
                            now=T0 + dt.timedelta(days=1)))
    registry.cache.forget([ID])  # what ingest does right after the commit
    outcome = registry.verify()
    assert reasons(outcome) == ["REVOKED"] and outcome.current_version > first.current_version


def test_verify_without_a_cache_gives_the_same_verdicts(registry: Registry) -> None:
    registry.holds(envelope(nurse(valid_until=dt.date(2026, 5, 31))))
    outcome = handlers.verify(ID, claimed(family_name="Otieno"), store=registry.store, trust=registry.trust,
                              today=TODAY)
    assert reasons(outcome) == ["EXPIRED", "SUBJECT_MISMATCH"]


def test_the_in_memory_store_answers_as_the_sqlite_store_does(tmp_path: Path) -> None:
    trust = trust_list()
    older, newer, other = (verify_attestation(data, trust=trust) for data in (
        envelope(), envelope(nurse(given_names="Grace"), now=T0 + dt.timedelta(days=1)), envelope(nurse("7"))))
    sqlite = SqliteAttestationStore(tmp_path / "registry.db")
    fake = InMemoryAttestationStore()
    move = moves_pb2.VerifiedMove(move_id="m1", destination_country="GB")
    for store in (sqlite, fake):
        with store.transaction() as tx:
            tx.put_attestations([newer, other])
            tx.add_rejections([Rejection(ID, R.REASON_SIGNATURE_INVALID, "bad", "t", 0, 1)])
        with store.transaction() as tx:
            tx.put_attestations([older])  # the store keeps what it is given: versions are ingest's concern
            tx.set_verdicts([Verdict("KE-NCK/7", R.REASON_KEY_REVOKED, "reported")])
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.put_attestations([newer])
            raise RuntimeError("crash before the commit")
        assert store.add_registration(ID, move) and not store.add_registration(ID, move)
    for credential_id in (ID, "KE-NCK/7", "KE-NCK/404"):
        assert fake.get(credential_id) == sqlite.get(credential_id)
    assert fake.get(ID) is not None and fake.get(ID).version == older.version  # type: ignore[union-attr]
    assert fake.rejections_for(ID) == sqlite.rejections_for(ID) and len(fake.rejections_for(ID)) == 1
    assert fake.registration("m1") == sqlite.registration("m1") == move
    assert fake.counts() == sqlite.counts()
    with sqlite.transaction() as real, fake.transaction() as copy:
        assert copy.attestations_of_issuer("KE-NCK", after="", limit=1) == real.attestations_of_issuer(
            "KE-NCK", after="", limit=1)
    sqlite.close()
