"""The registry's cache of verification outcomes never outlives the trust list or the envelope it
was computed from: a trust change shows on the very next Verify."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.core.attestation import sign_attestation
from credverify.core.errors import RecordRejected
from credverify.core.timefmt import to_timestamp
from credverify.core.trust import TrustList, sign_issuer_record, verify_issuer_record
from credverify.federation.domain import build_issuer_record
from credverify.issuer.domain import build_attestation
from credverify.registry import handlers
from credverify.registry.ports import StoredAttestation
from credverify.registry.verification_cache import VerificationCache
from credverify.v1 import common_pb2
from tests.factories import KE_KEY, ROOT, ROOTS, T0, TODAY, kenya_record, nurse, trust_list


def stored(number: str = "12345", *, now: dt.datetime = T0, **overrides: object) -> StoredAttestation:
    att = build_attestation(nurse(number, **overrides), now=now)
    return StoredAttestation(att.credential_id, att.version, sign_attestation(att, signer=KE_KEY).SerializeToString())


def compromise_kenya_key(trust: TrustList, *, at: dt.datetime) -> TrustList:
    record = build_issuer_record(kenya_record(), now=T0 + dt.timedelta(days=60))
    record.keys[0].compromised_at.CopyFrom(to_timestamp(at))
    envelope = sign_issuer_record(record, root=ROOT).SerializeToString()
    changed = trust.applied(verify_issuer_record(envelope, roots=ROOTS))
    assert changed.epoch > trust.epoch
    return changed


class OneRowStore:
    def __init__(self, row: StoredAttestation | None) -> None:
        self.row = row

    def get(self, credential_id: str) -> StoredAttestation | None:
        return self.row if self.row and self.row.credential_id == credential_id else None

    def rejections_for(self, record_key: str) -> list[object]:
        return []


def test_a_second_verify_of_the_same_envelope_reuses_the_outcome() -> None:
    cache, trust, row = VerificationCache(), trust_list(), stored()
    first = cache.check(row, trust, generation=cache.generation)
    assert cache.held(row.credential_id, trust) is first
    assert cache.check(row, trust, generation=cache.generation) is first
    assert first.verified is not None and first.evidence.payload


def test_verify_answers_from_the_cache_without_the_store_until_a_commit_says_otherwise() -> None:
    cache, trust, row = VerificationCache(), trust_list(), stored()
    store = OneRowStore(row)
    first = handlers.verify(row.credential_id, None, store=store, trust=trust, today=TODAY,  # type: ignore[arg-type]
                            cache=cache)
    store.row = stored(now=T0 + dt.timedelta(days=1), status=common_pb2.CREDENTIAL_STATUS_SUSPENDED,
                       status_reason="INTERIM_ORDER")
    before = handlers.verify(row.credential_id, None, store=store, trust=trust, today=TODAY,  # type: ignore[arg-type]
                             cache=cache)
    assert before.current_version == first.current_version, "served from the cache"
    cache.forget([row.credential_id])  # what ingest does right after committing the new version
    after = handlers.verify(row.credential_id, None, store=store, trust=trust, today=TODAY,  # type: ignore[arg-type]
                            cache=cache)
    assert after.current_version == store.row.version
    assert after.judgement.reasons == (common_pb2.REASON_SUSPENDED,)


def test_a_lookup_that_raced_a_commit_is_not_remembered() -> None:
    cache, trust, row = VerificationCache(), trust_list(), stored()
    generation = cache.generation  # read before the store...
    cache.forget([row.credential_id])  # ...a commit lands...
    cache.check(row, trust, generation=generation)  # ...and the row read before it is checked
    assert cache.held(row.credential_id, trust) is None


def test_a_key_reported_compromised_shows_on_the_next_verify() -> None:
    cache, trust, row = VerificationCache(), trust_list(), stored()
    store = OneRowStore(row)
    assert handlers.verify(row.credential_id, None, store=store, trust=trust, today=TODAY,  # type: ignore[arg-type]
                           cache=cache).judgement.verified
    trust = compromise_kenya_key(trust, at=T0 - dt.timedelta(days=1))
    outcome = handlers.verify(row.credential_id, None, store=store, trust=trust, today=TODAY,  # type: ignore[arg-type]
                              cache=cache)
    assert not outcome.judgement.verified
    assert outcome.judgement.reasons == (common_pb2.REASON_KEY_REVOKED,)


def test_a_newer_stored_version_is_verified_afresh() -> None:
    cache, trust = VerificationCache(), trust_list()
    cache.verify(stored(), trust)
    newer = stored(now=T0 + dt.timedelta(days=1), status=common_pb2.CREDENTIAL_STATUS_SUSPENDED,
                   status_reason="INTERIM_ORDER")
    verified, _ = cache.verify(newer, trust)
    assert verified.version == newer.version and verified.attestation.status == common_pb2.CREDENTIAL_STATUS_SUSPENDED


def test_a_refusal_is_cached_too_and_raised_each_time() -> None:
    cache, row = VerificationCache(), stored()
    untrusting = TrustList()
    refused = cache.check(row, untrusting, generation=cache.generation)
    assert refused.verified is None and refused.rejection is not None
    assert refused.rejection[0] == common_pb2.REASON_ISSUER_UNKNOWN
    assert cache.held(row.credential_id, untrusting) is refused
    with pytest.raises(RecordRejected):
        cache.verify(row, untrusting)


def test_the_cache_is_bounded() -> None:
    cache, trust = VerificationCache(max_entries=3), trust_list()
    for number in range(1, 6):
        cache.check(stored(str(number)), trust, generation=cache.generation)
    assert len(cache) == 3
