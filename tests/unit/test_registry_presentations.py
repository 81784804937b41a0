"""A registry holding a v2 record answers Verify and RecordRegistration with the applicant's SD-JWT
presentation: her disclosed details are compared with what the case officer typed as v1 compares
attested ones, a presentation that does not check out is refused with its own reason, and nothing
she disclosed is kept beyond the move's pseudonym and country of training."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core.attestation import attestation_v2_of, sign_attestation, sign_attestation_v2
from credverify.core.errors import InvalidInput, RegistrationRefused, reason_code
from credverify.core.sdjwt import (
    content_of_attestation,
    hub_digests,
    issue_credential,
    make_disclosure,
    present,
    split_combined,
)
from credverify.core.topics import Topics
from credverify.core.trust import TrustList, verify_issuer_record
from credverify.issuer.domain import build_attestation
from credverify.registry import handlers
from credverify.registry.adapters.grpc_server import MAX_PRESENTATION_REQUEST_CHARS, _presented
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.domain import subject_token
from credverify.registry.ingest import IncomingRecord, commit_batch, judge_records, load_trust
from credverify.v1 import attestation_pb2, common_pb2, registry_pb2
from tests.factories import (
    KE_KEY,
    RO_KEY,
    ROOTS,
    T0,
    TODAY,
    kenya_issuer_record,
    nurse,
    record_bytes,
    romania_record,
    signed_record_bytes,
)
from tests.fakes import FakeMovePublisher

R = common_pb2
CREDENTIAL_ID = "KE-NCK/12345"
NOW = T0 + dt.timedelta(hours=1)
HOLDER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
EVERYTHING = ("family_name", "given_names", "birth_date", "practitioner_number", "country_of_training")


def counter_bytes(start: int = 0) -> Callable[[int], bytes]:
    counter = itertools.count(start)
    return lambda n: next(counter).to_bytes(n, "big")


def credential_for(att: attestation_pb2.Attestation, *, bound: bool = False, salts: int = 0) -> tuple[bytes, str]:
    """The v2 hub envelope of ``att`` and the practitioner's credential whose digests it carries."""
    credential = issue_credential(content_of_attestation(att), signer=KE_KEY, now=T0,
                                  random_bytes=counter_bytes(salts), holder_key=HOLDER.public_key() if bound else None)
    envelope = sign_attestation_v2(attestation_v2_of(att, credential.digests), signer=KE_KEY)
    return envelope.SerializeToString(), credential.text


def registry_holding(tmp_path: Path, *records: bytes) -> tuple[SqliteAttestationStore, TrustList]:
    store = SqliteAttestationStore(tmp_path / "registry.db")
    topics = Topics()
    incoming = [IncomingRecord(topics.trust_list, 0, 0, b"KE-NCK", record_bytes(kenya_issuer_record()))]
    incoming += [IncomingRecord(topics.attestations, 0, offset, CREDENTIAL_ID.encode(), data)
                 for offset, data in enumerate(records)]
    batch = judge_records(incoming, topics=topics, trust=load_trust(store, ROOTS), roots=ROOTS, store=store)
    commit_batch(batch, store=store)
    assert batch.trust is not None
    return store, batch.trust


@pytest.fixture
def v2_registry(tmp_path: Path) -> tuple[SqliteAttestationStore, TrustList, str]:
    data, credential = credential_for(build_attestation(nurse(), now=T0))
    store, trust = registry_holding(tmp_path, data)
    return store, trust, credential


def verify_with(registry: tuple[SqliteAttestationStore, TrustList, str], presentation: str,
                claimed: registry_pb2.ClaimedSubject | None = None, *, audience: str = "",
                nonce: str = "") -> handlers.VerifyOutcome:
    store, trust, _ = registry
    return handlers.verify(CREDENTIAL_ID, claimed, store=store, trust=trust, today=TODAY,
                           presented=handlers.Presented(presentation, audience, nonce, NOW))


def shown(credential: str, disclose: Sequence[str] = EVERYTHING) -> str:
    return present(credential, disclose=disclose, now=NOW)


def claimed(family_name: str = "", given_names: str = "", date_of_birth: dt.date | None = None
            ) -> registry_pb2.ClaimedSubject:
    subject = registry_pb2.ClaimedSubject(family_name=family_name, given_names=given_names)
    if date_of_birth is not None:
        subject.date_of_birth.year, subject.date_of_birth.month, subject.date_of_birth.day = (
            date_of_birth.year, date_of_birth.month, date_of_birth.day)
    return subject


def codes(outcome: handlers.VerifyOutcome) -> list[str]:
    return [reason_code(r) for r in outcome.judgement.reasons]


# --- Verify --------------------------------------------------------------------------------------

def test_claimed_details_matching_the_disclosed_ones_verify_with_v1s_tolerance(v2_registry) -> None:  # type: ignore[no-untyped-def]
    typed = claimed("WANJIRU ", "grace-akinyí", dt.date(1992, 3, 14))
    outcome = verify_with(v2_registry, shown(v2_registry[2]), typed)
    assert codes(outcome) == ["VERIFIED"], outcome.judgement.detail
    assert outcome.disclosed["family_name"] == "Wanjiru"


def test_a_typo_against_the_disclosed_name_is_a_subject_mismatch(v2_registry) -> None:  # type: ignore[no-untyped-def]
    outcome = verify_with(v2_registry, shown(v2_registry[2]), claimed("Wanjiku"))
    assert codes(outcome) == ["SUBJECT_MISMATCH"]
    assert "Wanji" not in outcome.judgement.detail, "the verdict's detail repeats personal data"


def test_a_claimed_detail_she_did_not_disclose_is_unchecked_never_matched(v2_registry) -> None:  # type: ignore[no-untyped-def]
    presentation = shown(v2_registry[2], ("family_name", "practitioner_number"))
    outcome = verify_with(v2_registry, presentation, claimed("Wanjiru", date_of_birth=dt.date(1992, 3, 14)))
    assert not outcome.judgement.verified
    assert codes(outcome) == ["SUBJECT_NOT_CHECKED"]
    assert "date_of_birth" in outcome.judgement.detail and "family_name" not in outcome.judgement.detail
    assert "birth_date" not in outcome.disclosed


def test_a_presentation_without_claimed_details_answers_status_and_returns_what_she_disclosed(
        v2_registry) -> None:  # type: ignore[no-untyped-def]
    outcome = verify_with(v2_registry, shown(v2_registry[2], ("country_of_training",)))
    assert codes(outcome) == ["VERIFIED"]
    assert dict(outcome.disclosed) == {"country_of_training": "KE"}


def test_a_forged_disclosure_is_refused_as_unknown_not_as_an_error(v2_registry) -> None:  # type: ignore[no-untyped-def]
    combined = split_combined(shown(v2_registry[2], ()))
    forged = "~".join([combined.jwt, make_disclosure("c2FsdHNhbHQ", "family_name", "Otieno"), ""])
    outcome = verify_with(v2_registry, forged, claimed("Otieno"))
    assert codes(outcome) == ["DISCLOSURE_UNKNOWN"]
    assert outcome.disclosed == {}


# --- VerifyPresented: the envelope and the presentation she hands over ---------------------------

def verify_presented_with(registry: tuple[SqliteAttestationStore, TrustList, str], envelope_bytes: bytes,
                          presentation: str, claimed_subject: registry_pb2.ClaimedSubject | None = None
                          ) -> handlers.VerifyOutcome:
    store, trust, _ = registry
    return handlers.verify_presented(envelope_bytes, claimed_subject, store=store, trust=trust, today=TODAY, now=NOW,
                                     presented=handlers.Presented(presentation, "", "", NOW))


def test_verify_presented_compares_the_typed_details_with_those_she_disclosed(tmp_path: Path) -> None:
    data, credential = credential_for(build_attestation(nurse(), now=T0))
    store, trust = registry_holding(tmp_path, data)
    registry = (store, trust, credential)
    matching = verify_presented_with(registry, data, shown(credential), claimed("Wanjiru", "Grace Akinyi"))
    assert codes(matching) == ["VERIFIED"] and matching.disclosed["given_names"] == "Grace Akinyi"
    typo = verify_presented_with(registry, data, shown(credential), claimed("Wanjiku"))
    assert codes(typo) == ["SUBJECT_MISMATCH"]
    combined = split_combined(shown(credential, ()))
    forged = "~".join([combined.jwt, make_disclosure("c2FsdHNhbHQ", "family_name", "Otieno"), ""])
    assert codes(verify_presented_with(registry, data, forged, claimed("Otieno"))) == ["DISCLOSURE_UNKNOWN"]
    unopened = handlers.verify_presented(data, claimed("Wanjiru"), store=store, trust=trust, today=TODAY, now=NOW)
    assert codes(unopened) == ["SUBJECT_NOT_CHECKED"] and unopened.disclosed == {}


def test_verify_presented_refuses_a_presentation_of_another_credential(tmp_path: Path) -> None:
    data, credential = credential_for(build_attestation(nurse(), now=T0))
    _, other = credential_for(build_attestation(nurse(), now=T0), salts=5000)
    store, trust = registry_holding(tmp_path, data)
    outcome = verify_presented_with((store, trust, credential), data, shown(other), claimed("Wanjiru"))
    assert codes(outcome) == ["DIGESTS_NOT_CURRENT"] and outcome.disclosed == {}


@pytest.mark.parametrize(("presentation", "reason"), [
    ("", "PRESENTATION_MALFORMED"),
    ("not an sd-jwt", "PRESENTATION_MALFORMED"),
    ("a.b.c~" * 20_000, "PRESENTATION_OVERSIZED"),
    ("é~", "PRESENTATION_MALFORMED"),
])
def test_text_that_is_no_presentation_gets_a_presentation_reason(v2_registry, presentation: str,  # type: ignore[no-untyped-def]
                                                                  reason: str) -> None:
    assert codes(verify_with(v2_registry, presentation)) == [reason]


def test_a_credential_signed_by_another_issuers_key_is_refused(tmp_path: Path) -> None:
    att = build_attestation(nurse(), now=T0)
    data, _ = credential_for(att)
    foreign = issue_credential(content_of_attestation(att), signer=RO_KEY, now=T0, random_bytes=counter_bytes())
    # Romania is on this registry's trust list too: its key is trusted, but not for Kenya's credentials.
    store, trust = registry_holding(tmp_path, data)
    trust = trust.applied(verify_issuer_record(signed_record_bytes(romania_record()), roots=ROOTS))
    outcome = verify_with((store, trust, ""), shown(foreign.text))
    assert codes(outcome) == ["SD_JWT_SIGNATURE_INVALID"]


def test_a_credential_for_other_digests_is_not_current(tmp_path: Path) -> None:
    att = build_attestation(nurse(), now=T0)
    data, _ = credential_for(att)
    _, other = credential_for(att, salts=1000)  # reissued with other salts: the hub holds the first
    store, trust = registry_holding(tmp_path, data)
    assert codes(verify_with((store, trust, ""), shown(other))) == ["DIGESTS_NOT_CURRENT"]


def test_a_status_change_keeps_the_digests_so_her_presentation_still_opens_it(tmp_path: Path) -> None:
    att = build_attestation(nurse(), now=T0)
    first, credential = credential_for(att)
    suspended = build_attestation(nurse(status=R.CREDENTIAL_STATUS_SUSPENDED,
                                        status_reason="INTERIM_ORDER"), now=T0 + dt.timedelta(minutes=5))
    second = sign_attestation_v2(attestation_v2_of(suspended, hub_digests(credential)),
                                 signer=KE_KEY).SerializeToString()
    store, trust = registry_holding(tmp_path, first, second)
    outcome = verify_with((store, trust, ""), shown(credential), claimed("Wanjiru"))
    assert outcome.current_version == suspended.version > att.version
    assert codes(outcome) == ["SUSPENDED"], outcome.judgement.detail


def test_a_presentation_for_a_v1_record_is_not_current(tmp_path: Path) -> None:
    att = build_attestation(nurse(), now=T0)
    _, credential = credential_for(att)
    store, trust = registry_holding(tmp_path, sign_attestation(att, signer=KE_KEY).SerializeToString())
    assert codes(verify_with((store, trust, ""), shown(credential))) == ["DIGESTS_NOT_CURRENT"]


def test_a_v1_record_without_a_presentation_answers_as_before(tmp_path: Path) -> None:
    att = build_attestation(nurse(), now=T0)
    store, trust = registry_holding(tmp_path, sign_attestation(att, signer=KE_KEY).SerializeToString())
    outcome = handlers.verify(CREDENTIAL_ID, claimed("Wanjiku"), store=store, trust=trust, today=TODAY)
    assert codes(outcome) == ["SUBJECT_MISMATCH"]


@pytest.fixture
def bound_registry(tmp_path: Path) -> tuple[SqliteAttestationStore, TrustList, str]:
    data, credential = credential_for(build_attestation(nurse(), now=T0), bound=True)
    store, trust = registry_holding(tmp_path, data)
    return store, trust, credential


def test_a_bound_credential_verifies_with_the_nonce_the_case_officer_gave(bound_registry) -> None:  # type: ignore[no-untyped-def]
    presentation = present(bound_registry[2], disclose=EVERYTHING, now=NOW, holder_key=HOLDER,
                           audience="GB-NMC", nonce="n-7f3a")
    outcome = verify_with(bound_registry, presentation, claimed("Wanjiru"), audience="GB-NMC", nonce="n-7f3a")
    assert codes(outcome) == ["VERIFIED"], outcome.judgement.detail


@pytest.mark.parametrize(("audience", "nonce", "reason"), [
    ("GB-NMC", "another", "KEY_BINDING_NONCE"),
    ("IE-NMBI", "n-7f3a", "KEY_BINDING_AUDIENCE"),
])
def test_a_bound_credential_presented_for_another_session_is_refused(bound_registry, audience: str,  # type: ignore[no-untyped-def]
                                                                     nonce: str, reason: str) -> None:
    presentation = present(bound_registry[2], disclose=EVERYTHING, now=NOW, holder_key=HOLDER,
                           audience="GB-NMC", nonce="n-7f3a")
    assert codes(verify_with(bound_registry, presentation, audience=audience, nonce=nonce)) == [reason]


def test_a_bound_credential_without_key_binding_is_refused(bound_registry) -> None:  # type: ignore[no-untyped-def]
    bare = "~".join([split_combined(bound_registry[2]).jwt, ""])
    assert codes(verify_with(bound_registry, bare)) == ["KEY_BINDING_MISSING"]


# --- RecordRegistration -------------------------------------------------------------------------

def register(registry: tuple[SqliteAttestationStore, TrustList, str], presentation: str | None, *,
             destination: str = "GB") -> tuple[handlers.MoveRecorded, FakeMovePublisher]:
    store, trust, _ = registry
    publisher = FakeMovePublisher()
    presented = handlers.Presented(presentation, "", "", NOW) if presentation is not None else None
    recorded = handlers.record_registration(
        CREDENTIAL_ID, claimed("Wanjiru"), destination=destination, registered_on=TODAY, pseudonym_key=b"k" * 32,
        store=store, trust=trust, today=TODAY, publish_move=publisher, presented=presented)  # type: ignore[arg-type]
    return recorded, publisher


def test_registration_with_her_presentation_emits_one_move_with_her_country_of_training(v2_registry) -> None:  # type: ignore[no-untyped-def]
    recorded, publisher = register(v2_registry, shown(v2_registry[2]), destination="KE")
    assert publisher.moves == [recorded.move]
    assert recorded.move.country_of_training == "KE" and recorded.move.return_migration
    v1_view = build_attestation(nurse(), now=T0)
    assert recorded.move.subject_token == subject_token(b"k" * 32, v1_view), (
        "the same practitioner got another pseudonym under v2 than under v1")
    again, publisher_again = register(v2_registry, shown(v2_registry[2]), destination="KE")
    assert again.already_recorded and publisher_again.moves == []


def test_registration_keeps_none_of_her_disclosed_details(v2_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    register(v2_registry, shown(v2_registry[2]))
    v2_registry[0].close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("registry.db*"))
    for secret in ("Wanjiru", "Grace Akinyi", "NCK-12345", "1992-03-14"):
        assert secret.encode() not in stored, "the registry stored %r after a registration" % secret


@pytest.mark.parametrize("disclose", [("family_name", "country_of_training"), ("practitioner_number",)])
def test_registration_refuses_a_presentation_without_number_and_country(v2_registry, disclose) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistrationRefused) as caught:
        register(v2_registry, shown(v2_registry[2], disclose))
    assert caught.value.reasons == (R.REASON_SUBJECT_NOT_CHECKED,)
    assert caught.value.status == "FAILED_PRECONDITION"


def test_registration_refuses_a_forged_presentation_with_its_reason(v2_registry) -> None:  # type: ignore[no-untyped-def]
    combined = split_combined(shown(v2_registry[2], ()))
    forged = "~".join([combined.jwt, make_disclosure("c2FsdHNhbHQ", "practitioner_number", "NCK-1"), ""])
    with pytest.raises(RegistrationRefused) as caught:
        register(v2_registry, forged)
    assert caught.value.reasons == (R.REASON_DISCLOSURE_UNKNOWN,)


def test_registration_without_a_presentation_is_still_refused(v2_registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistrationRefused) as caught:
        register(v2_registry, None)
    assert caught.value.reasons == (R.REASON_SUBJECT_NOT_CHECKED,)


# --- the request's caps ---------------------------------------------------------------------------

def test_a_presentation_above_the_request_cap_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="^presentation: expected at most"):
        _presented("x" * (MAX_PRESENTATION_REQUEST_CHARS + 1), "", "", NOW)


def test_an_audience_without_a_presentation_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="^presentation:"):
        _presented("", "GB-NMC", "", NOW)
    assert _presented("", "", "", NOW) is None
