"""VerifyPresented's rules: the applicant's envelope is checked offline first, then against the
version the registry holds; anything older, or different under the same version, is STALE."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from credverify.core.attestation import sign_attestation
from credverify.core.timefmt import to_timestamp
from credverify.core.trust import TrustList, verify_issuer_record
from credverify.federation.domain import build_issuer_record
from credverify.issuer.domain import build_attestation
from credverify.registry import handlers
from credverify.registry.ports import StoredAttestation
from credverify.v1 import common_pb2, registry_pb2
from tests.factories import KE_KEY, ROOTS, T0, TODAY, fixed_signer, kenya_record, nurse, record_bytes, trust_list


def envelope(*, now: dt.datetime = T0, version: int | None = None, **overrides: object) -> bytes:
    att = build_attestation(nurse(version=version, **overrides), now=now)
    return sign_attestation(att, signer=KE_KEY).SerializeToString()


class HeldStore:
    def __init__(self, envelope_bytes: bytes | None, version: int = 0, appended_at: dt.datetime | None = None
                 ) -> None:
        self.row = (StoredAttestation("KE-NCK/12345", version, envelope_bytes, appended_at=appended_at)
                    if envelope_bytes else None)

    def get(self, credential_id: str) -> StoredAttestation | None:
        return self.row if self.row and credential_id == self.row.credential_id else None


NOW = dt.datetime.combine(TODAY, dt.time(12), dt.UTC)


def presented(data: bytes, store: HeldStore, claimed: registry_pb2.ClaimedSubject | None = None, *,
              trust: TrustList | None = None) -> tuple[list[str], handlers.VerifyOutcome]:
    outcome = handlers.verify_presented(data, claimed, store=store, trust=trust or trust_list(),  # type: ignore[arg-type]
                                        today=TODAY, now=NOW)
    return [common_pb2.Reason.Name(r).removeprefix("REASON_") for r in outcome.judgement.reasons], outcome


def test_the_version_held_verifies() -> None:
    held = envelope(version=5)
    reasons, outcome = presented(held, HeldStore(held, 5))
    assert reasons == ["VERIFIED"] and outcome.current_version == 5


def test_an_older_version_is_stale_and_keeps_its_other_reasons() -> None:
    older = envelope(version=4)
    newer = envelope(version=5, status=common_pb2.CREDENTIAL_STATUS_REVOKED, status_reason="FRAUDULENT_ENTRY")
    reasons, outcome = presented(older, HeldStore(newer, 5), registry_pb2.ClaimedSubject(family_name="Otieno"))
    assert reasons == ["SUBJECT_MISMATCH", "STALE"]
    assert not outcome.judgement.verified and outcome.current_version == 5
    assert "REVOKED" in outcome.judgement.detail and "Otieno" not in outcome.judgement.detail


def test_a_different_attestation_under_the_version_held_is_stale() -> None:
    held = envelope(version=5)
    other = envelope(version=5, given_names="Grace")
    reasons, _ = presented(other, HeldStore(held, 5))
    assert reasons == ["STALE"]


def test_a_version_newer_than_the_registry_holds_is_judged_on_its_own() -> None:
    reasons, outcome = presented(envelope(version=6), HeldStore(envelope(version=5), 5))
    assert reasons == ["VERIFIED"] and "newer than version 5" in outcome.judgement.detail


def test_a_forged_envelope_is_refused_before_the_store_is_asked() -> None:
    forged = sign_attestation(build_attestation(nurse(), now=T0), signer=fixed_signer("forger")).SerializeToString()
    reasons, outcome = presented(forged, HeldStore(None))
    assert reasons == ["ISSUER_UNKNOWN"] and outcome.verified is None
    reasons, _ = presented(b"\x0a\x03abc", HeldStore(None))
    assert reasons == ["MALFORMED"]


GENUINE = envelope(version=5)
REASON_VALUES = set(common_pb2.Reason.values())


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=2048),
    # a genuine envelope with bytes flipped, cut or appended: what a forger or a bad copy produces
    st.tuples(st.integers(0, len(GENUINE) - 1), st.integers(1, 255)).map(
        lambda flip: GENUINE[:flip[0]] + bytes([GENUINE[flip[0]] ^ flip[1]]) + GENUINE[flip[0] + 1:]),
    st.integers(0, len(GENUINE)).map(lambda cut: GENUINE[:cut]),
    st.binary(max_size=64).map(lambda tail: GENUINE + tail),
))
def test_whatever_an_applicant_presents_gets_a_verdict_and_never_an_error(data: bytes) -> None:
    reasons, outcome = presented(data, HeldStore(GENUINE, 5))
    assert reasons and set(outcome.judgement.reasons) <= REASON_VALUES
    assert outcome.judgement.verified == (reasons == ["VERIFIED"])
    if outcome.judgement.verified:
        assert outcome.verified is not None and outcome.verified.attestation.credential_id == "KE-NCK/12345"


def compromised_at(moment: dt.datetime) -> TrustList:
    record = build_issuer_record(kenya_record(), now=T0 - dt.timedelta(days=30))
    record.keys[0].compromised_at.CopyFrom(to_timestamp(moment))
    return TrustList().applied(verify_issuer_record(record_bytes(record), roots=ROOTS))


def test_an_envelope_of_a_compromised_key_the_hub_never_witnessed_is_refused_whatever_its_issued_at() -> None:
    backdated = envelope(now=T0 - dt.timedelta(days=1))  # a thief writes an issued_at before the compromise
    reasons, outcome = presented(backdated, HeldStore(None), trust=compromised_at(T0))
    assert reasons == ["KEY_REVOKED"] and "hub appended" in outcome.judgement.detail


def test_the_version_held_keeps_the_hubs_append_time_from_before_the_compromise() -> None:
    held = envelope(now=T0 - dt.timedelta(days=1), version=5)
    store = HeldStore(held, 5, appended_at=T0 - dt.timedelta(hours=23))
    reasons, _ = presented(held, store, trust=compromised_at(T0))
    assert reasons == ["VERIFIED"]
