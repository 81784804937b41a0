"""Witnessed time (spec 10.3): the hub's append time, not the signer's issued_at, bounds what a key
reported compromised can sign; it is stored, so re-judging and a rebuild decide as live ingest did;
and a compromised key's far-future version cannot lock the council's genuine updates out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from credverify.core.attestation import MAX_CLOCK_SKEW, sign_attestation, verify_attestation
from credverify.core.errors import RecordRejected, reason_code
from credverify.core.timefmt import to_timestamp
from credverify.issuer.domain import build_attestation
from credverify.v1 import common_pb2
from tests.factories import KE_KEY, T0, attestation_bytes, fixed_signer, kenya_issuer_record, nurse, trust_list
from tests.unit.test_registry_ingest_rules import Feed, next_version

DAY = dt.timedelta(days=1)
NEW_KEY = fixed_signer("nursing council of kenya, key after the theft")
COMPROMISED_AT = T0 + 5 * DAY


def at(feed: Feed, value: bytes, key: bytes, appended_at: dt.datetime):  # type: ignore[no-untyped-def]
    record = feed.attestation(value, key)
    return type(record)(record.topic, record.partition, record.offset, record.key, record.value, appended_at)


def compromise(feed: Feed, admitted):  # type: ignore[no-untyped-def]
    compromised = next_version(admitted)
    compromised.keys[0].compromised_at.CopyFrom(to_timestamp(COMPROMISED_AT))
    return feed.ingest(feed.issuer(compromised))


def code(data: bytes, witnessed_at: dt.datetime | None, trust) -> str:  # type: ignore[no-untyped-def]
    try:
        verify_attestation(data, trust=trust, witnessed_at=witnessed_at)
    except RecordRejected as exc:
        return exc.code
    return "VERIFIED"


def test_the_gate_refuses_what_the_hub_appended_after_the_compromise_whatever_issued_at_says() -> None:
    record = kenya_issuer_record()
    record.keys[0].compromised_at.CopyFrom(to_timestamp(COMPROMISED_AT))
    from credverify.core.trust import TrustList, verify_issuer_record
    from tests.factories import ROOTS, record_bytes
    trust = TrustList().applied(verify_issuer_record(record_bytes(record), roots=ROOTS))
    backdated = attestation_bytes(nurse(), now=T0)
    assert code(backdated, COMPROMISED_AT - dt.timedelta(seconds=1), trust) == "VERIFIED"
    assert code(backdated, COMPROMISED_AT, trust) == "KEY_REVOKED"
    assert code(backdated, COMPROMISED_AT + 30 * DAY, trust) == "KEY_REVOKED"
    assert code(backdated, None, trust) == "VERIFIED", "without a witness, issued_at alone (spec 10.2)"


def test_the_gate_refuses_an_issued_at_beyond_the_clock_skew_after_the_append_time() -> None:
    data = sign_attestation(build_attestation(nurse(), now=T0), signer=KE_KEY).SerializeToString()
    assert code(data, T0 - MAX_CLOCK_SKEW, trust_list()) == "VERIFIED"
    assert code(data, T0 - MAX_CLOCK_SKEW - dt.timedelta(microseconds=1), trust_list()) == "ISSUED_AFTER_WITNESSED"
    verified = verify_attestation(data, trust=trust_list(), witnessed_at=T0)
    assert verified.witnessed_at == T0


def test_re_judging_on_a_compromise_uses_the_stored_append_time_and_a_rebuild_agrees(tmp_path: Path) -> None:
    def feed_of(name: str) -> Feed:
        return Feed(tmp_path / name)

    admitted = kenya_issuer_record()
    genuine = attestation_bytes(nurse("1"), now=T0)
    backdated = attestation_bytes(nurse("2"), now=T0)  # a thief's: issued_at before the compromise
    live = feed_of("live.db")
    live.ingest(live.issuer(admitted), at(live, genuine, b"KE-NCK/1", T0 + DAY),
                at(live, backdated, b"KE-NCK/2", COMPROMISED_AT + DAY))
    assert live.verdict("KE-NCK/2")[0] == "VERIFIED", "before the report nothing tells them apart"
    compromise(live, admitted)
    assert live.verdict("KE-NCK/1")[0] == "VERIFIED"
    reason, detail = live.verdict("KE-NCK/2")
    assert reason == "KEY_REVOKED" and "hub appended" in detail
    assert live.store.get("KE-NCK/1").appended_at == T0 + DAY  # type: ignore[union-attr]

    rebuilt = feed_of("rebuilt.db")
    compromised = next_version(admitted)
    compromised.keys[0].compromised_at.CopyFrom(to_timestamp(COMPROMISED_AT))
    rebuilt.ingest(rebuilt.issuer(compromised), at(rebuilt, genuine, b"KE-NCK/1", T0 + DAY),
                   at(rebuilt, backdated, b"KE-NCK/2", COMPROMISED_AT + DAY))
    for credential_id in ("KE-NCK/1", "KE-NCK/2"):
        assert ([reason_code(r) for r in live.answer(credential_id).judgement.reasons]
                == [reason_code(r) for r in rebuilt.answer(credential_id).judgement.reasons])


@pytest.mark.parametrize("genuine_before_the_report", [True, False])
def test_a_far_future_version_of_a_compromised_key_does_not_lock_out_the_councils_update(
        tmp_path: Path, genuine_before_the_report: bool) -> None:
    feed = Feed(tmp_path / "registry.db")
    admitted = kenya_issuer_record(keys=(KE_KEY, NEW_KEY))
    forged = attestation_bytes(nurse("1", version=2**62), now=T0)  # a thief's far-future version
    suspension = attestation_bytes(nurse("1", status=common_pb2.CREDENTIAL_STATUS_SUSPENDED,
                                         status_reason="INTERIM_ORDER"), signer=NEW_KEY, now=T0 + 6 * DAY)
    feed.ingest(feed.issuer(admitted), at(feed, forged, b"KE-NCK/1", COMPROMISED_AT + DAY))
    if genuine_before_the_report:  # refused as a replay for now, and kept parked
        feed.ingest(at(feed, suspension, b"KE-NCK/1", COMPROMISED_AT + 2 * DAY))
        assert feed.store.get("KE-NCK/1").version == 2**62  # type: ignore[union-attr]
    compromise(feed, admitted)  # the stolen key, from before the forgery reached the hub
    if not genuine_before_the_report:
        feed.ingest(at(feed, suspension, b"KE-NCK/1", COMPROMISED_AT + 2 * DAY))
    held = feed.store.get("KE-NCK/1")
    assert held is not None and held.envelope_bytes == suspension
    assert [reason_code(r) for r in feed.answer("KE-NCK/1").judgement.reasons] == ["SUSPENDED"]
