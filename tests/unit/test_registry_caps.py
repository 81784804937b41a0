"""Caps on what a caller or a writer to the hub can make a registry spend: signatures and keyids
per envelope, claimed names, presented envelopes, registration dates, concurrent calls. Each
refusal says what was expected and what was found, and never quotes a name."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.core.attestation import MAX_NAME_CHARS, validate_attestation
from credverify.core.envelope import MAX_KEYID_CHARS, MAX_SIGNATURES, parse_envelope
from credverify.core.errors import InvalidInput, Malformed
from credverify.core.names import NAME_CACHE_ENTRIES, normalise_name
from credverify.core.timefmt import to_date
from credverify.issuer.domain import build_attestation
from credverify.registry.adapters import grpc_server
from credverify.v1 import envelope_pb2, registry_pb2
from tests.factories import T0, nurse

TODAY = dt.date(2026, 6, 1)


def envelope_with(signatures: int, keyid: str = "ab") -> bytes:
    return envelope_pb2.Envelope(payload=b"x", payloadType="t", signatures=[
        envelope_pb2.Signature(sig=b"s", keyid=keyid) for _ in range(signatures)]).SerializeToString()


def test_an_envelope_with_thousands_of_short_keyids_is_refused_before_any_lookup() -> None:
    assert len(envelope_with(5000)) < 64 * 1024
    with pytest.raises(Malformed, match="at most %d signatures, found 5000" % MAX_SIGNATURES):
        parse_envelope(envelope_with(5000))
    parse_envelope(envelope_with(MAX_SIGNATURES))


def test_a_keyid_longer_than_any_real_one_is_refused() -> None:
    with pytest.raises(Malformed, match="at most %d characters, found one of %d" % (MAX_KEYID_CHARS, 5000)):
        parse_envelope(envelope_with(1, "k" * 5000))


def test_a_claimed_name_is_capped_like_the_attested_one_and_never_quoted() -> None:
    long_name = "Wanjiru" * 130_000  # about 900 KB
    with pytest.raises(InvalidInput) as refused:
        grpc_server._check_claimed(registry_pb2.ClaimedSubject(family_name=long_name))
    assert "expected at most %d characters, found %d" % (MAX_NAME_CHARS, len(long_name)) in str(refused.value)
    assert "Wanjiru" not in str(refused.value)
    grpc_server._check_claimed(registry_pb2.ClaimedSubject(given_names="G" * MAX_NAME_CHARS))
    assert normalise_name.cache_info().maxsize == NAME_CACHE_ENTRIES


def test_a_control_character_in_a_name_is_refused_without_quoting_the_name() -> None:
    att = build_attestation(nurse(), now=T0)
    att.subject.family_name = "Wanjiru\x07"
    with pytest.raises(InvalidInput) as refused:
        validate_attestation(att)
    assert "character 7" in str(refused.value) and "Wanjiru" not in str(refused.value)


@pytest.mark.parametrize("days", [-367, 2, 3000])
def test_a_registration_date_far_from_today_is_refused(days: int) -> None:
    with pytest.raises(InvalidInput, match="registered_on: expected a date from 2025-05-31 to 2026-06-02"):
        grpc_server._registered_on(to_date(TODAY + dt.timedelta(days=days)), TODAY)


def test_a_registration_date_near_today_is_taken() -> None:
    assert grpc_server._registered_on(to_date(TODAY - dt.timedelta(days=30)), TODAY) == TODAY - dt.timedelta(days=30)
    assert grpc_server._registered_on(registry_pb2.RecordRegistrationRequest().registered_on, TODAY) == TODAY


def test_the_server_bounds_the_calls_it_accepts_at_once() -> None:
    assert grpc_server.MAX_CONCURRENT_RPCS >= grpc_server.UNARY_WORKERS + grpc_server.MAX_SUBSCRIPTIONS
