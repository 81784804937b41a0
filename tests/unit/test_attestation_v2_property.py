"""Whatever a signer puts under the v2 payloadType, the gate gives a verdict (VERIFIED, or Malformed /
Untrusted with a reason), never an internal error: the payload is signed by a trusted key, so only
the parser and the field rules stand between these bytes and a registry's store."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credverify.core.attestation import ATTESTATION_V2_TYPE, attestation_v2_of, verify_attestation
from credverify.core.errors import RecordRejected
from credverify.issuer.domain import build_attestation
from tests.factories import KE_KEY, T0, nurse, trust_list

TRUST = trust_list()
GOOD = attestation_v2_of(build_attestation(nurse(), now=T0), ["A" * 43, "Q" * 43]).SerializeToString(
    deterministic=True)


def verdict(payload: bytes) -> str:
    data = KE_KEY.sign(ATTESTATION_V2_TYPE, payload).SerializeToString()
    try:
        verify_attestation(data, trust=TRUST)
    except RecordRejected as exc:
        return exc.code
    return "VERIFIED"


def test_the_unchanged_payload_verifies() -> None:
    assert verdict(GOOD) == "VERIFIED"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_signed_bytes_under_the_v2_type_get_a_verdict(payload: bytes) -> None:
    assert verdict(payload) in {"VERIFIED", "MALFORMED", "SIGNATURE_INVALID", "ISSUER_NOT_AUTHORISED",
                                "KEY_NOT_VALID", "KEY_REVOKED"}


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.integers(min_value=0, max_value=255))
def test_a_v2_payload_with_one_byte_changed_gets_a_verdict(position: int, value: int) -> None:
    changed = bytearray(GOOD)
    changed[position] = value
    assert verdict(bytes(changed)) in {"VERIFIED", "MALFORMED", "SIGNATURE_INVALID", "ISSUER_NOT_AUTHORISED",
                                       "KEY_NOT_VALID", "KEY_REVOKED"}
