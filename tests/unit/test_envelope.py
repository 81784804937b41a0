from __future__ import annotations

import pytest

from credverify.core.envelope import (
    ATTESTATION_TYPE,
    MAX_ENVELOPE_BYTES,
    envelope_from_json,
    envelope_to_json,
    keyid_of,
    pae,
    parse_envelope,
    raw_public_key,
    verify_signature,
)
from credverify.core.errors import Malformed, Untrusted
from credverify.v1 import common_pb2
from tests.factories import KE_KEY, RO_KEY


def test_pae_matches_the_dsse_specification_example() -> None:
    # The worked example of secure-systems-lab/dsse protocol.md.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_keyid_is_hex_sha256_of_the_raw_public_key() -> None:
    import hashlib

    raw = raw_public_key(KE_KEY.private_key.public_key())
    assert len(raw) == 32
    assert KE_KEY.keyid == keyid_of(raw) == hashlib.sha256(raw).hexdigest()


def test_signed_envelope_verifies_and_names_its_key() -> None:
    envelope = KE_KEY.sign(ATTESTATION_TYPE, b"payload")
    keys = {KE_KEY.keyid: KE_KEY.private_key.public_key()}
    assert verify_signature(envelope, expected_type=ATTESTATION_TYPE, keys=keys) == KE_KEY.keyid


def test_rejects_a_changed_payload() -> None:
    envelope = KE_KEY.sign(ATTESTATION_TYPE, b"payload")
    envelope.payload = b"pAyload"
    with pytest.raises(Untrusted) as err:
        verify_signature(envelope, expected_type=ATTESTATION_TYPE,
                         keys={KE_KEY.keyid: KE_KEY.private_key.public_key()})
    assert err.value.reason == common_pb2.REASON_SIGNATURE_INVALID


def test_rejects_a_signature_whose_keyid_points_at_another_key() -> None:
    envelope = RO_KEY.sign(ATTESTATION_TYPE, b"payload")
    envelope.signatures[0].keyid = KE_KEY.keyid
    with pytest.raises(Untrusted) as err:
        verify_signature(envelope, expected_type=ATTESTATION_TYPE,
                         keys={KE_KEY.keyid: KE_KEY.private_key.public_key()})
    assert err.value.reason == common_pb2.REASON_SIGNATURE_INVALID


def test_an_empty_key_set_verifies_nothing() -> None:
    envelope = KE_KEY.sign(ATTESTATION_TYPE, b"payload")
    with pytest.raises(Untrusted):
        verify_signature(envelope, expected_type=ATTESTATION_TYPE, keys={})


def test_rejects_another_payload_type_before_checking_signatures() -> None:
    envelope = KE_KEY.sign("application/json", b"{}")
    with pytest.raises(Untrusted) as err:
        verify_signature(envelope, expected_type=ATTESTATION_TYPE,
                         keys={KE_KEY.keyid: KE_KEY.private_key.public_key()})
    assert err.value.reason == common_pb2.REASON_PAYLOAD_TYPE_UNSUPPORTED


@pytest.mark.parametrize("data", [b"", b"\xff\xff\xff", b"\x0a\x05abc"])
def test_rejects_bytes_that_are_not_an_envelope(data: bytes) -> None:
    with pytest.raises(Malformed):
        parse_envelope(data)


def test_rejects_an_oversized_envelope_without_parsing_it() -> None:
    with pytest.raises(Malformed) as err:
        parse_envelope(b"\x00" * (MAX_ENVELOPE_BYTES + 1))
    assert err.value.reason == common_pb2.REASON_OVERSIZED


def test_json_form_round_trips() -> None:
    envelope = KE_KEY.sign(ATTESTATION_TYPE, b"\x00\x01binary")
    assert envelope_from_json(envelope_to_json(envelope)) == envelope
